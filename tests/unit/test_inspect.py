"""`-inspect` reports what each stage changed in an entry."""

from __future__ import annotations

import io
from typing import ClassVar

from agent.inspect import InspectedStage
from agent.model import LogEntry, untracked_checkpoint


class SetLevel:
    name: ClassVar[str] = "labels"

    def process(self, entry: LogEntry) -> LogEntry | None:
        assert entry.extracted is not None
        entry.extracted["level"] = "error"
        entry.labels = {**entry.labels, "level": "error"}
        entry.line = "rewritten"
        return entry


class Nothing:
    name: ClassVar[str] = "noop"
    holds_entries = True

    def process(self, entry: LogEntry) -> LogEntry | None:
        return entry


class TestInspect:
    def test_reports_added_fields_labels_and_line(self) -> None:
        """Added extracted fields and labels are shown with '+', a new line with before and after."""
        out = io.StringIO()
        entry = LogEntry(1, "original", {"job": "x"}, untracked_checkpoint(), extracted={"job": "x"})
        InspectedStage(SetLevel(), out).process(entry)  # type: ignore[arg-type]
        assert out.getvalue().splitlines() == [
            "[inspect: labels stage]",
            "  extracted: +level='error'",
            "  labels: +level='error'",
            "  line: 'original' -> 'rewritten'",
        ]

    def test_unchanged_entry_and_wrapped_attributes(self) -> None:
        """A stage that changes nothing says so, and the wrapper keeps the stage's own attributes."""
        out = io.StringIO()
        wrapped = InspectedStage(Nothing(), out)  # type: ignore[arg-type]
        wrapped.process(LogEntry(1, "x", {}, untracked_checkpoint(), extracted={}))
        assert out.getvalue() == "[inspect: noop stage] no changes\n"
        assert wrapped.holds_entries is True
