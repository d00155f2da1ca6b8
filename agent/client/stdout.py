"""`-dry-run`: a client that prints entries instead of pushing them, in Promtail's dry-run format.

Each entry becomes ``<timestamp>\\t<labels>\\t<line>``: the timestamp in Go's
``2006-01-02T15:04:05.999999999-0700`` layout in local time (trailing zeros of the fraction dropped), the
labels as ``{a="b", c="d"}`` sorted by name with Go-quoted values. When an entry carries structured
metadata, it follows as a fourth field ``{k="v"}`` (Promtail never shows it). Entries are acknowledged once
printed; the positions store is read-only in dry-run, so nothing is saved.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import IO, Any

from agent.client.batch import format_labels as batch_format_labels
from agent.logs import log_fields
from agent.model import Chunk, LogEntry, ack_entries
from agent.queues import bounded_queue

log = logging.getLogger(__name__)


def format_labels(labels: dict[str, str]) -> str:
    """``{a="b", c="d"}``: sorted by name, internal ``__`` labels left out, as Loki receives them."""
    return batch_format_labels({k: v for k, v in labels.items() if not k.startswith("__")})


def format_timestamp(ns: int) -> str:
    """Go's ``2006-01-02T15:04:05.999999999-0700`` in local time."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = time.localtime(seconds)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", local)
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + time.strftime("%z", local)


def format_entry(entry: LogEntry) -> str:
    text = f"{format_timestamp(entry.timestamp)}\t{format_labels(entry.labels)}\t{entry.line}"
    if entry.metadata:
        text += "\t" + format_labels(entry.metadata)
    return text


_STOP: Chunk = []  # end marker, compared by identity


class StdoutClient:
    """Prints every entry to `stream` and acknowledges it."""

    host = "stdout"

    def __init__(self, stream: IO[str] | None = None, queue_size: int = 4) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self.queue: asyncio.Queue[Chunk] = bounded_queue(queue_size)
        self.printed = 0
        self._done = asyncio.Event()

    async def run(self) -> None:
        """Print chunks until `stop` queues the end marker (everything queued before it is printed)."""
        try:
            while True:
                chunk = await self.queue.get()
                if chunk is _STOP:
                    return
                await self._write(chunk)
        finally:
            self._done.set()

    async def _write(self, chunk: Chunk) -> None:
        text = "".join(format_entry(entry) + "\n" for entry in chunk)
        # A pipe to a slow reader (`| less`) may block: keep that off the event loop.
        await asyncio.to_thread(self._write_sync, text)
        self.printed += len(chunk)
        ack_entries(chunk)

    def _write_sync(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    async def stop(self, timeout: float) -> None:
        """Let `run` print what is queued, including a chunk it is writing right now, then return."""
        await self.queue.put(_STOP)
        try:
            async with asyncio.timeout(timeout):
                await self._done.wait()
        except TimeoutError:
            log.warning("Dry-run output did not finish in time.", extra=log_fields(timeout=timeout))

    def state(self) -> dict[str, Any]:
        return {"url": "stdout (dry-run)", "up": True, "printed": self.printed}

    @property
    def permanently_failing(self) -> bool:
        return False

    @property
    def failing(self) -> bool:
        return False
