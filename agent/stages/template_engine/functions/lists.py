"""sprig's list and dict functions: list, first, last, rest, initial, append, push, prepend, concat, reverse,
uniq, compact, without, has and slice (which Promtail registers in place of Go's); dict, get, set, unset,
hasKey, keys, values, pick and omit. A list function given anything but a list fails as sprig's does
("Cannot find first on type ...").
"""

from __future__ import annotations

from typing import Any

from agent.stages.template_engine.functions.defaults import deep_equal, empty
from agent.stages.template_engine.functions.numbers import to_int64
from agent.stages.template_engine.functions.strings import strval
from agent.stages.template_engine.signature import Func
from agent.stages.template_engine.values import TemplateExecError, go_type


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
    return any(deep_equal(item, needle) for item in items)


def _uniq(values: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list_or_fail(values, "uniq"):
        if not any(deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _sprig_slice(values: Any, *indexes: Any) -> Any:
    items = _list_or_fail(values, "slice")
    if not items:
        return None
    start = to_int64(indexes[0]) if indexes else 0
    end = to_int64(indexes[1]) if len(indexes) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise TemplateExecError(f"slice bounds out of range [{start}:{end}]")
    return items[start:end]


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        key = strval(pairs[i])
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


FUNCTIONS: dict[str, Func] = {
    # sprig: lists
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
    "compact": Func(lambda values: [v for v in _list_or_fail(values, "compact") if not empty(v)], ("any",)),
    "without": Func(
        lambda values, *omit: [v for v in _list_or_fail(values, "without") if not any(deep_equal(v, o) for o in omit)],
        ("any",),
        "any",
    ),
    "has": Func(_has, ("any", "any")),
    "slice": Func(_sprig_slice, ("any",), "any"),
    # sprig: dicts
    "dict": Func(_dict, (), "any"),
    "get": Func(_get, ("map", "string")),
    "set": Func(_set, ("map", "string", "any")),
    "unset": Func(_unset, ("map", "string")),
    "hasKey": Func(lambda mapping, key: mapping is not None and key in mapping, ("map", "string")),
    "keys": Func(_keys, (), "map"),
    "values": Func(lambda mapping: list((mapping or {}).values()), ("map",)),
    "pick": Func(_pick, ("map",), "string"),
    "omit": Func(_omit, ("map",), "string"),
}
