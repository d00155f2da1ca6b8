"""The `multiline` stage: blocks per stream, flushed by the next first line, max_lines and max_wait_time."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from agent.model import Checkpoint, LogEntry, untracked_checkpoint
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.multiline import MultilineConfig, MultilineStage
from agent.stages.registry import build_stages, validate_stages

FLASK_FIRSTLINE = r"^\[\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}\]"

FLASK_LOG = """\
[2020-12-03 11:36:20] "GET /hello HTTP/1.1" 200 -
[2020-12-03 11:36:23] ERROR in app: Exception on /error [GET]
Traceback (most recent call last):
  File "/home/pallets/.pyenv/versions/3.8.5/lib/python3.8/site-packages/flask/app.py", line 2447, in wsgi_app
    response = self.full_dispatch_request()
  File "/home/pallets/src/deployment_tools/hello.py", line 10, in error
    raise Exception("Sorry, this route always breaks")
Exception: Sorry, this route always breaks
[2020-12-03 11:36:23] "GET /error HTTP/1.1" 500 -
[2020-12-03 11:36:26] "GET /hello HTTP/1.1" 200 -
[2020-12-03 11:36:27] "GET /hello HTTP/1.1" 200 -"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stage(config: dict[str, Any], clock: Clock | None = None, fanout: int = 1) -> MultilineStage:
    ctx = StageContext(job_name="test", metrics=Metrics(), fanout=fanout)
    return MultilineStage(MultilineConfig.model_validate(config), ctx, clock=clock or Clock())


def _entry(line: str, stream: str = "a", *, ts: int = 0, checkpoint: Checkpoint | None = None) -> LogEntry:
    labels = {"value": stream}
    entry = LogEntry(ts, line, labels, checkpoint or untracked_checkpoint())
    entry.extracted = dict(labels)
    return entry


def _run(stage: MultilineStage, entries: list[LogEntry]) -> list[LogEntry]:
    out = [result for entry in entries if (result := stage.process(entry)) is not None]
    return out + stage.flush_all()


def _lines(stage: MultilineStage, lines: list[str], stream: str = "a") -> list[str]:
    return [e.line for e in _run(stage, [_entry(line, stream, ts=i) for i, line in enumerate(lines)])]


class TestDocumentedExamples:
    def test_flask_traceback_becomes_one_entry(self) -> None:
        """The traceback joins its ERROR line; every other line stays an entry of its own."""
        lines = FLASK_LOG.split("\n")
        out = _lines(_stage({"firstline": FLASK_FIRSTLINE, "max_wait_time": "3s"}), lines)
        assert out == [lines[0], "\n".join(lines[1:8]), *lines[8:]]

    def test_zero_width_space_first_line(self) -> None:
        """`^\\x{200B}\\[` starts blocks at lines beginning with a zero-width space and a bracket."""
        out = _lines(_stage({"firstline": r"^\x{200B}\["}), ["\u200b[a] x", "java.lang.Exception", "\u200b[b] y"])
        assert out == ["\u200b[a] x\njava.lang.Exception", "\u200b[b] y"]


