"""Checkpoint arithmetic: a chunk completes only when every entry was acknowledged by every client."""

from __future__ import annotations

from agent.model import Checkpoint, LogEntry, ack_entries


def _checkpoint(pending: int, done: list[int]) -> Checkpoint:
    return Checkpoint(position=100, pending=pending, on_complete=lambda c: done.append(c.position))


class TestCheckpoint:
    def test_completes_after_last_ack(self) -> None:
        """on_complete runs once, when the last expected acknowledgement arrives."""
        done: list[int] = []
        checkpoint = _checkpoint(3, done)
        checkpoint.ack()
        checkpoint.ack()
        assert done == []
        checkpoint.ack()
        assert done == [100]

    def test_empty_chunk_completes_at_once(self) -> None:
        """A chunk whose lines were all dropped at the source completes immediately."""
        done: list[int] = []
        _checkpoint(0, done)
        assert done == [100]

    def test_extra_acks_do_not_complete_twice(self) -> None:
        """Acknowledging past zero never calls on_complete again."""
        done: list[int] = []
        checkpoint = _checkpoint(1, done)
        checkpoint.ack()
        checkpoint.ack(0)
        assert done == [100]


class TestAckEntries:
    def test_groups_runs_of_one_checkpoint(self) -> None:
        """Entries sharing checkpoints are each acknowledged once, whatever their order."""
        done: list[int] = []
        first = Checkpoint(1, 2, lambda c: done.append(c.position))
        second = Checkpoint(2, 2, lambda c: done.append(c.position))
        entries = [LogEntry(i, "x", {}, c) for i, c in enumerate([first, second, first, second])]
        ack_entries(entries[:3])
        assert done == [1]
        ack_entries(entries[3:])
        assert done == [1, 2]
