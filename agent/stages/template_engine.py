"""Go's text/template with Promtail's function map (sprig plus Promtail's own), compiled once into closures.

Promtail's `template` stage (and the `replace` stage's replacement) hand their text to Go's ``text/template``
with ``sprig.TxtFuncMap()`` and Promtail's extras (``ToLower``, ``Replace``, ``Hash``, ``regexReplaceAll``...).
This module reproduces what those templates do: the lexer (``{{``/``}}``, trim markers ``{{-``/``-}}``,
comments, Go string/raw/char/number literals), the parser (actions, pipelines, variables, ``if``/``else if``/
``with``/``else with``/``range``/``break``/``continue``, ``define``/``template``/``block``, Go's parse-time
checks such as undefined functions and variables), and an evaluator that follows Go's rules: a missing map
key prints ``<no value>``, truth is "not the zero value", ``and``/``or`` short-circuit and return operands,
comparisons follow Go's basic kinds (an int never equals a string), function arguments are type-checked as
Go's reflection does (a missing value is no string, an int64 no int). `Template(text)` parses and compiles
(ValueError with line and column); `render(data)` runs it (`TemplateExecError` for what Go reports at run
time). Values use Python types for Go's: str, int (Go int) and `Int64`, float (float64), bool, None (nil or a
missing value), list, dict (map[string]interface{}), `StrMap` (map[string]string) and `GoTime`.

Not here: which data a stage passes in (`agent.stages.template`), Go's time layouts (`agent.stages.golayout`).
Not supported (an undefined function is a parse error, as in Go): complex numbers, method calls on values
(``now.Unix``), and the sprig functions listed in `FUNCTIONS`' docstring as missing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import os
import re
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo
from typing import Any, NamedTuple

from agent.regex import compile_re2
from agent.relabel import expand
from agent.stages.golayout import LayoutParser, format_time, load_location, system_local_zone
from agent.stages.parse import format_go_float, go_json_string


class TemplateExecError(Exception):
    """A template failed while rendering (Go's ``ExecError``): the caller keeps its previous value."""


# -- Go values ------------------------------------------------------------------------------------------------


class Int64(int):
    """A Go int64 (what sprig's arithmetic returns); a plain Python int is a Go int. Go tells them apart."""

    __slots__ = ()


class StrMap(dict[str, str]):
    """A Go ``map[string]string`` (sprig's `split`): `index` of a missing key gives "" instead of nil."""

    __slots__ = ()


class GoTime:
    """A Go ``time.Time``: nanoseconds since the epoch and the zone it is shown in."""

    __slots__ = ("ns", "zone")

    def __init__(self, ns: int, zone: tzinfo) -> None:
        self.ns = ns
        self.zone = zone

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and (self.ns, self.zone) == (other.ns, other.zone)

    def __hash__(self) -> int:
        return hash(self.ns)

    def __str__(self) -> str:
        return format_time("2006-01-02 15:04:05.999999999 -0700 MST", self.ns, self.zone)


def go_type(value: Any) -> str:
    """Go's ``%T`` of a template value."""
    cls = value.__class__
    if value is None:
        return "<nil>"
    if cls is bool:
        return "bool"
    if cls is Int64:
        return "int64"
    if cls is int:
        return "int"
    if cls is float:
        return "float64"
    if cls is str:
        return "string"
    if cls is StrMap:
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if cls is GoTime:
        return "time.Time"
    return str(cls.__name__)


def _go_kind(value: Any) -> str:
    """Go's ``reflect.Kind`` name of a template value (sprig's `kindOf`)."""
    if value is None:
        return "invalid"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, GoTime):
        return "struct"
    return go_type(value)


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is None:
        return False
    if isinstance(value, str | list | dict | bool | int | float):
        return bool(value)
    return True


