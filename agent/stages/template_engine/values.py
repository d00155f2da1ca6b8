"""Go's values as a template sees them, and `TemplateExecError`, the error a template run raises.

Python types stand for Go's: str, int (Go int) and `Int64`, float (float64), bool, None (nil or a missing
value), list, dict (map[string]interface{}), `StrMap` (map[string]string) and `GoTime`. This module owns their
Go type and kind names (``%T``, sprig's `kindOf`), template truth ("not the zero value") and ``fmt.Sprint``'s
``%v`` form. Not here: ``fmt.Sprintf``'s other verbs (`agent.stages.template_engine.gofmt`), Go's string and
number literal syntax (`agent.stages.template_engine.gostrings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from agent.stages.golayout import format_time


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


def go_kind(value: Any) -> str:
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
