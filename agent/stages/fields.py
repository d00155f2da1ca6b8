"""Config field types that several stage families share, validated (and compiled) when the config loads.

`Source` names an extracted value (empty is an error, as in Promtail), `Expression` is an RE2 pattern compiled
once, `TemplateText` a Go template checked for syntax. Each stage's own config model stays next to its stage;
this module holds only the field types more than one of them uses.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from agent.regex import compile_re2
from agent.stages.template_engine import Template


def _non_empty_source(value: str | None) -> str | None:
    if value == "":
        raise ValueError("empty source")
    return value


def _compile_expression(value: object) -> object:
    if isinstance(value, str):
        if not value:
            raise ValueError("expression is required")
        return compile_re2(value)
    return value


def _parses(value: str) -> str:
    Template(value)  # raises ValueError with the line and column of the problem
    return value


Source = Annotated[str | None, AfterValidator(_non_empty_source)]
"""A stage's optional `source` key: an extracted value's name; empty is an error, as in Promtail."""

Expression = Annotated[re.Pattern[str], BeforeValidator(_compile_expression)]
"""A stage's required `expression` key: an RE2 pattern, compiled when the config loads; empty is an error."""

TemplateText = Annotated[str, AfterValidator(_parses)]
"""A Go template (`agent.stages.template_engine`), parsed when the config loads to report syntax errors."""
