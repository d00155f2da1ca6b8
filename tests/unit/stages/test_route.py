"""The `match` stage: nested stages on matching entries, drops with a reason, and what it forwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from agent.model import Checkpoint, LogEntry, untracked_checkpoint
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics
from agent.stages.base import Stage, StageContext
from agent.stages.multiline import MultilineConfig, MultilineStage
from agent.stages.registry import build_stages, validate_stages
from agent.stages.route import MatchConfig, MatchStage


def _context(**kwargs: Any) -> StageContext:
    return StageContext(job_name="test", metrics=Metrics(), **kwargs)


def _entry(line: str, labels: dict[str, str] | None = None, checkpoint: Checkpoint | None = None) -> LogEntry:
    labels = dict(labels if labels is not None else {"job": "test"})
    entry = LogEntry(0, line, labels, checkpoint or untracked_checkpoint())
    entry.extracted = dict(labels)
    return entry


def _match(config: dict[str, Any], children: list[Any], ctx: StageContext | None = None) -> MatchStage:
    return MatchStage(MatchConfig.model_validate(config), ctx or _context(), children)


def _build(raw: list[Any], ctx: StageContext | None = None) -> list[Stage]:
    specs, problems = validate_stages(raw, "pipeline_stages")
    assert problems == []
    return build_stages(specs, ctx or _context())


def _dropped(ctx: StageContext, reason: str) -> float | None:
    return ctx.metrics.registry.get_sample_value("logentry_dropped_lines_total", {"reason": reason})


class SetExtracted:
    """Stands in for a parser: sets one extracted value."""

    name: ClassVar[str] = "set"

    def __init__(self, key: str, value: str) -> None:
        self.key, self.value = key, value
        self.seen: list[str] = []

    def process(self, entry: LogEntry) -> LogEntry | None:
        self.seen.append(entry.line)
        assert entry.extracted is not None
        entry.extracted[self.key] = self.value
        return entry


class DropAll:
    name: ClassVar[str] = "dropall"

    def process(self, entry: LogEntry) -> LogEntry | None:
        return None


class AddLabel:
    name: ClassVar[str] = "addlabel"
    mutates_labels = True

    def process(self, entry: LogEntry) -> LogEntry | None:
        entry.labels["added"] = "yes"
        return entry


def _counting_checkpoint(pending: int) -> Checkpoint:
    return Checkpoint(0, pending, lambda _: None)


class TestDocumentedExample:
    def test_nested_stages_run_for_matching_labels(self) -> None:
        """`{app="loki"}` runs its nested stages on the entry whose app label is loki."""
        child = SetExtracted("msg", "app1 log line")
        entry = _match({"selector": '{app="loki"}', "stages": [{"json": {}}]}, [child]).process(
            _entry("line", {"app": "loki"})
        )
        assert entry is not None
        assert entry.extracted is not None
        assert entry.extracted["msg"] == "app1 log line"

    def test_nested_stages_skipped_for_other_labels(self) -> None:
        """`{app="pokey"}` leaves an entry labelled app=loki untouched."""
        child = SetExtracted("msg", "x")
        entry = _entry("line", {"app": "loki"})
        result = _match({"selector": '{app="pokey"}', "stages": [{"json": {}}]}, [child]).process(entry)
        assert result is entry
        assert child.seen == []

    def test_drop_action_counts_the_reason(self) -> None:
        """A matching noisy error line is dropped and counted with `drop_counter_reason`."""
        ctx = _context()
        stage = _match(
            {
                "selector": '{app="promtail"} |~ ".*noisy error.*"',
                "action": "drop",
                "drop_counter_reason": "promtail_noisy_error",
            },
            [],
            ctx,
        )
        assert stage.process(_entry("foo noisy error", {"app": "promtail"})) is None
        assert stage.process(_entry("app1 log line", {"app": "promtail"})) is not None
        assert _dropped(ctx, "promtail_noisy_error") == 1.0


class TestMatching:
    def test_line_filters_decide_with_labels(self) -> None:
        """Line filters must also hold for the nested stages to run."""
        child = SetExtracted("k", "v")
        stage = _match({"selector": '{app="a"} |= "error" != "debug"', "stages": [{"x": {}}]}, [child])
        for line in ["an error", "a debug error", "fine"]:
            stage.process(_entry(line, {"app": "a"}))
        assert child.seen == ["an error"]

    def test_labels_are_read_at_this_point(self) -> None:
        """The selector sees labels set by earlier stages, not only the source's."""
        child = SetExtracted("k", "v")
        stage = _match({"selector": '{added="yes"}', "stages": [{"x": {}}]}, [child])
        entry = AddLabel().process(_entry("line"))
        assert entry is not None
        stage.process(entry)
        assert child.seen == ["line"]

    def test_default_drop_reason(self) -> None:
        """Without drop_counter_reason, drops are counted as match_stage."""
        ctx = _context()
        _match({"selector": '{job="test"}', "action": "drop"}, [], ctx).process(_entry("x"))
        assert _dropped(ctx, "match_stage") == 1.0


