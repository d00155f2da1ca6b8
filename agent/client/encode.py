"""Loki push requests as bytes: protobuf written directly from entries, then snappy block compression.

Owns the wire encoding of `logproto.PushRequest` (see ``proto/logproto.proto``) and nothing else: which
entries go into which stream is `agent.client.batch`'s business, sending is `agent.client.loki`'s. No I/O.

This is the hottest code in the client, so it writes protobuf by hand instead of building message objects,
and as text: every piece is a ``str`` whose characters are the bytes to send (U+0000-U+00FF), joined once
and turned into bytes with one ``encode("latin-1")``, a plain copy. An ASCII line is then its own bytes, with
no per-line ``encode``; other lines are converted to their UTF-8 bytes once per stream. Tag bytes and
varints of small values come from precomputed tables.

Entries are written a column at a time: the pieces of every entry (entry header, Timestamp, line header,
line) come from C-level ``map``/``itemgetter`` over the lines' lengths and the timestamps, and extended-slice
assignment interleaves them, so the per-entry Python work is a few C calls. A file's lines read together
have timestamps a nanosecond apart (see `agent.sources.tail`): within one block of 2**14 ns of one second
their Timestamps differ only in two bytes, a table entry, and the rest is built once per line length. Other
timestamps (parsed ones, often repeated) get their Timestamp field from one tight loop. Entries with
structured metadata or very long lines, and streams of a few entries, are written one by one.

Wire layout (field number, wire type 2 = length-delimited, 0 = varint)::

    PushRequest   1: StreamAdapter (repeated)
    StreamAdapter 1: labels (string)   2: EntryAdapter (repeated)
    EntryAdapter  1: Timestamp         2: line (string)   3: LabelPairAdapter (repeated)
    Timestamp     1: seconds (int64)   2: nanos (int32)
    LabelPair     1: name (string)     2: value (string)
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import repeat
from operator import add, attrgetter, itemgetter, sub
from typing import NamedTuple

import snappy

from agent.model import LogEntry

_NS = 1_000_000_000
_TABLE_SIZE = 1 << 14  # varints of 0..16383 take one or two bytes; covers lines and entries under 16 KiB
_FAST_LINE = _TABLE_SIZE - 32  # longest line a column-wise run takes (its entry size stays in the tables)
_FAST_RUN = 16  # fewer entries are written one by one: setting columns up costs about that much
_SPREAD = 512  # entries written together when their timestamps are not in one block of 2**14 ns
_NANOS_FAST = 0x200000  # nanos from 2**21 on have a 4- or 5-byte varint whose low 14 bits are one table entry

_timestamp = attrgetter("timestamp")
_line = attrgetter("line")
_metadata = attrgetter("metadata")


def _varint(value: int) -> str:
    """The protobuf varint of `value`; negative values as their 64-bit two's complement (10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = []
    while value > 0x7F:
        out.append(chr((value & 0x7F) | 0x80))
        value >>= 7
    out.append(chr(value))
    return "".join(out)


def _small_varint(value: int) -> str:
    """`_varint` for 0 <= value < 2**21, fast enough to fill the tables below at import."""
    if value < 0x80:
        return chr(value)
    if value < 0x4000:
        return chr((value & 0x7F) | 0x80) + chr(value >> 7)
    return chr((value & 0x7F) | 0x80) + chr(((value >> 7) & 0x7F) | 0x80) + chr(value >> 14)


# Field 2 (length-delimited)'s tag byte and a length below _TABLE_SIZE. The tag is 0x12 in both
# StreamAdapter (entries) and EntryAdapter (line), so one table serves both. Length 0 maps to nothing:
# proto3 leaves out empty strings (an empty line), and an entry is never empty (its timestamp field is not).
# Built from 7-bit groups, not value by value: the tables are built at every start.
_CONTINUED = [chr(n | 0x80) for n in range(0x80)]  # a 7-bit group followed by another
_TAG2 = (
    "",
    *["\x12" + chr(n) for n in range(1, 0x80)],
    *["\x12" + low + chr(high) for high in range(1, _TABLE_SIZE >> 7) for low in _CONTINUED],
)
# Timestamp.nanos of 2**21 and more in three lookups instead of a loop: the low 14 bits as two bytes that
# both carry the continuation bit, bits 14-20 as one byte (continued, more follow), and the varint of bits
# 21 and up (below 1e9 >> 21 = 477). Consecutive nanos are consecutive entries of _LOW14.
_LOW14 = tuple([low + high for high in _CONTINUED for low in _CONTINUED])
_MID = tuple(_CONTINUED)
_HIGH = tuple(_small_varint(n) for n in range((_NS >> 21) + 1))
_ENTRY_HEADERS: dict[int, tuple[str, ...]] = {}
# A line's field size, header included: nothing for an empty line, then 2 and 3 bytes of header.
_LINE_SIZES = (0, *range(3, 0x80 + 2), *range(0x80 + 3, _FAST_LINE + 3))


