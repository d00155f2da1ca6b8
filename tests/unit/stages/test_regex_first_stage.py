"""A `regex` stage that reads the line and runs first makes the extracted map itself (`makes_extracted`).

The pipeline then leaves `entry.extracted` None instead of copying the labels into it; the map the stage
makes must be what the copy updated with the groups would have been, key order included, whatever the
entry carried before.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from agent.inspect import InspectedStage
from agent.model import LogEntry, untracked_checkpoint
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics

REGEX = r"- regex: {expression: '^(?P<job>\w+) (?P<level>\w+)(?: (?P<pid>\d+))?'}"


def _run(stages: Any, lines: list[str], labels: dict[str, str]) -> list[LogEntry]:
    pipeline = Pipeline(stages, fanout=1, name="test", metrics=Metrics())
    entries = [LogEntry(0, line, labels, untracked_checkpoint(), extracted={"stale": 1}) for line in lines]
    return pipeline.process(entries)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "web info 7",
            [("job", "web"), ("filename", "a.log"), ("level", "info"), ("pid", "7")],
            id="groups-override-labels",
        ),
        pytest.param(
            "web info",
            [("job", "web"), ("filename", "a.log"), ("level", "info"), ("pid", "")],
            id="group-not-taking-part-is-empty",
        ),
        pytest.param("!", [("job", "x"), ("filename", "a.log")], id="no-match-keeps-the-labels"),
    ],
)
def test_first_regex_makes_the_map(build: Any, line: str, expected: list[tuple[str, str]]) -> None:
    """The map a first `regex` makes equals the labels updated with its groups; stale values are gone."""
    labels = {"job": "x", "filename": "a.log"}
    (entry,) = _run(build(REGEX).stages, [line], labels)
    assert entry.extracted is not None
    assert list(entry.extracted.items()) == expected
    assert labels == {"job": "x", "filename": "a.log"}  # the source's dict is left alone


def test_same_map_as_after_another_stage(build: Any) -> None:
    """First or after a stage that changes nothing, `regex` gives the same extracted maps."""
    lines = ["web info 7", "web info", "!", "db warn 12 more"]
    labels = {"job": "x"}
    first = _run(build(REGEX).stages, lines, labels)
    later = _run(build("- static_labels: {}\n" + REGEX).stages, lines, labels)
    assert [list(e.extracted.items()) for e in first] == [list(e.extracted.items()) for e in later]  # type: ignore[union-attr]


def test_regex_on_a_source_does_not_make_the_map(build: Any) -> None:
    """`regex` with `source` reads the map, so the pipeline makes it before (from the labels)."""
    stages = build(r"- regex: {expression: '(?P<level>\w+)', source: msg}").stages
    assert not stages[0].makes_extracted
    (entry,) = _run(stages, ["x"], {"msg": "warn"})
    assert entry.extracted == {"msg": "warn", "level": "warn"}


def test_inspected_regex_is_given_the_map(build: Any) -> None:
    """Wrapped by `-inspect`, a first `regex` is given the labels as extracted values, so the report shows
    only what the stage added."""
    stream = io.StringIO()
    stages = [InspectedStage(stage, stream) for stage in build(REGEX).stages]
    (entry,) = _run(stages, ["web info 7"], {"job": "x"})
    assert entry.extracted == {"job": "web", "level": "info", "pid": "7"}
    assert "extracted: ~job: 'x' -> 'web' +level='info' +pid='7'" in stream.getvalue()
