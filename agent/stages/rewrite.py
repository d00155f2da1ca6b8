"""Line-rewriting stages: `output`, `replace`, `decolorize`, `luhn`.

They change the line (or, for `replace` with a `source`, an extracted value) as Promtail's stages of the same
names do. They do not touch labels (`agent.stages.labels`) or parse structure out of lines
(`agent.stages.parse`); the Go template language `replace` renders belongs to `agent.stages.template_engine`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import field_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.fields import Expression, Source, TemplateText
from agent.stages.template_engine import StrMap, Template, TemplateExecError
from agent.stages.values import go_string

_MISSING: Any = object()


class OutputStage:
    """`output`: replace the line with an extracted value.

    ```yaml
    - output:
        source: message
    ```

    A missing value, or one without a string form (null), leaves the line as it was.
    """

    name: ClassVar[str] = "output"
    __slots__ = ("_source",)

    class Config(ConfigModel):
        source: str

        @field_validator("source")
        @classmethod
        def _required(cls, value: str) -> str:
            if not value:
                raise ValueError("output source value is required if output is specified")
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._source = config.source

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        if extracted is not None:
            value = extracted.get(self._source, _MISSING)
            if value.__class__ is str:
                entry.line = value
            elif value is not _MISSING and (text := go_string(value)) is not None:
                entry.line = text
        return entry


# -- replace -----------------------------------------------------------------------------------------------


class ReplaceStage:
    """`replace`: replace every captured group of `expression` in the line (or `source`) with a template.

    ```yaml
    - replace:
        expression: 'password (\\S+)'
        replace: '****'            # a Go template ({{ .Value }} is the captured text); empty removes it
        source: msg                # optional: rewrite an extracted value instead of the line
    ```

    Every group of every match is replaced, as Promtail documents it (Promtail's code skips a group that
    starts exactly where the previously replaced one ended, so ``(\\d)`` masks every other digit of
    ``4111``; here all four are). A group nested in a replaced group is not replaced again. Named groups are
    also set as extracted values (their replaced text, from the first match), and the result goes back to
    `source` or to the line. The template sees ``.Value`` and every extracted value with a string form;
    Promtail's template functions (``ToUpper``, ``Replace``, ``Hash``...) are available.
    """

    name: ClassVar[str] = "replace"
    __slots__ = (
        "_bad_source",
        "_constant",
        "_failed",
        "_fields",
        "_finditer",
        "_groups",
        "_ngroups",
        "_source",
        "_template",
    )

    class Config(ConfigModel):
        expression: Expression
        source: Source = None
        replace: TemplateText = ""

    def __init__(self, config: Config, ctx: StageContext) -> None:
        pattern = config.expression
        self._finditer = pattern.finditer
        self._ngroups = range(1, pattern.groups + 1)
        self._groups = tuple(pattern.groupindex.items())
        self._template = Template(config.replace)
        self._constant = config.replace if "{{" not in config.replace else None
        fields = self._template.fields  # the names the template reads, or None when it may read any
        self._fields = None if fields is None else tuple(name for name in fields if name != "Value")
        self._source = config.source
        self._bad_source = ctx.error_counter("replace_source_not_string")
        self._failed = ctx.error_counter("replace_template_failed")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        if extracted is None:
            extracted = entry.extracted = dict(entry.labels)
        source = self._source
        text: str | None
        if source is None:
            text = entry.line
        else:
            value = extracted.get(source, _MISSING)
            if value is _MISSING:
                return entry
            text = value if value.__class__ is str else go_string(value)
            if text is None:
                if value is not None:
                    self._bad_source.inc()
                return entry
        constant = self._constant
        data: StrMap | None = None
        captured: dict[str, str] = {}
        pieces: list[str] = []
        first: re.Match[str] | None = None
        position = 0  # end of the text replaced so far
        previous_end = -1
        previous_empty = False
        for m in self._finditer(text):
            start, end = m.span()
            # Go's FindAll skips an empty match right after a match, and never starts a match where an
            # empty one was found; Python's finditer yields both.
            if start == previous_end and (start == end or previous_empty):
                previous_empty = start == end
                continue
            previous_end, previous_empty = end, start == end
            if first is None:
                first = m
            for group in self._ngroups:
                group_start, group_end = m.span(group)
                if group_start < 0:
                    continue
                value_text = text[group_start:group_end]
                rendered = captured.get(value_text)
                if rendered is None:
                    if constant is not None:
                        rendered = constant
                    else:
                        if data is None:
                            data = self._data(extracted)
                        data["Value"] = value_text
                        try:
                            rendered = self._template.render(data)
                        except TemplateExecError:
                            self._failed.inc()  # Promtail leaves the entry as it was
                            return entry
                    captured[value_text] = rendered
                if group_start >= position:
                    pieces.append(text[position:group_start])
                    pieces.append(rendered)
                    position = group_end
        if first is None:
            return entry
        pieces.append(text[position:])
        result = "".join(pieces)
        if source is None:
            entry.line = result
        else:
            extracted[source] = result
        for name, index in self._groups:
            key = first.group(index) or ""
            if key in captured:
                extracted[name] = captured[key]
        return entry

    def _data(self, extracted: dict[str, Any]) -> StrMap:
        """The template's dot: the extracted values with a string form, taken before the stage changes any.

        As in Promtail a ``map[string]string``: a value without a string form prints ``<no value>``.
        """
        data = StrMap()
        names = extracted if self._fields is None else self._fields
        for name in names:
            value = extracted.get(name, _MISSING)
            if value is not _MISSING and (text := go_string(value)) is not None:
                data[name] = text
        return data


# -- decolorize --------------------------------------------------------------------------------------------

# The ANSI escape pattern LogQL's `decolorize` (and so Promtail's stage) uses: CSI and OSC sequences, with
# the 7-bit (ESC) or 8-bit (CSI, U+009B) introducer.
_ANSI = re.compile(
    "[\x1b\x9b][\\[\\]()#;?]*"
    "(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x07)"
    "|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))"
)


class DecolorizeStage:
    """`decolorize`: strip ANSI color and cursor escape sequences from the line.

    ```yaml
    - decolorize: {}
    ```
    """

    name: ClassVar[str] = "decolorize"
    __slots__ = ()

    class Config(ConfigModel):
        pass

    def __init__(self, config: Config, ctx: StageContext) -> None:
        pass

    def process(self, entry: LogEntry) -> LogEntry | None:
        line = entry.line
        if "\x1b" in line or "\x9b" in line:
            entry.line = _ANSI.sub("", line)
        return entry


_DIGITS = re.compile(r"\d+")


def luhn_valid(digits: str) -> bool:
    """Whether `digits` passes the Luhn checksum (what card numbers carry)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class LuhnStage:
    """`luhn`: replace numbers that pass the Luhn checksum (card numbers) in the line or in `source`.

    ```yaml
    - luhn:
        min_length: 13            # digits a number needs before it is checked
        replacement: "**REDACTED**"
    ```
    """

    name: ClassVar[str] = "luhn"
    __slots__ = ("_min_length", "_replacement", "_source")

    class Config(ConfigModel):
        min_length: int = 13
        replacement: str = "**REDACTED**"
        source: Source = None

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._min_length = config.min_length
        self._replacement = config.replacement
        self._source = config.source

    def _redact(self, match: re.Match[str]) -> str:
        digits = match.group()
        return self._replacement if len(digits) >= self._min_length and luhn_valid(digits) else digits

    def process(self, entry: LogEntry) -> LogEntry | None:
        if self._source is None:
            line = entry.line
            if any(map(str.isdigit, line)):  # most lines hold no number long enough: skip the regex
                entry.line = _DIGITS.sub(self._redact, line)
            return entry
        extracted = entry.extracted
        value = extracted.get(self._source) if extracted is not None else None
        if isinstance(value, str) and extracted is not None:
            extracted[self._source] = _DIGITS.sub(self._redact, value)
        return entry
