"""Turn pydantic validation errors into `ConfigProblem`s that name the YAML path, with "did you mean" hints."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.errors import ConfigProblem

# Keys that real configs misplace, with the fix. Checked before generic suggestions.
_HINTS = {
    "entry_parser": (
        "entry_parser was removed in Promtail 2.0; use pipeline_stages (e.g. `- docker: {}` or `- cri: {}`)"
    ),
    "pipeline_stages": "pipeline_stages belongs inside a scrape config (scrape_configs[N].pipeline_stages)",
    "relabel_configs": "relabel_configs belongs to the scrape config itself, next to the target, not inside it",
}


def join_path(prefix: str, loc: Iterable[int | str]) -> str:
    """``("a", 0, "b")`` under prefix ``x`` becomes ``x.a[0].b``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that owns the last key of `loc`, walking field annotations from `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            field = next((f for f in current.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        current = _innermost_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _innermost_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            inner = _innermost_model(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def problems_from(error: ValidationError, model: type[BaseModel], prefix: str = "") -> list[ConfigProblem]:
    """One `ConfigProblem` per pydantic error, with paths relative to `prefix` and friendly messages."""
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        # pydantic adds non-key parts (a union member's type name, a validator's name) to `loc`; the YAML
        # path is the keys and indexes only.
        loc = [part for part in item["loc"] if isinstance(part, int) or not _is_internal(part)]
        path = join_path(prefix, loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            hint = _HINTS.get(key)
            if hint:
                message = f"unknown key: {hint}"
            else:
                owner = _model_at(model, loc[:-1])
                message = "unknown key" + (suggest(key, _field_names(owner)) if owner else "")
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("value_error", "assertion_error"):
            message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        elif kind in _EXPECTED:
            message = f"expected {_EXPECTED[kind]}, got {describe_value(item.get('input'))}"
        elif kind == "literal_error":
            expected = str(item["msg"]).replace("Input should be", "expected")
            message = f"{expected}, got {describe_value(item.get('input'))}"
        else:
            got = item.get("input")
            message = (
                f"{item['msg'].lower()}, got {got!r}" if not isinstance(got, dict | list) else item["msg"]
            )
        problems.append(ConfigProblem(path, message))
    return _dedupe(problems)


# pydantic error types whose own wording ("Input should be a valid dictionary or instance of X") reads poorly
# in a config error. The YAML reader hands every scalar over as text, so "got 'abc'" shows what was written.
_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def describe_value(value: object) -> str:
    """How a config value of the wrong shape is named in a message."""
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _is_internal(part: str) -> bool:
    return part.startswith(("function-", "union[", "list[", "dict[", "literal[")) or part in (
        "str",
        "int",
        "float",
        "bool",
        "list",
        "dict",
    )


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[ConfigProblem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
