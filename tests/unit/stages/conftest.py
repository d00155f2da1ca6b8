"""Build stages from a YAML snippet through the registry, as a config would, and run entries through them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from agent.model import Checkpoint, LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import Stage, StageContext
from agent.stages.registry import build_stages, validate_stages

NOW_NS = 1_700_000_000_000_000_000
"""The clock stages see in these tests (`StageContext.now_ns`)."""


@dataclass
class Stages:
    """Stages built from YAML, with their context and metrics, and a way to run one entry through them."""

    stages: list[Stage]
    context: StageContext
    metrics: Metrics = field(repr=False)

    def run(
        self,
        line: str,
        labels: dict[str, str] | None = None,
        *,
        extracted: dict[str, Any] | None = None,
        timestamp: int = 0,
        checkpoint: Checkpoint | None = None,
        metadata: dict[str, str] | None = None,
    ) -> LogEntry | None:
        """Run one entry as the pipeline does (extracted starts as the labels); None when a stage drops or holds it."""
        entry = LogEntry(timestamp, line, dict(labels or {}), checkpoint or untracked_checkpoint())
        entry.extracted = dict(entry.labels)
        entry.metadata = metadata
        if extracted:
            entry.extracted.update(extracted)
        current: LogEntry | None = entry
        for stage in self.stages:
            assert current is not None
            current = stage.process(current)
            if current is None:
                return None
        return current

    def errors(self, reason: str) -> float:
        """How often a stage counted `reason` in `agent_errors_total{component="stage"}`."""
        value = self.metrics.registry.get_sample_value("agent_errors_total", {"component": "stage", "reason": reason})
        return value or 0.0

    def drops(self, reason: str) -> float:
        """How many entries were dropped for `reason` (`promtail_dropped_entries_total`)."""
        value = self.metrics.registry.get_sample_value(
            "promtail_dropped_entries_total", {"host": "", "reason": reason, "tenant": ""}
        )
        return value or 0.0


def _parse(snippet: str) -> object:
    return yaml.safe_load(snippet)


@pytest.fixture
def build() -> Callable[..., Stages]:
    """`build(yaml_snippet, fanout=1)`: validated and built stages; fails the test on a config problem."""

    def make(snippet: str, *, fanout: int = 1) -> Stages:
        specs, problems = validate_stages(_parse(snippet), "pipeline_stages")
        assert problems == [], [str(p) for p in problems]
        metrics = Metrics()
        context = StageContext(job_name="test", metrics=metrics, fanout=fanout, now_ns=lambda: NOW_NS)
        return Stages(build_stages(specs, context), context, metrics)

    return make


@pytest.fixture
def problems() -> Callable[[str], list[str]]:
    """`problems(yaml_snippet)`: every config problem of the snippet, as ``path: message`` strings."""

    def check(snippet: str) -> list[str]:
        _, found = validate_stages(_parse(snippet), "pipeline_stages")
        return [str(problem) for problem in found]

    return check
