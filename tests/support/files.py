"""Test helpers for the file source: a log writer that rotates like logrotate, and a fake client.

`LogWriter` appends numbered lines (``line 00000042 ...``) from a background thread at a steady rate and
can rotate by rename + create or by copytruncate, as logrotate does, without ever losing a line itself:
whatever the agent misses is the agent's fault. `Consumer` stands in for the clients: it takes chunks from
the source's queue, records their lines and acknowledges them (at once, later, or not at all).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

from agent.config.model import DecompressionConfig, FileWatchConfig, LimitsConfig
from agent.model import Checkpoint, Chunk
from agent.positions.config import PositionsConfig
from agent.positions.store import PositionStore
from agent.queues import bounded_queue
from agent.server.metrics import Metrics
from agent.sources.file import FileSource, FileTarget
from agent.sources.tail import READ_SIZE

Rotation = Literal["rename", "copytruncate"]

_NUMBER = re.compile(r"line (\d+)")


def line_text(number: int, width: int = 0) -> str:
    """The text of line `number` as `LogWriter` writes it (without the newline)."""
    text = f"line {number:08d}"
    return text + " " + "x" * width if width else text


def numbers(lines: list[str]) -> list[int]:
    """The line numbers found in `lines` (lines without one are ignored)."""
    return [int(m.group(1)) for m in map(_NUMBER.match, lines) if m]


def shift_rotated(path: str, keep: int) -> None:
    """Rename path.N to path.N+1 for N = keep-1..1, as logrotate does before creating path.1."""
    for index in range(keep - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")


class LogWriter:
    """Appends `total` numbered lines to `path` at `rate` lines/s in a thread, rotating every `rotate_every`.

    Lines are written in small batches, each batch one `write` of complete lines, flushed at once, as an
    application with line buffering would. Rotation happens between two batches, so every line is in
    exactly one of `path`, ``path.1``, ``path.2``... afterwards.
    """

    def __init__(
        self,
        path: str,
        *,
        total: int,
        rate: float,
        rotate_every: int = 0,
        rotation: Rotation = "rename",
        keep: int = 5,
        width: int = 40,
        start: int = 0,
    ) -> None:
        self.path = path
        self.total = total
        self.rate = rate
        self.rotate_every = rotate_every
        self.rotation = rotation
        self.keep = keep
        self.width = width
        self.first = start
        self.written = 0
        self.rotations = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> LogWriter:
        self._thread.start()
        return self

    def join(self, timeout: float = 30.0) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"writer still running after {timeout}s")
        if self.error is not None:
            raise self.error

    def rotate(self) -> None:
        """Rotate `path` now (also usable without the thread)."""
        shift_rotated(self.path, self.keep)
        if self.rotation == "rename":
            os.rename(self.path, self.path + ".1")
            open(self.path, "ab").close()
        else:
            shutil.copyfile(self.path, self.path + ".1")
            os.truncate(self.path, 0)
        self.rotations += 1

    def _run(self) -> None:
        try:
            self._write_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by join()
            self.error = exc

    def _write_all(self) -> None:
        batch = max(1, int(self.rate / 200))  # 200 writes per second
        started = time.monotonic()
        number = self.first
        end = self.first + self.total
        handle = open(self.path, "ab")  # noqa: SIM115 - reopened on rotation
        try:
            while number < end:
                stop = min(end, number + batch)
                if self.rotate_every:
                    done = number - self.first
                    stop = min(stop, self.first + (done // self.rotate_every + 1) * self.rotate_every)
                data = "".join(line_text(n, self.width) + "\n" for n in range(number, stop)).encode()
                handle.write(data)
                handle.flush()
                number = stop
                self.written = number - self.first
                if self.rotate_every and (number - self.first) % self.rotate_every == 0 and number < end:
                    handle.close()
                    self.rotate()
                    handle = open(self.path, "ab")  # noqa: SIM115
                due = started + (number - self.first) / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the writer thread, not waiting for a result
        finally:
            handle.close()


def write_lines(path: str, first: int, count: int, width: int = 40) -> None:
    """Append lines `first`..`first+count-1` to `path` in one write."""
    with open(path, "ab") as handle:
        handle.write("".join(line_text(n, width) + "\n" for n in range(first, first + count)).encode())


class Consumer:
    """A fake client: takes chunks from `queue`, records lines and acknowledges them for `fanout` clients.

    `ack_chunks` limits how many chunks are acknowledged (None: all); `delay` acknowledges each chunk that
    many seconds after it arrived, in arrival order.
    """

    def __init__(
        self,
        queue: asyncio.Queue[Chunk | None],
        *,
        fanout: int = 1,
        ack_chunks: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.queue = queue
        self.fanout = fanout
        self.ack_chunks = ack_chunks
        self.delay = delay
        self.chunks: list[Chunk] = []
        self.lines: list[str] = []
        self.acked_lines: list[str] = []
        self.arrivals: list[float] = []

    async def run(self) -> None:
        while True:
            chunk = await self.queue.get()
            if chunk is None:
                return
            self.arrivals.append(time.monotonic())
            self.chunks.append(chunk)
            self.lines.extend(entry.line for entry in chunk)
            if self.ack_chunks is not None and len(self.chunks) > self.ack_chunks:
                continue
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self._ack, chunk)
            else:
                self._ack(chunk)

    def _ack(self, chunk: Chunk) -> None:
        self.acked_lines.extend(entry.line for entry in chunk)
        counts: dict[int, int] = {}
        checkpoints: dict[int, Checkpoint] = {}
        for entry in chunk:
            key = id(entry.checkpoint)
            checkpoints[key] = entry.checkpoint
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            checkpoints[key].ack(count * self.fanout)

    def numbers(self) -> list[int]:
        return numbers(self.lines)

    def duplicates(self) -> dict[int, int]:
        return {n: c for n, c in Counter(self.numbers()).items() if c > 1}


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until `condition()` is true, checking every few milliseconds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class Running:
    """Runs coroutines as tasks for the length of an ``async with``; a task that fails fails the test."""

    def __init__(self, *coroutines: Coroutine[Any, Any, Any]) -> None:
        self._coroutines = coroutines
        self.tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> Running:
        self.tasks = [asyncio.create_task(c) for c in self._coroutines]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self.tasks:
            task.cancel()
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    def check(self) -> None:
        """Raise the exception of any task that has failed."""
        for task in self.tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def wait(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        """`wait_until`, failing early if a task fails."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.005)


