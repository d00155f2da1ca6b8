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
from collections.abc import Callable, Sequence
from typing import Protocol

from agent.logs import RateLimitedLogger, log_fields
from agent.model import Chunk, LogEntry, ack_entries
from agent.server.metrics import Metrics
from agent.stages.base import Stage

log = logging.getLogger(__name__)

_KNOWN_LABELS = 4096
"""Distinct label sets a pipeline remembers to share; past that it starts over (a label with many values)."""

FANOUT_RECHECK_SECONDS = 0.5
"""How often a pipeline waiting on a full client queue looks again whether that client is failing."""

REASON_CLIENT_UNAVAILABLE = "client_unavailable"


class Output(Protocol):
    """What the pipeline hands chunks to: a client's bounded queue, its host, and whether it is failing."""

    queue: asyncio.Queue[Chunk]

    @property
    def host(self) -> str: ...

    @property
    def failing(self) -> bool: ...


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
        # What `process` runs for each entry: every stage's `process` (and whether it holds entries), with
        # `_share_labels` right after the last stage that changes labels.
        steps: list[tuple[Callable[[LogEntry], LogEntry | None], bool]] = [
            (s.process, holding) for s, holding in zip(self._stages, self._holding, strict=True)
        ]
        if self._copy_labels:
            last = max(i for i, s in enumerate(self._stages) if getattr(s, "mutates_labels", False))
            steps.insert(last + 1, (self._share_labels, False))
        self._steps = tuple(steps)
        self._timed = [(i, s) for i, s in enumerate(self._stages) if hasattr(s, "next_deadline")]
        self._delaying = any(hasattr(s, "delay_for") for s in self._stages)
        self._last_labels: dict[str, str] = {}
        self._known_labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._log = RateLimitedLogger(log, interval=30.0)

    @property
    def has_stages(self) -> bool:
        return bool(self._stages)

    def process(self, chunk: Chunk) -> Chunk:
        """Run every entry of `chunk` through the stages; return the entries that come out."""
        if not self._stages:
            return chunk
        out: list[LogEntry] = []
        append = out.append
        steps = self._steps
        fanout = self._fanout
        copy_labels = self._copy_labels
        for entry in chunk:
            entry.extracted = dict(entry.labels)  # Promtail exposes the labels as extracted values
            if copy_labels:
                entry.labels = dict(entry.labels)
            # `_run_from`, inline: this loop runs for every line.
            current = entry
            for process, holding in steps:
                result = process(current)
                if result is None:
                    if not holding:
                        current.checkpoint.ack(fanout)
                    break
                current = result
            else:
                append(current)
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

    def _share_labels(self, entry: LogEntry) -> LogEntry:
        # Stages gave every entry its own label dict; once none will change it again, entries whose labels
        # are equal share one (the first of them, kept across chunks). Later stages that keep state per
        # stream, and the client that routes and groups each stream once per chunk, then see one dict per
        # stream instead of one per entry. Equal consecutive labels, the common case, skip the lookup.
        labels = entry.labels
        last = self._last_labels
        if labels == last:
            entry.labels = last
            return entry
        known = self._known_labels
        key = tuple(labels.items())
        shared = known.get(key)
        if shared is None:
            if len(known) >= _KNOWN_LABELS:
                known.clear()
            known[key] = shared = labels
        else:
            entry.labels = shared
        self._last_labels = shared
        return entry

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

    async def run(self, source: asyncio.Queue[Chunk | None], outputs: Sequence[Output]) -> None:
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

    async def _emit(self, chunk: Chunk, outputs: Sequence[Output]) -> None:
        """Hand `chunk` to every client. The same list goes to each: clients never mutate it.

        A client whose queue is full holds the pipeline back (backpressure: the files are the buffer), unless
        that client is failing while another client is not: then the chunk is dropped for the failing client
        alone, acknowledged on its behalf and counted (reason `client_unavailable`), so a Loki that is down
        never stops the others. A single client is never dropped for.
        """
        if not chunk:
            return
        if len(outputs) == 1:
            await outputs[0].queue.put(chunk)
            return
        for output in outputs:
            while True:
                try:
                    output.queue.put_nowait(chunk)
                    break
                except asyncio.QueueFull:
                    pass
                if output.failing and not all(other.failing for other in outputs):
                    self._drop_for(output, chunk)
                    break
                try:
                    # Wait for room, looking again now and then whether the client has started failing.
                    await asyncio.wait_for(output.queue.put(chunk), FANOUT_RECHECK_SECONDS)
                    break
                except TimeoutError:
                    continue

    def _drop_for(self, output: Output, chunk: Chunk) -> None:
        size = sum(len(entry.line) for entry in chunk)
        self._metrics.dropped_entries.labels(host=output.host, reason=REASON_CLIENT_UNAVAILABLE, tenant="").inc(
            len(chunk)
        )
        self._metrics.dropped_bytes.labels(host=output.host, reason=REASON_CLIENT_UNAVAILABLE, tenant="").inc(size)
        self._log.warning(
            f"client_unavailable:{output.host}",
            "A Loki client is failing and its buffer is full: dropping entries for it so the other clients "
            "keep receiving.",
            extra=log_fields(host=output.host, entries=len(chunk), pipeline=self.name),
        )
        ack_entries(chunk)