def _entry_headers(ts_len: int) -> tuple[str, ...]:
    """Entry field headers by line length, for entries whose Timestamp field takes `ts_len` bytes."""
    table = _ENTRY_HEADERS.get(ts_len)
    if table is None:
        table = _ENTRY_HEADERS[ts_len] = itemgetter(*map(add, _LINE_SIZES, repeat(ts_len)))(_TAG2)
    return table


def _field(tag: int, length: int) -> str:
    """A length-delimited field's tag byte and length."""
    return chr(tag) + _varint(length)


class EncodedPush(NamedTuple):
    """An encoded push request: `body` is protobuf, `entries` how many entries it holds."""

    body: bytes
    entries: int
    replaced_lines: int
    """Lines that were not valid Unicode (lone surrogates) and were sent with replacement characters."""


def _utf8(text: str) -> tuple[str, bool]:
    """`text`'s UTF-8 bytes, one character per byte; True when it had to be repaired."""
    if text.isascii():
        return text, False
    try:
        return text.encode().decode("latin-1"), False
    except UnicodeEncodeError:
        # Lone surrogates (bytes a source decoded with surrogateescape) cannot be UTF-8; Loki needs UTF-8.
        return text.encode("utf-8", "replace").decode("latin-1"), True


def _utf8_lines(lines: list[str]) -> tuple[list[str], int]:
    """`_utf8` of every line; the number of lines that had to be repaired."""
    out = []
    replaced = 0
    for line in lines:
        if not line.isascii():
            line, bad = _utf8(line)
            replaced += bad
        out.append(line)
    return out, replaced


@lru_cache(maxsize=4096)  # seconds recur: every stream of a push, and the next pushes, go through them again
def _timestamp_heads(seconds: int) -> tuple[str, ...]:
    """EntryAdapter field 1's tag, length and Timestamp.seconds, for nanos fields of 0 to 6 bytes.

    Items 0-6 are indexed by the length of the nanos field that follows; items 7 and 8 are items 5 and 6
    followed by the nanos tag (the 5- and 6-byte nanos of 2**21 and more). A Timestamp body is at most 17
    bytes (11 for seconds, 6 for nanos), so its length is one byte.
    """
    seconds_field = "\x08" + _varint(seconds) if seconds else ""
    heads = [chr(0x0A) + chr(len(seconds_field) + n) + seconds_field for n in range(7)]
    return (*heads, heads[5] + "\x10", heads[6] + "\x10")


def _metadata_fields(metadata: dict[str, str]) -> tuple[str, bool]:
    """EntryAdapter field 3, once per pair, in the dict's order; True when text had to be replaced."""
    parts = []
    replaced = False
    for name, value in metadata.items():
        name_b, bad_name = _utf8(name)
        value_b, bad_value = _utf8(value)
        replaced = replaced or bad_name or bad_value
        pair = ""
        if name_b:
            pair = _field(0x0A, len(name_b)) + name_b
        if value_b:
            pair += _field(0x12, len(value_b)) + value_b
        parts.append(_field(0x1A, len(pair)))
        parts.append(pair)
    return "".join(parts), replaced


_NO_SECOND = -(1 << 80)  # far from any timestamp: the first entry always computes its second


