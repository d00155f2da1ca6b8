"""sprig's default, flow-control and reflection functions: default, empty, coalesce, ternary, all, any, fail;
typeOf, kindOf, typeIs, kindIs and deepEqual. `empty` (the zero value, but never a time) and `deep_equal` are
also what the list functions compare with.
"""

from __future__ import annotations

from typing import Any

from agent.stages.template_engine.signature import STRING, Func
from agent.stages.template_engine.values import GoTime, TemplateExecError, go_kind, go_type, truth


def empty(value: Any) -> bool:
    """sprig's `empty`: the zero value of its type (a time is never empty)."""
    return not truth(value) and not isinstance(value, GoTime)


def _default(default: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if not empty(value):
            return value
    return None


def _ternary(if_true: Any, if_false: Any, condition: bool) -> Any:
    return if_true if condition else if_false


def _fail(message: str) -> str:
    raise TemplateExecError(message)


def deep_equal(first: Any, second: Any) -> bool:
    """Go's ``reflect.DeepEqual`` on template values: same Go type and equal contents."""
    if go_type(first) != go_type(second):
        return False
    if isinstance(first, list):
        return len(first) == len(second) and all(map(deep_equal, first, second))
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(deep_equal(first[k], second[k]) for k in first)
    return bool(first == second)


FUNCTIONS: dict[str, Func] = {
    # sprig: defaults and flow control
    "default": Func(_default, ("any",), "any"),
    "empty": Func(empty, ("any",)),
    "coalesce": Func(_coalesce, (), "any"),
    "ternary": Func(_ternary, ("any", "any", "bool")),
    "all": Func(lambda *values: all(not empty(v) for v in values), (), "any"),
    "any": Func(lambda *values: any(not empty(v) for v in values), (), "any"),
    "fail": Func(_fail, STRING),
    # sprig: types
    "typeOf": Func(go_type, ("any",)),
    "kindOf": Func(go_kind, ("any",)),
    "typeIs": Func(lambda name, value: go_type(value) == name, ("string", "any")),
    "kindIs": Func(lambda name, value: go_kind(value) == name, ("string", "any")),
    "deepEqual": Func(deep_equal, ("any", "any")),
}
