"""The `metrics` stage: counters, gauges and histograms from extracted values, exposed with idle expiry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import generate_latest

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.metrics import MetricsConfig, MetricsStage, format_go_float_g, value_to_float
from agent.stages.registry import validate_stages


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _context() -> StageContext:
    return StageContext(job_name="test", metrics=Metrics())


def _stage(config: dict[str, Any], ctx: StageContext | None = None, clock: Clock | None = None) -> MetricsStage:
    return MetricsStage(MetricsConfig.model_validate(config), ctx or _context(), clock=clock or Clock())


def _entry(
    line: str = "line", extracted: dict[str, Any] | None = None, labels: dict[str, str] | None = None
) -> LogEntry:
    labels = labels if labels is not None else {"job": "test"}
    entry = LogEntry(0, line, labels, untracked_checkpoint())
    entry.extracted = {**labels, **(extracted or {})}
    return entry


def _exposition(ctx: StageContext) -> list[str]:
    return generate_latest(ctx.metrics.registry).decode().splitlines()


def _lines_for(ctx: StageContext, name: str) -> list[str]:
    return [line for line in _exposition(ctx) if line.startswith(name) or f" {name}" in line]


def _value(ctx: StageContext, name: str, labels: dict[str, str] | None = None) -> float | None:
    return ctx.metrics.registry.get_sample_value(name, labels if labels is not None else {"job": "test"})


class TestCounter:
    def test_documented_line_and_byte_counters(self) -> None:
        """match_all counts every line, and with count_entry_bytes every byte, under the custom prefix."""
        ctx = _context()
        stage = _stage(
            {
                "log_lines_total": {
                    "type": "Counter",
                    "description": "total number of log lines",
                    "prefix": "my_promtail_custom_",
                    "max_idle_duration": "24h",
                    "config": {"match_all": True, "action": "inc"},
                },
                "log_bytes_total": {
                    "type": "Counter",
                    "description": "total bytes of log lines",
                    "prefix": "my_promtail_custom_",
                    "max_idle_duration": "24h",
                    "config": {"match_all": True, "count_entry_bytes": True, "action": "add"},
                },
            },
            ctx,
        )
        for line in ["abc", "héllo"]:
            stage.process(_entry(line))
        assert _lines_for(ctx, "my_promtail_custom_log_lines_total") == [
            "# HELP my_promtail_custom_log_lines_total total number of log lines",
            "# TYPE my_promtail_custom_log_lines_total counter",
            'my_promtail_custom_log_lines_total{job="test"} 2.0',
        ]
        assert _value(ctx, "my_promtail_custom_log_bytes_total") == 3 + 6

    def test_counts_when_source_is_extracted(self) -> None:
        """successful_orders_total counts only lines where order_success was extracted."""
        ctx = _context()
        stage = _stage(
            {
                "successful_orders_total": {
                    "type": "Counter",
                    "description": "log lines with the message `order successful`",
                    "source": "order_success",
                    "config": {"action": "inc"},
                }
            },
            ctx,
        )
        stage.process(_entry(extracted={"order_success": "order successful"}))
        stage.process(_entry())
        assert _value(ctx, "promtail_custom_successful_orders_total") == 1.0

    def test_value_filters_on_the_extracted_value(self) -> None:
        """Two counters on one source count successes and failures apart."""
        ctx = _context()
        stage = _stage(
            {
                "successful_orders_total": {
                    "type": "Counter",
                    "source": "order_status",
                    "config": {"value": "success", "action": "inc"},
                },
                "failed_orders_total": {
                    "type": "Counter",
                    "source": "order_status",
                    "config": {"value": "fail", "action": "inc"},
                },
            },
            ctx,
        )
        for status in ["success", "success", "fail", "pending"]:
            stage.process(_entry(extracted={"order_status": status}))
        assert _value(ctx, "promtail_custom_successful_orders_total") == 2.0
        assert _value(ctx, "promtail_custom_failed_orders_total") == 1.0

    def test_source_defaults_to_the_metric_name(self) -> None:
        """Without source, the extracted value named like the metric is read."""
        ctx = _context()
        _stage({"bytes_total": {"type": "counter", "config": {"action": "add"}}}, ctx).process(
            _entry(extracted={"bytes_total": "42"})
        )
        assert _value(ctx, "promtail_custom_bytes_total") == 42.0

    def test_unparseable_add_is_skipped_and_counted(self) -> None:
        """A value that is not a number leaves the counter alone and counts an error."""
        ctx = _context()
        stage = _stage({"bytes_total": {"type": "Counter", "config": {"action": "add"}}}, ctx)
        stage.process(_entry(extracted={"bytes_total": "lots"}))
        stage.process(_entry(extracted={"bytes_total": "-3"}))
        assert _value(ctx, "promtail_custom_bytes_total") is None
        errors = {"component": "stage", "reason": "metrics_value_not_a_number"}
        assert ctx.metrics.registry.get_sample_value("agent_errors_total", errors) == 2.0

    def test_name_without_total_keeps_its_name(self) -> None:
        """A counter not named *_total is exposed under its exact name (untyped)."""
        ctx = _context()
        _stage({"orders": {"type": "Counter", "config": {"match_all": True, "action": "inc"}}}, ctx).process(_entry())
        assert _lines_for(ctx, "promtail_custom_orders") == [
            "# HELP promtail_custom_orders ",
            "# TYPE promtail_custom_orders untyped",
            'promtail_custom_orders{job="test"} 1.0',
        ]


class TestGauge:
    def test_documented_add(self) -> None:
        """retries_total adds the extracted retries to the gauge."""
        ctx = _context()
        stage = _stage(
            {
                "retries_total": {
                    "type": "Gauge",
                    "description": "total retries",
                    "source": "retries",
                    "config": {"action": "add"},
                }
            },
            ctx,
        )
        stage.process(_entry(extracted={"retries": "3"}))
        stage.process(_entry(extracted={"retries": "4"}))
        assert _lines_for(ctx, "promtail_custom_retries_total")[1] == "# TYPE promtail_custom_retries_total gauge"
        assert _value(ctx, "promtail_custom_retries_total") == 7.0

    @pytest.mark.parametrize(
        ("action", "values", "expected"),
        [
            pytest.param("set", ["5", "2"], 2.0, id="set"),
            pytest.param("inc", ["x", "y"], 2.0, id="inc"),
            pytest.param("dec", ["x"], -1.0, id="dec"),
            pytest.param("sub", ["1.5", "2"], -3.5, id="sub"),
        ],
    )
    def test_actions(self, action: str, values: list[str], expected: float) -> None:
        """set, inc, dec and sub change the gauge as named."""
        ctx = _context()
        stage = _stage({"g": {"type": "Gauge", "config": {"action": action}}}, ctx)
        for value in values:
            stage.process(_entry(extracted={"g": value}))
        assert _value(ctx, "promtail_custom_g") == expected


class TestHistogram:
    def test_documented_buckets(self) -> None:
        """Observations land in the configured buckets, with sum and count."""
        ctx = _context()
        stage = _stage(
            {
                "http_response_time_seconds": {
                    "type": "Histogram",
                    "description": "length of each log line",
                    "source": "response_time",
                    "config": {"buckets": [0.001, 0.0025, 0.005, 0.010, 0.025, 0.050]},
                }
            },
            ctx,
        )
        for value in ["0.002", "0.5ms", "0.04", "1"]:
            stage.process(_entry(extracted={"response_time": value}))
        name = "promtail_custom_http_response_time_seconds"
        assert _lines_for(ctx, name) == [
            f"# HELP {name} length of each log line",
            f"# TYPE {name} histogram",
            f'{name}_bucket{{job="test",le="0.001"}} 1.0',
            f'{name}_bucket{{job="test",le="0.0025"}} 2.0',
            f'{name}_bucket{{job="test",le="0.005"}} 2.0',
            f'{name}_bucket{{job="test",le="0.01"}} 2.0',
            f'{name}_bucket{{job="test",le="0.025"}} 2.0',
            f'{name}_bucket{{job="test",le="0.05"}} 3.0',
            f'{name}_bucket{{job="test",le="+Inf"}} 4.0',
            f'{name}_sum{{job="test"}} 1.0425',
            f'{name}_count{{job="test"}} 4.0',
        ]

    def test_default_buckets(self) -> None:
        """Without buckets, Prometheus' default buckets are used (le written as Go writes it)."""
        ctx = _context()
        _stage({"t": {"type": "Histogram"}}, ctx).process(_entry(extracted={"t": 3}))
        assert _value(ctx, "promtail_custom_t_bucket", {"job": "test", "le": "2.5"}) == 0.0
        assert _value(ctx, "promtail_custom_t_bucket", {"job": "test", "le": "5"}) == 1.0


