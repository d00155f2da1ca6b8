"""The `event` stage: label an entry as a security, performance or business event, and count it.

The event pipelines in `pipelines/` find events with Promtail's own stages (`match` with line filters, `regex`,
`structured_metadata`); this stage is the last step of each event family. It sets the three event labels
(`event_category`, `event_type`, `severity`) from a closed vocabulary (`pipelines/vocabulary.yaml`), checked
when the config loads, so no pipeline can turn an unbounded value into a label. It counts each event in
`agent_events_total{job,event_category,event_type}` and observes durations in
`agent_event_duration_seconds{job,operation}`.

It owns the vocabulary's loading and checking. It does not find events (the stages before it do) and does not
touch the line.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, ClassVar

import yaml
from pydantic import Field, field_validator, model_validator

from agent.config.base import ConfigModel
from agent.config.include import bundled_pipelines
from agent.config.problems import suggest
from agent.config.units import Duration
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.metrics import format_go_float_g, value_to_float

VOCABULARY_FILE = "vocabulary.yaml"
_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class Vocabulary:
    """The closed label values: severities, operations, and event types by category."""

    __slots__ = ("event_types", "operations", "severities")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.severities: tuple[str, ...] = tuple(raw["severity"])
        self.operations: tuple[str, ...] = tuple(raw["operations"])
        self.event_types: dict[str, tuple[str, ...]] = {
            category: tuple(types) for category, types in raw["event_types"].items()
        }


@cache
def vocabulary() -> Vocabulary:
    """The bundled vocabulary (read once; it ships with the agent beside the bundled pipelines)."""
    text = bundled_pipelines().joinpath(VOCABULARY_FILE).read_text(encoding="utf-8")
    return Vocabulary(yaml.safe_load(text))


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(
            f"{what} {value!r} is not in the event vocabulary{suggest(value, allowed)}; "
            f"use one of {', '.join(allowed)} (pipelines/vocabulary.yaml)"
        )
    return value


class EventConfig(ConfigModel):
    """`event` settings; every label value is checked against the vocabulary here, once."""

    category: str
    type: str | None = None
    type_from: str | None = None
    types: dict[str, list[str]] = Field(default_factory=dict)
    severity: str | None = None
    severities: dict[str, str] = Field(default_factory=dict)
    duration: str | dict[str, str] | None = None
    duration_unit: str = "s"
    operation: str | None = None
    slower_than: Duration | None = None
    threshold_from: str | None = None

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _one_of(value, tuple(vocabulary().event_types), "event_category")

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, vocabulary().severities, "severity")

    @field_validator("operation")
    @classmethod
    def _operation(cls, value: str | None) -> str | None:
        return None if value is None else _one_of(value, vocabulary().operations, "operation")

    @field_validator("duration_unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        return _one_of(value, tuple(_UNIT_SECONDS), "duration_unit")

    @field_validator("duration")
    @classmethod
    def _duration_units(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if isinstance(value, dict):
            for unit in value.values():
                _one_of(unit, tuple(_UNIT_SECONDS), "duration unit")
        return value

    @model_validator(mode="after")
    def _types(self) -> EventConfig:
        allowed = vocabulary().event_types[self.category]
        if (self.type is None) == (self.type_from is None):
            raise ValueError("set exactly one of 'type' (a fixed event type) or 'type_from' (with 'types')")
        if self.type is not None:
            _one_of(self.type, allowed, f"event_type of category {self.category!r}")
        elif not self.types:
            raise ValueError("'type_from' needs 'types': event_type -> the app's names for that event")
        for event_type in (*self.types, *self.severities):
            _one_of(event_type, allowed, f"event_type of category {self.category!r}")
        for severity in self.severities.values():
            _one_of(severity, vocabulary().severities, "severity")
        if (self.slower_than is not None or self.operation is not None) and self.duration is None:
            raise ValueError("'slower_than' and 'operation' need 'duration' (the extracted field holding it)")
        if self.threshold_from is not None and self.slower_than is None:
            raise ValueError("'threshold_from' needs 'slower_than' (the default threshold)")
        return self


def duration_seconds(value: object, scale: float) -> float | None:
    """An extracted duration in seconds: a number (or numeric text) times `scale`, or a Go duration ("153ms")."""
    if value.__class__ is str:
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = value_to_float(value)
            if parsed is None:
                return None
            seconds = parsed
    else:
        number = value_to_float(value)
        if number is None:
            return None
        seconds = number * scale
    return seconds if 0.0 <= seconds < math.inf else None


def format_seconds(seconds: float) -> str:
    """`format_go_float_g` for a duration (finite, not negative), without its Decimal in the common range.

    From 1e-4 to below 1e6 Go prints a float64 in plain notation with the shortest digits that read back,
    which is Python's `repr` (plain notation from 1e-4 to below 1e16) less a trailing ".0".
    """
    if 1e-4 <= seconds < 1e6:
        text = repr(seconds)
        return text[:-2] if text.endswith(".0") else text
    return format_go_float_g(seconds)


class EventStage:
    """`event`: set `event_category`, `event_type` and `severity`, count the event, observe its duration.

    ```yaml
    - event:                       # a fixed type
        category: security
        type: auth_failure
        severity: warning
    - event:                       # the app names the event: map its names to event types
        category: business
        type_from: event           # an extracted field
        types:
          signup: [user.signup, user_registered]
          payment_failed: [payment.failed, charge_failed]
        severities: {payment_failed: warning}
    - event:                       # only when slower than a threshold; every duration feeds the histogram
        category: performance
        type: slow_request
        duration: request_time     # an extracted field: a number in `duration_unit`, or a Go duration;
        duration_unit: s           # or a mapping of fields to units, the first present wins:
                                   # duration: {duration_ms: ms, duration: s}
        operation: http_request
        slower_than: 1s
        threshold_from: slow_request_threshold   # optional: an extracted value overrides slower_than
    ```

    An entry already labelled as an event is left alone (the first pipeline to recognise a line wins), and
    so is one whose duration is missing when a threshold applies or whose name is not in `types`. When it
    labels an entry, it also removes empty structured metadata values (optional regex groups that did not
    match) and adds `duration_seconds`.
    """

    name: ClassVar[str] = "event"
    mutates_labels: ClassVar[bool] = True
    Config: ClassVar[type[EventConfig]] = EventConfig

    __slots__ = (
        "_category",
        "_counters",
        "_duration",
        "_histogram",
        "_last_threshold",
        "_names",
        "_severities",
        "_threshold",
        "_threshold_from",
        "_type",
        "_type_from",
    )

    def __init__(self, config: EventConfig, ctx: StageContext) -> None:
        self._category = config.category
        self._type = config.type
        self._type_from = config.type_from
        self._names = {name: event_type for event_type, names in config.types.items() for name in names}
        types = [config.type] if config.type is not None else list(config.types)
        self._severities = {t: config.severities.get(t, config.severity) for t in types}
        events = ctx.metrics.events
        job, category = ctx.job_name, config.category
        self._counters = {t: events.labels(job=job, event_category=category, event_type=t).inc for t in types}
        if isinstance(config.duration, dict):
            self._duration = tuple((field, _UNIT_SECONDS[unit]) for field, unit in config.duration.items())
        elif config.duration is not None:
            self._duration = ((config.duration, _UNIT_SECONDS[config.duration_unit]),)
        else:
            self._duration = ()
        self._histogram = (
            ctx.metrics.event_duration.labels(job=ctx.job_name, operation=config.operation).observe
            if config.operation is not None
            else None
        )
        self._threshold = config.slower_than
        self._threshold_from = config.threshold_from
        self._last_threshold: tuple[object, float | None] = (None, None)

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted or {}
        seconds: float | None = None
        if self._duration:
            for field, scale in self._duration:
                if (value := extracted.get(field)) is not None and value != "":  # "": an unmatched group
                    seconds = duration_seconds(value, scale)
                    break
            if seconds is not None and self._histogram is not None:
                self._histogram(seconds)
            if self._threshold is not None and (seconds is None or seconds <= self._threshold_for(extracted)):
                return entry
        if "event_category" in entry.labels:
            return entry
        event_type = self._type
        if event_type is None:
            name = extracted.get(self._type_from)  # type: ignore[arg-type]
            if name.__class__ is not str or (event_type := self._names.get(name)) is None:
                return entry
        labels = entry.labels
        labels["event_category"] = self._category
        labels["event_type"] = event_type
        if (severity := self._severities[event_type]) is not None:
            labels["severity"] = severity
        metadata = entry.metadata
        if metadata is not None and "" in metadata.values():
            # Optional regex groups that did not match leave empty values (as in Promtail): not worth sending.
            entry.metadata = metadata = {name: value for name, value in metadata.items() if value} or None
        if seconds is not None:
            if metadata is None:
                metadata = entry.metadata = {}
            metadata["duration_seconds"] = format_seconds(round(seconds, 9))
        self._counters[event_type]()
        return entry

    def _threshold_for(self, extracted: dict[str, Any]) -> float:
        default: float = self._threshold  # type: ignore[assignment]
        if self._threshold_from is None or (text := extracted.get(self._threshold_from)) is None:
            return default
        last_text, last_value = self._last_threshold
        if text != last_text:
            last_value = duration_seconds(text, 1.0)
            self._last_threshold = (text, last_value)
        return default if last_value is None else last_value
