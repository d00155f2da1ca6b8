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


Step = tuple[Callable[[LogEntry], LogEntry | None], bool]
"""What `Pipeline.process` runs for each entry: a stage's `process` (or a label step), and whether it holds."""


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
        self._holding = tuple(bool(getattr(s, "holds_entries", False)) for s in self._stages)
        steps, self._delays, self._resume = self._plan()
        self._steps = tuple(steps)
        self._timed = [(i, s) for i, s in enumerate(self._stages) if hasattr(s, "next_deadline")]
        self._delaying = any(hasattr(s, "delay_for") for s in self._stages)
        # Whether `process` gives each entry its extracted map, or the first stage makes it (`makes_extracted`,
        # looked up on the class: a wrapper such as `-inspect` must see the map the stage is given).
        makes = bool(self._stages) and hasattr(type(self._stages[0]), "makes_extracted")
        self._fresh_extracted = not (makes and self._stages[0].makes_extracted)  # type: ignore[attr-defined]
        self._last_labels: dict[str, str] = {}
        self._known_labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._log = RateLimitedLogger(log, interval=30.0)

    def _plan(self) -> tuple[list[Step], tuple[Callable[[LogEntry], float] | None, ...], list[int]]:
        """What runs for each entry: every stage's `process` (and whether it holds entries), in order, with
        the label copying and sharing steps; each step's `delay_for`; and per stage, the step after it.

        Label-changing stages that offer `process_shared` (`agent.stages.labels`) never mutate the label dict
        they get: they replace it with one they share between entries with the same result. Up to the first
        label-changing stage without it, entries keep the source's dict: no copy, no sharing step, saving
        ~0.4 µs per entry and stage. From that stage on, each entry gets its own dict (`_own_labels`), which
        every stage up to the last label-changing one mutates in place, then `_share_labels`.
        """
        mutating = [i for i, s in enumerate(self._stages) if getattr(s, "mutates_labels", False)]
        # Looked up on the class: a wrapper that forwards other attributes (`-inspect`) must see its `process` run.
        in_place = [i for i in mutating if not hasattr(type(self._stages[i]), "process_shared")]
        first_own = in_place[0] if in_place else len(self._stages)
        steps: list[Step] = []
        delays: list[Callable[[LogEntry], float] | None] = []
        resume: list[int] = []
        for index, (stage, holding) in enumerate(zip(self._stages, self._holding, strict=True)):
            if index == first_own:
                steps.append((self._own_labels, False))
                delays.append(None)
            if index < first_own and index in mutating:
                steps.append((stage.process_shared, holding))  # type: ignore[attr-defined]
            else:
                steps.append((stage.process, holding))
            delays.append(getattr(stage, "delay_for", None))
            if in_place and index == mutating[-1]:
                steps.append((self._share_labels, False))
                delays.append(None)
            resume.append(len(steps))
        return steps, tuple(delays), resume

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
        fresh = self._fresh_extracted
        for entry in chunk:
            # Promtail exposes the labels as extracted values (or the first stage puts them there).
            entry.extracted = entry.labels.copy() if fresh else None
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

    def _run_from(self, entry: LogEntry, stage: int, out: list[LogEntry]) -> None:
        """Run `entry` through the steps after stage number `stage - 1` (from the start when 0)."""
        current = entry
        for process, holding in self._steps[self._resume[stage - 1] if stage else 0 :]:
            result = process(current)
            if result is None:
                if not holding:
                    current.checkpoint.ack(self._fanout)
                return
            current = result
        out.append(current)

    @staticmethod
    def _own_labels(entry: LogEntry) -> LogEntry:
        entry.labels = dict(entry.labels)  # stages from here on may change the entry's labels in place
        return entry

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
            entry.extracted = entry.labels.copy() if self._fresh_extracted else None
            current = entry
            for (process, holding), delay_for in zip(self._steps, self._delays, strict=True):
                if delay_for is not None:
                    # The stage computes when its token bucket refills; there is no event to wait on.
                    while (delay := delay_for(current)) > 0:  # noqa: ASYNC110
                        await asyncio.sleep(delay)
                result = process(current)
                if result is None:
                    if not holding:
                        current.checkpoint.ack(self._fanout)
                    break
                current = result
            else:
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
