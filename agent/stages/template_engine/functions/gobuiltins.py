"""Go's text/template built-in functions: the comparisons (eq, ne, lt, le, gt, ge), not, len, index, print,
printf, println, html, js, urlquery and call. Modern Go passes comparison, index, len and not reflect values,
so a missing value arrives as nil rather than failing the argument check.

Not here: `and` and `or` (they short-circuit, so `agent.stages.template_engine.compiler` compiles them) and
Go's `slice` (Promtail registers sprig's in its place: `agent.stages.template_engine.functions.lists`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from agent.stages.template_engine.gofmt import go_sprintf
from agent.stages.template_engine.gostrings import go_len
from agent.stages.template_engine.signature import STRING, Func
from agent.stages.template_engine.values import (
    Int64,
    StrMap,
    TemplateExecError,
    format_value,
    go_sprint,
    go_type,
    truth,
)


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
        return go_len(value)
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
            size = go_len(item) if item.__class__ is str else len(item)
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


FUNCTIONS: dict[str, Func] = {
    # Go's built-ins (modern Go: comparison, index, len, not take reflect values)
    "call": Func(_call, ("value",), "value"),
    "html": Func(_html, (), "any"),
    "index": Func(_index, ("value",), "value"),
    "js": Func(_js, (), "any"),
    "len": Func(_len, ("value",)),
    "not": Func(_not, ("value",)),
    "print": Func(lambda *args: go_sprint(args), (), "any"),
    "printf": Func(_printf, STRING, "any"),
    "println": Func(_println, (), "any"),
    "urlquery": Func(_urlquery, (), "any"),
    "eq": Func(_eq, ("value",), "value"),
    "ne": Func(_ne, ("value", "value")),
    "lt": Func(_lt, ("value", "value")),
    "le": Func(_le, ("value", "value")),
    "gt": Func(_gt, ("value", "value")),
    "ge": Func(_ge, ("value", "value")),
}
