"""The `multiline` stage: join the lines of a block (a stack trace, say) into one entry, per stream.

A block starts at a line matching `firstline` and takes every following line of the same stream (same label
set) until the next first line, until it has `max_lines` lines, or until `max_wait_time` passes without a
new line in that stream. The block goes on as its first entry, lines joined with ``\\n``; the entries merged
into it are acknowledged right away (`holds_entries` in `agent.stages.base`), the first entry is returned
from a later `process` or `flush`.

Promtail's behaviour, kept on purpose:

- a stream's lines before its first `firstline` pass through one by one;
- after a block was flushed early (timeout or `max_lines`), further non-first lines start a block of their
  own, stamped with the timestamp and extracted values of the stream's last first line.

Time: deadlines are `time.monotonic()` values from the injectable `clock`; `flush(now_ns)` compares them to
that clock, not to its argument (the runner passes wall-clock time, which cannot be compared to them).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import field_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration
from agent.model import LogEntry
from agent.regex import compile_re2
from agent.stages.base import StageContext


class MultilineConfig(ConfigModel):
    """Promtail's `multiline` keys; ``max_lines: 0`` means no limit."""

    firstline: str
    max_wait_time: Duration = 3.0
    max_lines: int = 128

    @field_validator("firstline")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_re2(value)
        return value

    @field_validator("max_wait_time")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("max_wait_time cannot be negative")
        return value

    @field_validator("max_lines")
    @classmethod
    def _lines_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("max_lines cannot be negative")
        return value


class _Stream:
    """One stream's state: the block being built (if any) and its last first line's stamp."""

    __slots__ = ("deadline", "first", "lines", "start_extracted", "start_timestamp")

    def __init__(self) -> None:
        self.first: LogEntry | None = None
        self.lines: list[str] = []
        self.deadline = 0.0
        self.start_timestamp = 0
        self.start_extracted: dict[str, Any] | None = None


class MultilineStage:
    """`multiline`: merge each block of lines, from a `firstline` match on, into one entry.

    ```yaml
    - multiline:
        firstline: '^\\[\\d{4}-\\d{2}-\\d{2} \\d{1,2}:\\d{2}:\\d{2}\\]'
        max_wait_time: 3s
        max_lines: 128
    ```
    """

    name: ClassVar[str] = "multiline"
    Config: ClassVar[type[MultilineConfig]] = MultilineConfig
    holds_entries: ClassVar[bool] = True

    __slots__ = (
        "_clock",
        "_fanout",
        "_firstline",
        "_last_key",
        "_last_labels",
        "_max_lines",
        "_max_wait",
        "_pending",
        "_streams",
    )

    def __init__(
        self, config: MultilineConfig, ctx: StageContext, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._firstline = compile_re2(config.firstline)
        self._max_wait = config.max_wait_time
        self._max_lines = config.max_lines
        self._fanout = ctx.fanout
        self._clock = clock
        # Every stream that has seen a first line (Promtail keeps them for good, and so does the behaviour
        # of later lines depend on it), and, oldest activity first, those with a block being built.
        self._streams: dict[frozenset[tuple[str, str]], _Stream] = {}
        self._pending: OrderedDict[frozenset[tuple[str, str]], _Stream] = OrderedDict()
        self._last_labels: dict[str, str] = {}
        self._last_key: frozenset[tuple[str, str]] = frozenset()

    def process(self, entry: LogEntry) -> LogEntry | None:
        key = self._stream_key(entry.labels)
        stream = self._streams.get(key)
        is_first = self._firstline.search(entry.line) is not None
        if stream is None:
            if not is_first:
                return entry
            stream = self._streams[key] = _Stream()
        released: LogEntry | None = None
        if is_first:
            released = self._release(stream)
            stream.start_timestamp = entry.timestamp
            stream.start_extracted = dict(entry.extracted) if entry.extracted is not None else None
            self._start(stream, entry)
        elif stream.first is None:
            entry.timestamp = stream.start_timestamp
            if stream.start_extracted is not None:
                entry.extracted = dict(stream.start_extracted)
            self._start(stream, entry)
        else:
            stream.lines.append(entry.line)
            entry.checkpoint.ack(self._fanout)
        if self._max_lines and len(stream.lines) >= self._max_lines:
            # Only possible with an empty `released`: a block of one line is full only when max_lines is
            # 1, and then the previous block was released as soon as it had its line.
            released = self._release(stream)
            self._pending.pop(key, None)
        else:
            stream.deadline = self._clock() + self._max_wait
            self._pending[key] = stream
            self._pending.move_to_end(key)
        return released

    def _stream_key(self, labels: dict[str, str]) -> frozenset[tuple[str, str]]:
        # Consecutive entries mostly share a label set: comparing dicts is cheaper than hashing a new set.
        if labels == self._last_labels:
            return self._last_key
        key = frozenset(labels.items())
        self._last_labels, self._last_key = dict(labels), key
        return key

    @staticmethod
    def _start(stream: _Stream, entry: LogEntry) -> None:
        stream.first = entry
        stream.lines = [entry.line]

    @staticmethod
    def _release(stream: _Stream) -> LogEntry | None:
        first = stream.first
        if first is None:
            return None
        if len(stream.lines) > 1:
            first.line = "\n".join(stream.lines)
        stream.first = None
        stream.lines = []
        return first

    def next_deadline(self) -> float | None:
        """The `time.monotonic()` at which the stream idle longest reaches `max_wait_time`, or None."""
        for stream in self._pending.values():
            return stream.deadline
        return None

    def flush(self, now_ns: int) -> list[LogEntry]:
        """Release the blocks of streams idle for `max_wait_time` (by the stage's clock; see the module)."""
        now = self._clock()
        out: list[LogEntry] = []
        pending = self._pending
        while pending:
            key, stream = next(iter(pending.items()))
            if stream.deadline > now:
                break
            del pending[key]
            released = self._release(stream)
            if released is not None:
                out.append(released)
        return out

    def flush_all(self) -> list[LogEntry]:
        """Release every block being built (at shutdown)."""
        out = [entry for stream in self._pending.values() if (entry := self._release(stream)) is not None]
        self._pending.clear()
        return out
