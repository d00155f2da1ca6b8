"""The `template` stage: set an extracted value from a Go template, as Promtail's stage does.

The template sees every extracted value that has a string form (Promtail's `getString`: strings, numbers,
booleans; null and others are left out, so they print ``<no value>``), plus ``.Value`` (the `source` value)
and ``.Entry`` (the line). The result replaces `source` in the extracted map, creating it if needed; an
empty result removes `source`. A template that fails while running leaves the map as it was and is counted.
The Go template language itself lives in `agent.stages.template_engine`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.fields import TemplateText
from agent.stages.template_engine import Template, TemplateExecError
from agent.stages.values import go_string

_MISSING: Any = object()


class TemplateConfig(ConfigModel):
    """`template` stage settings. Promtail requires only `source`; an absent `template` renders empty."""

    source: str
    template: TemplateText = ""

    @field_validator("source")
    @classmethod
    def _source_required(cls, value: str) -> str:
        if not value:
            raise ValueError("template source value is required")
        return value


class TemplateStage:
    """`template`: render a Go template into the extracted value named by `source`.

    ```yaml
    - template:
        source: level
        template: '{{ if eq .Value "WARN" }}warning{{ else }}{{ ToLower .Value }}{{ end }}'
    ```

    Functions: Go's built-ins, sprig's, and Promtail's ToLower, ToUpper, Replace, Trim, TrimLeft, TrimRight,
    TrimPrefix, TrimSuffix, TrimSpace, Hash, Sha2Hash, regexReplaceAll and regexReplaceAllLiteral.
    """

    name: ClassVar[str] = "template"
    Config: ClassVar[type[TemplateConfig]] = TemplateConfig
    __slots__ = ("_failed", "_lookups", "_source", "_template")

    def __init__(self, config: TemplateConfig, ctx: StageContext) -> None:
        self._source = config.source
        self._template = Template(config.template)
        # When the template reads only `.Name` fields of dot, only those values are looked up and converted
        # per line: (name in the template data, key in the extracted map).
        fields = self._template.fields
        self._lookups = None
        if fields is not None:
            self._lookups = tuple(
                (name, config.source if name == "Value" else name) for name in sorted(fields) if name != "Entry"
            )
        self._failed = ctx.error_counter("template_failed")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        if extracted is None:
            extracted = entry.extracted = {}
        lookups = self._lookups
        if lookups is None:
            data = self._all_data(extracted, entry.line)
        else:
            data = {"Entry": entry.line}
            for name, key in lookups:
                value = extracted.get(key, _MISSING)
                if value.__class__ is not str:
                    value = self._slow_value(name, value, extracted)
                    if value is _MISSING:
                        continue
                data[name] = value
        try:
            result = self._template.render(data)
        except TemplateExecError:
            self._failed.inc()
            return entry
        if result:
            extracted[self._source] = result
        else:
            extracted.pop(self._source, None)
        return entry

    def _slow_value(self, name: str, value: Any, extracted: dict[str, Any]) -> Any:
        """A looked-up value that is not a string: its Go string form, or _MISSING when it has none."""
        if value is not _MISSING:
            text = go_string(value)
            if text is not None:
                return text
        if name == "Value":  # no usable source value: an extracted key named "Value" stands in, as in Promtail
            fallback = extracted.get("Value", _MISSING)
            if fallback is not _MISSING and (text := go_string(fallback)) is not None:
                return text
        return _MISSING

    def _all_data(self, extracted: dict[str, Any], line: str) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in extracted.items():
            if value.__class__ is not str:
                value = go_string(value)
                if value is None:
                    continue
            data[key] = value
        if self._source in data:
            data["Value"] = data[self._source]
        data["Entry"] = line
        return data
