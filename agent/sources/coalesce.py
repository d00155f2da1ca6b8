"""Many small chunks in, few larger chunks out: `ChunkCoalescer`.

A container that logs a line at a time gives one socket read, hence one chunk, per line. With hundreds
of containers, each such chunk would wake the pipeline and every client on its own. The coalescer sits
between a source's producers and its queue and merges what arrives within `delay` into one chunk, so
the rest of the agent wakes once per batch. It stays bounded: past `max_entries` waiting, it hands the
chunk on at once, and producers wait while the queue is full (backpressure is unchanged).
"""

from __future__ import annotations

import asyncio

from agent.model import Chunk
from agent.sources.tail import ChunkSink

DELAY = 0.02
"""Seconds a chunk may wait for others to join it (added to the latency of a quiet container's lines)."""

MAX_ENTRIES = 4096
"""Entries waiting at most; a full coalescer hands its chunk on without waiting for `DELAY`."""


class ChunkCoalescer:
    """Merges the chunks `put` by many producers into chunks for `sink`. Run `run` as a task."""

    def __init__(self, sink: ChunkSink, *, delay: float = DELAY, max_entries: int = MAX_ENTRIES) -> None:
        self._sink = sink
        self._delay = delay
        self._max = max_entries
        self._pending: Chunk = []
        self._arrived = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    async def put(self, chunk: Chunk) -> None:
        """Add `chunk`; waits while `max_entries` are already waiting for the queue."""
        while len(self._pending) >= self._max:
            self._space.clear()
            await self._space.wait()
        self._pending.extend(chunk)
        self._arrived.set()

    async def run(self) -> None:
        """Hand merged chunks on until cancelled (what is still waiting then was never queued)."""
        while True:
            await self._arrived.wait()
            if len(self._pending) < self._max:
                await asyncio.sleep(self._delay)
            self._arrived.clear()
            chunk, self._pending = self._pending, []
            self._space.set()
            await self._sink.put(chunk)