class TestBlocks:
    def test_lines_before_the_first_start_pass_through(self) -> None:
        """A stream's lines before any first line are passed on one by one."""
        out = _lines(
            _stage({"firstline": "^START"}),
            ["before 1", "before 2", "START line 1", "not a start line", "START line 2", "START line 3"],
        )
        assert out == ["before 1", "before 2", "START line 1\nnot a start line", "START line 2", "START line 3"]

    def test_streams_are_separate(self) -> None:
        """Blocks are built per label set, so interleaved streams do not mix."""
        stage = _stage({"firstline": "^START"})
        entries = [
            _entry("START line 1", "one"),
            _entry("not a start line 1", "one"),
            _entry("START line 1", "two"),
            _entry("not a start line 2", "one"),
            _entry("START line 2", "two"),
            _entry("START line 2", "one"),
            _entry("not a start line 1", "one"),
        ]
        out = sorted((e.labels["value"], e.line) for e in _run(stage, entries))
        assert out == [
            ("one", "START line 1\nnot a start line 1\nnot a start line 2"),
            ("one", "START line 2\nnot a start line 1"),
            ("two", "START line 1"),
            ("two", "START line 2"),
        ]

    def test_block_keeps_first_entry_timestamp_and_labels(self) -> None:
        """The merged entry is the block's first entry, with its timestamp."""
        stage = _stage({"firstline": "^START"})
        first = _entry("START", ts=5)
        stage.process(first)
        stage.process(_entry("more", ts=9))
        (out,) = stage.flush_all()
        assert out is first
        assert out.timestamp == 5
        assert out.line == "START\nmore"

    def test_max_lines_flushes_a_full_block(self) -> None:
        """A block that reaches max_lines goes on at once; following lines start a new block."""
        stage = _stage({"firstline": "^START", "max_lines": 2})
        assert stage.process(_entry("START", ts=1)) is None
        full = stage.process(_entry("a", ts=2))
        assert full is not None
        assert full.line == "START\na"
        assert stage.process(_entry("b", ts=3)) is None
        (rest,) = stage.flush_all()
        assert rest.line == "b"

    def test_block_after_early_flush_takes_the_start_line_stamp(self) -> None:
        """Lines after a full block are stamped with the last first line's timestamp, as Promtail does."""
        stage = _stage({"firstline": "^START", "max_lines": 1})
        stage.process(_entry("START", ts=1))
        continuation = stage.process(_entry("orphan", ts=7))
        assert continuation is not None
        assert continuation.timestamp == 1

    def test_zero_max_lines_means_no_limit(self) -> None:
        """max_lines 0 lets a block grow without bound."""
        out = _lines(_stage({"firstline": "^START", "max_lines": 0}), ["START", *["x"] * 300])
        assert len(out) == 1
        assert out[0].count("\n") == 300


class TestAcknowledgement:
    def test_merged_entries_are_acknowledged_when_merged(self) -> None:
        """Each merged entry is acknowledged once per client; the first entry is not."""
        first_checkpoint = Checkpoint(1, 2, lambda _: None)
        merged_checkpoint = Checkpoint(2, 4, lambda _: None)
        stage = _stage({"firstline": "^START"}, fanout=2)
        stage.process(_entry("START", checkpoint=first_checkpoint))
        stage.process(_entry("a", checkpoint=merged_checkpoint))
        stage.process(_entry("b", checkpoint=merged_checkpoint))
        assert merged_checkpoint.pending == 0
        assert first_checkpoint.pending == 2

    def test_pipeline_leaves_held_entries_pending(self) -> None:
        """Through the pipeline, held entries stay pending and merged ones complete."""
        done: list[int] = []
        checkpoint = Checkpoint(1, 3, lambda c: done.append(c.position))
        stages = [_stage({"firstline": "^START"})]
        pipeline = Pipeline(stages, fanout=1, name="test", metrics=Metrics())
        assert pipeline.process([_entry(line, checkpoint=checkpoint) for line in ["START", "a", "b"]]) == []
        assert checkpoint.pending == 1
        assert done == []
        assert [e.line for e in pipeline.flush_due(final=True)] == ["START\na\nb"]


