"""The `metrics` stage: counters, gauges and histograms from extracted values, served on ``/metrics``.

Each configured metric is one family (``<prefix><name>``) whose series are keyed by the entry's labels at
that point of the pipeline (``__``-prefixed labels left out). Series not updated for `max_idle_duration`
disappear. Label names differ from entry to entry, which `prometheus_client`'s own metric classes cannot
express, so the families are our own storage behind a custom collector registered in the agent's registry.
One family per name and registry: two stages (two scrape configs, say) defining the same metric feed the
same family, as long as they agree on its type and buckets.

The stage only reads the entry. It also owns Promtail's conversion of extracted values to numbers
(`value_to_float`) and Go's ``%v`` float formatting (`format_go_float_g`, for ``le`` and `geoip`).
"""

from __future__ import annotations

import bisect
import math
import re
import time
import weakref
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import ClassVar, Literal

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import DuplicateTimeseries
from pydantic import Field, RootModel, ValidationError, ValidationInfo, field_validator, model_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.values import go_string

# -- Extracted values, converted as Promtail converts them -------------------------------------------------


def format_go_float_g(value: float) -> str:
    """`value` as Go prints a float64 with ``%v`` (``strconv.FormatFloat(v, 'g', -1, 64)``): the shortest
    digits that read back exactly, with an exponent when it is below -4 or at least 6 (``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # where the decimal point goes, counted from the first digit
    prefix = "-" if sign else ""
    if not -4 <= point - 1 < 6:
        fraction = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{prefix}{digits[0]}{fraction}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


_GO_DURATION = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def value_to_float(value: object) -> float | None:
    """An extracted value as a metric value, or None when it has none.

    Numbers as they are, booleans as 1 and 0, strings holding a number (``"0.804"``) or a Go duration
    (``"0.5ms"`` is 0.0005 seconds), as Promtail documents.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value or value != value.strip() or "_" in value:
        return None  # Python's float() accepts spaces and digit separators, Go's ParseFloat does not
    try:
        return float(value)
    except ValueError:
        pass
    if value.lstrip("+-")[:2].lower() == "0x":
        try:
            return float.fromhex(value)
        except ValueError:
            return None
    return _go_duration(value)


def _go_duration(text: str) -> float | None:
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    position = 0
    total = 0.0
    for match in _GO_DURATION.finditer(body):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        return None
    return -total if text.startswith("-") else total


# -- Configuration ---------------------------------------------------------------------------------------

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # Prometheus' defaults


class CounterSettings(ConfigModel):
    """A counter's `config`: `action` inc or add; `match_all` counts every entry (bytes, with
    `count_entry_bytes`); `value` counts only entries whose source equals it."""

    action: str
    value: str | None = None
    match_all: bool = False
    count_entry_bytes: bool = False

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        action = value.lower()
        if action not in ("inc", "add"):
            raise ValueError(f"counter action must be inc or add, got {value!r}")
        return action

    @model_validator(mode="after")
    def _combination(self) -> CounterSettings:
        if self.match_all and self.value is not None:
            raise ValueError("match_all: true cannot be combined with value")
        if self.count_entry_bytes and not self.match_all:
            raise ValueError("count_entry_bytes: true needs match_all: true")
        if self.count_entry_bytes and self.action != "add":
            raise ValueError("count_entry_bytes: true needs action: add")
        return self


class GaugeSettings(ConfigModel):
    """A gauge's `config`: `action` set, inc, dec, add or sub; `value` filters as for counters."""

    action: str
    value: str | None = None

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        action = value.lower()
        if action not in ("set", "inc", "dec", "add", "sub"):
            raise ValueError(f"gauge action must be set, inc, dec, add or sub, got {value!r}")
        return action


class HistogramSettings(ConfigModel):
    """A histogram's `config`: `buckets` (Prometheus' defaults when left out); `value` filters."""

    buckets: list[float] = Field(default_factory=lambda: list(_DEFAULT_BUCKETS))
    value: str | None = None

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if not value:
            return list(_DEFAULT_BUCKETS)
        if any(b >= a for a, b in zip(value[1:], value, strict=False)):
            raise ValueError("buckets must be in increasing order")
        return [b for b in value if not math.isinf(b)]  # +Inf is always there


_SETTINGS: dict[str, type[ConfigModel]] = {
    "counter": CounterSettings,
    "gauge": GaugeSettings,
    "histogram": HistogramSettings,
}


