"""sprig's number functions: conversions as spf13/cast makes them (atoi, int, int64, float64: 0 for what is not a
number), integer math with int64 wrap-around and Go's truncating division (add, add1, sub, mul, div, mod, max,
biggest, min), floor, ceil, round, and the integer sequences until and untilStep.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.stages.template_engine.gostrings import go_parse_float, go_parse_int
from agent.stages.template_engine.signature import STRING, Func
from agent.stages.template_engine.values import Int64, TemplateExecError


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


def to_int64(value: Any) -> int:
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
            return go_parse_int(_trim_zero_decimal(value))
        except ValueError:
            return 0
    return 0


def to_float64(value: Any) -> float:
    """spf13/cast's ToFloat64: 0 when not a number."""
    cls = value.__class__
    if cls is bool:
        return 1.0 if value else 0.0
    if cls in (int, Int64, float):
        return float(value)
    if cls is str:
        try:
            return go_parse_float(value)
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
    digit = power * to_float64(value)
    fraction = math.modf(digit)[0]
    rounded = math.ceil(digit) if fraction >= threshold else math.floor(digit)
    return rounded / power


def _until_step(start: int, stop: int, step: int) -> list[Any]:
    """sprig's `untilStep`: start, start+step, ... short of stop (empty when the step leads away)."""
    if step == 0 or (step > 0 and start >= stop) or (step < 0 and start <= stop):
        return []
    return list(range(start, stop, step))


FUNCTIONS: dict[str, Func] = {
    # sprig: conversions
    "atoi": Func(_atoi, STRING),
    "int": Func(lambda value: int(to_int64(value)), ("any",)),
    "int64": Func(lambda value: Int64(to_int64(value)), ("any",)),
    "float64": Func(to_float64, ("any",)),
    # sprig: integer math (int64 results, Go's truncating division)
    "add": Func(lambda *values: _wrap64(sum(map(to_int64, values))), (), "any"),
    "add1": Func(lambda value: _wrap64(to_int64(value) + 1), ("any",)),
    "sub": Func(lambda a, b: _wrap64(to_int64(a) - to_int64(b)), ("any", "any")),
    "mul": Func(lambda a, *rest: _wrap64(math.prod(map(to_int64, rest), start=to_int64(a))), ("any",), "any"),
    "div": Func(lambda a, b: _wrap64(_go_div(to_int64(a), to_int64(b))), ("any", "any")),
    "mod": Func(lambda a, b: _wrap64(_go_mod(to_int64(a), to_int64(b))), ("any", "any")),
    "max": Func(lambda a, *rest: Int64(max([to_int64(a), *map(to_int64, rest)])), ("any",), "any"),
    "biggest": Func(lambda a, *rest: Int64(max([to_int64(a), *map(to_int64, rest)])), ("any",), "any"),
    "min": Func(lambda a, *rest: Int64(min([to_int64(a), *map(to_int64, rest)])), ("any",), "any"),
    "floor": Func(lambda value: float(math.floor(to_float64(value))), ("any",)),
    "ceil": Func(lambda value: float(math.ceil(to_float64(value))), ("any",)),
    "round": Func(_round, ("any", "int"), "float64"),
    # sprig: integer sequences
    "until": Func(lambda count: _until_step(0, count, 1 if count >= 0 else -1), ("int",)),
    "untilStep": Func(_until_step, ("int", "int", "int")),
}
