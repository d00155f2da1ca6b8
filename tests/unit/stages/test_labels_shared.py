"""`process_shared` of the label stages: the labels `process` would give, without touching shared dicts.

The pipeline calls `process_shared` while entries still share their source's label dict. It must give the
same labels as `process` on a private copy, leave the dict it got alone, and hand entries with the same input
and result one dict.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.model import LogEntry, untracked_checkpoint

STAGES = [
    pytest.param("- labels: {app: , level: severity, n: num}", id="labels"),
    pytest.param("- static_labels: {env: prod, app: fixed}", id="static_labels"),
    pytest.param("- labeldrop: [filename, app]", id="labeldrop"),
    pytest.param("- labelallow: [job, app]", id="labelallow"),
]

_values = (
    st.none() | st.text(max_size=3) | st.floats(allow_nan=False) | st.booleans() | st.integers() | st.just("\udc80")
)
_extracted = st.dictionaries(st.sampled_from(["app", "severity", "num", "other"]), _values, max_size=4)
_labels = st.dictionaries(st.sampled_from(["job", "app", "filename", "n"]), st.text(max_size=3), max_size=4)


def _entry(labels: dict[str, str], extracted: dict[str, Any]) -> LogEntry:
    entry = LogEntry(0, "line", labels, untracked_checkpoint())
    entry.extracted = {**labels, **extracted}
    return entry


@pytest.mark.parametrize("snippet", STAGES)
# `build` is a factory: nothing it returns carries over between examples, as the stage is built inside.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=_labels, extracted=_extracted)
def test_same_labels_as_in_place(build: Any, snippet: str, labels: dict[str, str], extracted: dict[str, Any]) -> None:
    """The shared path gives the labels (order included) the in-place path gives, and leaves its input alone."""
    (stage,) = build(snippet).stages
    private = _entry(dict(labels), extracted)
    stage.process(private)
    shared_input = dict(labels)
    shared = _entry(shared_input, extracted)
    stage.process_shared(shared)
    assert list(shared.labels.items()) == list(private.labels.items())
    assert shared_input == labels


@pytest.mark.parametrize("snippet", STAGES)
def test_equal_results_share_one_dict(build: Any, snippet: str) -> None:
    """Entries with the same input dict and the same result get the same dict; another result another dict."""
    (stage,) = build(snippet).stages
    source = {"job": "x", "filename": "/var/log/a.log"}
    first, second = _entry(source, {"app": "web"}), _entry(source, {"app": "web"})
    stage.process_shared(first)
    stage.process_shared(second)
    assert first.labels is second.labels
    third = _entry(source, {"app": "db"})
    stage.process_shared(third)
    if snippet.startswith("- labels"):
        assert third.labels is not first.labels
        assert third.labels["app"] == "db"


def test_nothing_to_set_keeps_the_dict(build: Any) -> None:
    """`labels` with no value to set leaves the entry on its input dict."""
    (stage,) = build("- labels: {app: }").stages
    source = {"job": "x"}
    entry = _entry(source, {"app": None})
    stage.process_shared(entry)
    assert entry.labels is source


@pytest.mark.parametrize("snippet", [*STAGES, "- labels: {app: }", "- labels: {}"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.lists(st.tuples(st.integers(min_value=0, max_value=2), _extracted), min_size=1, max_size=12))
def test_runs_of_entries_as_in_place(build: Any, snippet: str, runs: list[tuple[int, dict[str, Any]]]) -> None:
    """Entries on a few shared input dicts, one after another through one stage (its caches warm), each get
    the labels the in-place path gives, and the input dicts stay as they were."""
    (stage,) = build(snippet).stages
    inputs = [{"job": "a"}, {"job": "b", "app": "x"}, {}]
    for index, extracted in runs:
        private = _entry(dict(inputs[index]), extracted)
        stage.process(private)
        shared = _entry(inputs[index], extracted)
        stage.process_shared(shared)
        assert list(shared.labels.items()) == list(private.labels.items())
    assert inputs == [{"job": "a"}, {"job": "b", "app": "x"}, {}]
