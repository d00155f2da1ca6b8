"""Runs one scrape config's stages over chunks of entries, in one task, and fans the result out to clients.

Plain stages run in one loop per chunk (no task or queue per stage: in asyncio each would cost a task
switch per entry per stage). Stages that hold entries back (`multiline`, `cri` partial lines) release them
from `process` or, on a timer, from `flush`; entries they release go through the stages after them. Stages
that ask for a delay (`limit` without `drop`) make the runner wait before the entry goes on, which holds
back the source: backpressure, not loss.

What the pipeline consumes for good (an entry a stage dropped, or merged into another) it acknowledges
here, on behalf of every client, so positions can pass it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from agent.model import Chunk, LogEntry
from agent.server.metrics import Metrics
from agent.stages.base import Stage

log = logging.getLogger(__name__)


class Pipeline:
    """The stages of one scrape config, compiled once.

    `process` handles a chunk synchronously; `run` is the task that moves chunks from the scrape config's
    queue to every client's queue.
    """

    def __init__(self, stages: Sequence[Stage], *, fanout: int, name: str, metrics: Metrics) -> None:
        self.name = name
        self._stages = list(stages)
        self._fanout = fanout
        self._metrics = metrics
        self._copy_labels = any(getattr(s, "mutates_labels", False) for s in self._stages)
        self._holding = tuple(bool(getattr(s, "holds_entries", False)) for s in self._stages)
        self._timed = [(i, s) for i, s in enumerate(self._stages) if hasattr(s, "next_deadline")]
        self._delaying = any(hasattr(s, "delay_for") for s in self._stages)
        self._last_labels: dict[str, str] = {}

    @property
    def has_stages(self) -> bool:
        return bool(self._stages)

    def process(self, chunk: Chunk) -> Chunk:
        """Run every entry of `chunk` through the stages; return the entries that come out."""
        if not self._stages:
            return chunk
        out: list[LogEntry] = []
        copy_labels = self._copy_labels
        for entry in chunk:
            entry.extracted = dict(entry.labels)  # Promtail exposes the labels as extracted values
            if copy_labels:
                entry.labels = dict(entry.labels)
            self._run_from(entry, 0, out)
        if copy_labels:
            self._intern_labels(out)
        return out

    def _run_from(self, entry: LogEntry, start: int, out: list[LogEntry]) -> None:
        stages = self._stages
        current: LogEntry | None = entry
        for index in range(start, len(stages)):
            result = stages[index].process(current)  # type: ignore[arg-type]
            if result is None:
                if not self._holding[index]:
                    current.checkpoint.ack(self._fanout)  # type: ignore[union-attr]
                return
            current = result
        out.append(current)  # type: ignore[arg-type]

    def _intern_labels(self, entries: list[LogEntry]) -> None:
        # Stages gave every entry its own label dict; entries whose labels ended up equal share one again,
        # so the client computes each stream's label string once, not once per entry.
        last = self._last_labels
        for entry in entries:
            labels = entry.labels
            if labels == last:
                entry.labels = last
            else:
                last = labels
        self._last_labels = last

    def next_deadline(self) -> float | None:
        """The earliest `time.monotonic()` at which a holding stage wants `flush_due` called."""
        deadlines = [d for _, stage in self._timed if (d := stage.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def flush_due(self, *, final: bool = False) -> Chunk:
        """Release what holding stages kept past their deadline (or everything, when `final`)."""
        out: list[LogEntry] = []
        now_ns = time.time_ns()
        for index, stage in self._timed:
            released: list[LogEntry] = (
                stage.flush_all() if final else stage.flush(now_ns)  # type: ignore[attr-defined]
            )
            for entry in released:
                self._run_from(entry, index + 1, out)
        if final:
            for index, stage in enumerate(self._stages):
                if self._holding[index] and (index, stage) not in self._timed and hasattr(stage, "flush_all"):
                    for entry in stage.flush_all():
                        self._run_from(entry, index + 1, out)
        return out

    async def _process_with_delays(self, chunk: Chunk) -> Chunk:
        """The slow path for pipelines with a delaying stage: wait where a stage asks to, entry by entry."""
        out: list[LogEntry] = []
        for entry in chunk:
            entry.extracted = dict(entry.labels)
            if self._copy_labels:
                entry.labels = dict(entry.labels)
            current: LogEntry | None = entry
            for index, stage in enumerate(self._stages):
                delay_for = getattr(stage, "delay_for", None)
                if delay_for is not None:
                    # The stage computes when its token bucket refills; there is no event to wait on.
                    while (delay := delay_for(current)) > 0:  # noqa: ASYNC110
                        await asyncio.sleep(delay)
                result = stage.process(current)  # type: ignore[arg-type]
                if result is None:
                    if not self._holding[index]:
                        current.checkpoint.ack(self._fanout)  # type: ignore[union-attr]
                    current = None
                    break
                current = result
            if current is not None:
                out.append(current)
        return out

    async def run(self, source: asyncio.Queue[Chunk | None], outputs: Sequence[asyncio.Queue[Chunk]]) -> None:
        """Move chunks from `source` through the stages into every output, until a None arrives."""
        depth = self._metrics.queue_depth.labels(queue=f"pipeline:{self.name}")
        while True:
            deadline = self.next_deadline()
            chunk: Chunk | None
            if not source.empty():
                chunk = source.get_nowait()
            elif deadline is None:
                chunk = await source.get()
            elif (wait := deadline - time.monotonic()) > 0:
                try:
                    chunk = await asyncio.wait_for(source.get(), wait)
                except TimeoutError:
                    chunk = []
            else:
                chunk = []
                await asyncio.sleep(0)  # a deadline already past: flush, but let the sources run too
            depth.set(source.qsize())
            if chunk is None:
                await self._emit(self.flush_due(final=True), outputs)
                return
            if self._delaying:
                out = await self._process_with_delays(chunk)
            else:
                out = self.process(chunk)
            if self._timed:
                out.extend(self.flush_due())
            await self._emit(out, outputs)

    @staticmethod
    async def _emit(chunk: Chunk, outputs: Sequence[asyncio.Queue[Any]]) -> None:
        if not chunk:
            return
        for queue in outputs:
            await queue.put(chunk)  # the same list goes to every client: clients never mutate it
