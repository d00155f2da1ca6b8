"""One file, one task: read from an offset, turn complete lines into chunks of entries, follow appends.

`FileTail` reads large blocks through `fileio` (a thread hop per block, never per line), decodes a block of
complete lines in one call and splits it in one call; per line it only builds the `LogEntry`. A trailing
partial line is held until its newline arrives, so a checkpoint never ends inside a line. Entries are
stamped with the read time, strictly increasing within the file (so Loki never sees two equal
(timestamp, line) pairs and drops one as a duplicate).

The tail notices what happens to *its* open file: truncation (the size fell below what was read, or the
first bytes changed: copytruncate), in which case it finds the copy in the same directory and reads the
rest from there; and deletion (no links left). Renames are seen by the file source, which tells the tail
to `drain`: read to the end, keep following for `rotate_wait` seconds of quiet (the writer may not have
reopened yet), then stop. A tail ends once everything it read is acknowledged.

Compressed files (`compression` set) are read once, streamed through the decompressor; as in Promtail,
their position counts lines, not bytes.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import enum
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Protocol

from agent.model import Chunk, Labels, LineRun, LogEntry
from agent.positions.tracker import FileIdentity, FileTracker
from agent.server.metrics import Metrics
from agent.sources import fileio
from agent.sources.ratelimit import DROP_REASON, ReadlineLimiter

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
"""Bytes read per thread hop: large enough to amortise the hop, small enough to bound a chunk."""

COMPRESSED_READ_SIZE = 64 * 1024
"""Decompressed bytes per hop: small, so a damaged archive loses little before the damage."""

MAX_PENDING_LINE = 8 * 1024 * 1024
"""A line still without its newline after this many bytes is cut (or, with max_line_size, discarded)."""

LINE_TOO_LONG = "line_too_long"
"""Promtail's `reason` for lines over `max_line_size`."""


SAFETY_POLL = 5.0
"""With an external poller, a waiting tail still looks at its file this often on its own."""


class ChunkSink(Protocol):
    """Where chunks go: the scrape config's bounded queue."""

    async def put(self, item: Chunk, /) -> None: ...


@dataclass(frozen=True, slots=True)
class TailOptions:
    """How a file is read. Built once per scrape config by the file source."""

    encoding: str = ""
    max_line_size: int = 0
    max_line_size_truncate: bool = False
    min_poll: float = 0.25
    max_poll: float = 0.25
    rotate_wait: float = 5.0
    compression: str = ""  # "", "gz", "bz2" or "z"
    external_poll: bool = False  # a poller (the file source) wakes the tail when its file changes
    initial_delay: float = 0.0
    read_size: int = READ_SIZE


class TailEnd(enum.Enum):
    """Why `FileTail.run` returned (always after everything read was acknowledged)."""

    RELEASE = "release"  # the file is gone or rotated away and fully read: forget its position
    KEEP = "keep"  # a compressed file read to its end: keep its position so it is not read again