class TestTimeout:
    def test_no_deadline_without_a_block(self) -> None:
        """Nothing held means nothing to wait for."""
        stage = _stage({"firstline": "^START"})
        stage.process(_entry("passes through"))
        assert stage.next_deadline() is None

    def test_deadline_follows_the_last_line(self) -> None:
        """The wait restarts with every line of the block."""
        clock = Clock()
        stage = _stage({"firstline": "^START", "max_wait_time": "3s"}, clock)
        stage.process(_entry("START"))
        assert stage.next_deadline() == 1003.0
        clock.now = 1002.0
        stage.process(_entry("more"))
        assert stage.next_deadline() == 1005.0

    def test_flush_releases_blocks_past_their_deadline(self) -> None:
        """A block idle for max_wait_time is released by flush; a younger one stays."""
        clock = Clock()
        stage = _stage({"firstline": "^START", "max_wait_time": "3s"}, clock)
        stage.process(_entry("START a", "one"))
        clock.now = 1002.0
        stage.process(_entry("START b", "two"))
        clock.now = 1003.0
        assert [e.line for e in stage.flush(0)] == ["START a"]
        assert stage.next_deadline() == 1005.0
        clock.now = 1005.0
        assert [e.line for e in stage.flush(0)] == ["START b"]
        assert stage.next_deadline() is None

    def test_flush_before_deadline_releases_nothing(self) -> None:
        """flush goes by the stage's clock, whatever time the caller passes."""
        clock = Clock()
        stage = _stage({"firstline": "^START"}, clock)
        stage.process(_entry("START"))
        assert stage.flush(10**30) == []

    def test_line_after_timeout_is_its_own_block(self) -> None:
        """After a timeout flush, a non-first line goes on alone (Promtail's max_wait_time test)."""
        clock = Clock()
        stage = _stage({"firstline": "^START", "max_wait_time": "2s"}, clock)
        stage.process(_entry("START line"))
        clock.now += 4
        assert [e.line for e in stage.flush(0)] == ["START line"]
        stage.process(_entry("not a start line hitting timeout"))
        assert [e.line for e in stage.flush_all()] == ["not a start line hitting timeout"]


class TestConfig:
    @pytest.mark.parametrize(
        ("body", "path", "message"),
        [
            pytest.param({}, "pipeline_stages[0].multiline.firstline", "required key is missing", id="no-firstline"),
            pytest.param(
                {"firstline": "x", "max_lines": -1},
                "pipeline_stages[0].multiline.max_lines",
                "max_lines cannot be negative",
                id="negative-max-lines",
            ),
            pytest.param(
                {"firstline": "x", "max_wait_time": "-1s"},
                "pipeline_stages[0].multiline.max_wait_time",
                "max_wait_time cannot be negative",
                id="negative-wait",
            ),
        ],
    )
    def test_errors(self, body: dict[str, Any], path: str, message: str) -> None:
        """Invalid multiline configs are rejected with their path."""
        _, problems = validate_stages([{"multiline": body}], "pipeline_stages")
        assert [(p.path, p.message) for p in problems] == [(path, message)]

    def test_defaults(self) -> None:
        """max_wait_time defaults to 3s and max_lines to 128."""
        config = MultilineConfig.model_validate({"firstline": "^x"})
        assert (config.max_wait_time, config.max_lines) == (3.0, 128)


class TestDocumentedPipeline:
    def test_regex_after_multiline_captures_the_traceback(self) -> None:
        """The regex stage after multiline sees the whole block: (?s:.*) captures the traceback."""
        specs, problems = validate_stages(
            yaml.safe_load(
                r"""
                - multiline:
                    firstline: '^\[\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}\]'
                    max_wait_time: 3s
                - regex:
                    expression: '^(?P<time>\[\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}:\d{2}\]) (?P<message>(?s:.*))$'
                """
            ),
            "pipeline_stages",
        )
        assert problems == []
        ctx = StageContext(job_name="test", metrics=Metrics())
        pipeline = Pipeline(build_stages(specs, ctx), fanout=1, name="test", metrics=ctx.metrics)
        lines = FLASK_LOG.split("\n")
        out = pipeline.process([_entry(line) for line in lines]) + pipeline.flush_due(final=True)
        error = out[1]
        assert error.extracted is not None
        assert error.extracted["time"] == "[2020-12-03 11:36:23]"
        assert error.extracted["message"] == "\n".join([lines[1].split("] ", 1)[1], *lines[2:8]])