class TestSeries:
    def test_labels_are_the_entry_labels_without_reserved_ones(self) -> None:
        """Series are keyed by the entry's labels; labels starting with __ are left out."""
        ctx = _context()
        stage = _stage({"n_total": {"type": "Counter", "config": {"match_all": True, "action": "inc"}}}, ctx)
        stage.process(_entry(labels={"app": "a", "__tenant_id__": "t"}))
        stage.process(_entry(labels={"app": "b", "env": "prod"}))
        assert _value(ctx, "promtail_custom_n_total", {"app": "a"}) == 1.0
        assert _value(ctx, "promtail_custom_n_total", {"app": "b", "env": "prod"}) == 1.0

    def test_idle_series_expire(self) -> None:
        """A series not updated for max_idle_duration disappears; an active one stays."""
        ctx = _context()
        clock = Clock()
        stage = _stage(
            {"n_total": {"type": "Counter", "max_idle_duration": "1m", "config": {"match_all": True, "action": "inc"}}},
            ctx,
            clock,
        )
        stage.process(_entry(labels={"app": "idle"}))
        clock.now += 30
        stage.process(_entry(labels={"app": "busy"}))
        clock.now += 30
        assert _value(ctx, "promtail_custom_n_total", {"app": "idle"}) is None
        assert _value(ctx, "promtail_custom_n_total", {"app": "busy"}) == 1.0

    def test_stages_share_a_metric_name(self) -> None:
        """Two stages defining the same metric feed one family, exposed once."""
        ctx = _context()
        config = {"lines_total": {"type": "Counter", "config": {"match_all": True, "action": "inc"}}}
        _stage(config, ctx).process(_entry(labels={"job": "a"}))
        _stage(config, ctx).process(_entry(labels={"job": "b"}))
        exposition = _exposition(ctx)
        assert exposition.count("# TYPE promtail_custom_lines_total counter") == 1
        assert _value(ctx, "promtail_custom_lines_total", {"job": "a"}) == 1.0
        assert _value(ctx, "promtail_custom_lines_total", {"job": "b"}) == 1.0

    def test_conflicting_definitions_are_rejected(self) -> None:
        """The same name as a counter in one stage and a gauge in another cannot both exist."""
        ctx = _context()
        _stage({"x": {"type": "Counter", "config": {"action": "inc"}}}, ctx)
        with pytest.raises(ValueError, match="already defined by another metrics stage"):
            _stage({"x": {"type": "Gauge", "config": {"action": "inc"}}}, ctx)

    def test_builtin_names_are_rejected(self) -> None:
        """A custom metric cannot take the name of one of the agent's own metrics."""
        with pytest.raises(ValueError, match="clashes with one of the agent's own metrics"):
            _stage({"read_bytes_total": {"type": "Counter", "prefix": "promtail_", "config": {"action": "inc"}}})

    def test_entry_is_unchanged(self) -> None:
        """The stage only reads the entry."""
        entry = _entry("line", {"v": "1"})
        before = (entry.line, dict(entry.labels), dict(entry.extracted or {}))
        result = _stage({"v": {"type": "Gauge", "config": {"action": "set"}}}).process(entry)
        assert result is entry
        assert (entry.line, entry.labels, entry.extracted) == before


class TestValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(3, 3.0, id="int"),
            pytest.param(0.804, 0.804, id="float"),
            pytest.param("0.804", 0.804, id="float-string"),
            pytest.param("0.5ms", 0.0005, id="duration"),
            pytest.param("1h30m", 5400.0, id="compound-duration"),
            pytest.param(True, 1.0, id="true"),
            pytest.param(False, 0.0, id="false"),
            pytest.param(" 1", None, id="spaces"),
            pytest.param("1_000", None, id="digit-separators"),
            pytest.param("1d", None, id="no-day-unit-in-go"),
            pytest.param("ten", None, id="words"),
            pytest.param(None, None, id="null"),
        ],
    )
    def test_value_to_float(self, value: object, expected: float | None) -> None:
        """Extracted values convert to numbers as Promtail documents."""
        assert value_to_float(value) == (pytest.approx(expected) if expected is not None else None)

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            pytest.param(1.0, "1", id="integral"),
            pytest.param(0.0025, "0.0025", id="fraction"),
            pytest.param(39.1027, "39.1027", id="latitude"),
            pytest.param(-94.5778, "-94.5778", id="negative"),
            pytest.param(100000.0, "100000", id="below-exponent"),
            pytest.param(1e6, "1e+06", id="exponent-from-1e6"),
            pytest.param(123456789.0, "1.23456789e+08", id="exponent-keeps-digits"),
            pytest.param(0.00001, "1e-05", id="small-exponent"),
            pytest.param(float("inf"), "+Inf", id="infinity"),
        ],
    )
    def test_format_go_float_g(self, value: float, text: str) -> None:
        """Floats print as Go's %v prints them (bucket bounds, coordinates)."""
        assert format_go_float_g(value) == text


