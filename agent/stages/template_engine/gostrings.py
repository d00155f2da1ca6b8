"""Go's `strings` and `strconv` behaviour on text: quoting and unquoting literals, parsing int and float literals,
Unicode case mapping as Go does it rune by rune, and byte-indexed length and slicing of UTF-8.

The lexer and parser use it for literals, the function modules for `ToUpper`, `substr`, `len` and friends. Not
here: how values print (`agent.stages.template_engine.values`, `agent.stages.template_engine.gofmt`).
"""

from __future__ import annotations

import math

from agent.stages.template_engine.values import TemplateExecError

GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_NAMED_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str, *, ascii_only: bool = False) -> str:
    """Go's ``strconv.Quote`` (``QuoteToASCII`` with `ascii_only`)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable() and not (ascii_only and code > 0x7E):
            out.append(char)
        elif char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_unquote(token: str) -> str:
    """Go's ``strconv.Unquote`` for an interpreted string, raw string or character literal's body."""
    quote = token[0]
    body = token[1:-1]
    if quote == "`":
        return body.replace("\r", "")
    if "\\" not in body:
        if quote == "'" and len(body) != 1:
            raise ValueError("invalid syntax")
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        escape = body[i + 1 : i + 2]
        i += 2
        simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
        if escape in simple:
            out.append(simple[escape])
        elif escape == quote:
            out += escape.encode()
        elif escape in ("x", "u", "U"):
            count = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[i : i + count]
            if len(digits) != count or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("invalid syntax")
            code = int(digits, 16)
            i += count
            if escape == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code < 0xE000:
                raise ValueError("invalid syntax")
            else:
                out += chr(code).encode()
        elif escape in "01234567" and escape:
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(digits, 8))
            i += 2
        else:
            raise ValueError("invalid syntax")
    text = out.decode("utf-8", "replace")
    if quote == "'" and len(text) != 1:
        raise ValueError("invalid syntax")
    return text


def go_parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)`` (decimal or hex mantissa; ValueError when out of range)."""
    if text != text.strip() or ("_" in text.strip("_") and text.lstrip("+-")[:2].lower() not in ("0x", "0o", "0b")):
        raise ValueError("invalid syntax")
    body = text.replace("_", "")
    value = float.fromhex(body) if body.lstrip("+-")[:2].lower() == "0x" else float(body)
    if math.isinf(value) and "inf" not in body.lower():
        raise ValueError("value out of range")
    return value


def go_parse_int(text: str) -> int:
    """Go's ``strconv.ParseInt(text, 0, 64)``: sign, 0x/0o/0b/0 prefixes, underscores between digits."""
    body = text.lstrip("+-")
    if len(text) - len(body) > 1 or not body:
        raise ValueError("invalid syntax")
    negative = text.startswith("-")
    base = 10
    digits = body
    if len(body) > 1 and body[0] == "0":
        prefix = body[1].lower()
        if prefix in "xob":
            base = {"x": 16, "o": 8, "b": 2}[prefix]
            digits = body[2:]
        else:
            base = 8
            digits = body[1:]
    if not digits or digits.endswith("_") or "__" in digits or (digits.startswith("_") and base == 10):
        raise ValueError("invalid syntax")
    value = int(digits.replace("_", ""), base)
    value = -value if negative else value
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("value out of range")
    return value


def go_upper(text: str) -> str:
    """Go's ``strings.ToUpper``."""
    if text.isascii():
        return text.upper()
    # Go maps rune by rune: a character without a one-rune upper case (ß) stays as it is.
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def go_lower(text: str) -> str:
    """Go's ``strings.ToLower``."""
    if text.isascii():
        return text.lower()
    return "".join(lo if len(lo := c.lower()) == 1 else ("i" if c == "\u0130" else c) for c in text)


def go_title(text: str) -> str:
    """Go's ``strings.Title``: upper-case the first letter of each word (other letters untouched)."""
    out: list[str] = []
    previous = " "
    for char in text:
        if _is_separator(previous):
            title = char.title()
            out.append(title if len(title) == 1 else char)
        else:
            out.append(char)
        previous = char
    return "".join(out)


def _is_separator(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdecimal():
        return False
    return char in GO_SPACE


def go_bytes_slice(text: str, start: int, end: int | None) -> str:
    """``text[start:end]`` on Go's UTF-8 bytes; out-of-range bounds fail as Go's slicing panics."""
    if text.isascii():
        size = len(text)
        stop = size if end is None else end
        if not 0 <= start <= stop <= size:
            raise TemplateExecError(f"slice bounds out of range [{start}:{stop}] with length {size}")
        return text[start:stop]
    data = text.encode()
    stop = len(data) if end is None else end
    if not 0 <= start <= stop <= len(data):
        raise TemplateExecError(f"slice bounds out of range [{start}:{stop}] with length {len(data)}")
    return data[start:stop].decode("utf-8", "replace")


def go_len(text: str) -> int:
    """Go's ``len`` of a string: its UTF-8 bytes."""
    return len(text) if text.isascii() else len(text.encode())