class TestNestedStages:
    def test_child_returning_none_consumes_the_entry(self) -> None:
        """A nested stage that drops ends processing: later nested stages do not see the entry."""
        after = SetExtracted("k", "v")
        stage = _match({"selector": '{job="test"}', "stages": [{"a": {}}, {"b": {}}]}, [DropAll(), after])
        assert stage.process(_entry("x")) is None
        assert after.seen == []

    def test_nested_match_inside_match(self) -> None:
        """A match nested in a match runs only when both selectors hold."""
        built = _build(
            [
                {
                    "match": {
                        "selector": '{app="a"}',
                        "stages": [{"match": {"selector": '{env="prod"}', "action": "drop"}}],
                    }
                }
            ]
        )
        (outer,) = built
        assert outer.process(_entry("x", {"app": "a", "env": "prod"})) is None
        assert outer.process(_entry("x", {"app": "a", "env": "dev"})) is not None
        assert outer.process(_entry("x", {"app": "b", "env": "prod"})) is not None

    def test_registry_builds_nested_stages(self) -> None:
        """Nested stages come from the registry as the third constructor argument."""
        ctx = _context()
        (stage,) = _build([{"match": {"selector": '{app="a"}', "stages": [{"drop": {"expression": "debug"}}]}}], ctx)
        assert stage.process(_entry("a debug line", {"app": "a"})) is None
        assert stage.process(_entry("a debug line", {"app": "b"})) is not None
        assert _dropped(ctx, "drop_stage") == 1.0

    def test_child_changing_labels_makes_match_mutate_labels(self) -> None:
        """The pipeline must copy labels before a match whose nested stages change them."""
        assert _match({"selector": '{a="b"}', "stages": [{"x": {}}]}, [AddLabel()]).mutates_labels is True
        assert _match({"selector": '{a="b"}', "stages": [{"x": {}}]}, [DropAll()]).mutates_labels is False

    def test_pipeline_name_joins_job_name(self) -> None:
        """pipeline_name is kept as <job>_<pipeline_name>, as Promtail names the nested pipeline."""
        stage = _match({"selector": '{a="b"}', "pipeline_name": "app2", "stages": [{"x": {}}]}, [DropAll()])
        assert stage.pipeline_name == "test_app2"


class TestForwarding:
    def test_plain_children_add_no_protocol_methods(self) -> None:
        """Without holding or delaying children the pipeline sees a plain stage."""
        stage = _match({"selector": '{a="b"}', "stages": [{"x": {}}]}, [DropAll()])
        for attribute in ("flush", "next_deadline", "flush_all", "delay_for"):
            assert not hasattr(stage, attribute), attribute
        assert stage.holds_entries is False

    def test_multiline_child_is_flushed_through_later_children(self) -> None:
        """A nested multiline's timed-out block goes through the nested stages after it."""
        now = [0.0]
        ctx = _context()
        multiline = MultilineStage(MultilineConfig.model_validate({"firstline": "^START"}), ctx, clock=lambda: now[0])
        after = SetExtracted("seen", "yes")
        stage = _match({"selector": '{app="a"}', "stages": [{"x": {}}, {"y": {}}]}, [multiline, after], ctx)
        assert stage.process(_entry("START one", {"app": "a"})) is None
        assert stage.next_deadline() == 3.0
        now[0] = 3.0
        assert [e.line for e in stage.flush(0)] == ["START one"]
        assert after.seen == ["START one"]

    def test_flush_all_releases_held_blocks(self) -> None:
        """At shutdown a nested multiline's block comes out of the match stage."""
        (stage,) = _build([{"match": {"selector": '{app="a"}', "stages": [{"multiline": {"firstline": "^START"}}]}}])
        stage.process(_entry("START one", {"app": "a"}))
        stage.process(_entry("more", {"app": "a"}))
        assert [e.line for e in stage.flush_all()] == ["START one\nmore"]  # type: ignore[attr-defined]

    def test_holding_match_acknowledges_nested_drops(self) -> None:
        """When a nested stage holds entries, the match stage acknowledges what its other children drop."""
        checkpoint = _counting_checkpoint(1)
        (stage,) = _build(
            [
                {
                    "match": {
                        "selector": '{app="a"}',
                        "stages": [{"drop": {"expression": "noise"}}, {"multiline": {"firstline": "^START"}}],
                    }
                }
            ]
        )
        assert stage.holds_entries is True  # type: ignore[attr-defined]
        assert stage.process(_entry("noise", {"app": "a"}, checkpoint)) is None
        assert checkpoint.pending == 0

    def test_limit_child_delays_only_matching_entries(self) -> None:
        """A nested backpressure limit asks the pipeline to wait, for matching entries only."""
        (stage,) = _build([{"match": {"selector": '{app="a"}', "stages": [{"limit": {"rate": 1, "burst": 1}}]}}])
        entry = _entry("x", {"app": "a"})
        assert stage.delay_for(entry) == 0.0  # type: ignore[attr-defined]
        stage.process(entry)
        assert stage.delay_for(_entry("x", {"app": "a"})) > 0.0  # type: ignore[attr-defined]
        assert stage.delay_for(_entry("x", {"app": "b"})) == 0.0  # type: ignore[attr-defined]

    def test_pipeline_final_flush_reaches_nested_multiline(self) -> None:
        """The pipeline's shutdown flush releases a block held inside a match stage."""
        stages = _build([{"match": {"selector": '{app="a"}', "stages": [{"multiline": {"firstline": "^START"}}]}}])
        pipeline = Pipeline(stages, fanout=1, name="test", metrics=Metrics())
        assert pipeline.process([_entry("START x", {"app": "a"}), _entry("y", {"app": "a"})]) == []
        assert [e.line for e in pipeline.flush_due(final=True)] == ["START x\ny"]


