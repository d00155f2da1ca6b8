"""Container log stages: docker and cri, as Promtail's built-in sub-pipelines of the same names.

Expected values come from Promtail's stage documentation (the examples are reproduced as written) and from
Go's behaviour where the documentation is silent.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import Checkpoint, LogEntry
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.container import CriStage
from agent.stages.rewrite import DecolorizeStage

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]


def _ns(year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second)) * 1_000_000_000 + nanos


def _out(stages: Stages, line: str, **kwargs: Any) -> LogEntry:
    entry = stages.run(line, **kwargs)
    assert entry is not None
    return entry


class TestDockerStage:
    LINE = '{"log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'

    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: output, stream and timestamp are extracted; line, label and time are set."""
        stages = build("- docker: {}")
        entry = _out(stages, self.LINE, labels={"job": "d"})
        assert entry.extracted == {
            "job": "d",
            "output": "log message\n",
            "stream": "stderr",
            "timestamp": "2019-04-30T02:12:41.8443515Z",
        }
        assert entry.line == "log message\n"  # Promtail keeps the newline Docker wrote
        assert entry.labels == {"job": "d", "stream": "stderr"}
        assert entry.timestamp == _ns(2019, 4, 30, 2, 12, 41, 844351500)

    def test_malformed_line_passes_unchanged(self, build: Build) -> None:
        """A line that is not Docker JSON is sent as it is and counted."""
        stages = build("- docker: {}")
        entry = _out(stages, "plain text", timestamp=7)
        assert (entry.line, entry.labels, entry.timestamp) == ("plain text", {}, 7)
        assert stages.errors("docker_malformed") == 1

    def test_invalid_time_keeps_timestamp(self, build: Build) -> None:
        """An unparsable `time` leaves the entry's timestamp and is counted."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"log":"x","stream":"stdout","time":"yesterday"}', timestamp=7)
        assert (entry.line, entry.timestamp) == ("x", 7)
        assert stages.errors("docker_invalid_timestamp") == 1

    def test_missing_log_keeps_line(self, build: Build) -> None:
        """Without a `log` key, `output` is null and the line is left alone."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"stream":"stdout","time":"2019-04-30T02:12:41Z"}')
        assert entry.line == '{"stream":"stdout","time":"2019-04-30T02:12:41Z"}'
        assert entry.labels == {"stream": "stdout"}

    def test_unicode_log(self, build: Build) -> None:
        """Escaped and raw non-ASCII text in `log` arrives decoded."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"log":"\\u00e9t\u00e9\\n","stream":"stdout","time":"2019-04-30T02:12:41Z"}')
        assert entry.line == "été\n"


def _counting(pending: int) -> Checkpoint:
    return Checkpoint(0, pending, lambda checkpoint: None)


class TestCriStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: content, stream, flags and time are extracted; line, label and time are set."""
        stages = build("- cri: {}")
        entry = _out(stages, "2019-04-30T02:12:41.8443515Z stdout F message", labels={"job": "k"})
        assert entry.extracted == {
            "job": "k",
            "time": "2019-04-30T02:12:41.8443515Z",
            "stream": "stdout",
            "flags": "F",  # the documentation says "xx"
            "content": "message",
        }
        assert entry.line == "message"
        assert entry.labels == {"job": "k", "stream": "stdout"}
        assert entry.timestamp == _ns(2019, 4, 30, 2, 12, 41, 844351500)

    def test_doc_well_formed_line(self, build: Build) -> None:
        """Promtail's first format example parses; its content keeps the newline and, flagged P, is held."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T01:00:00.000000001Z stderr P test\ngood") is None
        assert _out(stages, "2019-01-01T01:00:00.000000001Z stderr F !").line == "test\ngood!"

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("2019-01-01 T01:00:00.000000001Z stderr testgood", id="doc-space-in-time"),
            pytest.param("2019-01-01T01:00:00.000000001Z testgood", id="doc-no-stream"),
            pytest.param("2019-01-01T01:00:00Z stdin F x", id="unknown-stream"),
            pytest.param("", id="empty"),
        ],
    )
    def test_malformed_lines_pass_unchanged(self, build: Build, line: str) -> None:
        """Lines not in CRI format are sent as they are, with their labels and timestamp."""
        entry = _out(build("- cri: {}"), line, timestamp=3)
        assert (entry.line, entry.timestamp, entry.labels) == (line, 3, {})

    @pytest.mark.parametrize(
        ("line", "content"),
        [
            pytest.param("2019-01-01T00:00:00Z stdout F ", "", id="empty-content"),
            pytest.param("2019-01-01T00:00:00Z stdout F  two  spaces", " two  spaces", id="spaces-kept"),
            pytest.param("2019-01-01T00:00:00Z stdout F ünï", "ünï", id="unicode"),
        ],
    )
    def test_content(self, build: Build, line: str, content: str) -> None:
        """The content is everything after the flags and one space."""
        assert _out(build("- cri: {}"), line).line == content

    def test_partial_lines_joined_until_full_line(self, build: Build) -> None:
        """P lines are held and joined without separator to the next F line of the stream."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T00:00:01Z stdout P abc") is None
        assert stages.run("2019-01-01T00:00:02Z stdout P def") is None
        entry = _out(stages, "2019-01-01T00:00:03Z stdout F ghi")
        assert entry.line == "abcdefghi"
        assert entry.timestamp == _ns(2019, 1, 1, 0, 0, 3)  # the full line's time, as in Promtail

    def test_merged_entries_are_acknowledged(self, build: Build) -> None:
        """Entries merged into a later one are acknowledged once per client; the result carries on."""
        stages = build("- cri: {}", fanout=2)
        first, second, last = _counting(2), _counting(2), _counting(2)
        assert stages.run("2019-01-01T00:00:01Z stdout P a", checkpoint=first) is None
        assert first.pending == 2  # held, not acknowledged
        assert stages.run("2019-01-01T00:00:02Z stdout P b", checkpoint=second) is None
        assert (first.pending, second.pending) == (0, 2)
        entry = _out(stages, "2019-01-01T00:00:03Z stdout F c", checkpoint=last)
        assert (second.pending, last.pending) == (0, 2)
        assert entry.checkpoint is last

    def test_streams_are_joined_separately(self, build: Build) -> None:
        """stdout and stderr (and different label sets) keep separate partial lines."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T00:00:01Z stdout P out-", labels={"f": "1"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P other-", labels={"f": "2"}) is None
        assert _out(stages, "2019-01-01T00:00:02Z stderr F err", labels={"f": "1"}).line == "err"
        assert _out(stages, "2019-01-01T00:00:03Z stdout F end", labels={"f": "1"}).line == "out-end"
        assert _out(stages, "2019-01-01T00:00:03Z stdout F end", labels={"f": "2"}).line == "other-end"

    def test_stream_cap_releases_least_recent(self, build: Build) -> None:
        """Past max_partial_lines streams, the least recently extended partial line is released as it is."""
        stages = build("- cri: {max_partial_lines: 2}")
        assert stages.run("2019-01-01T00:00:01Z stdout P a", labels={"f": "1"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P b", labels={"f": "2"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P a", labels={"f": "1"}) is None
        released = _out(stages, "2019-01-01T00:00:01Z stdout P c", labels={"f": "3"})
        assert (released.line, released.labels["f"]) == ("b", "2")

    @pytest.mark.parametrize(
        ("parts", "expected"),
        [
            pytest.param(["abc", "def", "gh"], "abcde", id="ascii"),
            # "abéé" is 6 bytes: cut to 5, the half "é" is dropped (Promtail would keep half a character).
            pytest.param(["ab", "éé", "x"], "abéx", id="cut-inside-character-drops-it"),
        ],
    )
    def test_partial_line_size_cap(self, build: Build, parts: list[str], expected: str) -> None:
        """With truncation on, a joined line is cut to max_partial_line_size bytes."""
        stages = build("- cri: {max_partial_line_size: 5, max_partial_line_size_truncate: true}")
        for part in parts[:-1]:
            assert stages.run(f"2019-01-01T00:00:01Z stdout P {part}") is None
        assert _out(stages, f"2019-01-01T00:00:01Z stdout F {parts[-1]}").line == expected

    def test_full_line_alone_is_not_truncated(self, build: Build) -> None:
        """The size cap applies to joined partial lines only, as in Promtail."""
        stages = build("- cri: {max_partial_line_size: 2, max_partial_line_size_truncate: true}")
        assert _out(stages, "2019-01-01T00:00:01Z stdout F abcdef").line == "abcdef"

    def test_size_without_truncate_does_nothing(self, build: Build) -> None:
        """max_partial_line_size alone does not cut anything."""
        stages = build("- cri: {max_partial_line_size: 2}")
        assert stages.run("2019-01-01T00:00:01Z stdout P abc") is None
        assert _out(stages, "2019-01-01T00:00:01Z stdout F def").line == "abcdef"

    def test_held_lines_released_at_shutdown(self) -> None:
        """The pipeline's final flush releases a partial line still held, through the later stages."""
        ctx = StageContext(job_name="t", metrics=Metrics())
        stages = [CriStage(CriStage.Config(), ctx), DecolorizeStage(DecolorizeStage.Config(), ctx)]
        pipeline = Pipeline(stages, fanout=1, name="t", metrics=ctx.metrics)
        checkpoint = _counting(1)
        held = [LogEntry(0, "2019-01-01T00:00:01Z stdout P \x1b[1mbold", {"job": "x"}, checkpoint)]
        assert pipeline.process(held) == []
        assert checkpoint.pending == 1
        assert [entry.line for entry in pipeline.flush_due(final=True)] == ["bold"]

    def test_invalid_time_keeps_timestamp(self, build: Build) -> None:
        """An unparsable time leaves the entry's timestamp and is counted."""
        stages = build("- cri: {}")
        entry = _out(stages, "yesterday stdout F x", timestamp=5)
        assert (entry.line, entry.timestamp) == ("x", 5)
        assert stages.errors("cri_invalid_timestamp") == 1

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- cri: {max_partial_line_size_truncate: true}",
                [
                    "pipeline_stages[0].cri.max_partial_line_size_truncate: max_partial_line_size must be set "
                    "(> 0) when truncating partial lines"
                ],
                id="truncate-without-size",
            ),
            pytest.param(
                "- cri: {max_partial_lines: -1}",
                ["pipeline_stages[0].cri.max_partial_lines: input should be greater than or equal to 0, got -1"],
                id="negative-lines",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        assert problems(snippet) == expected

    def test_size_accepts_units(self, build: Build) -> None:
        """max_partial_line_size takes Promtail's byte sizes such as 256KiB."""
        stages = build("- cri: {max_partial_line_size: 1KiB, max_partial_line_size_truncate: true}")
        assert stages.run("2019-01-01T00:00:01Z stdout P " + "a" * 2000) is None
        assert len(_out(stages, "2019-01-01T00:00:01Z stdout F b").line) == 1024
