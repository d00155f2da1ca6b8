"""Loki push requests as bytes: protobuf written directly from entries, then snappy block compression.

Owns the wire encoding of `logproto.PushRequest` (see ``proto/logproto.proto``) and nothing else: which
entries go into which stream is `agent.client.batch`'s business, sending is `agent.client.loki`'s. No I/O.

This is the hottest code in the client, so it writes protobuf by hand instead of building message objects:
varints of small values come from precomputed tables, the encoded timestamp is reused while it does not
change (lines read together usually share it), and every piece is appended to one list joined once. The
generated classes in ``agent/client/_proto`` are only used by tests to check these bytes.

Wire layout (field number, wire type 2 = length-delimited, 0 = varint)::

    PushRequest   1: StreamAdapter (repeated)
    StreamAdapter 1: labels (string)   2: EntryAdapter (repeated)
    EntryAdapter  1: Timestamp         2: line (string)   3: LabelPairAdapter (repeated)
    Timestamp     1: seconds (int64)   2: nanos (int32)
    LabelPair     1: name (string)     2: value (string)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import snappy

from agent.model import LogEntry

_NS = 1_000_000_000
_TABLE_SIZE = 1 << 14  # varints of 0..16383 take one or two bytes; covers lines and entries under 16 KiB


def _varint(value: int) -> bytes:
    """The protobuf varint of `value`; negative values as their 64-bit two's complement (10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _small_varint(value: int) -> bytes:
    """`_varint` for 0 <= value < 2**21, fast enough to fill the tables below at import."""
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))


def _table(prefix: bytes, size: int) -> tuple[bytes, ...]:
    return tuple(prefix + _small_varint(n) for n in range(size))


# A tag byte followed by a varint, for each value below _TABLE_SIZE. Field 2 (length-delimited) is 0x12 in
# both StreamAdapter (entries) and EntryAdapter (line), so one table serves both. Length 0 maps to nothing:
# proto3 leaves out empty strings (an empty line), and an entry is never empty (its timestamp field is not).
_TAG2 = (b"", *_table(b"\x12", _TABLE_SIZE)[1:])
# Timestamp.nanos (tag 0x10) of 2**14 and more, in three table lookups instead of a loop: the low 14 bits
# as two bytes that both carry the continuation bit, bits 14-20 as one byte (continued when more follow),
# and the varint of bits 21 and up (below 1e9 >> 21 = 477). Small tables: the module stays under 1 MB.
_NANOS_LOW = tuple(b"\x10" + bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(_TABLE_SIZE))
_NANOS_MID = tuple(bytes((n,)) for n in range(0x80))
_NANOS_MID_CONTINUED = tuple(bytes((n | 0x80,)) for n in range(0x80))
_NANOS_HIGH = tuple(_small_varint(n) for n in range((_NS >> 21) + 1))


def _nanos_field(nanos: int) -> bytes:
    """Timestamp field 2 for 0 < nanos < 2**21 (rare: the first 2 ms of a second)."""
    if nanos < _TABLE_SIZE:
        return b"\x10" + _small_varint(nanos)
    return _NANOS_LOW[nanos & 0x3FFF] + _NANOS_MID[nanos >> 14]


def _field(tag: int, length: int) -> bytes:
    """A length-delimited field's tag byte and length."""
    return bytes((tag,)) + _varint(length)


class EncodedPush(NamedTuple):
    """An encoded push request: `body` is protobuf, `entries` how many entries it holds."""

    body: bytes
    entries: int
    replaced_lines: int
    """Lines that were not valid Unicode (lone surrogates) and were sent with replacement characters."""


def _utf8(text: str) -> tuple[bytes, bool]:
    try:
        return text.encode(), False
    except UnicodeEncodeError:
        # Lone surrogates (bytes a source decoded with surrogateescape) cannot be UTF-8; Loki needs UTF-8.
        return text.encode("utf-8", "replace"), True


_NO_SECOND = -(1 << 80)  # far from any timestamp: the first entry always computes its second


def _timestamp_heads(seconds: int) -> tuple[bytes, ...]:
    """EntryAdapter field 1's tag, length and Timestamp.seconds, for nanos fields of 0 to 6 bytes.

    A Timestamp body is at most 17 bytes (11 for seconds, 6 for nanos), so its length is one byte.
    """
    seconds_field = b"\x08" + _varint(seconds) if seconds else b""
    return tuple(bytes((0x0A, len(seconds_field) + n)) + seconds_field for n in range(7))


