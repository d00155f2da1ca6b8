"""The one data type that flows through the agent: `LogEntry`, and the `Checkpoint` it acknowledges.

A source reads a chunk of lines, makes one `LogEntry` per line and one `Checkpoint` per chunk, and puts the
chunk (a ``list[LogEntry]``; a file tail's is a `LineRun`, which also says what the tail knows about it) on
a bounded queue. Stages mutate entries in place; clients batch them, push them, and acknowledge each entry's
checkpoint once Loki accepted it (2xx) or it was dropped for a final, counted reason. A checkpoint is
complete when every entry of its chunk has been acknowledged by every client; only then may the source's
position advance past the chunk (see `agent.positions`).

This module owns the shapes and the acknowledgement arithmetic, nothing else: no I/O, no asyncio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Labels = dict[str, str]
"""A label set. Sources share one dict between all entries of a target: never mutate a dict you did not make."""

TENANT_LABEL = "__tenant_id__"
"""The reserved label through which the `tenant` stage tells the client which tenant an entry belongs to."""

Chunk = list["LogEntry"]
"""What queues carry: a list of entries, never a single entry (one queue operation per chunk, not per line)."""


class LineRun(list["LogEntry"]):
    """A chunk that carries what its source knows about it, so that clients need not check entry by entry.

    A file tail makes one per read: consecutive lines of one file, all sharing the `labels` dict, without
    metadata, in strictly increasing timestamp order. `size` is the entries' total line bytes (UTF-8) when
    the source knows it, else -1. The facts hold because nothing changes a chunk's entries once a source
    queued it except pipeline stages, and a pipeline with stages hands on new plain lists.
    """

    __slots__ = ("labels", "size")

    def __init__(self, entries: Iterable[LogEntry], labels: Labels, size: int = -1) -> None:
        super().__init__(entries)
        self.labels = labels
        self.size = size


class Checkpoint:
    """A chunk's acknowledgement counter: it completes when `pending` reaches zero.

    The source sets `pending` to ``len(chunk) * fanout`` (one acknowledgement per entry per client). Whoever
    consumes an entry for good (a client after a 2xx or a final drop; the pipeline when a stage drops or
    merges it) calls `ack`. `on_complete` runs once, synchronously, in the event loop thread.
    """

    __slots__ = ("on_complete", "pending", "position")

    def __init__(self, position: int, pending: int, on_complete: Callable[[Checkpoint], None]) -> None:
        self.position = position  # source-specific: a file offset, a container's timestamp in ns
        self.pending = pending
        self.on_complete = on_complete
        if pending <= 0:
            on_complete(self)

    def ack(self, count: int = 1) -> None:
        self.pending -= count
        if self.pending <= 0 and count > 0:
            # `count > 0` keeps a repeated ack(0) from completing twice.
            self.pending = 0
            self.on_complete(self)

    def __repr__(self) -> str:
        return f"Checkpoint(position={self.position}, pending={self.pending})"


def _ignore(_: Checkpoint) -> None:
    pass


def untracked_checkpoint() -> Checkpoint:
    """A checkpoint nobody waits for (stdin, tests): acknowledging it does nothing."""
    return Checkpoint(0, 1 << 62, _ignore)


class LogEntry:
    """One log line on its way to Loki.

    - `timestamp`: nanoseconds since the Unix epoch.
    - `line`: the text, without its trailing newline.
    - `labels`: the stream's labels. Possibly shared with other entries: replace, do not mutate, unless the
      pipeline gave this entry its own copy (`agent.pipeline` does before label-changing stages run).
    - `extracted`: the pipeline's extracted map (None until a pipeline with stages runs).
    - `metadata`: Loki structured metadata (None when empty).
    - `checkpoint`: what to acknowledge when this entry is delivered or dropped for good.
    """

    __slots__ = ("checkpoint", "extracted", "labels", "line", "metadata", "timestamp")

    def __init__(
        self,
        timestamp: int,
        line: str,
        labels: Labels,
        checkpoint: Checkpoint,
        extracted: dict[str, Any] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.timestamp = timestamp
        self.line = line
        self.labels = labels
        self.checkpoint = checkpoint
        self.extracted = extracted
        self.metadata = metadata

    def __repr__(self) -> str:
        return (
            f"LogEntry(timestamp={self.timestamp}, line={self.line!r}, labels={self.labels!r}, "
            f"metadata={self.metadata!r})"
        )


def ack_entries(entries: list[LogEntry]) -> None:
    """Acknowledge each entry once, grouping runs of the same checkpoint into one call."""
    current: Checkpoint | None = None
    count = 0
    for entry in entries:
        checkpoint = entry.checkpoint
        if checkpoint is current:
            count += 1
            continue
        if current is not None:
            current.ack(count)
        current = checkpoint
        count = 1
    if current is not None:
        current.ack(count)