class LineDecoder:
    """Finds complete lines in raw bytes and decodes them, for one file's encoding.

    A byte-order mark at the start of the file wins over the configured encoding (UTF-8, UTF-16 LE/BE).
    For every supported encoding a newline is one code unit that never occurs inside another character,
    so the end of the last complete line is found in the raw bytes and the block before it decodes alone.
    """

    def __init__(self, encoding: str, head: bytes) -> None:
        name = codecs.lookup(encoding or "utf-8").name
        self.bom_size = 0
        for bom, codec in _BOMS:
            if head.startswith(bom) and (not codec.startswith("utf-32") or name.startswith("utf-32")):
                name, self.bom_size = codec, len(bom)
                break
        if name in ("utf-16", "utf-32"):
            name += "-le"  # no BOM: little-endian, as Windows writes it
        self.codec = name
        self.newline = "\n".encode(name)
        self.unit = len(self.newline)

    def complete(self, data: bytes) -> int:
        """The length of the longest prefix of `data` made of complete lines (0 if there is none)."""
        newline, unit = self.newline, self.unit
        index = data.rfind(newline)
        if unit > 1:
            while index >= 0 and index % unit:
                index = data.rfind(newline, 0, index + unit - 1)
        return index + unit if index >= 0 else 0

    def lines(self, block: bytes) -> list[str]:
        """Decode `block` (complete lines) and split it; invalid bytes become U+FFFD, CR before LF goes."""
        return self.split(block)[0]

    def split(self, block: bytes) -> tuple[list[str], int]:
        """`lines`, and their total size in UTF-8 bytes when it comes for free (ASCII text), else -1."""
        text = block.decode(self.codec, "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        size = len(text) - len(lines) + 1 if text.isascii() else -1  # isascii() is O(1); newlines do not count
        if lines[-1] == "":
            lines.pop()
        return lines, size

    def first_newline(self, data: bytes) -> int:
        """The length of `data` up to and including its first newline (0 if there is none)."""
        index = data.find(self.newline)
        while index >= 0 and index % self.unit:
            index = data.find(self.newline, index + 1)
        return index + self.unit if index >= 0 else 0


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class FileTail:
    """Reads one open file into chunks on `sink`, from its tracker's offset.

    `on_truncated(tail)` runs (synchronously) when the file was truncated in place: the source then starts
    a new tail for the path from offset 0 while this one drains the copy, if it can find one.
    """

    def __init__(
        self,
        path: str,
        opened: fileio.Opened,
        tracker: FileTracker,
        labels: Labels,
        sink: ChunkSink,
        options: TailOptions,
        metrics: Metrics,
        *,
        limiter: ReadlineLimiter | None = None,
        on_truncated: Callable[[FileTail], None] | None = None,
    ) -> None:
        self.path = path
        self.labels = labels
        self.tracker = tracker
        self.device = opened.stat.device
        self.inode = opened.stat.inode
        self.size = opened.stat.size
        self.identity = FileIdentity.of(self.device, self.inode, opened.head)
        self._fd: int | None = opened.fd
        self._head = opened.head
        self._sink = sink
        self._options = options
        self._metrics = metrics
        self._limiter = limiter
        self._on_truncated = on_truncated
        self._wake = asyncio.Event()
        self._draining = False
        self._drain_since = 0.0
        self._quiet_after = options.rotate_wait
        self.linked = True  # whether the file still had a name at the last read
        self.waiting = False  # at the end of the file, waiting for it to change
        self._last_ts = 0
        self._skipping = False
        self._set_metric_children()

    # -- control, from the file source

    @property
    def draining(self) -> bool:
        """Whether the file is no longer at its path (rotated or deleted) and is being read to its end."""
        return self._draining

    def wake(self) -> None:
        """Something changed in the file: read now instead of at the next poll."""
        self._wake.set()

    def drain(self) -> None:
        """The file left its path: read to the end, keep following for `rotate_wait` of quiet, then stop."""
        self._draining = True
        self._drain_since = time.monotonic()
        self._wake.set()

    def adopt(self, path: str, labels: Labels) -> None:
        """The file (being drained) is matched again under `path`: follow it there as a live file."""
        self.path = path
        self.labels = labels
        self._draining = False
        self._set_metric_children()
        self._wake.set()

    @property
    def fd(self) -> int | None:
        """The open file descriptor (None once closed, or while reading a compressed file)."""
        return self._fd

    def close(self) -> None:
        """Release the file descriptor (idempotent; `run` does it when it returns)."""
        if self._fd is not None:
            fileio.close_now(self._fd)
            self._fd = None

    def forget_metrics(self) -> None:
        """Remove this path's per-file series (when no other tail reads a file at this path)."""
        for metric in (self._metrics.read_bytes, self._metrics.read_lines, self._metrics.file_bytes):
            with contextlib.suppress(KeyError):  # not an error: another tail of this path removed it already
                metric.remove(self.path)

    def _set_metric_children(self) -> None:
        self._read_bytes = self._metrics.read_bytes.labels(path=self.path)
        self._read_lines = self._metrics.read_lines.labels(path=self.path)
        self._file_bytes = self._metrics.file_bytes.labels(path=self.path)

    # -- reading

    async def run(self) -> TailEnd:
        """Read until the file is gone and drained (or, compressed, read once); then wait for the acks."""
        try:
            if self._options.compression:
                await self._read_compressed()
                end = TailEnd.KEEP
            else:
                await self._follow()
                end = TailEnd.RELEASE
        finally:
            self.close()
        await self.tracker.wait_idle()
        return end

    async def _follow(self) -> None:
        options = self._options
        decoder = LineDecoder(options.encoding, self._head)
        offset = self.tracker.read_offset
        if offset < decoder.bom_size:
            offset = decoder.bom_size
            self.tracker.skip_to(offset)
        pending = b""
        poll = options.min_poll
        last_growth = time.monotonic()
        loop = asyncio.get_running_loop()
        while True:
            assert self._fd is not None
            self._wake.clear()
            read = await fileio.read_chunk(self._fd, offset + len(pending), options.read_size)
            size = read.stat.size
            if size < offset + len(pending) or not self.identity.same_content(read.head):
                await self._truncated(offset, decoder)
                return
            if len(read.head) > self.identity.fingerprint_size:
                self.identity = self.identity.grown(read.head)
                self.tracker.note_identity(self.identity)
            self.size = size
            self.tracker.note_size(size)
            self._file_bytes.set(size)
            if read.data:
                pending += read.data
                offset, pending = await self._consume(decoder, offset, pending)
                last_growth = time.monotonic()
                poll = options.min_poll
                if size > offset + len(pending):
                    continue  # more is already there
            self.linked = read.stat.nlink > 0
            if not self.linked and not self._draining:
                log.info("File deleted; reading what is left.", extra={"path": self.path})
                self.drain()
            timeout = SAFETY_POLL if options.external_poll else poll
            if self._draining:
                quiet_for = time.monotonic() - max(last_growth, self._drain_since)
                if quiet_for >= self._quiet_after:
                    return
                timeout = min(timeout, self._quiet_after - quiet_for)
            handle = loop.call_later(timeout, self._wake.set)
            self.waiting = True
            await self._wake.wait()
            self.waiting = False
            handle.cancel()
            poll = min(poll * 2, options.max_poll)

    async def _consume(self, decoder: LineDecoder, offset: int, pending: bytes) -> tuple[int, bytes]:
        """Emit the complete lines at the start of `pending` (which starts at `offset`); return what is left."""
        if self._skipping:
            end = decoder.first_newline(pending)
            consumed = end if end else len(pending)
            offset += consumed
            pending = pending[consumed:]
            self.tracker.checkpoint(offset, 0)
            if not end:
                return offset, pending
            self._skipping = False
        cut = decoder.complete(pending)
        if cut:
            block = pending[:cut]
            lines, size = decoder.split(block)
            await self._emit(lines, offset + cut, len(block), size)
            return offset + cut, pending[cut:]
        if len(pending) >= max(MAX_PENDING_LINE, self._options.max_line_size + 1):
            cut = await self._overlong(decoder, offset, pending)
            return offset + cut, pending[cut:]
        return offset, pending

    async def _overlong(self, decoder: LineDecoder, offset: int, pending: bytes) -> int:
        """Emit the start of a line that has no newline yet; return how many bytes of `pending` it used."""
        # A line that never ends would grow the buffer without bound. With max_line_size it is over the
        # limit anyway: truncated or dropped now, the rest discarded up to its newline. Without, it is cut.
        cut = len(pending) - len(pending) % decoder.unit
        text = pending[:cut].decode(decoder.codec, "replace")
        if self._options.max_line_size:
            self._skipping = True
            await self._emit([text], offset + cut, cut)
        else:
            self._metrics.errors.labels(component="file", reason="line_split").inc()
            log.warning(
                "Line longer than %d bytes without a newline; sending it in parts.",
                MAX_PENDING_LINE,
                extra={"path": self.path},
            )
            await self._emit([text], offset + cut, cut)
        return cut

    async def _emit(self, lines: list[str], end: int, raw_bytes: int, size: int = -1) -> None:
        """Queue `lines` as one chunk whose checkpoint ends at `end`.

        `raw_bytes` were read for them; `size` is their total in UTF-8 bytes when known, else -1.
        """
        self._read_bytes.inc(raw_bytes)
        self._read_lines.inc(len(lines))
        if self._options.max_line_size and lines:
            limited = self._limit_line_size(lines)
            if limited is not lines:
                lines, size = limited, -1
        limiter = self._limiter
        if limiter is not None and lines:
            if limiter.drop:
                allowed = limiter.allow(len(lines))
                if allowed < len(lines):
                    self._metrics.stage_dropped.labels(reason=DROP_REASON).inc(len(lines) - allowed)
                    lines, size = lines[:allowed], -1
            else:
                await limiter.acquire(len(lines))
        count = len(lines)
        checkpoint = self.tracker.checkpoint(end, count)
        if not count:
            return
        start = max(time.time_ns(), self._last_ts + 1)
        self._last_ts = start + count - 1
        labels = self.labels
        entries = map(LogEntry, range(start, start + count), lines, repeat(labels), repeat(checkpoint))
        await self._sink.put(LineRun(entries, labels, size))

    def _limit_line_size(self, lines: list[str]) -> list[str]:
        limit = self._options.max_line_size
        if max(map(len, lines)) * 4 <= limit:
            return lines  # no line can be over: a character is at most 4 bytes of UTF-8
        floor = limit // 4
        kept: list[str] = []
        over = over_bytes = 0
        truncate = self._options.max_line_size_truncate
        for line in lines:
            if len(line) > floor:
                encoded = line.encode("utf-8", "surrogatepass")
                if len(encoded) > limit:
                    over += 1
                    if truncate:
                        over_bytes += len(encoded) - limit
                        kept.append(encoded[:limit].decode("utf-8", "ignore"))
                    else:
                        over_bytes += len(encoded)
                    continue
            kept.append(line)
        if over:
            # Promtail counts these per client (`host`); the agent applies the limit once, before the fan-out.
            labels = {"host": "", "reason": LINE_TOO_LONG, "tenant": ""}
            metrics = self._metrics
            entries, size = (
                (metrics.mutated_entries, metrics.mutated_bytes) if truncate
                else (metrics.dropped_entries, metrics.dropped_bytes)
            )
            entries.labels(**labels).inc(over)
            size.labels(**labels).inc(over_bytes)
        return kept

    # -- truncation (copytruncate)

    async def _truncated(self, offset: int, decoder: LineDecoder) -> None:
        old = self.identity
        log.info("File truncated; looking for its copy.", extra={"path": self.path, "read_offset": offset})
        # The inode at the path now holds a new generation: this tail no longer owns it.
        self.device = self.inode = -1
        if self._on_truncated is not None:
            self._on_truncated(self)
        self.close()
        copy = await self._find_copy(old, offset)
        if copy is None:
            self._metrics.errors.labels(component="file", reason="truncated_without_copy").inc()
            log.warning(
                "File truncated and no copy found beside it; lines written after the last read and before "
                "the truncation are lost.",
                extra={"path": self.path, "read_offset": offset},
            )
            return
        log.info(
            "Reading the rest of a truncated file from its copy.",
            extra={"path": self.path, "copy": copy.path, "offset": offset},
        )
        try:
            opened = await fileio.open_file(copy.path)
        except OSError as exc:
            self._metrics.errors.labels(component="file", reason="copy_unreadable").inc()
            log.warning(
                "Cannot read the copy of a truncated file; its last lines are lost.",
                extra={"path": self.path, "copy": copy.path, "error": exc},
            )
            return
        self._fd, self._head = opened.fd, opened.head
        self.device, self.inode = opened.stat.device, opened.stat.inode
        self.identity = FileIdentity(self.device, self.inode, old.fingerprint, old.fingerprint_size)
        self.tracker.note_identity(self.identity)
        # A copy does not grow: stop at its end.
        self._draining = True
        self._drain_since = 0.0
        self._quiet_after = 0.0
        await self._follow()

    async def _find_copy(self, identity: FileIdentity, offset: int) -> fileio.Found | None:
        candidates = [
            found for found in await fileio.scan_siblings(self.path, min_size=offset)
            if (found.stat.device, found.stat.inode) != (identity.device, identity.inode)
            and identity.same_content(found.head)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda found: found.stat.mtime_ns)

    # -- compressed files

    async def _read_compressed(self) -> None:
        options = self._options
        if options.initial_delay > 0:
            await asyncio.sleep(options.initial_delay)  # Promtail's decompression.initial_delay
        self.close()  # the stream reopens the file by name
        stream = await fileio.open_compressed(self.path, options.compression)
        try:
            await self._decompress(stream)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            # A damaged archive does not heal: keep what was read, do not retry (that would only repeat it).
            self._metrics.errors.labels(component="file", reason="decompress_failed").inc()
            log.warning(
                "Compressed file is damaged; read up to the damage.",
                extra={"path": self.path, "lines": self.tracker.read_offset, "error": exc},
            )
        finally:
            fileio.close_stream(stream)

    async def _decompress(self, stream: fileio.Readable) -> None:
        # Position = lines, as Promtail counts them in compressed files: skip those already sent.
        options = self._options
        skip = self.tracker.read_offset
        line_number = 0
        decoder: LineDecoder | None = None
        pending = b""
        while True:
            data = await fileio.read_compressed(stream, min(options.read_size, COMPRESSED_READ_SIZE))
            final = not data
            if decoder is None:
                decoder = LineDecoder(options.encoding, data[:8])
                data = data[decoder.bom_size :]
            pending += data
            cut = len(pending) if final else decoder.complete(pending)
            if cut:
                block, pending = pending[:cut], pending[cut:]
                if final and not block.endswith(decoder.newline):
                    block += decoder.newline  # the last line has no newline
                lines = decoder.lines(block)
                line_number += len(lines)
                if skip:
                    dropped = min(skip, len(lines))
                    lines = lines[dropped:]
                    skip -= dropped
                if lines or line_number > self.tracker.read_offset:
                    await self._emit(lines, line_number, len(block))
            if final:
                return
