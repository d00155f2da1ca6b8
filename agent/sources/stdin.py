"""`-stdin`: standard input through the first scrape config's pipeline, as Promtail's stdin mode does.

Each non-blank line becomes an entry stamped with its read time (strictly increasing, so Loki never
deduplicates two equal lines), trailing CR/LF trimmed. At EOF the last line is sent even without a trailing
newline, and the source returns: the app then drains the pipeline and the clients before exiting.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import BinaryIO

from agent.model import Chunk, LogEntry, untracked_checkpoint

_READ_SIZE = 256 * 1024


class StdinSource:
    """Reads `stream` (standard input by default) in blocks and queues chunks of entries."""

    def __init__(
        self, queue: asyncio.Queue[Chunk | None], labels: dict[str, str], stream: BinaryIO | None = None
    ) -> None:
        self._queue = queue
        self._labels = labels
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._last_ts = 0
        self.lines = 0

    async def run(self) -> None:
        pending = b""
        read = getattr(self._stream, "read1", self._stream.read)
        while True:
            # Reading a pipe or a terminal blocks until data arrives: keep it off the event loop.
            data: bytes = await asyncio.to_thread(read, _READ_SIZE)
            if not data:
                break
            pending += data
            cut = pending.rfind(b"\n")
            if cut < 0:
                continue
            await self._emit(pending[: cut + 1])
            pending = pending[cut + 1 :]
        if pending:
            await self._emit(pending)

    async def _emit(self, block: bytes) -> None:
        text = block.decode("utf-8", "replace")
        lines = [line.rstrip("\r") for line in text.split("\n")]
        lines = [line for line in lines if line]  # Promtail skips empty lines only
        if not lines:
            return
        start = max(time.time_ns(), self._last_ts + 1)
        self._last_ts = start + len(lines) - 1
        checkpoint = untracked_checkpoint()
        labels = self._labels
        chunk = [LogEntry(start + i, line, labels, checkpoint) for i, line in enumerate(lines)]
        self.lines += len(chunk)
        await self._queue.put(chunk)