class TestConfig:
    @pytest.mark.parametrize(
        ("body", "path", "message"),
        [
            pytest.param(
                {"selector": '{app="a"}'},
                "pipeline_stages[0].match",
                "action keep needs at least one stage in 'stages'",
                id="keep-needs-stages",
            ),
            pytest.param(
                {"selector": '{app="a"}', "action": "drop", "stages": [{"drop": {"expression": "x"}}]},
                "pipeline_stages[0].match",
                "action drop cannot have 'stages'",
                id="drop-without-stages",
            ),
            pytest.param(
                {"selector": '{app="a"', "action": "drop"},
                "pipeline_stages[0].match.selector",
                "invalid selector: expected ',' or '}' at position 8",
                id="selector-syntax",
            ),
            pytest.param(
                {"action": "drop"}, "pipeline_stages[0].match.selector", "required key is missing", id="no-selector"
            ),
            pytest.param(
                {"selector": '{app="a"}', "action": "delete"},
                "pipeline_stages[0].match.action",
                "expected 'keep' or 'drop', got 'delete'",
                id="unknown-action",
            ),
            pytest.param(
                {"selector": '{app="a"}', "action": "drop", "pipeline_name": ""},
                "pipeline_stages[0].match.pipeline_name",
                "pipeline_name can be left out but cannot be empty",
                id="empty-pipeline-name",
            ),
            pytest.param(
                {"selector": '{app="a"}', "stages": [{"drop": {}}]},
                "pipeline_stages[0].match.stages[0].drop",
                "drop needs at least one of source, expression, older_than or longer_than",
                id="nested-error-path",
            ),
        ],
    )
    def test_errors_name_the_path(self, body: dict[str, Any], path: str, message: str) -> None:
        """Config errors carry the YAML path and a short message."""
        _, problems = validate_stages([{"match": body}], "pipeline_stages")
        assert [(p.path, p.message) for p in problems] == [(path, message)]

    def test_empty_action_means_keep(self) -> None:
        """An empty action is read as keep, as Promtail reads it."""
        assert MatchConfig.model_validate({"selector": '{a="b"}', "action": "", "stages": [{}]}).action == "keep"


class TestDocumentedPipeline:
    SNIPPET = """
    - json:
        expressions:
          app:
    - labels:
        app:
    - match:
        selector: '{app="loki"}'
        stages:
        - json:
            expressions:
              msg: message
    - match:
        pipeline_name: "app2"
        selector: '{app="pokey"}'
        action: keep
        stages:
        - json:
            expressions:
              msg: msg
    - match:
        selector: '{app="promtail"} |~ ".*noisy error.*"'
        action: drop
        drop_counter_reason: promtail_noisy_error
    - output:
        source: msg
    """

    def test_loki_line_becomes_its_message(self, build: Callable[..., Any]) -> None:
        """The loki line is labelled app=loki and its output is the message the nested json extracted."""
        stages = build(self.SNIPPET)
        entry = stages.run(
            '{ "time":"2012-11-01T22:08:41+00:00", "app":"loki", "component": ["parser","type"], "level" : "WARN",'
            ' "message" : "app1 log line" }'
        )
        assert entry is not None
        assert (entry.labels, entry.line) == ({"app": "loki"}, "app1 log line")

    def test_noisy_promtail_line_is_dropped(self, build: Callable[..., Any]) -> None:
        """The promtail noisy error is dropped and counted with reason promtail_noisy_error."""
        stages = build(self.SNIPPET)
        line = (
            '{ "time":"2012-11-01T22:08:41+00:00", "app":"promtail", "component": ["parser","type"],'
            ' "level" : "ERROR", "message" : "foo noisy error" }'
        )
        assert stages.run(line) is None
        assert _dropped(stages.context, "promtail_noisy_error") == 1.0
        assert stages.drops("promtail_noisy_error") == 1.0