class _Clock:
    """Timestamp fields, and the current second: where the last timestamp was, and its heads."""

    __slots__ = ("heads", "repaired", "second_start")

    def __init__(self) -> None:
        self.repaired = 0  # metadata repaired by `_encode_each`, counted with the lines
        self.second_start = _NO_SECOND
        # The Timestamp field's tag, length and seconds (see `_timestamp_heads`) of the current second.
        self.heads: tuple[str, ...] = ()

    def nanos(self, ts: int) -> int:
        """`ts`'s nanoseconds within its second, moving the current second there first."""
        nanos = ts - self.second_start
        if not 0 <= nanos < _NS:
            # Floor division: a timestamp before 1970 has negative seconds and positive nanos.
            seconds = ts // _NS
            self.second_start = seconds * _NS
            nanos = ts - self.second_start
            self.heads = _timestamp_heads(seconds)
        return nanos

    def fields(self, tss: Iterable[int]) -> list[str]:
        """EntryAdapter field 1 (the whole Timestamp) of each of `tss`."""
        out: list[str] = []
        append = out.append
        low14, mid, high = _LOW14, _MID, _HIGH
        heads_of = _timestamp_heads
        second_start = self.second_start
        heads = self.heads
        last = None
        field = ""
        for ts in tss:
            if ts != last:  # repeated timestamps reuse the field
                last = ts
                nanos = ts - second_start
                if not 0 <= nanos < _NS:  # `nanos`, inline
                    seconds = ts // _NS
                    second_start = seconds * _NS
                    nanos = ts - second_start
                    heads = heads_of(seconds)
                if nanos >= _NANOS_FAST:
                    field = (
                        heads[7 + (nanos >= 0x10000000)]
                        + low14[nanos & 0x3FFF]
                        + mid[(nanos >> 14) & 0x7F]
                        + high[nanos >> 21]
                    )
                elif nanos:
                    nanos_field = "\x10" + _small_varint(nanos)
                    field = heads[len(nanos_field)] + nanos_field
                else:
                    field = heads[0]
            append(field)
        self.second_start = second_start
        self.heads = heads
        return out


def encode_push(streams: Iterable[tuple[str, Sequence[LogEntry]]]) -> EncodedPush:
    """Encode `(label string, entries)` pairs as one protobuf `PushRequest`, entries in the order given.

    The label string must already be in Loki's format (``{app="web", env="prod"}``); `agent.client.batch`
    makes it. Streams without entries are skipped.
    """
    parts: list[str] = []
    clock = _Clock()
    entries_total = 0
    replaced_total = 0
    for labels, entries in streams:
        if not entries:
            continue
        labels_b, bad = _utf8(labels)
        replaced_total += bad
        header_at = len(parts)
        parts.append("")  # the stream's field header, filled in once its length is known
        labels_field = _field(0x0A, len(labels_b)) if labels_b else ""
        parts.append(labels_field)
        parts.append(labels_b)
        size, replaced = _encode_entries(entries, parts, clock)
        replaced_total += replaced
        entries_total += len(entries)
        parts[header_at] = _field(0x0A, len(labels_field) + len(labels_b) + size)
    replaced_total += clock.repaired
    return EncodedPush("".join(parts).encode("latin-1"), entries_total, replaced_total)


def _encode_entries(entries: Sequence[LogEntry], parts: list[str], clock: _Clock) -> tuple[int, int]:
    """Append one stream's entry fields to `parts`; return their size in bytes and the lines repaired."""
    count = len(entries)
    lines = list(map(_line, entries))
    replaced = 0
    if not all(map(str.isascii, lines)):
        lines, replaced = _utf8_lines(lines)
    lens = list(map(len, lines))
    if count < _FAST_RUN or max(lens) >= _FAST_LINE or any(map(_metadata, entries)):
        return _encode_each(entries, lines, parts, clock), replaced
    tss = list(map(_timestamp, entries))
    if sorted(tss) != tss:
        return _encode_spread(lines, lens, tss, 0, count, parts, clock), replaced
    size = 0
    start = 0
    while start < count:
        ts = tss[start]
        nanos = clock.nanos(ts)
        if nanos >= _NANOS_FAST:
            # The entries up to the end of this block of 2**14 nanos (or of the second) share the
            # Timestamp's head and the high bits of its nanos.
            block = ts - (nanos & 0x3FFF)
            end = bisect_left(tss, min(block + 0x4000, clock.second_start + _NS), start)
            if end - start >= _FAST_RUN:
                size += _encode_block(lines, lens, tss, start, end, block, parts, clock)
                start = end
                continue
        end = min(count, start + _SPREAD)
        size += _encode_spread(lines, lens, tss, start, end, parts, clock)
        start = end
    return size, replaced


