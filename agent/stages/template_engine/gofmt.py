"""Go's ``fmt.Sprintf`` for template values (the `printf` function): verbs, flags, width and precision, and Go's
``%!verb(type=value)`` forms for a verb that does not fit its operand, a missing operand or an extra one.

Not here: the plain ``%v`` form of a value (`agent.stages.template_engine.values.format_value`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from agent.stages.template_engine.gostrings import go_quote
from agent.stages.template_engine.values import Int64, format_float_g, format_value, go_type

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
