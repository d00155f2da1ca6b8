"""What goes into one push: streams keyed by Loki label strings, one batch per tenant. Pure: no I/O, no clock.

Owns three things, the way Promtail's client does them:

- `StreamRouter`: an entry's labels → (tenant, label string). External labels are merged under the entry's
  (the entry wins), ``__tenant_id__`` overrides the client's tenant (Promtail's `tenant` stage sets it),
  every other ``__``-prefixed label is removed, and the rest is written as ``{a="b", c="d"}``: sorted by
  name, values quoted as Go's ``strconv.Quote`` does, which is the form Loki parses.
- `entry_size`: Promtail's batch accounting, line bytes plus structured metadata bytes.
- `Batch`: one tenant's streams, up to `max_streams` of them (Promtail's ``limits_config.max_streams``).

When to cut a batch and what to do with it is `agent.client.loki`'s business; the bytes are
`agent.client.encode`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import attrgetter, is_

from agent.client.encode import EncodedPush, encode_push
from agent.model import TENANT_LABEL, Labels, LogEntry

"""Set by a pipeline (Promtail's `tenant` stage) to send an entry to another tenant than the client's."""

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}

_CACHE_LIMIT = 4096
_timestamp = attrgetter("timestamp")
_line = attrgetter("line")
_labels = attrgetter("labels")
_metadata = attrgetter("metadata")


def quote(value: str) -> str:
    """`value` as a double-quoted Go string literal, as Go's ``strconv.Quote`` writes it.

    Printable characters (Python's and Go's definitions agree: letters, marks, numbers, punctuation,
    symbols and the ASCII space) stay as they are; the rest become ``\\n``-style, ``\\xNN``, ``\\uNNNN``
    or ``\\UNNNNNNNN`` escapes.
    """
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    out = ['"']
    for char in value:
        escape = _ESCAPES.get(char)
        if escape is not None:
            out.append(escape)
        elif char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code < 0x20 or code == 0x7F:
                out.append(f"\\x{code:02x}")
            elif 0xDC80 <= code <= 0xDCFF:
                # A byte that was not UTF-8, kept by Python's surrogateescape: Go writes such bytes as \xNN.
                out.append(f"\\x{code - 0xDC00:02x}")
            elif 0xD800 <= code <= 0xDFFF:
                out.append("\\ufffd")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_labels(labels: Labels) -> str:
    """`labels` as a Loki label string: ``{a="b", c="d"}``, sorted by name; ``{}`` when empty."""
    return "{" + ", ".join(f"{name}={quote(labels[name])}" for name in sorted(labels)) + "}"


class StreamRouter:
    """Maps an entry's labels to its tenant and stream label string, cached per label set.

    ```yaml
    clients:
      - url: http://loki:3100/loki/api/v1/push
        tenant_id: team-a            # the default tenant; a `__tenant_id__` label overrides it
        external_labels: {host: web-1}
    ```

    Two caches keep this cheap per entry. The first is keyed by ``id(labels)``: sources share one label dict
    between all entries of a target, and the cache holds a reference to the dict, so its id cannot be reused
    by another dict while cached. The second is keyed by the labels' items, for pipelines that give entries
    equal but distinct dicts. Both are cleared when they grow past a few thousand entries. Label dicts must
    not change after they reach a client (the `agent.model.Labels` contract).
    """

    __slots__ = ("_by_content", "_by_id", "_external", "_tenant")

    def __init__(self, tenant_id: str = "", external_labels: Labels | None = None) -> None:
        self._tenant = tenant_id
        self._external = dict(external_labels or {})
        self._by_id: dict[int, tuple[Labels, tuple[str, str]]] = {}
        self._by_content: dict[tuple[tuple[str, str], ...], tuple[str, str]] = {}

    def route(self, labels: Labels) -> tuple[str, str]:
        """Return ``(tenant, label string)``; the label string is ``""`` when no label is left to send."""
        hit = self._by_id.get(id(labels))
        if hit is not None:
            return hit[1]
        content = tuple(labels.items())
        route = self._by_content.get(content)
        if route is None:
            route = self._compute(labels)
            if len(self._by_content) >= _CACHE_LIMIT:
                self._by_content.clear()
            self._by_content[content] = route
        if len(self._by_id) >= _CACHE_LIMIT:
            self._by_id.clear()
        self._by_id[id(labels)] = (labels, route)
        return route

    def _compute(self, labels: Labels) -> tuple[str, str]:
        merged = {**self._external, **labels} if self._external else labels
        tenant = merged.get(TENANT_LABEL, self._tenant)
        kept = {name: value for name, value in merged.items() if not name.startswith("__")}
        return tenant, format_labels(kept) if kept else ""


def run_size(entries: Sequence[LogEntry]) -> int:
    """The sum of `entry_size` over `entries`, in bulk: one join (and, for ASCII text, no encoding)."""
    if any(map(_metadata, entries)):
        return sum(map(entry_size, entries))
    text = "".join(map(_line, entries))
    # isascii() is O(1) in CPython; UTF-8 of the whole is the sum of each line's. surrogatepass never raises.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def run_sizes(entries: Sequence[LogEntry]) -> list[int]:
    """`entry_size` of each entry, computed in bulk for the common case (ASCII lines, no metadata)."""
    lines = list(map(_line, entries))
    if any(map(_metadata, entries)) or not all(map(str.isascii, lines)):
        return [entry_size(entry) for entry in entries]
    return list(map(len, lines))


def runs(chunk: Sequence[LogEntry]) -> Iterator[tuple[Labels, Sequence[LogEntry]]]:
    """Split `chunk` into groups of entries sharing one label dict, each in chunk order.

    A file's lines share one dict, and a pipeline makes equal label sets share one again, so a chunk holds a
    few groups: the client routes and sizes each group once, however its entries are interleaved. Entries
    of different streams may change order; within a stream (one dict, or equal ones) they keep it.
    """
    if not chunk:
        return
    first = chunk[0].labels
    if chunk[-1].labels is first and all(map(is_, map(_labels, chunk), repeat(first))):
        yield first, chunk
        return
    groups: dict[int, tuple[Labels, list[LogEntry]]] = {}
    for entry in chunk:
        labels = entry.labels
        group = groups.get(id(labels))  # the chunk holds a reference to every dict: no id is reused
        if group is None:
            groups[id(labels)] = (labels, [entry])
        else:
            group[1].append(entry)
    yield from groups.values()


def entry_size(entry: LogEntry) -> int:
    """Bytes an entry counts for in a batch, as Promtail counts them: line plus structured metadata."""
    line = entry.line
    # isascii() is O(1) in CPython; only other lines pay for encoding. surrogatepass never raises.
    size = len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))
    metadata = entry.metadata
    if metadata:
        for name, value in metadata.items():
            size += len(name.encode("utf-8", "surrogatepass")) + len(value.encode("utf-8", "surrogatepass"))
    return size


class Batch:
    """One tenant's pending entries, grouped into streams by label string.

    `size` is the sum of `entry_size` of its entries; `newest` the largest timestamp (ns), for lag and
    latency metrics. `created_at` is whatever clock the caller uses (it starts the batchwait timer).
    Streams are kept in timestamp order at `encode`; the batch remembers which ones may be out of order, so
    a stream made of runs that follow each other in time is never sorted.
    """

    __slots__ = ("_unsorted", "count", "created_at", "max_streams", "size", "streams", "tenant")

    def __init__(self, tenant: str, created_at: float, max_streams: int = 0) -> None:
        self.tenant = tenant
        self.created_at = created_at
        self.max_streams = max_streams  # 0: unlimited
        self.streams: dict[str, list[LogEntry]] = {}
        self.size = 0
        self.count = 0
        self._unsorted: set[str] = set()  # streams whose entries may be out of timestamp order

    def has_room(self, size: int, limit: int) -> bool:
        """Whether an entry of `size` bytes fits under `limit`; an empty batch takes any entry."""
        return self.count == 0 or self.size + size <= limit

    def add(self, labels: str, entry: LogEntry, size: int) -> bool:
        """Add `entry` to the stream `labels`; False (nothing added) when that would exceed `max_streams`."""
        stream = self.streams.get(labels)
        if stream is None:
            if self.max_streams and len(self.streams) >= self.max_streams:
                return False
            stream = self.streams[labels] = []
        elif stream and stream[-1].timestamp > entry.timestamp:
            self._unsorted.add(labels)
        stream.append(entry)
        self.size += size
        self.count += 1
        return True

    def add_run(self, labels: str, entries: Sequence[LogEntry], size: int, *, ordered: bool = False) -> bool:
        """Add a run of entries of one stream, `size` bytes in all; False (nothing added) past `max_streams`.

        `ordered` says the run's timestamps never decrease (a `agent.model.LineRun`'s do not).
        """
        stream = self.streams.get(labels)
        if stream is None:
            if self.max_streams and len(self.streams) >= self.max_streams:
                return False
            stream = self.streams[labels] = []
        if not ordered or (stream and entries and stream[-1].timestamp > entries[0].timestamp):
            self._unsorted.add(labels)
        stream.extend(entries)
        self.size += size
        self.count += len(entries)
        return True

    @property
    def newest(self) -> int:
        """The largest timestamp in the batch (ns); 0 when it is empty."""
        unsorted = self._unsorted
        newest: int = max(
            (
                max(map(_timestamp, stream)) if labels in unsorted else stream[-1].timestamp
                for labels, stream in self.streams.items()
                if stream
            ),
            default=0,
        )
        return newest

    def entries(self) -> list[LogEntry]:
        """Every entry in the batch (for acknowledging them)."""
        if len(self.streams) == 1:
            return next(iter(self.streams.values()))
        return [entry for stream in self.streams.values() for entry in stream]

    def encode(self) -> EncodedPush:
        """The batch as a protobuf `PushRequest`, each stream's entries sorted by timestamp (stable)."""
        for labels in self._unsorted:
            self.streams[labels].sort(key=_timestamp)
        self._unsorted.clear()
        return encode_push(self.streams.items())
