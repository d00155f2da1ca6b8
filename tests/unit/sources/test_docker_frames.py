"""The Docker log stream decoder: frames, TTY text, 16 KiB pieces, and resuming without loss or duplicates."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.sources.docker_frames import (
    PARTIAL_SIZE,
    RESUME_WINDOW,
    Cursor,
    FrameError,
    LogDecoder,
    Mark,
)

BASE = 1_795_728_753_000_000_000  # 2026-11-26T..., a whole second


def stamp(ns: int) -> bytes:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z").encode()


def frame(stream: int, ns: int, text: bytes, newline: bool = True) -> bytes:
    payload = stamp(ns) + b" " + text + (b"\n" if newline else b"")
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def lines(decoder: LogDecoder, data: bytes) -> list[tuple[str, int, str]]:
    decoded = decoder.feed(data)
    return list(zip(decoded.streams, decoded.timestamps, decoded.lines, strict=True))


def test_frames_of_both_streams_with_their_timestamps() -> None:
    decoder = LogDecoder(tty=False, max_line_bytes=1000)
    data = frame(1, BASE + 5, b"out") + frame(2, BASE + 3, b"err") + frame(1, BASE + 7, "é".encode())
    assert lines(decoder, data) == [("stdout", BASE + 5, "out"), ("stderr", BASE + 3, "err"), ("stdout", BASE + 7, "é")]
    assert decoder.cursor == Cursor(Mark(BASE + 7, 1), Mark(BASE + 3, 1))


def test_a_frame_split_across_reads_waits_for_its_end() -> None:
    decoder = LogDecoder(tty=False, max_line_bytes=1000)
    data = frame(1, BASE, b"hello") + frame(1, BASE + 1, b"world")
    got = []
    for i in range(len(data)):  # one byte at a time
        got += lines(decoder, data[i : i + 1])
    assert got == [("stdout", BASE, "hello"), ("stdout", BASE + 1, "world")]
    assert decoder.pending_bytes == 0


def test_partial_pieces_are_joined_with_the_first_pieces_timestamp() -> None:
    decoder = LogDecoder(tty=False, max_line_bytes=100_000)
    a, b = b"a" * PARTIAL_SIZE, b"b" * 10
    data = frame(1, BASE, a, newline=False) + frame(2, BASE + 1, b"err") + frame(1, BASE + 2, b)
    assert lines(decoder, data) == [("stderr", BASE + 1, "err"), ("stdout", BASE, "a" * PARTIAL_SIZE + "b" * 10)]


def test_a_line_still_being_joined_does_not_move_its_streams_cursor() -> None:
    decoder = LogDecoder(tty=False, max_line_bytes=100_000)
    lines(decoder, frame(1, BASE, b"whole") + frame(1, BASE + 1, b"x" * PARTIAL_SIZE, newline=False))
    assert decoder.cursor.stdout == Mark(BASE, 1)  # a resume re-reads the piece


def test_joined_lines_are_cut_at_the_cap_or_dropped() -> None:
    data = frame(1, BASE, b"x" * PARTIAL_SIZE, newline=False) + frame(1, BASE + 1, b"y" * 100)
    data += frame(1, BASE + 2, b"z")
    cut = LogDecoder(tty=False, max_line_bytes=1000)
    decoded = cut.feed(data)
    assert decoded.lines == ["x" * 1000, "z"]
    assert decoded.truncated == 1
    dropped = LogDecoder(tty=False, max_line_bytes=1000, drop_long=True)
    decoded = dropped.feed(data)
    assert decoded.lines == ["z"]
    assert decoded.truncated == 1
    assert dropped.cursor.stdout == Mark(BASE + 2, 1)


def test_tty_text_without_frames_and_crlf() -> None:
    decoder = LogDecoder(tty=True, max_line_bytes=100_000)
    data = stamp(BASE) + b" one\r\n" + stamp(BASE + 1) + b" two\r\n" + stamp(BASE + 2) + b" thr"
    assert lines(decoder, data) == [("stdout", BASE, "one"), ("stdout", BASE + 1, "two")]
    assert lines(decoder, b"ee\r\n") == [("stdout", BASE + 2, "three")]


def test_tty_pieces_of_a_long_line_are_joined() -> None:
    decoder = LogDecoder(tty=True, max_line_bytes=100_000)
    data = stamp(BASE) + b" " + b"a" * PARTIAL_SIZE + stamp(BASE + 1) + b" tail\r\n"
    assert lines(decoder, data) == [("stdout", BASE, "a" * PARTIAL_SIZE + "tail")]


def test_resume_skips_exactly_what_each_stream_delivered() -> None:
    """Messages sharing a nanosecond, streams out of timestamp order: the resumed decoder yields exactly
    the rest."""
    stream = [
        frame(1, BASE + 10, b"o1"), frame(1, BASE + 10, b"o2"), frame(1, BASE + 12, b"o3"),
        frame(2, BASE + 11, b"e1"), frame(2, BASE + 11, b"e2"), frame(1, BASE + 12, b"o4"),
        frame(2, BASE + 13, b"e3"),
    ]
    for split in range(len(stream) + 1):
        first = LogDecoder(tty=False, max_line_bytes=100)
        head = first.feed(b"".join(stream[:split])).lines
        since = first.cursor.since()
        # Docker sends every message at or after `since`, in log order.
        resumed = [f for f in stream if _ns(f) >= since]
        rest = LogDecoder(tty=False, max_line_bytes=100, resume=first.cursor).feed(b"".join(resumed)).lines
        assert head + rest == ["o1", "o2", "o3", "e1", "e2", "o4", "e3"], split


def _ns(data: bytes) -> int:
    return LogDecoder(tty=False, max_line_bytes=100).feed(data).timestamps[0]


@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.integers(0, 3)), min_size=1, max_size=30), st.data())
def test_resume_property(steps: list[tuple[int, int]], data: st.DataObject) -> None:
    """Any log (timestamps never going back within a stream), cut anywhere: nothing lost, nothing twice."""
    clock = {1: BASE, 2: BASE}
    stream = []
    for number, (kind, advance) in enumerate(steps):
        clock[kind] += advance
        stream.append(frame(kind, clock[kind], str(number).encode()))
    split = data.draw(st.integers(0, len(stream)))
    first = LogDecoder(tty=False, max_line_bytes=100)
    head = first.feed(b"".join(stream[:split])).lines
    resumed = [f for f in stream if _ns(f) >= first.cursor.since()]
    rest = LogDecoder(tty=False, max_line_bytes=100, resume=first.cursor).feed(b"".join(resumed)).lines
    assert head + rest == [str(n) for n in range(len(steps))]


def test_since_is_bounded_by_the_resume_window() -> None:
    assert Cursor().since() == 0
    assert Cursor().since_param() == "0.000000000"
    quiet = Cursor(Mark(BASE + RESUME_WINDOW * 10, 1), Mark(BASE, 1))
    assert quiet.since() == BASE + RESUME_WINDOW * 9
    assert Cursor(Mark(BASE + 5, 1), Mark(BASE + 7, 2)).since_param() == f"{BASE // 10**9}.000000005"


def test_numeric_offsets_and_short_fractions_are_read() -> None:
    decoder = LogDecoder(tty=False, max_line_bytes=100)
    payload = b"2026-11-26T22:28:18.5+01:00 hi\n"
    data = struct.pack(">BxxxL", 1, len(payload)) + payload
    (timestamp,) = decoder.feed(data).timestamps
    assert timestamp == 1_795_728_498_500_000_000


def test_garbage_is_an_error() -> None:
    with pytest.raises(FrameError, match="stream type 7"):
        LogDecoder(tty=False, max_line_bytes=100).feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")
    with pytest.raises(FrameError, match="without Docker's timestamp"):
        LogDecoder(tty=True, max_line_bytes=100).feed(b"no timestamp here\n")