class TestDocumentedPipeline:
    def test_order_success_counter(self, build: Callable[..., Any]) -> None:
        """The regex extracts order_success and the counter counts only those lines."""
        stages = build(
            r"""
            - regex:
                expression: "^.*(?P<order_success>order successful).*$"
            - metrics:
                successful_orders_total:
                  type: Counter
                  description: "log lines with the message `order successful`"
                  source: order_success
                  config:
                    action: inc
            """
        )
        for line in ["id=1 order successful", "id=2 order failed", "id=3 order successful"]:
            stages.run(line, {"job": "shop"})
        assert _value(stages.context, "promtail_custom_successful_orders_total", {"job": "shop"}) == 2.0

    def test_order_status_counters(self, build: Callable[..., Any]) -> None:
        """order_status=success and order_status=fail feed two counters."""
        stages = build(
            r"""
            - regex:
                expression: "^.* order_status=(?P<order_status>.*?) .*$"
            - metrics:
                successful_orders_total:
                  type: Counter
                  description: "successful orders"
                  source: order_status
                  config:
                    value: success
                    action: inc
                failed_orders_total:
                  type: Counter
                  description: "failed orders"
                  source: order_status
                  config:
                    value: fail
                    action: inc
            """
        )
        for status in ["success", "fail", "success"]:
            stages.run(f"ts=1 order_status={status} id=7", {"job": "shop"})
        assert _value(stages.context, "promtail_custom_successful_orders_total", {"job": "shop"}) == 2.0
        assert _value(stages.context, "promtail_custom_failed_orders_total", {"job": "shop"}) == 1.0

    def test_retries_gauge(self, build: Callable[..., Any]) -> None:
        """The gauge adds each extracted retries number."""
        stages = build(
            r"""
            - regex:
                expression: '^.* retries=(?P<retries>\d+) .*$'  # the docs' double quotes are not valid YAML
            - metrics:
                retries_total:
                  type: Gauge
                  description: "total retries"
                  source: retries
                  config:
                    action: add
            """
        )
        stages.run("a retries=2 b", {"job": "x"})
        stages.run("a retries=5 b", {"job": "x"})
        assert _value(stages.context, "promtail_custom_retries_total", {"job": "x"}) == 7.0


class TestConfig:
    @pytest.mark.parametrize(
        ("body", "path", "message"),
        [
            pytest.param(
                {"m": {"type": "Summary"}},
                "pipeline_stages[0].metrics.m.type",
                "invalid metric type 'Summary': use Counter, Gauge or Histogram",
                id="bad-type",
            ),
            pytest.param(
                {"m": {"type": "Counter"}},
                "pipeline_stages[0].metrics.m.config",
                "action: required key is missing",
                id="counter-needs-action",
            ),
            pytest.param(
                {"m": {"type": "Counter", "config": {"action": "set"}}},
                "pipeline_stages[0].metrics.m.config",
                "action: counter action must be inc or add, got 'set'",
                id="counter-action",
            ),
            pytest.param(
                {"m": {"type": "Counter", "config": {"action": "inc", "match_all": True, "value": "x"}}},
                "pipeline_stages[0].metrics.m.config",
                "match_all: true cannot be combined with value",
                id="match-all-and-value",
            ),
            pytest.param(
                {"m": {"type": "Counter", "config": {"action": "add", "count_entry_bytes": True}}},
                "pipeline_stages[0].metrics.m.config",
                "count_entry_bytes: true needs match_all: true",
                id="bytes-needs-match-all",
            ),
            pytest.param(
                {"m": {"type": "Counter", "config": {"action": "inc", "match_all": True, "count_entry_bytes": True}}},
                "pipeline_stages[0].metrics.m.config",
                "count_entry_bytes: true needs action: add",
                id="bytes-needs-add",
            ),
            pytest.param(
                {"m": {"type": "Gauge", "config": {"action": "observe"}}},
                "pipeline_stages[0].metrics.m.config",
                "action: gauge action must be set, inc, dec, add or sub, got 'observe'",
                id="gauge-action",
            ),
            pytest.param(
                {"m": {"type": "Histogram", "config": {"buckets": [1, 0.5]}}},
                "pipeline_stages[0].metrics.m.config",
                "buckets: buckets must be in increasing order",
                id="unordered-buckets",
            ),
            pytest.param(
                {"m": {"type": "Gauge", "max_idle_duration": "500ms", "config": {"action": "inc"}}},
                "pipeline_stages[0].metrics.m.max_idle_duration",
                "max_idle_duration must be at least 1s",
                id="short-idle",
            ),
            pytest.param(
                {"bad-name": {"type": "Gauge", "config": {"action": "inc"}}},
                "pipeline_stages[0].metrics",
                "'promtail_custom_bad-name' is not a valid Prometheus metric name",
                id="metric-name",
            ),
        ],
    )
    def test_errors(self, body: dict[str, Any], path: str, message: str) -> None:
        """Invalid metric definitions are rejected with their YAML path."""
        _, problems = validate_stages([{"metrics": body}], "pipeline_stages")
        assert [(p.path, p.message) for p in problems] == [(path, message)]