class MetricConfig(ConfigModel):
    """One metric of the stage, as Promtail spells it (`type` is case-insensitive)."""

    type: Literal["counter", "gauge", "histogram"]
    description: str = ""
    source: str | None = None
    prefix: str = "promtail_custom_"
    max_idle_duration: Duration = 300.0
    config: CounterSettings | GaugeSettings | HistogramSettings | None = Field(default=None, validate_default=True)

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() in _SETTINGS:
            return value.lower()
        raise ValueError(f"invalid metric type {value!r}: use Counter, Gauge or Histogram")

    @field_validator("prefix")
    @classmethod
    def _default_prefix(cls, value: str) -> str:
        return value or "promtail_custom_"  # Promtail reads an empty prefix as the default

    @field_validator("max_idle_duration")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        if value < 1.0:
            raise ValueError("max_idle_duration must be at least 1s")
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _settings_for_type(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("type")
        model = _SETTINGS.get(kind) if isinstance(kind, str) else None
        if model is None:
            return None  # the type's own error is reported
        try:
            return model.model_validate({} if value is None else value)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            message = "required key is missing" if first["type"] == "missing" else first["msg"]
            message = message.removeprefix("Value error, ")
            raise ValueError(f"{where}: {message}" if where else message) from None


class MetricsConfig(RootModel[dict[str, MetricConfig]]):
    """The `metrics` stage body: metric name to its definition."""

    model_config = {"frozen": True}

    @model_validator(mode="after")
    def _names(self) -> MetricsConfig:
        if not self.root:
            raise ValueError("metrics needs at least one metric")
        for name, metric in self.root.items():
            if not _METRIC_NAME.match(metric.prefix + name):
                raise ValueError(f"{metric.prefix + name!r} is not a valid Prometheus metric name")
        return self


# -- Storage and exposition --------------------------------------------------------------------------------

SeriesKey = tuple[tuple[str, str], ...]


class _Series:
    """One label set's value; a histogram's per-bucket (not cumulative) counts live in `buckets`."""

    __slots__ = ("buckets", "count", "expires_at", "labels", "value")

    def __init__(self, labels: dict[str, str], bucket_count: int) -> None:
        self.labels = labels
        self.value = 0.0  # counter and gauge value, histogram sum
        self.count = 0
        self.buckets = [0] * bucket_count
        self.expires_at = 0.0


class MetricFamily:
    """A custom metric and its series, collected for the registry it was registered in.

    Counters named ``..._total`` are exposed as counters; other counter names are exposed with their
    exact name as untyped, because the Prometheus text format written by `prometheus_client` appends
    ``_total`` to every counter and would rename the metric users configured.
    """

    def __init__(
        self, name: str, kind: str, documentation: str, buckets: tuple[float, ...], clock: Callable[[], float]
    ) -> None:
        self.name = name
        self.kind = kind
        self.documentation = documentation
        self.buckets = buckets
        self.series: dict[SeriesKey, _Series] = {}
        self._clock = clock
        self._le = [format_go_float_g(b) for b in buckets]  # Go's spelling: le="1", not le="1.0"

    def get(self, key: SeriesKey, max_idle: float) -> _Series:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series(dict(key), len(self.buckets))
        series.expires_at = self._clock() + max_idle
        return series

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _family(self) -> Metric:
        if self.kind == "counter" and self.name.endswith("_total"):
            return Metric(self.name.removesuffix("_total"), self.documentation, "counter")
        if self.kind == "counter":
            return Metric(self.name, self.documentation, "unknown")
        return Metric(self.name, self.documentation, self.kind)

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        family = self._family()
        sample_name = self.name
        # A snapshot: the pipeline may add series while /metrics is served from another thread.
        for key, series in list(self.series.items()):
            if now >= series.expires_at:
                self.series.pop(key, None)
                continue
            if self.kind != "histogram":
                family.add_sample(sample_name, series.labels, series.value)
                continue
            cumulative = 0
            for le, count in zip(self._le, series.buckets, strict=True):
                cumulative += count
                family.add_sample(f"{sample_name}_bucket", {**series.labels, "le": le}, cumulative)
            family.add_sample(f"{sample_name}_bucket", {**series.labels, "le": "+Inf"}, series.count)
            family.add_sample(f"{sample_name}_sum", series.labels, series.value)
            family.add_sample(f"{sample_name}_count", series.labels, series.count)
        return [family]


# Families by registry and name, so stages of different pipelines share a family instead of exposing the
# same name twice (which makes Prometheus reject the whole scrape). Keyed weakly by the registry, which
# belongs to one agent (one `Metrics`); better held by `Metrics` itself (see the report to the lead).
_FAMILIES: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, MetricFamily]] = weakref.WeakKeyDictionary()


