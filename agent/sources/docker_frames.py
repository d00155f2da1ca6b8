"""Docker's log stream, decoded: frames in, whole lines with their stream and nanosecond timestamp out.

``GET /containers/{id}/logs?follow=1&timestamps=1`` answers with one *message* per log record. For a
container without a TTY the body is multiplexed: each message is a frame, an 8-byte header (stream: 1
stdout, 2 stderr; three zero bytes; the payload size as a big-endian uint32) and the payload. With a TTY the
body is the raw text, one message per line. With ``timestamps=1`` every payload starts with Docker's
timestamp, always 9 fractional digits (``2026-11-26T21:28:18.371298961Z``), and a space.

Docker's logging drivers cut lines longer than 16 KiB into *partial* messages: every piece but the last
lacks the trailing newline. The decoder joins the pieces back into one line, up to `max_line_bytes`.

Resuming exactly: Docker timestamps each stream's messages as it copies them, so *within* a stream they
never go back, but the two streams interleave in the log by when each was written, not by timestamp (a
burst on stdout, then the stderr lines stamped in between). The decoder therefore keeps a `Mark` per
stream: the latest timestamp consumed and how many messages carried exactly it. A stream restarted at
`Cursor.since` with that `Cursor` as `resume` drops what each stream already delivered and nothing else:
neither loss nor duplicates, even when several messages share a nanosecond.

Pure: no I/O, no asyncio. One `feed` per read of the socket, one list of `Message` back.
"""

from __future__ import annotations

import calendar
import re
import struct
from dataclasses import dataclass
from typing import NamedTuple

STDOUT = "stdout"
STDERR = "stderr"
_STREAMS = {1: STDOUT, 2: STDERR}

HEADER_SIZE = 8
_HEADER = struct.Struct(">BxxxL")

PARTIAL_SIZE = 16 * 1024
"""Docker cuts a line into pieces of this many bytes (the last piece shorter)."""

_TIMESTAMP_LEN = 30  # "2026-11-26T21:28:18.371298961Z"


RESUME_WINDOW = 60 * 1_000_000_000
"""How far (ns) before a container's newest delivered line a resumed stream starts, at most.

Lines of the quieter stream written after the cursor carry timestamps at most a copier's delay older than
the other stream's: a minute is far beyond that, and it keeps a stream that last spoke days ago from
making a restart re-read days of the other's log (the decoder skips what was delivered either way).
"""


class Mark(NamedTuple):
    """Where one stream got to: its latest `timestamp` (ns) and how many messages carried exactly it."""

    timestamp: int
    seen: int


_START = Mark(0, 0)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a container's log was delivered up to: a `Mark` per stream."""

    stdout: Mark = _START
    stderr: Mark = _START

    @property
    def timestamp(self) -> int:
        """The newest delivered timestamp (ns) of either stream; 0 when nothing was delivered."""
        return max(self.stdout.timestamp, self.stderr.timestamp)

    def since(self) -> int:
        """The earliest timestamp (ns) a resumed stream must start from to miss nothing."""
        if self.stdout == _START and self.stderr == _START:
            return 0
        low = min(self.stdout.timestamp, self.stderr.timestamp)
        return max(low, self.timestamp - RESUME_WINDOW)

    def since_param(self) -> str:
        """Docker's ``since`` query value for `since`: seconds and nanoseconds."""
        seconds, nanos = divmod(self.since(), 1_000_000_000)
        return f"{seconds}.{nanos:09d}"


class Decoded:
    """What one `LogDecoder.feed` completed, as parallel lists: the `streams` (stdout or stderr), Docker's
    `timestamps` (ns) and the `lines` (without newline) of whole lines in stream order, and how many of
    them were cut to the size cap (`truncated`)."""

    __slots__ = ("lines", "streams", "timestamps", "truncated")

    def __init__(self) -> None:
        self.streams: list[str] = []
        self.timestamps: list[int] = []
        self.lines: list[str] = []
        self.truncated = 0

    def __len__(self) -> int:
        return len(self.lines)


class FrameError(ValueError):
    """The stream is not what Docker sends (a bad header or timestamp); the follower reconnects."""


