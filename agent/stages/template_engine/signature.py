"""Template function signatures: `Func` (an implementation and its Go parameter kinds) and how an argument is
checked against a kind as Go's reflection does it: `check_kind` for a value at run time, `literal_for_kind`
for a literal converted once when compiling (Go's evalArg).

Not here: the functions themselves (`agent.stages.template_engine.functions`), calling them
(`agent.stages.template_engine.compiler`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from agent.stages.template_engine.nodes import Literal, Nil, Node
from agent.stages.template_engine.values import GoTime, StrMap, TemplateExecError, go_type


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


def check_kind(kind: str, value: Any) -> Any:
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


def literal_for_kind(kind: str, node: Node) -> Any:
    """A literal argument converted for a parameter of `kind`, as Go's evalArg; TemplateExecError if it can't be."""
    if isinstance(node, Nil):
        if kind in ("any", "value", "list", "map"):
            return None
        raise TemplateExecError(f"cannot assign nil to {_GO_PARAM_TYPES[kind]}")
    assert isinstance(node, Literal)
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


STRING = ("string",)
TWO_STRINGS = ("string", "string")