def _metadata_fields(metadata: dict[str, str]) -> tuple[bytes, bool]:
    """EntryAdapter field 3, once per pair, in the dict's order; True when text had to be replaced."""
    parts = []
    replaced = False
    for name, value in metadata.items():
        name_b, bad_name = _utf8(name)
        value_b, bad_value = _utf8(value)
        replaced = replaced or bad_name or bad_value
        pair = b""
        if name_b:
            pair = _field(0x0A, len(name_b)) + name_b
        if value_b:
            pair += _field(0x12, len(value_b)) + value_b
        parts.append(_field(0x1A, len(pair)))
        parts.append(pair)
    return b"".join(parts), replaced


def encode_push(streams: Iterable[tuple[str, Sequence[LogEntry]]]) -> EncodedPush:
    """Encode `(label string, entries)` pairs as one protobuf `PushRequest`, entries in the order given.

    The label string must already be in Loki's format (``{app="web", env="prod"}``); `agent.client.batch`
    makes it. Streams without entries are skipped.
    """
    parts: list[bytes] = []
    tag2 = _TAG2
    nanos_low = _NANOS_LOW
    nanos_mid_continued = _NANOS_MID_CONTINUED
    nanos_high = _NANOS_HIGH
    table_size = _TABLE_SIZE
    entries_total = 0
    replaced_total = 0
    # Timestamps are encoded as seconds (cached while the second does not change) and nanos; the whole
    # field is reused while consecutive entries share their timestamp, as lines read together often do.
    last_ts: int | None = None
    second_start = _NO_SECOND
    # The Timestamp field's tag, length and seconds, indexed by the length of the nanos that follow.
    ts_heads: tuple[bytes, ...] = ()
    ts_field = b""
    ts_len = 0

    for labels, entries in streams:
        if not entries:
            continue
        labels_b, bad = _utf8(labels)
        replaced_total += bad
        header_at = len(parts)
        parts.append(b"")  # the stream's field header, filled in once its length is known
        labels_field = _field(0x0A, len(labels_b)) if labels_b else b""
        parts.append(labels_field)
        parts.append(labels_b)
        stream_len = len(labels_field) + len(labels_b)
        for entry in entries:
            ts = entry.timestamp
            if ts != last_ts:
                last_ts = ts
                nanos = ts - second_start
                if not 0 <= nanos < _NS:
                    # Floor division: a timestamp before 1970 has negative seconds and positive nanos.
                    seconds = ts // _NS
                    second_start = seconds * _NS
                    nanos = ts - second_start
                    ts_heads = _timestamp_heads(seconds)
                if nanos >= 0x200000:
                    ts_field = (
                        ts_heads[5 + (nanos >= 0x10000000)]
                        + nanos_low[nanos & 0x3FFF]
                        + nanos_mid_continued[(nanos >> 14) & 0x7F]
                        + nanos_high[nanos >> 21]
                    )
                elif nanos:
                    nanos_b = _nanos_field(nanos)
                    ts_field = ts_heads[len(nanos_b)] + nanos_b
                else:
                    ts_field = ts_heads[0]
                ts_len = len(ts_field)
            try:
                line = entry.line.encode()
            except UnicodeEncodeError:
                line, _ = _utf8(entry.line)
                replaced_total += 1
            n = len(line)
            line_hdr = tag2[n] if n < table_size else _field(0x12, n)
            size = ts_len + len(line_hdr) + n
            metadata = entry.metadata
            if metadata:
                meta, bad = _metadata_fields(metadata)
                replaced_total += bad
                size += len(meta)
                entry_hdr = tag2[size] if size < table_size else _field(0x12, size)
                parts += (entry_hdr, ts_field, line_hdr, line, meta)
            else:
                entry_hdr = tag2[size] if size < table_size else _field(0x12, size)
                parts += (entry_hdr, ts_field, line_hdr, line)
            stream_len += len(entry_hdr) + size
        entries_total += len(entries)
        parts[header_at] = _field(0x0A, stream_len)
    return EncodedPush(b"".join(parts), entries_total, replaced_total)


def compress(body: bytes) -> bytes:
    """Snappy *block* compression (not the framed format), as Loki's push endpoint expects."""
    compressed: bytes = snappy.compress(body)
    return compressed