class LogDecoder:
    """Turns the bytes of one container's log stream into whole lines (`Decoded`).

    `tty` selects raw text instead of frames. `resume` skips what a previous stream already delivered.
    Lines longer than `max_line_bytes` once joined are cut to it (or, with `drop_long`, left out) and
    counted in `Decoded.truncated`.
    """

    def __init__(
        self, *, tty: bool, max_line_bytes: int, drop_long: bool = False, resume: Cursor | None = None
    ) -> None:
        self.tty = tty
        self.max_line_bytes = max_line_bytes
        self.drop_long = drop_long
        self._buffer = b""
        self._partial: dict[str, list[bytes]] = {}
        self._partial_size: dict[str, int] = {}
        self._partial_start: dict[str, int] = {}
        resume = resume if resume is not None else Cursor()
        self._resume = {STDOUT: resume.stdout, STDERR: resume.stderr}
        self._last = {STDOUT: -1, STDERR: -1}
        self._same = {STDOUT: 0, STDERR: 0}
        self._second_prefix = b""
        self._second_value = 0
        # Where each stream's last *complete* line ends: a stream resumed there re-reads the pieces of a
        # line still being joined, so none is lost.
        self._done = {STDOUT: tuple(resume.stdout), STDERR: tuple(resume.stderr)}

    @property
    def cursor(self) -> Cursor:
        """Where the lines returned so far end: resume here to get the rest, and only the rest."""
        return Cursor(Mark(*self._done[STDOUT]), Mark(*self._done[STDERR]))

    @property
    def pending_bytes(self) -> int:
        """Bytes held: an unfinished frame or the pieces of a line not complete yet."""
        return len(self._buffer) + sum(self._partial_size.values())

    def feed(self, data: bytes) -> Decoded:
        """Decode `data` (any slice of the stream); return the lines it completes, in stream order."""
        buffer = self._buffer + data if self._buffer else data
        out = Decoded()
        if self.tty:
            end = buffer.rfind(b"\n") + 1
            if end:
                for segment in buffer[:end].split(b"\n")[:-1]:
                    for payload in _tty_messages(segment):
                        self._message(STDOUT, payload, out)
            self._buffer = buffer[end:]
            return out
        position = 0
        size = len(buffer)
        unpack = _HEADER.unpack_from
        while size - position >= HEADER_SIZE:
            kind, length = unpack(buffer, position)
            start = position + HEADER_SIZE
            if size - start < length:
                break
            stream = _STREAMS.get(kind)
            if stream is None:
                raise FrameError(f"unexpected stream type {kind} in a log frame header")
            self._message(stream, buffer[start : start + length], out)
            position = start + length
        self._buffer = buffer[position:]
        return out

    def _message(self, stream: str, payload: bytes, out: Decoded) -> None:
        timestamp, text_start = self._timestamp(payload)
        # Count the stream's messages sharing its latest timestamp; skip what a previous stream delivered.
        if timestamp == self._last[stream]:
            same = self._same[stream] = self._same[stream] + 1
        else:
            self._last[stream] = timestamp
            same = self._same[stream] = 1
        resume = self._resume[stream]
        if timestamp <= resume.timestamp and (timestamp < resume.timestamp or same <= resume.seen):
            return
        text = payload[text_start:]
        complete = text.endswith(b"\n")
        if complete:
            text = text[:-1]
            if self.tty and text.endswith(b"\r"):
                text = text[:-1]
        pieces = self._partial.get(stream)
        if pieces is not None or not complete:
            if pieces is None:
                pieces = self._partial[stream] = []
                self._partial_size[stream] = 0
                self._partial_start[stream] = timestamp
            total = self._partial_size[stream]
            if total < self.max_line_bytes:  # pieces past the cap are read and discarded
                pieces.append(text)
            self._partial_size[stream] = total + len(text)
            if not complete:
                return
            del self._partial[stream]
            truncated = self._partial_size.pop(stream) > self.max_line_bytes
            timestamp = self._partial_start.pop(stream)
            text = b"".join(pieces)
        else:
            truncated = len(text) > self.max_line_bytes
        if truncated:
            out.truncated += 1
            if self.drop_long:
                self._done[stream] = (self._last[stream], same)
                return
            text = text[: self.max_line_bytes]
        out.streams.append(stream)
        out.timestamps.append(timestamp)
        out.lines.append(text.decode("utf-8", "replace"))
        self._done[stream] = (self._last[stream], same)

    def _timestamp(self, payload: bytes) -> tuple[int, int]:
        """Docker's timestamp at the start of `payload`, in ns, and where the text after it starts."""
        if len(payload) <= _TIMESTAMP_LEN or payload[_TIMESTAMP_LEN] != 0x20 or payload[29] != 0x5A:  # " ", "Z"
            return self._timestamp_slow(payload)
        prefix = payload[:19]
        if prefix != self._second_prefix:
            try:
                self._second_value = calendar.timegm(
                    (int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10]),
                     int(prefix[11:13]), int(prefix[14:16]), int(prefix[17:19]), 0, 0, 0)
                )
            except ValueError as exc:
                raise FrameError(f"unexpected timestamp {payload[:_TIMESTAMP_LEN]!r} in a log message") from exc
            self._second_prefix = prefix
        try:
            return self._second_value * 1_000_000_000 + int(payload[20:29]), _TIMESTAMP_LEN + 1
        except ValueError as exc:
            raise FrameError(f"unexpected timestamp {payload[:_TIMESTAMP_LEN]!r} in a log message") from exc

    def _timestamp_slow(self, payload: bytes) -> tuple[int, int]:
        # Another width of fraction or a numeric offset: not what Docker writes today, but RFC 3339 all the same.
        match = _RFC3339.match(payload)
        if match is None:
            raise FrameError(f"log message without Docker's timestamp: {payload[:40]!r}")
        date, fraction, zone = match.groups()
        seconds = calendar.timegm(
            (int(date[0:4]), int(date[5:7]), int(date[8:10]), int(date[11:13]), int(date[14:16]), int(date[17:19]),
             0, 0, 0)
        )
        if zone not in (b"Z", b"z"):
            sign = -1 if zone[:1] == b"-" else 1
            seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        nanos = int((fraction or b"0")[:9].ljust(9, b"0"))
        return seconds * 1_000_000_000 + nanos, match.end()


def _tty_messages(segment: bytes) -> list[bytes]:
    """The messages in one newline-terminated `segment` of a TTY stream (without its newline).

    A TTY stream has no frames, so the pieces of a long line follow each other with nothing between them
    but the next piece's timestamp. Docker cuts pieces at exactly `PARTIAL_SIZE` bytes: a timestamp right
    after one marks the next piece. Every message but the last is returned without a newline (partial).
    """
    messages = []
    position = 0
    while True:
        match = _RFC3339.match(segment, position)
        boundary = (match.end() if match else position) + PARTIAL_SIZE
        if len(segment) > boundary and _RFC3339.match(segment, boundary):
            messages.append(segment[position:boundary])
            position = boundary
            continue
        messages.append(segment[position:] + b"\n")
        return messages


_RFC3339 = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d) ")