def register_family(
    registry: CollectorRegistry,
    name: str,
    kind: str,
    documentation: str,
    buckets: tuple[float, ...],
    clock: Callable[[], float],
) -> MetricFamily:
    """The family `name` in `registry`, made and registered on first use.

    Raises ValueError when another stage defined `name` with another type or buckets, or when `name` is
    one of the agent's own metrics.
    """
    families = _FAMILIES.setdefault(registry, {})
    family = families.get(name)
    if family is None:
        family = MetricFamily(name, kind, documentation, buckets, clock)
        try:
            registry.register(family)
        except DuplicateTimeseries:
            raise ValueError(f"metric {name!r} clashes with one of the agent's own metrics") from None
        families[name] = family
    elif family.kind != kind or family.buckets != buckets:
        raise ValueError(f"metric {name!r} is already defined by another metrics stage with another type or buckets")
    return family


# -- The stage -------------------------------------------------------------------------------------------


class _Rule:
    """One configured metric of one stage: what to read from the entry and how to update the family."""

    __slots__ = ("action", "count_bytes", "family", "match_all", "max_idle", "source", "value")

    def __init__(self, name: str, config: MetricConfig, family: MetricFamily) -> None:
        settings = config.config
        self.family = family
        self.source = config.source if config.source is not None else name
        self.max_idle = config.max_idle_duration
        self.value = settings.value if settings is not None else None
        self.action = getattr(settings, "action", "observe")
        self.match_all = bool(getattr(settings, "match_all", False))
        self.count_bytes = bool(getattr(settings, "count_entry_bytes", False))


class MetricsStage:
    """`metrics`: update counters, gauges and histograms from each entry; the entry is left unchanged.

    ```yaml
    - metrics:
        log_lines_total:
          type: Counter
          description: total number of log lines
          config:
            match_all: true
            action: inc
        http_response_time_seconds:
          type: Histogram
          source: response_time
          config:
            buckets: [0.001, 0.0025, 0.005, 0.010, 0.025, 0.050]
    ```
    """

    name: ClassVar[str] = "metrics"
    Config: ClassVar[type[MetricsConfig]] = MetricsConfig

    __slots__ = ("_errors", "_last_key", "_last_labels", "_rules")

    def __init__(
        self, config: MetricsConfig, ctx: StageContext, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        registry = ctx.metrics.registry
        rules = []
        for name, metric in config.root.items():
            buckets = tuple(metric.config.buckets) if isinstance(metric.config, HistogramSettings) else ()
            family = register_family(registry, metric.prefix + name, metric.type, metric.description, buckets, clock)
            rules.append(_Rule(name, metric, family))
        self._rules = tuple(rules)
        self._errors = ctx.error_counter("metrics_value_not_a_number")
        self._last_labels: dict[str, str] = {}
        self._last_key: SeriesKey = ()

    def process(self, entry: LogEntry) -> LogEntry | None:
        key: SeriesKey | None = None
        extracted = entry.extracted or {}
        for rule in self._rules:
            if rule.match_all:
                amount: object = _byte_length(entry.line) if rule.count_bytes else None
            elif rule.source in extracted:
                amount = extracted[rule.source]
            else:
                continue
            if rule.value is not None and go_string(amount) != rule.value:
                continue
            if key is None:
                key = self._series_key(entry.labels)
            self._record(rule, key, amount)
        return entry

    def _series_key(self, labels: dict[str, str]) -> SeriesKey:
        # Consecutive entries mostly share a label set: comparing dicts is cheaper than sorting again.
        if labels == self._last_labels:
            return self._last_key
        key = tuple(sorted(item for item in labels.items() if not item[0].startswith("__")))
        self._last_labels, self._last_key = dict(labels), key
        return key

    def _record(self, rule: _Rule, key: SeriesKey, amount: object) -> None:
        action = rule.action
        number = 0.0
        if action in ("add", "set", "sub", "observe"):
            parsed = value_to_float(amount)
            if parsed is None or (action == "add" and rule.family.kind == "counter" and parsed < 0):
                self._errors.inc()  # counters never go down; Promtail's client would panic here
                return
            number = parsed
        series = rule.family.get(key, rule.max_idle)
        if action == "inc":
            series.value += 1.0
        elif action == "dec":
            series.value -= 1.0
        elif action == "add":
            series.value += number
        elif action == "sub":
            series.value -= number
        elif action == "set":
            series.value = number
        else:
            index = len(series.buckets) if math.isnan(number) else bisect.bisect_left(rule.family.buckets, number)
            if index < len(series.buckets):
                series.buckets[index] += 1
            series.count += 1
            series.value += number


def _byte_length(line: str) -> int:
    return len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))