def _split_float(value: float) -> tuple[str, int]:
    """The shortest digits of a positive finite float and the decimal point position (0.DIGITS x 10^point)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def _exponent(value: int) -> str:
    return f"e-{-value:02d}" if value < 0 else f"e+{value:02d}"


def format_float_g(value: float) -> str:
    """Go's ``%v`` (``strconv.FormatFloat(v, 'g', -1, 64)``): shortest digits, exponent from 1e+06 up."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, point = _split_float(abs(value))
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        rest = digits[1:]
        return f"{sign}{digits[0]}{'.' + rest if rest else ''}{_exponent(exponent)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_value(value: Any) -> str:
    """Go's ``fmt.Sprint`` of one template value (``%v``); nil is ``<nil>``."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is int or cls is Int64:
        return int.__repr__(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is float:
        return format_float_g(value)
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(map(format_value, value)) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{format_value(k)}:{format_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def print_value(value: Any) -> str:
    """What an action prints: like `format_value`, but a missing value (nil) is ``<no value>``."""
    if value.__class__ is str:
        return value
    return "<no value>" if value is None else format_value(value)


def go_sprint(args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    previous_is_string = True
    for index, arg in enumerate(args):
        is_string = arg.__class__ is str
        if index and not is_string and not previous_is_string:
            out.append(" ")
        out.append(format_value(arg))
        previous_is_string = is_string
    return "".join(out)


_GO_SPACE = (
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


def _go_upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    # Go maps rune by rune: a character without a one-rune upper case (ß) stays as it is.
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def _go_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(lo if len(lo := c.lower()) == 1 else ("i" if c == "\u0130" else c) for c in text)


def _go_title(text: str) -> str:
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
    return char in _GO_SPACE


def _go_bytes_slice(text: str, start: int, end: int | None) -> str:
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


def _go_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


# -- printf ---------------------------------------------------------------------------------------------------

_VERB = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]*))?(.)?", re.DOTALL)


def go_sprintf(form: str, args: Sequence[Any]) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use (v s d q f F e E g G x X o O b c t T U %)."""
    out: list[str] = []
    position = 0
    used = 0
    while True:
        start = form.find("%", position)
        if start < 0:
            out.append(form[position:])
            break
        out.append(form[position:start])
        match = _VERB.match(form, start)
        assert match is not None  # the pattern matches any "%"
        flags, width_text, precision_text, verb = match.groups()
        position = match.end()
        width: int | None = None
        precision: int | None = None
        if width_text == "*":
            width, used = _star(args, used)
        elif width_text:
            width = int(width_text)
        if precision_text == "*":
            precision, used = _star(args, used)
        elif precision_text is not None:
            precision = int(precision_text or 0)
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        if width is not None and width < 0:
            flags += "-"
            width = -width
        out.append(_format_verb(verb, flags, width, precision, arg))
    if used < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type(a)}={format_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _star(args: Sequence[Any], used: int) -> tuple[int | None, int]:
    if used < len(args) and args[used].__class__ in (int, Int64):
        return int(args[used]), used + 1
    return None, used + 1


def _pad(text: str, flags: str, width: int | None, zeros: str = "plain") -> str:
    """Pad to `width` as fmt does: spaces, or with the 0 flag zeros on the left (after a number's sign
    when `zeros` is "signed"; never when it is "never", as for Inf, NaN and integers with a precision)."""
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and zeros != "never":
        sign = text[0] if zeros == "signed" and text[:1] in ("+", "-", " ") else ""
        return sign + "0" * (width - len(text)) + text[len(sign) :]
    return " " * (width - len(text)) + text


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _format_verb(verb: str, flags: str, width: int | None, precision: int | None, arg: Any) -> str:
    cls = arg.__class__
    if verb == "T":
        return _pad(go_type(arg), flags, width)
    if arg is None:
        return _pad("<nil>", flags, width) if verb == "v" else _bad_verb(verb, arg)
    if cls is bool:
        if verb in "vt":
            return _pad("true" if arg else "false", flags, width)
        return _bad_verb(verb, arg)
    if cls is int or cls is Int64:
        return _format_int(verb, flags, width, precision, int(arg))
    if cls is float:
        return _format_float(verb, flags, width, precision, arg)
    if cls is str:
        return _format_str(verb, flags, width, precision, arg)
    if isinstance(arg, list):
        return "[" + " ".join(_format_verb(verb, flags, width, precision, item) for item in arg) + "]"
    if isinstance(arg, dict):
        items = (
            f"{_format_verb(verb, flags, width, precision, k)}:{_format_verb(verb, flags, width, precision, arg[k])}"
            for k in sorted(arg)
        )
        return "map[" + " ".join(items) + "]"
    if verb in "vs":
        return _pad(str(arg), flags, width)
    return _bad_verb(verb, arg)


def _format_int(verb: str, flags: str, width: int | None, precision: int | None, value: int) -> str:
    negative = value < 0
    magnitude = -value if negative else value
    prefix = ""
    if verb in "vd":
        digits = str(magnitude)
    elif verb == "b":
        digits = format(magnitude, "b")
    elif verb in "oO":
        digits = format(magnitude, "o")
        prefix = "0o" if verb == "O" else ("0" if "#" in flags else "")
    elif verb in "xX":
        digits = format(magnitude, verb)
        prefix = ("0x" if verb == "x" else "0X") if "#" in flags else ""
    elif verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", flags, width)
    elif verb == "q":
        return _pad("'" + go_quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")[1:-1] + "'", flags, width)
    elif verb == "U":
        return _pad(f"U+{value:04X}", flags, width)
    elif verb in "eEfFgG":
        return _bad_verb(verb, value)
    else:
        return _bad_verb(verb, value)
    if precision is not None:
        digits = "" if precision == 0 and magnitude == 0 else digits.rjust(precision, "0")
    sign = "-" if negative else "+" if "+" in flags else " " if " " in flags else ""
    return _pad(sign + prefix + digits, flags, width, "signed" if precision is None else "never")


def _format_float(verb: str, flags: str, width: int | None, precision: int | None, value: float) -> str:
    if verb not in "veEfFgG":
        return _bad_verb(verb, value)
    if math.isinf(value) or math.isnan(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        return _pad(text, flags, width, "never")
    if verb in "vgG" and precision is None:
        text = format_float_g(value)
        if verb == "G":
            text = text.upper()
    elif verb in "gG":
        text = format(value, f".{precision}{verb}")
    elif verb in "eE":
        text = format(value, f".{6 if precision is None else precision}{verb}")
    else:
        text = format(value, f".{6 if precision is None else precision}f")
    if "+" in flags and not text.startswith("-"):
        text = "+" + text
    elif " " in flags and not text.startswith("-"):
        text = " " + text
    return _pad(text, flags, width, "signed")


def _format_str(verb: str, flags: str, width: int | None, precision: int | None, value: str) -> str:
    if verb in "vs":
        text = value if precision is None else value[:precision]
    elif verb == "q":
        shown = value if precision is None else value[:precision]
        if "#" in flags and "`" not in shown and all(c == "\t" or c.isprintable() for c in shown):
            text = f"`{shown}`"
        else:
            text = go_quote(shown, ascii_only="+" in flags)
    elif verb in "xX":
        data = value.encode()
        if precision is not None:
            data = data[:precision]
        hexed = [format(byte, "02x" if verb == "x" else "02X") for byte in data]
        text = (" " if " " in flags else "").join(hexed)
    else:
        return _bad_verb(verb, value)
    return _pad(text, flags, width)


# -- lexer ----------------------------------------------------------------------------------------------------

_SPACE_CHARS = " \t\r\n"
_KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"})


class _Tok(NamedTuple):
    kind: str  # text left right space ident keyword field var dot string raw char number bool nil
    #            pipe lparen rparen declare assign punct eof
    value: str
    pos: int


class _SyntaxError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _is_alnum(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def _at_terminator(src: str, i: int) -> bool:
    if i >= len(src):
        return True
    char = src[i]
    return char in _SPACE_CHARS or char in ".,|:()" or src.startswith("}}", i)


def _lex(src: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    size = len(src)
    trim_next = False
    while i <= size:
        start = src.find("{{", i)
        end = size if start < 0 else start
        text = src[i:end]
        trim_left = start >= 0 and src.startswith("-", start + 2) and src[start + 3 : start + 4] in tuple(_SPACE_CHARS)
        if trim_next:
            text = text.lstrip(_SPACE_CHARS)
        if trim_left:
            text = text.rstrip(_SPACE_CHARS)
        if text:
            tokens.append(_Tok("text", text, i))
        if start < 0:
            break
        inner = start + (4 if trim_left else 2)
        if src.startswith("/*", inner):
            close = src.find("*/", inner + 2)
            if close < 0:
                raise _SyntaxError("unclosed comment", start)
            after = close + 2
            if src.startswith("}}", after):
                i, trim_next = after + 2, False
            elif src[after : after + 1] in tuple(_SPACE_CHARS) and src.startswith("-}}", after + 1):
                i, trim_next = after + 4, True
            else:
                raise _SyntaxError("comment ends before closing delimiter", start)
            continue
        tokens.append(_Tok("left", "{{", start))
        i, trim_next = _lex_action(src, inner, tokens)
    tokens.append(_Tok("eof", "", size))
    return tokens


def _lex_action(src: str, i: int, tokens: list[_Tok]) -> tuple[int, bool]:
    """Lex the inside of one action from `i`; return the position after ``}}`` and whether it trims."""
    size = len(src)
    depth = 0
    while True:
        if src.startswith("}}", i) or (src[i : i + 1] in tuple(_SPACE_CHARS) and src.startswith("-}}", i + 1)):
            if depth:
                raise _SyntaxError("unclosed left paren", i)
            trims = not src.startswith("}}", i)
            tokens.append(_Tok("right", "}}", i))
            return (i + 4 if trims else i + 2), trims
        if i >= size:
            raise _SyntaxError("unclosed action", i)
        char = src[i]
        if char in _SPACE_CHARS:
            j = i
            while j < size and src[j] in _SPACE_CHARS:
                j += 1
            if src.startswith("-}}", j):
                j -= 1  # the last space belongs to the trim marker " -}}"
            if j > i:
                tokens.append(_Tok("space", src[i:j], i))
            i = j
            continue
        if char == "=":
            tokens.append(_Tok("assign", "=", i))
            i += 1
        elif char == ":":
            if not src.startswith(":=", i):
                raise _SyntaxError("expected :=", i)
            tokens.append(_Tok("declare", ":=", i))
            i += 2
        elif char == "|":
            tokens.append(_Tok("pipe", "|", i))
            i += 1
        elif char == '"':
            j = i + 1
            while True:
                if j >= size or src[j] == "\n":
                    raise _SyntaxError("unterminated quoted string", i)
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == '"':
                    break
                j += 1
            tokens.append(_Tok("string", src[i : j + 1], i))
            i = j + 1
        elif char == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise _SyntaxError("unterminated raw quoted string", i)
            tokens.append(_Tok("raw", src[i : j + 1], i))
            i = j + 1
        elif char == "'":
            j = i + 1
            while True:
                if j >= size or src[j] == "\n":
                    raise _SyntaxError("unterminated character constant", i)
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "'":
                    break
                j += 1
            tokens.append(_Tok("char", src[i : j + 1], i))
            i = j + 1
        elif char == "$":
            j = i + 1
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise _SyntaxError(f"bad character {src[j]!r}", j)
            tokens.append(_Tok("var", src[i:j], i))
            i = j
        elif char == "." and not src[i + 1 : i + 2].isdigit():
            j = i + 1
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise _SyntaxError(f"bad character {src[j]!r}", j)
            tokens.append(_Tok("dot" if j == i + 1 else "field", src[i:j], i))
            i = j
        elif char in "+-." or "0" <= char <= "9":
            j = _scan_number(src, i)
            if j < 0:
                raise _SyntaxError(f"bad number syntax: {go_quote(src[i:-j])}", i)
            if src[j : j + 1] in ("+", "-"):
                raise _SyntaxError("complex numbers are not supported", i)
            tokens.append(_Tok("number", src[i:j], i))
            i = j
        elif char == "_" or char.isalpha():
            j = i
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise _SyntaxError(f"bad character {src[j]!r}", j)
            word = src[i:j]
            kind = (
                "keyword"
                if word in _KEYWORDS
                else "bool"
                if word in ("true", "false")
                else ("nil" if word == "nil" else "ident")
            )
            tokens.append(_Tok(kind, word, i))
            i = j
        elif char == "(":
            depth += 1
            tokens.append(_Tok("lparen", "(", i))
            i += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _SyntaxError("unexpected right paren", i)
            tokens.append(_Tok("rparen", ")", i))
            i += 1
        elif char.isascii() and char.isprintable():
            tokens.append(_Tok("punct", char, i))
            i += 1
        else:
            raise _SyntaxError(f"unrecognized character in action: {char!r}", i)


def _scan_number(src: str, i: int) -> int:
    """The end of the number at `i` (Go's scanner), or minus the end when it is followed by a letter."""
    size = len(src)

    def run(j: int, allowed: str) -> int:
        while j < size and src[j] in allowed:
            j += 1
        return j

    j = i
    if src[j : j + 1] in ("+", "-"):
        j += 1
    digits = "0123456789_"
    if src[j : j + 1] == "0" and src[j + 1 : j + 2] in ("x", "X", "o", "O", "b", "B"):
        marker = src[j + 1].lower()
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[marker]
        j += 2
    j = run(j, digits)
    if src[j : j + 1] == ".":
        j = run(j + 1, digits)
    if len(digits) == 11 and src[j : j + 1] in ("e", "E"):
        j += 1
        if src[j : j + 1] in ("+", "-"):
            j += 1
        j = run(j, "0123456789_")
    if len(digits) == 23 and src[j : j + 1] in ("p", "P"):
        j += 1
        if src[j : j + 1] in ("+", "-"):
            j += 1
        j = run(j, "0123456789_")
    if src[j : j + 1] == "i":
        raise _SyntaxError("complex numbers are not supported", i)
    if j < size and _is_alnum(src[j]):
        return -(j + 1)
    return j


def _unquote(token: str) -> str:
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


def _go_parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)`` (decimal or hex mantissa; ValueError when out of range)."""
    if text != text.strip() or ("_" in text.strip("_") and text.lstrip("+-")[:2].lower() not in ("0x", "0o", "0b")):
        raise ValueError("invalid syntax")
    body = text.replace("_", "")
    value = float.fromhex(body) if body.lstrip("+-")[:2].lower() == "0x" else float(body)
    if math.isinf(value) and "inf" not in body.lower():
        raise ValueError("value out of range")
    return value


def _go_parse_int(text: str) -> int:
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


# -- syntax tree ----------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("pos", "text")

    def __init__(self, pos: int, text: str) -> None:
        self.pos = pos
        self.text = text  # the source form, for messages ("expected string; found 3")


class _Pipe(_Node):
    __slots__ = ("cmds", "decl", "is_assign")

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos, text)
        self.decl: list[str] = []
        self.is_assign = False
        self.cmds: list[list[_Node]] = []


class _Field(_Node):
    __slots__ = ("names",)

    def __init__(self, pos: int, text: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.names = names


class _Variable(_Node):
    __slots__ = ("name", "names")

    def __init__(self, pos: int, text: str, name: str, names: list[str]) -> None:
        super().__init__(pos, text)
        self.name = name
        self.names = names


class _Chain(_Node):
    __slots__ = ("names", "node")

    def __init__(self, pos: int, text: str, node: _Node, names: list[str]) -> None:
        super().__init__(pos, text)
        self.node = node
        self.names = names


class _Identifier(_Node):
    __slots__ = ()


class _Dot(_Node):
    __slots__ = ()


class _Nil(_Node):
    __slots__ = ()


class _Literal(_Node):
    """A bool, string or number literal. Numbers carry what Go's NumberNode knows about them."""

    __slots__ = ("as_float", "as_int", "kind", "value")

    def __init__(self, pos: int, text: str, kind: str, value: Any) -> None:
        super().__init__(pos, text)
        self.kind = kind  # bool, string, number
        self.value = value
        self.as_int: int | None = None
        self.as_float: float | None = None


class _TextNode(_Node):
    __slots__ = ()


class _ActionNode(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, text: str, pipe: _Pipe) -> None:
        super().__init__(pos, text)
        self.pipe = pipe


class _Control(_Node):
    """`if`, `with` or `range` (`kind`), with its pipeline, body and else body."""

    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(self, pos: int, kind: str, pipe: _Pipe, body: list[_Node], else_body: list[_Node] | None) -> None:
        super().__init__(pos, kind)
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class _Jump(_Node):
    """`break` or `continue` (`text`)."""

    __slots__ = ()


class _TemplateCall(_Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, name: str, pipe: _Pipe | None) -> None:
        super().__init__(pos, "template")
        self.name = name
        self.pipe = pipe


class _End(_Node):
    __slots__ = ()


class _Else(_Node):
    __slots__ = ()


# -- parser ---------------------------------------------------------------------------------------------------


class _Parser:
    """Go's text/template/parse, over the token list: builds the tree and makes Go's parse-time checks."""

    def __init__(self, tokens: list[_Tok], functions: dict[str, Any]) -> None:
        self.tokens = tokens
        self.index = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, list[_Node]] = {}

    # token access
    def next(self) -> _Tok:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> _Tok:
        return self.tokens[min(self.index, len(self.tokens) - 1)]

    def next_non_space(self) -> _Tok:
        token = self.next()
        while token.kind == "space":
            token = self.next()
        return token

    def peek_non_space(self) -> _Tok:
        token = self.next_non_space()
        self.backup()
        return token

    def fail(self, message: str, pos: int) -> _SyntaxError:
        return _SyntaxError(message, pos)

    def unexpected(self, token: _Tok, context: str) -> _SyntaxError:
        shown = "EOF" if token.kind == "eof" else go_quote(token.value)
        return self.fail(f"unexpected {shown} in {context}", token.pos)

    def expect(self, kind: str, context: str) -> _Tok:
        token = self.next_non_space()
        if token.kind != kind:
            raise self.unexpected(token, context)
        return token

    # structure
    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().kind != "eof":
            if self.peek().kind == "left":
                saved = self.index
                self.next()
                keyword = self.next_non_space()
                if keyword.kind == "keyword" and keyword.value == "define":
                    self.parse_definition()
                    continue
                self.index = saved
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                raise self.fail(f"unexpected {{{{{node.text}}}}}", node.pos)
            root.append(node)
        return root

    def parse_definition(self) -> None:
        token = self.next_non_space()
        name = self.template_name(token, "define clause")
        self.expect("right", "define clause")
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved_vars
        if not isinstance(end, _End):
            raise self.fail(f"unexpected {{{{{end.text}}}}} in define clause", end.pos)
        if self.defines.get(name):
            if body:
                raise self.fail(f"multiple definition of template {go_quote(name)}", token.pos)
            return
        self.defines[name] = body

    def template_name(self, token: _Tok, context: str) -> str:
        if token.kind in ("string", "raw"):
            try:
                return _unquote(token.value)
            except ValueError:
                raise self.fail(f"invalid string {token.value}", token.pos) from None
        raise self.unexpected(token, context)

    def item_list(self) -> tuple[list[_Node], _Node]:
        nodes: list[_Node] = []
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return nodes, node
            nodes.append(node)
        raise self.fail("unexpected EOF", self.peek().pos)

    def text_or_action(self) -> _Node:
        token = self.next_non_space()
        if token.kind == "text":
            return _TextNode(token.pos, token.value)
        if token.kind == "left":
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> _Node:
        token = self.next_non_space()
        if token.kind == "keyword":
            word = token.value
            if word == "if":
                return self.control("if", token.pos)
            if word == "with":
                return self.control("with", token.pos)
            if word == "range":
                return self.control("range", token.pos)
            if word == "else":
                peek = self.peek_non_space()
                if peek.kind == "keyword" and peek.value in ("if", "with"):
                    return _Else(peek.pos, "else " + peek.value)
                self.expect("right", "else")
                return _Else(token.pos, "else")
            if word == "end":
                self.expect("right", "end")
                return _End(token.pos, "end")
            if word in ("break", "continue"):
                after = self.next_non_space()
                if after.kind != "right":
                    raise self.unexpected(after, f"{{{{{word}}}}}")
                if not self.range_depth:
                    raise self.fail(f"{{{{{word}}}}} outside {{{{range}}}}", token.pos)
                return _Jump(token.pos, word)
            if word == "template":
                return self.template_call(token)
            if word == "block":
                return self.block(token)
        self.backup()
        start = self.peek()
        return _ActionNode(start.pos, "action", self.pipeline("command", "right"))

    def control(self, kind: str, pos: int) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "right")
        if kind == "range":
            self.range_depth += 1
        body, next_node = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: list[_Node] | None = None
        if isinstance(next_node, _Else):
            if next_node.text == f"else {kind}" and kind in ("if", "with"):
                self.next_non_space()  # the nested `if`/`with` keyword
                else_body = [self.control(kind, next_node.pos)]
            else:
                if next_node.text != "else":
                    raise self.fail(f"unexpected {{{{{next_node.text}}}}}", next_node.pos)
                else_body, end = self.item_list()
                if not isinstance(end, _End):
                    raise self.fail(f"expected end; found {{{{{end.text}}}}}", end.pos)
        del self.vars[mark:]
        return _Control(pos, kind, pipe, body, else_body)

    def template_call(self, token: _Tok) -> _TemplateCall:
        name_token = self.next_non_space()
        name = self.template_name(name_token, "template clause")
        pipe: _Pipe | None = None
        if self.next_non_space().kind != "right":
            self.backup()
            pipe = self.pipeline("template clause", "right")
        return _TemplateCall(token.pos, name, pipe)

    def block(self, token: _Tok) -> _TemplateCall:
        name_token = self.next_non_space()
        name = self.template_name(name_token, "block clause")
        pipe: _Pipe | None = None
        if self.next_non_space().kind != "right":
            self.backup()
            pipe = self.pipeline("block clause", "right")
        saved_vars, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        self.vars, self.range_depth = saved_vars, saved_depth
        if not isinstance(end, _End):
            raise self.fail(f"unexpected {{{{{end.text}}}}} in block clause", end.pos)
        self.defines.setdefault(name, body)
        return _TemplateCall(token.pos, name, pipe)

    def pipeline(self, context: str, end: str) -> _Pipe:
        first = self.peek_non_space()
        pipe = _Pipe(first.pos, context)
        while True:
            token = self.peek_non_space()
            if token.kind != "var":
                break
            self.next_non_space()
            variable_index = self.index - 1
            following = self.peek_non_space()
            if following.kind in ("assign", "declare"):
                pipe.is_assign = following.kind == "assign"
                self.next_non_space()
                pipe.decl.append(token.value)
                self.vars.append(token.value)
                break
            if following.kind == "punct" and following.value == ",":
                self.next_non_space()
                pipe.decl.append(token.value)
                self.vars.append(token.value)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("var", "right", "rparen"):
                        continue
                    raise self.fail("range can only initialize variables", following.pos)
                raise self.fail(f"too many declarations in {context}", following.pos)
            self.index = variable_index  # not a declaration: the variable is an operand
            break
        while True:
            token = self.next_non_space()
            if token.kind == end:
                if not pipe.cmds:
                    raise self.fail(f"missing value for {context}", token.pos)
                for stage, cmd in enumerate(pipe.cmds[1:], 2):
                    if isinstance(cmd[0], _Literal | _Dot | _Nil):
                        raise self.fail(f"non executable command in pipeline stage {stage}", cmd[0].pos)
                return pipe
            if token.kind in (
                "bool",
                "char",
                "dot",
                "field",
                "ident",
                "number",
                "nil",
                "raw",
                "string",
                "var",
                "lparen",
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def command(self) -> list[_Node]:
        args: list[_Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.kind == "space":
                continue
            if token.kind in ("right", "rparen"):
                self.backup()
            elif token.kind != "pipe":
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.fail("empty command", self.peek().pos)
        return args

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            names: list[str] = []
            text = node.text
            while self.peek().kind == "field":
                field = self.next()
                names.append(field.value[1:])
                text += field.value
            if isinstance(node, _Field):
                return _Field(node.pos, text, node.names + names)
            if isinstance(node, _Variable):
                return _Variable(node.pos, text, node.name, node.names + names)
            if isinstance(node, _Literal | _Nil | _Dot):
                raise self.fail(f"unexpected . after term {go_quote(node.text)}", node.pos)
            return _Chain(node.pos, text, node, names)
        return node

    def term(self) -> _Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind == "ident":
            if token.value not in self.functions:
                raise self.fail(f"function {go_quote(token.value)} not defined", token.pos)
            return _Identifier(token.pos, token.value)
        if kind == "dot":
            return _Dot(token.pos, ".")
        if kind == "nil":
            return _Nil(token.pos, "nil")
        if kind == "var":
            if token.value not in self.vars:
                raise self.fail(f"undefined variable {go_quote(token.value)}", token.pos)
            return _Variable(token.pos, token.value, token.value, [])
        if kind == "field":
            return _Field(token.pos, token.value, [token.value[1:]])
        if kind == "bool":
            return _Literal(token.pos, token.value, "bool", token.value == "true")
        if kind in ("number", "char"):
            return self.number(token)
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            pipe.text = "(" + pipe.text + ")"
            return pipe
        if kind in ("string", "raw"):
            try:
                value = _unquote(token.value)
            except ValueError:
                raise self.fail(f"invalid syntax: {token.value}", token.pos) from None
            return _Literal(token.pos, token.value, "string", value)
        self.backup()
        return None

    def number(self, token: _Tok) -> _Literal:
        text = token.value
        node = _Literal(token.pos, text, "number", None)
        if token.kind == "char":
            try:
                rune = ord(_unquote(text))
            except (ValueError, TypeError):
                raise self.fail(f"malformed character constant: {text}", token.pos) from None
            node.as_int, node.as_float, node.value = rune, float(rune), rune
            return node
        with contextlib.suppress(ValueError):
            node.as_int = _go_parse_int(text)
        if node.as_int is not None:
            node.as_float = float(node.as_int)
        else:
            try:
                parsed = _go_parse_float(text)
            except ValueError:
                raise self.fail(f"illegal number syntax: {go_quote(text)}", token.pos) from None
            if not any(c in text for c in ".eEpP"):
                raise self.fail(f"integer overflow: {go_quote(text)}", token.pos)
            if math.isinf(parsed):
                raise self.fail(f"illegal number syntax: {go_quote(text)}", token.pos)
            node.as_float = parsed
            if parsed.is_integer() and -(1 << 63) <= parsed < (1 << 63):
                node.as_int = int(parsed)
        # In a context without a type (printing, interface{} arguments) Go picks by the spelling.
        is_hex_int = text.lstrip("+-")[:2].lower() == "0x" and not any(c in text for c in "pP")
        if not is_hex_int and any(c in text for c in ".eEpP"):
            node.value = node.as_float
        else:
            node.value = node.as_int
        return node


# -- evaluation -----------------------------------------------------------------------------------------------

_MAX_DEPTH = 1000  # nested {{template}} calls (Go allows 100000; Python's stack does not)


class _State:
    __slots__ = ("depth", "out", "vars")

    def __init__(self, frame: int, data: Any) -> None:
        self.out: list[str] = []
        self.vars: list[Any] = [data] + [_UNSET] * (frame - 1)
        self.depth = 0


class _Unset:
    __slots__ = ()


_UNSET: Any = _Unset()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


Eval = Callable[[_State, Any], Any]
Emit = Callable[[_State, Any], None]
Call = Callable[[_State, Any, Any], Any]  # (state, dot, final) -> value; final is _NO_FINAL when absent

_NO_FINAL: Any = object()
# What a function may raise on odd input; Go recovers a function's panic into an execution error too.
_FUNCTION_ERRORS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
    RecursionError,
    UnicodeError,
)


class Func(NamedTuple):
    """A template function: `impl` and its Go parameter kinds (`variadic` is the kind of ``...`` args).

    Kinds: ``any`` (interface{}), ``value`` (reflect.Value: receives nil for missing values), ``string``,
    ``int``, ``float64``, ``bool``, ``list``, ``map``, ``time``.
    """

    impl: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None


_GO_PARAM_TYPES = {
    "string": "string",
    "int": "int",
    "float64": "float64",
    "bool": "bool",
    "list": "[]interface {}",
    "map": "map[string]interface {}",
    "time": "time.Time",
}


def _check_kind(kind: str, value: Any) -> Any:
    """Go's validateType: `value` passed for a parameter of `kind` (errors as Go words them)."""
    if kind in ("any", "value"):
        return value
    if value is None:
        if kind in ("list", "map"):
            return None
        raise TemplateExecError(f"invalid value; expected {_GO_PARAM_TYPES[kind]}")
    cls = value.__class__
    ok = (
        (kind == "string" and cls is str)
        or (kind == "int" and cls is int)
        or (kind == "float64" and cls is float)
        or (kind == "bool" and cls is bool)
        or (kind == "list" and isinstance(value, list))
        or (kind == "map" and isinstance(value, dict) and cls is not StrMap)
        or (kind == "time" and cls is GoTime)
    )
    if not ok:
        raise TemplateExecError(f"wrong type for value; expected {_GO_PARAM_TYPES[kind]}; got {go_type(value)}")
    return value


def _literal_for_kind(kind: str, node: _Node) -> Any:
    """A literal argument converted for a parameter of `kind`, as Go's evalArg; TemplateExecError if it can't be."""
    if isinstance(node, _Nil):
        if kind in ("any", "value", "list", "map"):
            return None
        raise TemplateExecError(f"cannot assign nil to {_GO_PARAM_TYPES[kind]}")
    assert isinstance(node, _Literal)
    if kind in ("any", "value"):
        return node.value
    if kind == "string" and node.kind == "string":
        return node.value
    if kind == "bool" and node.kind == "bool":
        return node.value
    if kind == "int" and node.kind == "number" and node.as_int is not None:
        return node.as_int
    if kind == "float64" and node.kind == "number" and node.as_float is not None:
        return node.as_float
    expected = {"string": "string", "bool": "bool", "int": "integer", "float64": "float"}.get(kind)
    if expected is None:
        raise TemplateExecError(f"can't handle {node.text} for arg of type {_GO_PARAM_TYPES[kind]}")
    raise TemplateExecError(f"expected {expected}; found {node.text}")


def _field(receiver: Any, name: str, has_args: bool) -> Any:
    """Go's evalField on a template value: map lookup (missing: nil), errors for anything else."""
    if receiver is None:
        return None
    if isinstance(receiver, dict):
        if has_args:
            raise TemplateExecError(f"{name} is not a method but has arguments")
        return receiver.get(name)
    raise TemplateExecError(f"can't evaluate field {name} in type {go_type(receiver)}")


def _raiser(message: str) -> Eval:
    def fail(st: _State, dot: Any) -> Any:
        raise TemplateExecError(message)

    return fail


class _Scope:
    """Compile-time variable slots: Go's run-time variable stack, resolved once."""

    def __init__(self) -> None:
        self.names: list[tuple[str, int]] = [("$", 0)]
        self.size = 1

    def declare(self, name: str) -> int:
        slot = self.size
        self.size += 1
        self.names.append((name, slot))
        return slot

    def lookup(self, name: str) -> int | None:
        for known, slot in reversed(self.names):
            if known == name:
                return slot
        return None


class _Compiler:
    """Turns the syntax tree into closures; each node is compiled once."""

    def __init__(self, functions: dict[str, Func], templates: dict[str, tuple[Emit, int]]) -> None:
        self.functions = functions
        self.templates = templates
        self.scope = _Scope()

    def body(self, nodes: list[_Node]) -> Emit:
        emitters = [self.node(node) for node in nodes]
        if not emitters:
            return _emit_nothing
        if len(emitters) == 1:
            return emitters[0]
        emitters_tuple = tuple(emitters)

        def emit_all(st: _State, dot: Any) -> None:
            for emit in emitters_tuple:
                emit(st, dot)

        return emit_all

    def node(self, node: _Node) -> Emit:
        if isinstance(node, _TextNode):
            text = node.text

            def emit_text(st: _State, dot: Any) -> None:
                st.out.append(text)

            return emit_text
        if isinstance(node, _ActionNode):
            pipe = self.pipe(node.pipe)
            if node.pipe.decl:

                def emit_declaration(st: _State, dot: Any) -> None:
                    pipe(st, dot)

                return emit_declaration

            def emit_action(st: _State, dot: Any) -> None:
                value = pipe(st, dot)
                st.out.append(value if value.__class__ is str else print_value(value))

            return emit_action
        if isinstance(node, _Control):
            return self.control(node)
        if isinstance(node, _Jump):
            jump = _Break if node.text == "break" else _Continue

            def emit_jump(st: _State, dot: Any) -> None:
                raise jump

            return emit_jump
        if isinstance(node, _TemplateCall):
            return self.template_call(node)
        raise AssertionError(f"unknown node {node!r}")

    def control(self, node: _Control) -> Emit:
        mark = len(self.scope.names)
        pipe = self.pipe(node.pipe)
        decl_slots = [slot for name, slot in self.scope.names[mark:]]
        body = self.body(node.body)
        else_body = self.body(node.else_body) if node.else_body is not None else None
        del self.scope.names[mark:]
        if node.kind == "if":

            def emit_if(st: _State, dot: Any) -> None:
                if truth(pipe(st, dot)):
                    body(st, dot)
                elif else_body is not None:
                    else_body(st, dot)

            return emit_if
        if node.kind == "with":

            def emit_with(st: _State, dot: Any) -> None:
                value = pipe(st, dot)
                if truth(value):
                    body(st, value)
                elif else_body is not None:
                    else_body(st, dot)

            return emit_with
        element_slot = decl_slots[-1] if decl_slots else None
        index_slot = decl_slots[0] if len(decl_slots) > 1 else None

        def emit_range(st: _State, dot: Any) -> None:
            value = pipe(st, dot)
            pairs: Sequence[tuple[Any, Any]]
            if value is None:
                pairs = ()
            elif isinstance(value, list):
                pairs = list(enumerate(value))
            elif isinstance(value, dict):
                pairs = [(key, value[key]) for key in sorted(value)]
            elif value.__class__ is int or value.__class__ is Int64:
                if index_slot is not None:
                    raise TemplateExecError(f"can't use {value} to iterate over more than one variable")
                pairs = [(i, i) for i in range(int(value))]
            else:
                raise TemplateExecError(f"range can't iterate over {format_value(value)}")
            if not pairs:
                if else_body is not None:
                    else_body(st, dot)
                return
            variables = st.vars
            for key, element in pairs:
                if element_slot is not None:
                    variables[element_slot] = element
                if index_slot is not None:
                    variables[index_slot] = key
                try:
                    body(st, element)
                except _Continue:
                    continue
                except _Break:
                    break

        return emit_range

    def template_call(self, node: _TemplateCall) -> Emit:
        pipe = self.pipe(node.pipe) if node.pipe is not None else None
        name = node.name
        templates = self.templates

        def emit_template(st: _State, dot: Any) -> None:
            found = templates.get(name)
            if found is None:
                raise TemplateExecError(f"template {go_quote(name)} not defined")
            body, frame = found
            value = pipe(st, dot) if pipe is not None else None
            if st.depth >= _MAX_DEPTH:
                raise TemplateExecError(f"exceeded maximum template depth ({_MAX_DEPTH})")
            saved = st.vars
            st.vars = [value] + [_UNSET] * (frame - 1)
            st.depth += 1
            try:
                body(st, value)
            finally:
                st.vars = saved
                st.depth -= 1

        return emit_template

    # pipelines and commands: the first command of a pipeline is an `Eval`; later ones get the value piped in
    def pipe(self, pipe: _Pipe) -> Eval:
        first = self.command(pipe.cmds[0])
        rest = tuple(self.piped_command(cmd) for cmd in pipe.cmds[1:])
        targets: list[int | None] = []
        for name in pipe.decl:
            targets.append(self.scope.lookup(name) if pipe.is_assign else self.scope.declare(name))
        if not rest and not targets:
            return first
        names = tuple(pipe.decl)

        def evaluate(st: _State, dot: Any) -> Any:
            value = first(st, dot)
            for command in rest:
                value = command(st, dot, value)
            for index, slot in enumerate(targets):
                if slot is None:
                    raise TemplateExecError(f"undefined variable: {names[index]}")
                st.vars[slot] = value
            return value

        return evaluate

    def command(self, args: list[_Node]) -> Eval:
        first, rest = args[0], args[1:]
        if isinstance(first, _Identifier):
            return self.call(first.text, rest)
        receiver = self.receiver(first)
        if receiver is not None:
            return self.field_chain(receiver[0], receiver[1], rest, has_args=bool(rest))
        if rest:
            return _raiser(f"can't give argument to non-function {first.text}")
        if isinstance(first, _Nil):
            return _raiser("nil is not a command")
        return self.operand(first)

    def piped_command(self, args: list[_Node]) -> Call:
        first, rest = args[0], args[1:]
        if isinstance(first, _Identifier):
            return self.piped_call(first.text, rest)
        receiver = self.receiver(first)
        if receiver is None:
            return _call_raiser(f"can't give argument to non-function {first.text}")
        lookup = self.field_chain(receiver[0], receiver[1], rest, has_args=True)
        return lambda st, dot, final: lookup(st, dot)

    def receiver(self, node: _Node) -> tuple[Eval | None, list[str]] | None:
        """For a field chain (``.a.b``, ``$x.a``, ``(pipe).a``): what it starts from (None: dot) and the names."""
        if isinstance(node, _Field):
            return None, node.names
        if isinstance(node, _Chain):
            return self.operand(node.node), node.names
        if isinstance(node, _Variable) and node.names:
            return self.variable(node.name), node.names
        return None

    def variable(self, name: str) -> Eval:
        slot = self.scope.lookup(name)
        if slot is None:
            return _raiser(f"undefined variable: {name}")

        def read(st: _State, dot: Any) -> Any:
            value = st.vars[slot]
            if value is _UNSET:
                raise TemplateExecError(f"undefined variable: {name}")
            return value

        return read

    def field_chain(self, receiver: Eval | None, names: list[str], args: list[_Node], *, has_args: bool) -> Eval:
        for arg in args:  # Go evaluates none of them (a field takes no arguments), but they must compile
            self.operand(arg)
        last = names[-1]
        head = tuple(names[:-1])
        if receiver is None and not head:
            if has_args:
                return lambda st, dot: _field(dot, last, True)

            def read_field(st: _State, dot: Any) -> Any:
                return dot.get(last) if dot.__class__ is dict else _field(dot, last, False)

            return read_field

        def lookup(st: _State, dot: Any) -> Any:
            value = dot if receiver is None else receiver(st, dot)
            for name in head:
                value = _field(value, name, False)
            return _field(value, last, has_args)

        return lookup

    def operand(self, node: _Node) -> Eval:
        """An operand evaluated for its value (no arguments, nothing piped in)."""
        receiver = self.receiver(node)
        if receiver is not None:
            return self.field_chain(receiver[0], receiver[1], [], has_args=False)
        if isinstance(node, _Variable):
            return self.variable(node.name)
        if isinstance(node, _Identifier):
            return self.call(node.text, [])
        if isinstance(node, _Pipe):
            return self.pipe(node)
        if isinstance(node, _Dot):
            return lambda st, dot: dot
        if isinstance(node, _Nil):
            return lambda st, dot: None
        assert isinstance(node, _Literal)
        constant = node.value
        return lambda st, dot: constant

    def argument(self, node: _Node, kind: str) -> Eval:
        """An argument for a parameter of `kind`: literals converted now (or failing when run), others checked."""
        if isinstance(node, _Literal | _Nil):
            try:
                constant = _literal_for_kind(kind, node)
            except TemplateExecError as error:
                return _raiser(str(error))
            return lambda st, dot: constant
        if kind == "string" and isinstance(node, _Field) and len(node.names) == 1:
            name = node.names[0]

            def string_field(st: _State, dot: Any) -> Any:
                value = dot.get(name) if dot.__class__ is dict else _field(dot, name, False)
                return value if value.__class__ is str else _check_kind("string", value)

            return string_field
        value = self.operand(node)
        if kind in ("any", "value"):
            return value
        if kind == "string":

            def string_argument(st: _State, dot: Any) -> Any:
                result = value(st, dot)
                return result if result.__class__ is str else _check_kind("string", result)

            return string_argument
        return lambda st, dot: _check_kind(kind, value(st, dot))

    def signature(self, name: str, args: list[_Node], piped: bool) -> tuple[Func, list[str]] | str:
        """The function and the parameter kind of each argument (the piped one last), or Go's arity error."""
        func = self.functions[name]
        count = len(args) + (1 if piped else 0)
        fixed = len(func.params)
        if func.variadic is None and count != fixed:
            return f"wrong number of args for {name}: want {fixed} got {count}"
        if func.variadic is not None and count < fixed:
            return f"wrong number of args for {name}: want at least {fixed} got {len(args)}"
        return func, [func.params[i] if i < fixed else func.variadic or "any" for i in range(count)]

    def call(self, name: str, args: list[_Node]) -> Eval:
        if name in ("and", "or"):
            logic = self.and_or(name == "or", args, piped=False)
            return lambda st, dot: logic(st, dot, _NO_FINAL)
        found = self.signature(name, args, piped=False)
        if isinstance(found, str):
            return _raiser(found)
        func, kinds = found
        impl = func.impl
        evaluators = tuple(self.argument(arg, kinds[i]) for i, arg in enumerate(args))
        if not evaluators:
            return lambda st, dot: _invoke(name, impl, ())
        if len(evaluators) == 1:
            (only,) = evaluators

            def call_one(st: _State, dot: Any) -> Any:
                argument = only(st, dot)
                try:
                    return impl(argument)
                except TemplateExecError as error:
                    raise TemplateExecError(f"error calling {name}: {error}") from None
                except _FUNCTION_ERRORS as error:
                    raise TemplateExecError(f"error calling {name}: {error}") from None

            return call_one

        def call_many(st: _State, dot: Any) -> Any:
            return _invoke(name, impl, [evaluate(st, dot) for evaluate in evaluators])

        return call_many

    def piped_call(self, name: str, args: list[_Node]) -> Call:
        if name in ("and", "or"):
            return self.and_or(name == "or", args, piped=True)
        found = self.signature(name, args, piped=True)
        if isinstance(found, str):
            return _call_raiser(found)
        func, kinds = found
        impl = func.impl
        evaluators = tuple(self.argument(arg, kinds[i]) for i, arg in enumerate(args))
        final_kind = kinds[-1]

        def call_piped(st: _State, dot: Any, final: Any) -> Any:
            argv = [evaluate(st, dot) for evaluate in evaluators]
            argv.append(final if final.__class__ is str and final_kind == "string" else _check_kind(final_kind, final))
            return _invoke(name, impl, argv)

        return call_piped

    def and_or(self, is_or: bool, args: list[_Node], *, piped: bool) -> Call:
        name = "or" if is_or else "and"
        if not args and not piped:
            return _call_raiser(f"wrong number of args for {name}: want at least 1 got 0")
        evaluators = tuple(self.argument(arg, "value") for arg in args)

        def short_circuit(st: _State, dot: Any, final: Any) -> Any:
            value: Any = None
            for evaluate in evaluators:
                value = evaluate(st, dot)
                if truth(value) == is_or:
                    return value
            if final is not _NO_FINAL:
                value = final
            return value

        return short_circuit


def _invoke(name: str, impl: Callable[..., Any], argv: Sequence[Any]) -> Any:
    try:
        return impl(*argv)
    except TemplateExecError as error:
        raise TemplateExecError(f"error calling {name}: {error}") from None
    except _FUNCTION_ERRORS as error:
        raise TemplateExecError(f"error calling {name}: {error}") from None


def _emit_nothing(st: _State, dot: Any) -> None:
    return None


def _call_raiser(message: str) -> Call:
    def fail(st: _State, dot: Any, final: Any) -> Any:
        raise TemplateExecError(message)

    return fail


# -- the template ---------------------------------------------------------------------------------------------


class Template:
    """A Go text/template compiled once; `render(data)` runs it against `data` (usually a dict of strings).

    ```python
    Template('{{ .level | ToUpper }}: {{ .msg }}').render({"level": "warn", "msg": "disk full"})
    ```

    Raises ValueError with Go's message and the line and column when the text does not parse (an undefined
    function or variable is a parse error, as in Go).
    """

    __slots__ = ("_blank", "_body", "_frame", "_single", "_state", "fields", "text")

    def __init__(self, text: str, functions: dict[str, Func] | None = None) -> None:
        self.text = text
        table = FUNCTIONS if functions is None else functions
        try:
            parser = _Parser(_lex(text), {**table, "and": None, "or": None})
            root = parser.parse()
        except _SyntaxError as error:
            line = text.count("\n", 0, error.pos) + 1
            column = error.pos - (text.rfind("\n", 0, error.pos) + 1) + 1
            raise ValueError(f"{error.message} at line {line}, column {column}") from None
        templates: dict[str, tuple[Emit, int]] = {}
        for name, nodes in parser.defines.items():
            compiler = _Compiler(table, templates)
            body = compiler.body(nodes)
            templates[name] = (body, compiler.scope.size)
        compiler = _Compiler(table, templates)
        self._single: Eval | None = None
        self._body: Emit
        if len(root) == 1 and isinstance(root[0], _ActionNode) and not root[0].pipe.decl:
            # One action and nothing else (the most common template): its value is the output.
            self._single = compiler.pipe(root[0].pipe)
            self._body = _emit_nothing
        else:
            self._body = compiler.body(root)
        self._frame = compiler.scope.size
        self._blank = [_UNSET] * (self._frame - 1)
        # One state, reused: rendering is synchronous and a template never renders itself.
        self._state = _State(self._frame, None)
        self.fields = _root_fields(root)

    def render(self, data: Any) -> str:
        """Run the template with `data` as dot; TemplateExecError when Go's execution would fail."""
        st = self._state
        st.vars[0] = data
        if self._blank:
            st.vars[1:] = self._blank
        st.depth = 0
        try:
            if self._single is not None:
                value = self._single(st, data)
                return value if value.__class__ is str else print_value(value)
            out: list[str] = []
            st.out = out
            self._body(st, data)
        except RecursionError:
            raise TemplateExecError("template nesting too deep") from None
        return out[0] if len(out) == 1 else "".join(out)


def _root_fields(nodes: list[_Node]) -> frozenset[str] | None:
    """Names the template reads as ``.Name`` at the top level, or None when it may read dot in other ways."""
    if any(isinstance(node, _Control | _TemplateCall) for node in nodes):
        return None
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, _ActionNode):
            for cmd in node.pipe.cmds:
                if not _collect_fields(cmd, names):
                    return None
    return frozenset(names)


def _collect_fields(args: list[_Node], names: set[str]) -> bool:
    for arg in args:
        if isinstance(arg, _Field):
            names.add(arg.names[0])
        elif isinstance(arg, _Pipe):
            for cmd in arg.cmds:
                if not _collect_fields(cmd, names):
                    return False
        elif isinstance(arg, _Dot | _Variable | _Chain):
            return False
    return True


# -- functions ------------------------------------------------------------------------------------------------


def _comparable_kind(value: Any) -> str:
    cls = value.__class__
    if cls is bool:
        return "bool"
    if cls is int or cls is Int64:
        return "int"
    if cls is float:
        return "float"
    if cls is str:
        return "string"
    return "invalid"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateExecError("missing argument for comparison")
    kind = _comparable_kind(first)
    for other in others:
        other_kind = _comparable_kind(other)
        if kind != other_kind:
            if first is not None and other is not None:
                raise TemplateExecError("incompatible types for comparison")
            continue
        if kind == "invalid":
            if first is None or other is None:
                if (first is None) == (other is None):
                    return True
                continue
            if isinstance(first, list | dict) or isinstance(other, list | dict):
                raise TemplateExecError(f"non-comparable type {format_value(first)}: {go_type(first)}")
        if first == other:
            return True
    return False


def _ne(first: Any, second: Any) -> bool:
    return not _eq(first, second)


def _lt(first: Any, second: Any) -> bool:
    kind = _comparable_kind(first)
    other_kind = _comparable_kind(second)
    if kind == "invalid" or other_kind == "invalid":
        raise TemplateExecError("invalid type for comparison")
    if kind != other_kind:
        raise TemplateExecError("incompatible types for comparison")
    if kind == "bool":
        raise TemplateExecError("invalid type for comparison")
    return bool(first < second)


def _le(first: Any, second: Any) -> bool:
    return _lt(first, second) or _eq(first, second)


def _gt(first: Any, second: Any) -> bool:
    return not _le(first, second)


def _ge(first: Any, second: Any) -> bool:
    return not _lt(first, second)


def _not(value: Any) -> bool:
    return not truth(value)


def _len(value: Any) -> int:
    if value.__class__ is str:
        return _go_len(value)
    if isinstance(value, list | dict):
        return len(value)
    if value is None:
        raise TemplateExecError("len of nil pointer")
    raise TemplateExecError(f"len of type {go_type(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise TemplateExecError("index of untyped nil")
    for index in indexes:
        if item.__class__ is str or isinstance(item, list):
            if index is None:
                raise TemplateExecError("cannot index slice/array with nil")
            if index.__class__ not in (int, Int64):
                raise TemplateExecError(f"cannot index slice/array with type {go_type(index)}")
            size = _go_len(item) if item.__class__ is str else len(item)
            if not 0 <= index < size:
                raise TemplateExecError(f"index out of range: {index}")
            item = item.encode()[index] if item.__class__ is str else item[index]
        elif isinstance(item, dict):
            if index is None:
                raise TemplateExecError("value is nil; should be of type string")
            if index.__class__ is not str:
                raise TemplateExecError(f"value has type {go_type(index)}; should be string")
            item = item.get(index, "" if item.__class__ is StrMap else None)
        elif item is None:
            raise TemplateExecError("index of nil pointer")
        else:
            raise TemplateExecError(f"can't index item of type {go_type(item)}")
    return item


def _html(*args: Any) -> str:
    text = _eval_args(args)
    if not any(c in text for c in "'\"&<>\0"):
        return text
    return (
        text.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\0", "\ufffd")
    )


_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _js(*args: Any) -> str:
    out: list[str] = []
    for char in _eval_args(args):
        if char in _JS_ESCAPES:
            out.append(_JS_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04X}")
        elif char.isascii() or char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04X}")
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _eval_args(args: Sequence[Any]) -> str:
    if len(args) == 1 and args[0].__class__ is str:
        return args[0]
    return go_sprint(["<no value>" if a is None else a for a in args])


def _printf(form: str, *args: Any) -> str:
    return go_sprintf(form, args)


def _println(*args: Any) -> str:
    return " ".join(map(format_value, args)) + "\n"


def _call(function: Any, *args: Any) -> Any:
    raise TemplateExecError(f"non-function of type {go_type(function)}")


# Promtail's own functions (Go's strings package, hashes, regex replacement).


def _replace(text: str, old: str, new: str, count: int) -> str:
    return text.replace(old, new, count if count >= 0 else -1)


def _trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


def _hash(first: str, second: str) -> str:
    # Promtail calls it as Hash(salt, input) but hashes salt+input: `Hash .Value "salt"` is sha3(value+salt).
    return hashlib.sha3_256((first + second).encode()).hexdigest()


def _sha2_hash(first: str, second: str) -> str:
    return hashlib.sha256((first + second).encode()).hexdigest()


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern once (Go's MustCompile: a bad pattern fails the call)."""
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        try:
            compiled = compile_re2(pattern)
        except ValueError as error:
            raise TemplateExecError(f"regexp: Compile({go_quote(pattern)}): {error}") from None
        if len(_REGEX_CACHE) >= 256:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = compiled
    return compiled


def _find_all(pattern: re.Pattern[str], text: str, limit: int = -1) -> list[re.Match[str]]:
    """Go's FindAll: successive matches, an empty one right after a previous match skipped."""
    found: list[re.Match[str]] = []
    position = 0
    previous_end = -1
    while (limit < 0 or len(found) < limit) and position <= len(text):
        match = pattern.search(text, position)
        if match is None:
            break
        start, end = match.span()
        accept = True
        if end == start:
            if start == previous_end:
                accept = False
            position = end + 1
        else:
            position = end
        previous_end = end
        if accept:
            found.append(match)
    return found


def _replace_all(pattern: re.Pattern[str], text: str, replacement: Callable[[re.Match[str]], str]) -> str:
    """Go's ReplaceAllString loop (an empty match right after a previous match is not replaced)."""
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(text):
        match = pattern.search(text, search)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            out.append(replacement(match))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)


def _regex_replace_all(pattern: str, text: str, replacement: str) -> str:
    return _replace_all(_regex(pattern), text, lambda match: expand(replacement, match))


def _regex_replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    return _replace_all(_regex(pattern), text, lambda match: replacement)


def _regex_match(pattern: str, text: str) -> bool:
    return _regex(pattern).search(text) is not None


def _regex_find(pattern: str, text: str) -> str:
    match = _regex(pattern).search(text)
    return "" if match is None else match.group(0)


def _regex_find_all(pattern: str, text: str, limit: int) -> list[Any]:
    if limit == 0:
        return []
    return [m.group(0) for m in _find_all(_regex(pattern), text, limit)]


def _regex_split(pattern: str, text: str, limit: int) -> list[Any]:
    if limit == 0:
        return []
    compiled = _regex(pattern)
    if pattern and not text:
        return [""]
    parts: list[Any] = []
    begin = end = 0
    for match in _find_all(compiled, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts


_QUOTE_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


# sprig


def _strval(value: Any) -> str:
    return value if value.__class__ is str else format_value(value)


def _strslice(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_strval(v) for v in value if v is not None]
    if value is None:
        return []
    return [_strval(value)]


def _trim_zero_decimal(text: str) -> str:
    found_zero = False
    for i in range(len(text), 0, -1):
        char = text[i - 1]
        if char == ".":
            return text[: i - 1] if found_zero else text
        if char != "0":
            return text
        found_zero = True
    return text


def _to_int64(value: Any) -> int:
    """spf13/cast's ToInt64 (what sprig's arithmetic applies to every argument): 0 when not a number."""
    cls = value.__class__
    if cls is bool:
        return 1 if value else 0
    if cls is int or cls is Int64:
        return int(value)
    if cls is float:
        return int(value) if math.isfinite(value) else -(1 << 63)
    if cls is str:
        try:
            return _go_parse_int(_trim_zero_decimal(value))
        except ValueError:
            return 0
    return 0


def _to_float64(value: Any) -> float:
    cls = value.__class__
    if cls is bool:
        return 1.0 if value else 0.0
    if cls in (int, Int64, float):
        return float(value)
    if cls is str:
        try:
            return _go_parse_float(value)
        except ValueError:
            return 0.0
    return 0.0


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi`` with the error dropped, as sprig's `atoi`: 0 for anything but a decimal int."""
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        return 0
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else 0


def _wrap64(value: int) -> Int64:
    return Int64((value + (1 << 63)) % (1 << 64) - (1 << 63))


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise TemplateExecError("runtime error: integer divide by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _go_mod(a: int, b: int) -> int:
    if b == 0:
        raise TemplateExecError("runtime error: integer divide by zero")
    return a - b * _go_div(a, b)


def _round(value: Any, places: int, *round_on: float) -> float:
    threshold = round_on[0] if round_on else 0.5
    power = math.pow(10, places)
    digit = power * _to_float64(value)
    fraction = math.modf(digit)[0]
    rounded = math.ceil(digit) if fraction >= threshold else math.floor(digit)
    return rounded / power


def _empty(value: Any) -> bool:
    return not truth(value) and not isinstance(value, GoTime)


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if not _empty(value):
            return value
    return None


def _ternary(if_true: Any, if_false: Any, condition: bool) -> Any:
    return if_true if condition else if_false


def _fail(message: str) -> str:
    raise TemplateExecError(message)


def _substr(start: int, end: int, text: str) -> str:
    if start < 0:
        return _go_bytes_slice(text, 0, end)
    if end < 0 or end > _go_len(text):
        return _go_bytes_slice(text, start, None)
    return _go_bytes_slice(text, start, end)


def _trunc(count: int, text: str) -> str:
    size = _go_len(text)
    if count < 0 and size + count > 0:
        return _go_bytes_slice(text, size + count, None)
    if count >= 0 and size > count:
        return _go_bytes_slice(text, 0, count)
    return text


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise TemplateExecError("strings: negative Repeat count")
    return text * count


def _abbrev(width: int, text: str) -> str:
    if width < 4 or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _indent(spaces: int, text: str) -> str:
    if spaces < 0:
        raise TemplateExecError("strings: negative Repeat count")
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _go_split(text: str, sep: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        return chars
    return text.split(sep, limit - 1 if limit > 0 else -1)


def _split(sep: str, text: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(_go_split(text, sep)))


def _splitn(sep: str, limit: int, text: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(_go_split(text, sep, limit)))


def _split_list(sep: str, text: str) -> list[Any]:
    return list(_go_split(text, sep))


def _quote(*values: Any) -> str:
    return " ".join(go_quote(_strval(v)) for v in values if v is not None)


def _squote(*values: Any) -> str:
    return " ".join(f"'{format_value(v)}'" for v in values if v is not None)


def _cat(*values: Any) -> str:
    return " ".join(format_value(v) for v in values if v is not None)


def _nospace(text: str) -> str:
    return "".join(c for c in text if c not in _GO_SPACE)


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text.encode(), validate=True).decode("utf-8", "replace")
    except ValueError as error:
        return f"illegal base64 data: {error}"


def _b32dec(text: str) -> str:
    try:
        return base64.b32decode(text.encode()).decode("utf-8", "replace")
    except ValueError as error:
        return f"illegal base32 data: {error}"


def _raw_json_escapes() -> dict[int, str]:
    table = {code: f"\\u{code:04x}" for code in range(0x20)}
    table.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"})
    table.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
    return table


_RAW_JSON_ESCAPES = _raw_json_escapes()


def _json_string(text: str, html_safe: bool) -> str:
    """A JSON string as Go's encoder writes it (``<``, ``>``, ``&`` escaped only when `html_safe`)."""
    return go_json_string(text) if html_safe else '"' + text.translate(_RAW_JSON_ESCAPES) + '"'


def _marshal(value: Any, out: list[str], indent: str | None, level: int, html_safe: bool) -> None:
    cls = value.__class__
    if value is None:
        out.append("null")
    elif cls is bool:
        out.append("true" if value else "false")
    elif cls is str:
        out.append(_json_string(value, html_safe))
    elif cls is int or cls is Int64:
        out.append(str(int(value)))
    elif cls is float:
        if not math.isfinite(value):
            raise ValueError(f"json: unsupported value: {format_float_g(value)}")
        magnitude = abs(value)
        if magnitude == 0 or 1e-6 <= magnitude < 1e21:
            out.append(format_go_float(value))
        else:  # Go's shortest %e, with e-07 cleaned up to e-7
            out.append(repr(value).replace("e-0", "e-"))
    elif isinstance(value, list | dict):
        is_map = isinstance(value, dict)
        items: list[tuple[Any, Any]] = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value))
        opening, closing = ("{", "}") if is_map else ("[", "]")
        if not items:
            out.append(opening + closing)
            return
        out.append(opening)
        for position, (key, item) in enumerate(items):
            if position:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (level + 1))
            if is_map:
                out.append(_json_string(str(key), html_safe))
                out.append(": " if indent is not None else ":")
            _marshal(item, out, indent, level + 1, html_safe)
        if indent is not None:
            out.append("\n" + indent * level)
        out.append(closing)
    elif cls is GoTime:
        out.append(_json_string(format_time("2006-01-02T15:04:05.999999999Z07:00", value.ns, value.zone), True))
    else:
        raise ValueError(f"json: unsupported type: {go_type(value)}")


def _to_json(value: Any, indent: str | None = None, html_safe: bool = True) -> str:
    out: list[str] = []
    try:
        _marshal(value, out, indent, 0, html_safe)
    except ValueError:
        return ""  # sprig swallows the error
    return "".join(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name!r}")


def _from_json(text: str) -> Any:
    """sprig's `fromJson`: Go decodes every number to float64; invalid JSON gives nil."""
    try:
        return json.loads(text, parse_int=float, parse_constant=_reject_constant)
    except ValueError:
        return None


def _list_or_fail(value: Any, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise TemplateExecError(f"Cannot find {name} on type {go_type(value)}")


def _first(values: Any) -> Any:
    items = _list_or_fail(values, "first")
    return items[0] if items else None


def _last(values: Any) -> Any:
    items = _list_or_fail(values, "last")
    return items[-1] if items else None


def _rest(values: Any) -> Any:
    items = _list_or_fail(values, "rest")
    return items[1:] if items else None


def _initial(values: Any) -> Any:
    items = _list_or_fail(values, "initial")
    return items[:-1] if items else None


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    items = _list_or_fail(haystack, "has")
    return any(_deep_equal(item, needle) for item in items)


def _deep_equal(first: Any, second: Any) -> bool:
    if go_type(first) != go_type(second):
        return False
    if isinstance(first, list):
        return len(first) == len(second) and all(map(_deep_equal, first, second))
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(_deep_equal(first[k], second[k]) for k in first)
    return bool(first == second)


def _uniq(values: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list_or_fail(values, "uniq"):
        if not any(_deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _sprig_slice(values: Any, *indexes: Any) -> Any:
    items = _list_or_fail(values, "slice")
    if not items:
        return None
    start = _to_int64(indexes[0]) if indexes else 0
    end = _to_int64(indexes[1]) if len(indexes) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise TemplateExecError(f"slice bounds out of range [{start}:{end}]")
    return items[start:end]


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        key = _strval(pairs[i])
        out[key] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _get(mapping: dict[str, Any] | None, key: str) -> Any:
    if mapping is not None and key in mapping:
        return mapping[key]
    return ""


def _set(mapping: dict[str, Any] | None, key: str, value: Any) -> Any:
    if mapping is None:
        raise TemplateExecError("assignment to entry in nil map")
    mapping[key] = value
    return mapping


def _unset(mapping: dict[str, Any] | None, key: str) -> Any:
    if mapping is not None:
        mapping.pop(key, None)
    return mapping


def _keys(*mappings: dict[str, Any] | None) -> list[Any]:
    return [key for mapping in mappings if mapping for key in mapping]


def _pick(mapping: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: mapping[k] for k in keys if mapping and k in mapping}


def _omit(mapping: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in (mapping or {}).items() if k not in keys}


def _local_zone() -> tzinfo:
    return system_local_zone()


def _now() -> GoTime:
    return GoTime(time.time_ns(), _local_zone())


def _as_time(value: Any) -> GoTime:
    if value.__class__ is GoTime:
        return value
    if value.__class__ in (int, Int64):
        return GoTime(int(value) * 1_000_000_000, UTC)
    return _now()


def _date_in_zone(layout: str, value: Any, zone: str) -> str:
    moment = _as_time(value)
    try:
        location = load_location(zone)
    except ValueError:
        location = UTC
    return format_time(layout, moment.ns, location)


def _unix_epoch(moment: GoTime) -> str:
    return str(moment.ns // 1_000_000_000)


def _to_date(layout: str, text: str) -> GoTime:
    zone = _local_zone()
    try:
        return GoTime(LayoutParser(layout, zone).parse(text), zone)
    except ValueError:
        return GoTime(-62135596800 * 1_000_000_000, UTC)  # Go's zero time


def _expandenv(text: str) -> str:
    return re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+))", lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def _path_clean(path: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent path, by purely lexical processing."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def _path_base(path: str) -> str:
    """Go's ``path.Base``: the last element, trailing slashes removed ("." for "", "/" for slashes only)."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def _path_dir(path: str) -> str:
    """Go's ``path.Dir``: everything but the last element, cleaned."""
    return _path_clean(path[: path.rfind("/") + 1])


def _path_ext(path: str) -> str:
    """Go's ``path.Ext``: the suffix from the final dot of the last element, or ""."""
    for index in range(len(path) - 1, -1, -1):
        if path[index] == "/":
            break
        if path[index] == ".":
            return path[index:]
    return ""


def _until_step(start: int, stop: int, step: int) -> list[Any]:
    """sprig's `untilStep`: start, start+step, ... short of stop (empty when the step leads away)."""
    if step == 0 or (step > 0 and start >= stop) or (step < 0 and start <= stop):
        return []
    return list(range(start, stop, step))


_STRING = ("string",)
_TWO_STRINGS = ("string", "string")

FUNCTIONS: dict[str, Func] = {
    # Go's built-ins (modern Go: comparison, index, len, not take reflect values)
    "call": Func(_call, ("value",), "value"),
    "html": Func(_html, (), "any"),
    "index": Func(_index, ("value",), "value"),
    "js": Func(_js, (), "any"),
    "len": Func(_len, ("value",)),
    "not": Func(_not, ("value",)),
    "print": Func(lambda *args: go_sprint(args), (), "any"),
    "printf": Func(_printf, _STRING, "any"),
    "println": Func(_println, (), "any"),
    "urlquery": Func(_urlquery, (), "any"),
    "eq": Func(_eq, ("value",), "value"),
    "ne": Func(_ne, ("value", "value")),
    "lt": Func(_lt, ("value", "value")),
    "le": Func(_le, ("value", "value")),
    "gt": Func(_gt, ("value", "value")),
    "ge": Func(_ge, ("value", "value")),
    # Promtail's additions
    "ToLower": Func(_go_lower, _STRING),
    "ToUpper": Func(_go_upper, _STRING),
    "Replace": Func(_replace, ("string", "string", "string", "int")),
    "Trim": Func(lambda text, cutset: text.strip(cutset), _TWO_STRINGS),
    "TrimLeft": Func(lambda text, cutset: text.lstrip(cutset), _TWO_STRINGS),
    "TrimRight": Func(lambda text, cutset: text.rstrip(cutset), _TWO_STRINGS),
    "TrimPrefix": Func(lambda text, prefix: text.removeprefix(prefix), _TWO_STRINGS),
    "TrimSuffix": Func(lambda text, suffix: text.removesuffix(suffix), _TWO_STRINGS),
    "TrimSpace": Func(_trim_space, _STRING),
    "Hash": Func(_hash, _TWO_STRINGS),
    "Sha2Hash": Func(_sha2_hash, _TWO_STRINGS),
    "regexReplaceAll": Func(_regex_replace_all, ("string", "string", "string")),
    "regexReplaceAllLiteral": Func(_regex_replace_all_literal, ("string", "string", "string")),
    # sprig: strings
    "trim": Func(_trim_space, _STRING),
    "trimAll": Func(lambda cutset, text: text.strip(cutset), _TWO_STRINGS),
    "trimPrefix": Func(lambda prefix, text: text.removeprefix(prefix), _TWO_STRINGS),
    "trimSuffix": Func(lambda suffix, text: text.removesuffix(suffix), _TWO_STRINGS),
    "upper": Func(_go_upper, _STRING),
    "lower": Func(_go_lower, _STRING),
    "title": Func(_go_title, _STRING),
    "substr": Func(_substr, ("int", "int", "string")),
    "trunc": Func(_trunc, ("int", "string")),
    "repeat": Func(_repeat, ("int", "string")),
    "abbrev": Func(_abbrev, ("int", "string")),
    "nospace": Func(_nospace, _STRING),
    "contains": Func(lambda needle, text: needle in text, _TWO_STRINGS),
    "hasPrefix": Func(lambda prefix, text: text.startswith(prefix), _TWO_STRINGS),
    "hasSuffix": Func(lambda suffix, text: text.endswith(suffix), _TWO_STRINGS),
    "replace": Func(lambda old, new, text: text.replace(old, new), ("string", "string", "string")),
    "quote": Func(_quote, (), "any"),
    "squote": Func(_squote, (), "any"),
    "cat": Func(_cat, (), "any"),
    "indent": Func(_indent, ("int", "string")),
    "nindent": Func(lambda spaces, text: "\n" + _indent(spaces, text), ("int", "string")),
    "plural": Func(_plural, ("string", "string", "int")),
    "split": Func(_split, _TWO_STRINGS),
    "splitList": Func(_split_list, _TWO_STRINGS),
    "splitn": Func(_splitn, ("string", "int", "string")),
    "join": Func(lambda sep, values: sep.join(_strslice(values)), ("string", "any")),
    "toString": Func(_strval, ("any",)),
    "toStrings": Func(lambda values: list(_strslice(values)), ("any",)),
    "sortAlpha": Func(lambda values: sorted(_strslice(values)), ("any",)),
    "b64enc": Func(lambda text: base64.b64encode(text.encode()).decode(), _STRING),
    "b64dec": Func(_b64dec, _STRING),
    "b32enc": Func(lambda text: base64.b32encode(text.encode()).decode(), _STRING),
    "b32dec": Func(_b32dec, _STRING),
    "sha1sum": Func(lambda text: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest(), _STRING),
    "sha256sum": Func(lambda text: hashlib.sha256(text.encode()).hexdigest(), _STRING),
    "adler32sum": Func(lambda text: str(zlib.adler32(text.encode())), _STRING),
    "regexMatch": Func(_regex_match, _TWO_STRINGS),
    "regexFind": Func(_regex_find, _TWO_STRINGS),
    "regexFindAll": Func(_regex_find_all, ("string", "string", "int")),
    "regexSplit": Func(_regex_split, ("string", "string", "int")),
    "regexQuoteMeta": Func(lambda text: _QUOTE_META.sub(r"\\\1", text), _STRING),
    # sprig: defaults, logic, conversions
    "default": Func(_default, ("any",), "any"),
    "empty": Func(_empty, ("any",)),
    "coalesce": Func(_coalesce, (), "any"),
    "ternary": Func(_ternary, ("any", "any", "bool")),
    "all": Func(lambda *values: all(not _empty(v) for v in values), (), "any"),
    "any": Func(lambda *values: any(not _empty(v) for v in values), (), "any"),
    "fail": Func(_fail, _STRING),
    "toJson": Func(_to_json, ("any",)),
    "toPrettyJson": Func(lambda value: _to_json(value, "  "), ("any",)),
    "toRawJson": Func(lambda value: _to_json(value, None, False), ("any",)),
    "fromJson": Func(_from_json, _STRING),
    "atoi": Func(_atoi, _STRING),
    "int": Func(lambda value: int(_to_int64(value)), ("any",)),
    "int64": Func(lambda value: Int64(_to_int64(value)), ("any",)),
    "float64": Func(_to_float64, ("any",)),
    # sprig: integer math (int64 results, Go's truncating division)
    "add": Func(lambda *values: _wrap64(sum(map(_to_int64, values))), (), "any"),
    "add1": Func(lambda value: _wrap64(_to_int64(value) + 1), ("any",)),
    "sub": Func(lambda a, b: _wrap64(_to_int64(a) - _to_int64(b)), ("any", "any")),
    "mul": Func(lambda a, *rest: _wrap64(math.prod(map(_to_int64, rest), start=_to_int64(a))), ("any",), "any"),
    "div": Func(lambda a, b: _wrap64(_go_div(_to_int64(a), _to_int64(b))), ("any", "any")),
    "mod": Func(lambda a, b: _wrap64(_go_mod(_to_int64(a), _to_int64(b))), ("any", "any")),
    "max": Func(lambda a, *rest: Int64(max([_to_int64(a), *map(_to_int64, rest)])), ("any",), "any"),
    "biggest": Func(lambda a, *rest: Int64(max([_to_int64(a), *map(_to_int64, rest)])), ("any",), "any"),
    "min": Func(lambda a, *rest: Int64(min([_to_int64(a), *map(_to_int64, rest)])), ("any",), "any"),
    "floor": Func(lambda value: float(math.floor(_to_float64(value))), ("any",)),
    "ceil": Func(lambda value: float(math.ceil(_to_float64(value))), ("any",)),
    "round": Func(_round, ("any", "int"), "float64"),
    # sprig: lists and dicts
    "list": Func(lambda *values: list(values), (), "any"),
    "first": Func(_first, ("any",)),
    "last": Func(_last, ("any",)),
    "rest": Func(_rest, ("any",)),
    "initial": Func(_initial, ("any",)),
    "append": Func(lambda values, value: [*_list_or_fail(values, "append"), value], ("any", "any")),
    "push": Func(lambda values, value: [*_list_or_fail(values, "push"), value], ("any", "any")),
    "prepend": Func(lambda values, value: [value, *_list_or_fail(values, "prepend")], ("any", "any")),
    "concat": Func(lambda *lists: [item for values in lists for item in _list_or_fail(values, "concat")], (), "any"),
    "reverse": Func(lambda values: _list_or_fail(values, "reverse")[::-1], ("any",)),
    "uniq": Func(_uniq, ("any",)),
    "compact": Func(lambda values: [v for v in _list_or_fail(values, "compact") if not _empty(v)], ("any",)),
    "without": Func(
        lambda values, *omit: [v for v in _list_or_fail(values, "without") if not any(_deep_equal(v, o) for o in omit)],
        ("any",),
        "any",
    ),
    "has": Func(_has, ("any", "any")),
    "slice": Func(_sprig_slice, ("any",), "any"),
    "dict": Func(_dict, (), "any"),
    "get": Func(_get, ("map", "string")),
    "set": Func(_set, ("map", "string", "any")),
    "unset": Func(_unset, ("map", "string")),
    "hasKey": Func(lambda mapping, key: mapping is not None and key in mapping, ("map", "string")),
    "keys": Func(_keys, (), "map"),
    "values": Func(lambda mapping: list((mapping or {}).values()), ("map",)),
    "pick": Func(_pick, ("map",), "string"),
    "omit": Func(_omit, ("map",), "string"),
    # sprig: types
    "typeOf": Func(go_type, ("any",)),
    "kindOf": Func(_go_kind, ("any",)),
    "typeIs": Func(lambda name, value: go_type(value) == name, ("string", "any")),
    "kindIs": Func(lambda name, value: _go_kind(value) == name, ("string", "any")),
    "deepEqual": Func(_deep_equal, ("any", "any")),
    # sprig: dates and environment
    "now": Func(_now),
    "date": Func(lambda layout, value: _date_in_zone(layout, value, "Local"), ("string", "any")),
    "dateInZone": Func(_date_in_zone, ("string", "any", "string")),
    "htmlDate": Func(lambda value: _date_in_zone("2006-01-02", value, "Local"), ("any",)),
    "htmlDateInZone": Func(lambda value, zone: _date_in_zone("2006-01-02", value, zone), ("any", "string")),
    "unixEpoch": Func(_unix_epoch, ("time",)),
    "toDate": Func(_to_date, _TWO_STRINGS),
    "env": Func(lambda name: os.environ.get(name, ""), _STRING),
    # sprig: paths (Go's path package; the os* forms use path/filepath, the same on Linux)
    "base": Func(_path_base, _STRING),
    "dir": Func(_path_dir, _STRING),
    "ext": Func(_path_ext, _STRING),
    "clean": Func(_path_clean, _STRING),
    "isAbs": Func(lambda path: path.startswith("/"), _STRING),
    "osBase": Func(_path_base, _STRING),
    "osDir": Func(_path_dir, _STRING),
    "osExt": Func(_path_ext, _STRING),
    "osClean": Func(_path_clean, _STRING),
    "osIsAbs": Func(lambda path: path.startswith("/"), _STRING),
    # sprig: sequences and identifiers
    "until": Func(lambda count: _until_step(0, count, 1 if count >= 0 else -1), ("int",)),
    "untilStep": Func(_until_step, ("int", "int", "int")),
    "uuidv4": Func(lambda: str(uuid.uuid4())),
    "expandenv": Func(_expandenv, _STRING),
}
"""Every function a template may call: Go's built-ins, sprig's (as Promtail registers them, overriding
Go's `slice`) and Promtail's own, each with its Go parameter kinds.

sprig functions not here: case conversions (snakecase, camelcase, kebabcase, swapcase, untitle, initials,
wrap, wrapWith, shuffle), random values (randAlpha and friends), float math (addf, subf, mulf, divf, maxf,
minf, toDecimal), seq, durations (ago, duration, durationRound, dateModify), dict helpers (merge*, pluck, dig,
deepCopy), semver, URL, crypto and network helpers, and the must* variants."""
