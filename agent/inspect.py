"""`-inspect`: show, for each entry and each stage, what the stage changed, readable in a terminal.

Each stage is wrapped so that a snapshot of the entry (extracted fields, labels, timestamp, line, structured
metadata) is taken before and after `process`, and the differences are written to stderr:

    [inspect: regex stage]
      extracted: +level="error" +msg="disk full"
    [inspect: labels stage]
      labels: +level="error"
    [inspect: drop stage] dropped

Only for `-dry-run`: it costs a snapshot per stage per entry.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from agent.client.stdout import format_timestamp
from agent.model import LogEntry
from agent.stages.base import Stage

_Snapshot = tuple[dict[str, Any], dict[str, str], int, str, dict[str, str]]


def _snapshot(entry: LogEntry) -> _Snapshot:
    return (
        dict(entry.extracted or {}),
        dict(entry.labels),
        entry.timestamp,
        entry.line,
        dict(entry.metadata or {}),
    )


def _dict_diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            parts.append(f"-{key}")
        elif key not in before:
            parts.append(f"+{key}={after[key]!r}")
        elif before[key] != after[key]:
            parts.append(f"~{key}: {before[key]!r} -> {after[key]!r}")
    return " ".join(parts)


def describe_changes(name: str, before: _Snapshot, after: LogEntry | None) -> str:
    """The report for one stage on one entry."""
    header = f"[inspect: {name} stage]"
    if after is None:
        return f"{header} dropped or held"
    now = _snapshot(after)
    lines = []
    for title, index in (("extracted", 0), ("labels", 1), ("structured metadata", 4)):
        diff = _dict_diff(before[index], now[index])  # type: ignore[arg-type]
        if diff:
            lines.append(f"  {title}: {diff}")
    if before[2] != now[2]:
        lines.append(f"  timestamp: {format_timestamp(before[2])} -> {format_timestamp(now[2])}")
    if before[3] != now[3]:
        lines.append(f"  line: {before[3]!r} -> {now[3]!r}")
    if not lines:
        return f"{header} no changes"
    return "\n".join([header, *lines])


class InspectedStage:
    """Wraps a stage; everything but `process` is the wrapped stage's own (flush, holds_entries, ...)."""

    def __init__(self, stage: Stage, stream: IO[str] | None = None) -> None:
        self._stage = stage
        self._stream = stream if stream is not None else sys.stderr
        self.name = getattr(stage, "inspect_name", stage.name)  # `include security`: which pipeline ran

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._stage, attribute)

    def process(self, entry: LogEntry) -> LogEntry | None:
        before = _snapshot(entry)
        result = self._stage.process(entry)
        self._stream.write(describe_changes(self.name, before, result) + "\n")
        return result


def inspect_stages(stages: list[Stage], stream: IO[str] | None = None) -> list[Stage]:
    """Wrap every stage of a pipeline for `-inspect`."""
    return [InspectedStage(stage, stream) for stage in stages]  # type: ignore[misc]
