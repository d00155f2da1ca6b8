"""Filtering stages: `drop` by content, age and size; `sampling`; `limit` dropping or making the pipeline wait."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.filter import (
    DropConfig,
    DropStage,
    LimitConfig,
    LimitStage,
    SamplingConfig,
    SamplingStage,
)
from agent.stages.registry import build_stages, validate_stages


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


NOW = _ns("2020-08-12T12:00:00")


def _context() -> StageContext:
    return StageContext(job_name="test", metrics=Metrics(), now_ns=lambda: NOW)


def _entry(
    line: str = "", extracted: dict[str, Any] | None = None, *, labels: dict[str, str] | None = None, ts: int = NOW
) -> LogEntry:
    labels = labels if labels is not None else {"job": "test"}
    entry = LogEntry(ts, line, labels, untracked_checkpoint())
    entry.extracted = {**labels, **(extracted or {})}
    return entry


def _drop(config: dict[str, Any], ctx: StageContext | None = None) -> DropStage:
    return DropStage(DropConfig.model_validate(config), ctx or _context())


def _dropped(ctx: StageContext, reason: str) -> float | None:
    return ctx.metrics.registry.get_sample_value("logentry_dropped_lines_total", {"reason": reason})


def _problems(stage: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    _, problems = validate_stages([{stage: body}], "pipeline_stages")
    return [(p.path, p.message) for p in problems]


LOKI_PUSH = '11.11.11.11 - "POST /loki/api/push/ HTTP/1.1" 200 932 "-" "Mozilla/5.0"'


class TestDrop:
    @pytest.mark.parametrize(
        ("extracted", "dropped"),
        [
            pytest.param({"level": "info"}, True, id="level-present"),
            pytest.param({"msg": "x"}, True, id="msg-present"),
            pytest.param({"other": "x"}, False, id="neither-present"),
        ],
    )
    def test_source_list_drops_when_a_source_exists(self, extracted: dict[str, Any], dropped: bool) -> None:
        """`source: [level, msg]` drops lines that have at least one of the extracted fields."""
        assert (_drop({"source": ["level", "msg"]}).process(_entry("l", extracted)) is None) is dropped

    @pytest.mark.parametrize(
        ("line", "dropped"),
        [
            pytest.param("some debug line", True, id="contains-debug"),
            pytest.param("some info line", False, id="no-debug"),
        ],
    )
    def test_expression_matches_the_line(self, line: str, dropped: bool) -> None:
        """`expression: .*debug.*` drops any line with debug in it."""
        assert (_drop({"expression": ".*debug.*"}).process(_entry(line)) is None) is dropped

    @pytest.mark.parametrize("level", [pytest.param("error", id="lower"), pytest.param("ERROR", id="upper")])
    def test_expression_matches_concatenated_sources(self, level: str) -> None:
        """Sources are joined with the separator before the expression is matched."""
        stage = _drop(
            {"source": ["level", "msg"], "separator": "#", "expression": r"(error|ERROR)#.*\/loki\/api\/push.*"}
        )
        assert stage.process(_entry("l", {"level": level, "msg": LOKI_PUSH})) is None

    def test_value_matches_source_exactly(self) -> None:
        """`source: level, value: error` drops exactly the lines whose level is error."""
        stage = _drop({"source": "level", "value": "error"})
        assert stage.process(_entry("l", {"level": "error"})) is None
        assert stage.process(_entry("l", {"level": "errors"})) is not None

    def test_value_matches_joined_sources(self) -> None:
        """With a list source, value is compared with the values joined by the default separator."""
        stage = _drop({"source": ["a", "b"], "value": "1;2"})
        assert stage.process(_entry("l", {"a": "1", "b": "2"})) is None

    def test_missing_sources_are_left_out_of_the_join(self) -> None:
        """Only the sources present are joined."""
        assert _drop({"source": ["a", "b"], "value": "1"}).process(_entry("l", {"a": "1"})) is None

    def test_numbers_compare_as_text(self) -> None:
        """A numeric extracted value is compared as Promtail prints it."""
        assert _drop({"source": "status", "value": "500"}).process(_entry("l", {"status": 500})) is None
        assert _drop({"source": "t", "value": "0.5"}).process(_entry("l", {"t": 0.5})) is None

    def test_maps_never_match_a_value(self) -> None:
        """A map cannot be compared as text, so it does not drop the entry."""
        assert _drop({"source": "obj", "expression": ".*"}).process(_entry("l", {"obj": {"a": 1}})) is not None

    def test_missing_source_never_drops(self) -> None:
        """An expression on a source the entry lacks leaves the entry alone."""
        assert _drop({"source": "key", "expression": ".*val.*"}).process(_entry("val", {"pokey": "val"})) is not None

    def test_empty_source_value_is_present(self) -> None:
        """A source holding an empty string still counts as present."""
        assert _drop({"source": "key"}).process(_entry("l", {"key": ""})) is None

    @pytest.mark.parametrize(
        ("timestamp", "dropped"),
        [
            pytest.param("2020-08-11T11:00:00", True, id="older-than-24h"),
            pytest.param("2020-08-11T13:00:00", False, id="within-24h"),
            pytest.param("2020-08-11T12:00:00", False, id="exactly-24h"),
        ],
    )
    def test_older_than(self, timestamp: str, dropped: bool) -> None:
        """older_than drops entries whose timestamp is before now minus the duration."""
        ctx = _context()
        stage = _drop({"older_than": "24h", "drop_counter_reason": "line_too_old"}, ctx)
        assert (stage.process(_entry("l", ts=_ns(timestamp))) is None) is dropped
        assert _dropped(ctx, "line_too_old") == (1.0 if dropped else None)

    @pytest.mark.parametrize(
        ("line", "dropped"),
        [
            pytest.param("x" * 8001, True, id="longer"),
            pytest.param("x" * 8000, False, id="equal"),
            pytest.param("é" * 4001, True, id="bytes-not-characters"),
        ],
    )
    def test_longer_than(self, line: str, dropped: bool) -> None:
        """longer_than: 8kb drops lines of more than 8000 bytes."""
        stage = _drop({"longer_than": "8kb", "drop_counter_reason": "line_too_long"})
        assert (stage.process(_entry(line)) is None) is dropped

    @pytest.mark.parametrize(
        ("line", "dropped"),
        [
            pytest.param("debug " + "x" * 1000, True, id="debug-and-long"),
            pytest.param("debug", False, id="debug-only"),
            pytest.param("x" * 1001, False, id="long-only"),
        ],
    )
    def test_conditions_combine_with_and(self, line: str, dropped: bool) -> None:
        """expression with longer_than drops only lines that are both matching and long."""
        assert (_drop({"expression": ".*debug.*", "longer_than": "1kb"}).process(_entry(line)) is None) is dropped

    def test_everything_must_match(self) -> None:
        """Source, expression, age and length together drop an entry meeting all four."""
        stage = _drop({"source": "key", "expression": ".*val.*", "older_than": "1h", "longer_than": "10b"})
        entry = _entry("12345678901", {"key": "must contain value to match"}, ts=NOW - 2 * 3600 * 10**9)
        assert stage.process(entry) is None

    def test_separate_stages_combine_with_or(self) -> None:
        """Three drop stages drop what is old, or long, or has trace in msg."""
        stages = [
            _drop({"older_than": "24h"}),
            _drop({"longer_than": "8kb"}),
            _drop({"source": "msg", "expression": ".*trace.*"}),
        ]

        def survives(entry: LogEntry) -> bool:
            return all(stage.process(entry) is not None for stage in stages)

        assert not survives(_entry("l", ts=NOW - 25 * 3600 * 10**9))
        assert not survives(_entry("x" * 9000))
        assert not survives(_entry("l", {"msg": "a trace"}))
        assert survives(_entry("l", {"msg": "fine"}))

    def test_default_reason(self) -> None:
        """Drops are counted as drop_stage unless configured otherwise."""
        ctx = _context()
        _drop({"expression": "x"}, ctx).process(_entry("x"))
        assert _dropped(ctx, "drop_stage") == 1.0

    @pytest.mark.parametrize(
        ("body", "path", "message"),
        [
            pytest.param(
                {},
                "pipeline_stages[0].drop",
                "drop needs at least one of source, expression, older_than or longer_than",
                id="empty",
            ),
            pytest.param(
                {"source": "a", "value": "x", "expression": "y"},
                "pipeline_stages[0].drop",
                "value and expression cannot both be set",
                id="value-and-expression",
            ),
            pytest.param(
                {"value": "x", "longer_than": 10},
                "pipeline_stages[0].drop",
                "value can only be used together with source",
                id="value-without-source",
            ),
            pytest.param(
                {"longer_than": "23QB"},
                "pipeline_stages[0].drop.longer_than",
                "invalid size '23QB': use bytes (1048576) or a unit (256KB, 1MiB)",
                id="bad-size",
            ),
        ],
    )
    def test_config_errors(self, body: dict[str, Any], path: str, message: str) -> None:
        """Invalid drop configs are rejected with the YAML path."""
        assert _problems("drop", body) == [(path, message)]

    def test_invalid_expression(self) -> None:
        """An expression that does not compile is rejected at its path (the wording is agent.regex's)."""
        ((path, message),) = _problems("drop", {"expression": "(?P<ts[0-9]+).*"})
        assert path == "pipeline_stages[0].drop.expression"
        assert message.startswith("invalid regular expression '(?P<ts[0-9]+).*'")


class TestSampling:
    def test_rate_keeps_that_fraction(self) -> None:
        """rate 0.1 keeps about a tenth of the entries."""
        stage = SamplingStage(SamplingConfig(rate=0.1), _context(), rng=random.Random(42))
        kept = sum(stage.process(_entry("l")) is not None for _ in range(20_000))
        assert 1800 <= kept <= 2200

    @pytest.mark.parametrize(
        ("rate", "kept"), [pytest.param(0.0, 0, id="zero-drops-all"), pytest.param(1.0, 100, id="one-keeps-all")]
    )
    def test_edges(self, rate: float, kept: int) -> None:
        """Rate 0 drops everything and rate 1 keeps everything."""
        stage = SamplingStage(SamplingConfig(rate=rate), _context(), rng=random.Random(1))
        assert sum(stage.process(_entry("l")) is not None for _ in range(100)) == kept

    def test_drops_are_counted(self) -> None:
        """Sampled-out entries are counted as sampling_stage."""
        ctx = _context()
        SamplingStage(SamplingConfig(rate=0.0), ctx).process(_entry("l"))
        assert _dropped(ctx, "sampling_stage") == 1.0

    def test_rate_out_of_range(self) -> None:
        """A rate above 1 is rejected."""
        assert _problems("sampling", {"rate": 1.5}) == [
            ("pipeline_stages[0].sampling.rate", "rate must be between 0.0 and 1.0, got 1.5")
        ]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _limit(config: dict[str, Any], clock: Clock, ctx: StageContext | None = None) -> LimitStage:
    return LimitStage(LimitConfig.model_validate(config), ctx or _context(), clock=clock)


class TestLimit:
    def test_drop_mode_drops_over_the_burst(self) -> None:
        """With drop, the burst passes at once and the next entry is dropped as ratelimit_drop_stage."""
        clock = Clock()
        ctx = _context()
        stage = _limit({"rate": 10, "burst": 10, "drop": True}, clock, ctx)
        passed = [stage.process(_entry("l")) is not None for _ in range(11)]
        assert passed == [True] * 10 + [False]
        assert _dropped(ctx, "ratelimit_drop_stage") == 1.0

    def test_drop_mode_refills_at_rate(self) -> None:
        """A tenth of a second at rate 10 gives one more entry."""
        clock = Clock()
        stage = _limit({"rate": 10, "burst": 1, "drop": True}, clock)
        assert stage.process(_entry("l")) is not None
        assert stage.process(_entry("l")) is None
        clock.now += 0.1
        assert stage.process(_entry("l")) is not None

    def test_drop_mode_never_asks_to_wait(self) -> None:
        """With drop the stage has no delay_for, so the pipeline keeps its fast path."""
        assert not hasattr(_limit({"rate": 1, "burst": 1, "drop": True}, Clock()), "delay_for")

    def test_backpressure_waits_instead_of_dropping(self) -> None:
        """Without drop, delay_for says how long to wait once the burst is used, and nothing is dropped."""
        clock = Clock()
        stage = _limit({"rate": 10, "burst": 2}, clock)
        delays = []
        for _ in range(3):
            entry = _entry("l")
            delays.append(stage.delay_for(entry))
            assert stage.process(entry) is entry
        assert delays == [0.0, 0.0, pytest.approx(0.1)]

    def test_delay_shrinks_as_time_passes(self) -> None:
        """After waiting the delay it asked for, the stage lets the entry go."""
        clock = Clock()
        stage = _limit({"rate": 4, "burst": 1}, clock)
        stage.process(_entry("l"))
        entry = _entry("l")
        assert stage.delay_for(entry) == pytest.approx(0.25)
        assert stage.delay_for(entry) == pytest.approx(0.25)  # asking has no side effect
        clock.now += 0.1
        assert stage.delay_for(entry) == pytest.approx(0.15)
        clock.now += 0.15
        assert stage.delay_for(entry) == 0.0

    def test_by_label_limits_each_value(self) -> None:
        """Each namespace gets its own bucket; entries without the label are not limited."""
        clock = Clock()
        stage = _limit({"rate": 1, "burst": 1, "drop": True, "by_label_name": "namespace"}, clock)

        def passes(labels: dict[str, str]) -> bool:
            return stage.process(_entry("l", labels=labels)) is not None

        assert [passes({"namespace": "a"}), passes({"namespace": "a"}), passes({"namespace": "b"})] == [
            True,
            False,
            True,
        ]
        assert all(passes({"job": "x"}) for _ in range(5))

    def test_by_label_forgets_old_values(self) -> None:
        """Past max_distinct_labels values, the least recent buckets are forgotten and start full again."""
        clock = Clock()
        stage = _limit({"rate": 1, "burst": 1, "drop": True, "by_label_name": "ns"}, clock)
        stage.process(_entry("l", labels={"ns": "old"}))
        assert stage.process(_entry("l", labels={"ns": "old"})) is None
        for value in range(20_001):
            stage.process(_entry("l", labels={"ns": str(value)}))
        assert stage.process(_entry("l", labels={"ns": "old"})) is not None

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            pytest.param({"rate": 0, "burst": 10}, "rate and burst must both be greater than 0", id="zero-rate"),
            pytest.param({"rate": 10, "burst": -1}, "rate and burst must both be greater than 0", id="negative-burst"),
            pytest.param(
                {"rate": 1, "burst": 1, "by_label_name": "ns"},
                "by_label_name needs drop: true (limits by label drop, they never wait)",
                id="by-label-needs-drop",
            ),
        ],
    )
    def test_config_errors(self, body: dict[str, Any], message: str) -> None:
        """Invalid limit configs are rejected with the stage's path."""
        assert _problems("limit", body) == [("pipeline_stages[0].limit", message)]