def _encode_block(
    lines: list[str], lens: list[int], tss: list[int], start: int, end: int, block: int, parts: list[str], clock: _Clock
) -> int:
    """Entries `start:end`, whose nanos are in one block of 2**14 from `block` (in ns), within one second.

    Each entry is four pieces: entry header with the Timestamp's head (tag, length, seconds, nanos tag),
    the low 14 bits of the nanos, the rest of the nanos with the line header, and the line. The first and
    third depend on the line's length only: they are built once per distinct length.
    """
    count = end - start
    nanos = block - clock.second_start
    head = clock.heads[7 + (nanos >= 0x10000000)]  # the nanos field takes 6 bytes from 2**28 on, else 5
    tail = _MID[(nanos >> 14) & 0x7F] + _HIGH[nanos >> 21]
    fixed = len(head) + 2 + len(tail)
    entry_headers = _entry_headers(fixed)
    tag2 = _TAG2
    run_lens = lens[start:end]
    lengths = set(run_lens)
    by_length = itemgetter(*run_lens)  # count >= _FAST_RUN > 1: it returns a tuple
    base = len(parts)
    parts += repeat("", 4 * count)
    parts[base::4] = by_length({n: entry_headers[n] + head for n in lengths})
    parts[base + 1 :: 4] = itemgetter(*map(sub, tss[start:end], repeat(block)))(_LOW14)
    parts[base + 2 :: 4] = by_length({n: tail + tag2[n] for n in lengths})
    parts[base + 3 :: 4] = lines[start:end]
    return sum(by_length({n: len(entry_headers[n]) + fixed + len(tag2[n]) + n for n in lengths}))


def _encode_spread(
    lines: list[str], lens: list[int], tss: list[int], start: int, end: int, parts: list[str], clock: _Clock
) -> int:
    """Entries `start:end` with any timestamps: four pieces each (entry header, Timestamp, line header, line)."""
    count = end - start
    ts_fields = clock.fields(tss[start:end])
    line_lens = lens[start:end]
    if count == 1:  # itemgetter of one item returns the item, not a tuple
        line_headers: Sequence[str] = (_TAG2[line_lens[0]],)
        sizes: list[int] = [len(ts_fields[0]) + _LINE_SIZES[line_lens[0]]]
        entry_headers: Sequence[str] = (_TAG2[sizes[0]],)
    else:
        by_length = itemgetter(*line_lens)
        line_headers = by_length(_TAG2)
        sizes = list(map(add, map(len, ts_fields), by_length(_LINE_SIZES)))
        entry_headers = itemgetter(*sizes)(_TAG2)
    base = len(parts)
    parts += repeat("", 4 * count)
    parts[base::4] = entry_headers
    parts[base + 1 :: 4] = ts_fields
    parts[base + 2 :: 4] = line_headers
    parts[base + 3 :: 4] = lines[start:end]
    return sum(sizes) + sum(map(len, entry_headers))


def _encode_each(entries: Sequence[LogEntry], lines: list[str], parts: list[str], clock: _Clock) -> int:
    """`entries` one at a time (`lines` holds their UTF-8 text); return the bytes appended."""
    tag2 = _TAG2
    table_size = _TABLE_SIZE
    ts_fields = clock.fields(map(_timestamp, entries))
    size = 0
    for entry, line, ts_field in zip(entries, lines, ts_fields, strict=True):
        n = len(line)
        line_hdr = tag2[n] if n < table_size else _field(0x12, n)
        entry_size = len(ts_field) + len(line_hdr) + n
        metadata = entry.metadata
        if metadata:
            meta, bad = _metadata_fields(metadata)
            clock.repaired += bad
            entry_size += len(meta)
            entry_hdr = tag2[entry_size] if entry_size < table_size else _field(0x12, entry_size)
            parts += (entry_hdr, ts_field, line_hdr, line, meta)
        else:
            entry_hdr = tag2[entry_size] if entry_size < table_size else _field(0x12, entry_size)
            parts += (entry_hdr, ts_field, line_hdr, line)
        size += len(entry_hdr) + entry_size
    return size


def compress(body: bytes) -> bytes:
    """Snappy *block* compression (not the framed format), as Loki's push endpoint expects."""
    compressed: bytes = snappy.compress(body)
    return compressed