class SourceRig:
    """A `FileSource` for `pattern` with its store, queue and fake client, ready to run in a test.

    Pass `store` to reuse positions (a restart); otherwise a fresh store lives in ``tmp_path/state``.
    """

    def __init__(
        self,
        tmp_path: Path,
        pattern: str,
        *,
        exclude: str = "",
        store: PositionStore | None = None,
        labels: dict[str, str] | None = None,
        fanout: int = 1,
        sync_period: float = 10.0,
        rotate_wait: float = 0.3,
        poll: float = 0.25,
        ack_chunks: int | None = None,
        delay: float = 0.0,
        read_size: int = READ_SIZE,
        decompression: DecompressionConfig | None = None,
        limits: LimitsConfig | None = None,
    ) -> None:
        self.store = store if store is not None else open_store(tmp_path)
        self.metrics = self.store.metrics
        self.queue: asyncio.Queue[Chunk | None] = bounded_queue(4)
        self.consumer = Consumer(self.queue, fanout=fanout, ack_chunks=ack_chunks, delay=delay)
        self.source = FileSource(
            name="test",
            targets=[FileTarget(pattern, exclude, labels if labels is not None else {"job": "test"})],
            queue=self.queue,
            positions=self.store,
            fanout=fanout,
            metrics=self.metrics,
            limits=limits,
            sync_period=sync_period,
            watch=FileWatchConfig(min_poll_frequency=f"{poll * 1000:g}ms", max_poll_frequency=f"{poll * 1000:g}ms"),
            decompression=decompression,
            rotate_wait=rotate_wait,
            read_size=read_size,
        )

    def running(self) -> Running:
        return Running(self.source.run(), self.consumer.run())

    def errors(self, reason: str, component: str = "file") -> float:
        value = self.metrics.registry.get_sample_value("agent_errors_total", {"component": component, "reason": reason})
        return value or 0.0


def open_store(tmp_path: Path, **options: Any) -> PositionStore:
    """A loaded `PositionStore` whose file is ``tmp_path/state/positions.yaml``."""
    config = PositionsConfig(filename=str(tmp_path / "state" / "positions.yaml"), **options)
    store = PositionStore(config, Metrics())
    store.load()
    return store