def _built(snippet: str) -> list[Any]:
    specs, problems = validate_stages(yaml.safe_load(snippet), "pipeline_stages")
    assert problems == []
    return build_stages(specs, _context())


def _survives(stages: list[Any], line: str) -> bool:
    entry: LogEntry | None = _entry(line)
    for stage in stages:
        assert entry is not None
        entry = stage.process(entry)
        if entry is None:
            return False
    return True


class TestDocumentedPipelines:
    def test_concatenated_sources(self) -> None:
        """Both documented error lines for /loki/api/push are dropped; an info line is not."""
        stages = _built(
            r"""
            - json:
                expressions:
                 level:
                 msg:
            - drop:
                source:     ["level","msg"]
                separator:   "#"
                expression:  "(error|ERROR)#.*\/loki\/api\/push.*"
            """
        )
        for level in ["error", "ERROR"]:
            assert not _survives(stages, f'{{"level": "{level}", "msg": "11.11.11.11 - POST /loki/api/push/"}}')
        assert _survives(stages, '{"level": "info", "msg": "11.11.11.11 - POST /loki/api/push/"}')

    def test_value_match(self) -> None:
        """`source: level, value: error` after json drops the error line."""
        stages = _built(
            """
            - json:
                expressions:
                 level:
                 msg:
            - drop:
                source: "level"
                value:  "error"
            """
        )
        assert not _survives(stages, '{"time":"2019-01-01T01:00:00.000000001Z", "level": "error", "msg":"x"}')
        assert _survives(stages, '{"time":"2019-01-01T01:00:00.000000001Z", "level": "warn", "msg":"x"}')

    def test_old_lines_after_timestamp_stage(self) -> None:
        """With the ingestion time 2020-08-12T12:00:00Z, a line stamped 11:00 the day before is dropped."""
        stages = _built(
            """
            - json:
                expressions:
                 time:
                 msg:
            - timestamp:
                source: time
                format: RFC3339
            - drop:
                older_than: 24h
                drop_counter_reason: "line_too_old"
            """
        )
        assert not _survives(stages, '{"time":"2020-08-11T11:00:00Z", "level": "error", "msg":"x"}')
        assert _survives(stages, '{"time":"2020-08-11T13:00:00Z", "level": "error", "msg":"x"}')

    def test_sampling_inside_match(self) -> None:
        """Sampling nested in a match only thins out the matching app's lines."""
        stages = _built(
            """
            - json:
                expressions:
                  app:
            - labels:
                app:
            - match:
                pipeline_name: "app2"
                selector: '{app="poki"}'
                stages:
                - sampling:
                    rate: 0.0
            """
        )
        assert not _survives(stages, '{"app": "poki"}')
        assert _survives(stages, '{"app": "other"}')
