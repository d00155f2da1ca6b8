"""One file as the positions store sees it: its identity, its record, and the tracker that advances its offset.

`FileIdentity` tells files apart (device, inode and a fingerprint of the first bytes, so a reused inode or a
copy shows); `FileRecord` is the store's entry for one file (where to resume, which file that offset belongs
to); `FileTracker` turns acknowledged chunks of that file into the record's offset. Not here: the positions
files, saving, and the record tables (`agent.positions.store.PositionStore`, which makes records and trackers
and owns the unacknowledged-bytes gauges a tracker updates), or reading files (`agent.sources`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.model import Checkpoint

if TYPE_CHECKING:
    from agent.positions.store import PositionStore


def fingerprint(data: bytes) -> str:
    """A short hash of `data` (a file's first bytes): equal content, equal fingerprint."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Which file (device, inode) with which content (a fingerprint of its first `fingerprint_size` bytes).

    A fingerprint taken while the file was short stays valid as it grows: comparisons hash the same number
    of leading bytes. Inode reuse (a deleted file's inode given to a new file) shows as a different
    fingerprint; a copy of a file (copytruncate) shows as the same fingerprint on another inode.
    """

    device: int
    inode: int
    fingerprint: str
    fingerprint_size: int

    @classmethod
    def of(cls, device: int, inode: int, head: bytes) -> FileIdentity:
        return cls(device, inode, fingerprint(head), len(head))

    def same_content(self, head: bytes) -> bool:
        """Whether a file whose first bytes are `head` starts with the bytes this identity was taken from."""
        if len(head) < self.fingerprint_size:
            return False
        return fingerprint(head[: self.fingerprint_size]) == self.fingerprint

    def same_file(self, device: int, inode: int, head: bytes) -> bool:
        """Same inode and same leading content (so not a reused inode)."""
        return self.device == device and self.inode == inode and self.same_content(head)

    def grown(self, head: bytes) -> FileIdentity:
        """This identity with its fingerprint extended to `head`, when `head` is longer and still matches."""
        if len(head) <= self.fingerprint_size or not self.same_content(head):
            return self
        return FileIdentity(self.device, self.inode, fingerprint(head), len(head))


class FileRecord:
    """The store's entry for one file: where to resume (`offset`) and which file that offset belongs to.

    A current record (``rotated`` false) is the file at `key` and appears in ``positions.yaml``. A rotated
    record is a file that used to be at `key` and is still being drained (or must be after a restart); it
    only appears in the side file. `offset` is in bytes, or in lines for compressed files (Promtail's unit).
    """

    __slots__ = ("identity", "key", "offset", "rotated", "size", "tracker")

    def __init__(
        self, key: str, offset: int, identity: FileIdentity | None, size: int | None, rotated: bool = False
    ) -> None:
        self.key = key
        self.offset = offset
        self.identity = identity  # None: written by Promtail, identity unknown
        self.size = size
        self.rotated = rotated
        self.tracker: FileTracker | None = None

    def __repr__(self) -> str:
        return f"FileRecord(key={self.key!r}, offset={self.offset}, rotated={self.rotated}, identity={self.identity})"


class FileTracker:
    """Turns acknowledged chunks of one file into its record's offset.

    The reader calls `checkpoint` once per chunk, with the offset just after the chunk's last complete
    line; clients acknowledge entries; when the oldest outstanding chunks are complete the record's offset
    moves to the end of the last of them. Outstanding checkpoints sit in a deque: O(1) per chunk.
    """

    def __init__(self, store: PositionStore, record: FileRecord, fanout: int, *, count_bytes: bool) -> None:
        if fanout < 1:
            raise ValueError(f"fanout must be at least 1, got {fanout}")
        self.record = record
        self._store = store
        self._fanout = fanout
        self._read = record.offset
        self._outstanding: deque[Checkpoint] = deque()
        self._idle: asyncio.Event | None = None
        self._gauge = store._track_gauge(record.key) if count_bytes else None
        self._gauge_path = record.key
        self.released = False

    @property
    def path(self) -> str:
        return self.record.key

    @property
    def read_offset(self) -> int:
        """Where reading has got to: the end of the last chunk handed out."""
        return self._read

    @property
    def acked_offset(self) -> int:
        """Where a restart would resume: the end of the longest acknowledged prefix of chunks."""
        return self.record.offset

    @property
    def idle(self) -> bool:
        """Whether every chunk handed out has been acknowledged."""
        return not self._outstanding

    def checkpoint(self, end_offset: int, entries: int) -> Checkpoint:
        """The checkpoint for a chunk of `entries` entries ending at `end_offset` (expects `entries * fanout` acks).

        A chunk whose lines were all dropped (``entries == 0``) completes at once but still waits its turn.
        """
        if end_offset < self._read:
            raise ValueError(f"chunk end {end_offset} is before the read offset {self._read} of {self.path}")
        if self._gauge is not None:
            self._gauge.inc(end_offset - self._read)
        self._read = end_offset
        checkpoint = Checkpoint(end_offset, entries * self._fanout, self._on_complete)
        self._outstanding.append(checkpoint)
        if self._idle is not None:
            self._idle.clear()
        self._advance()
        return checkpoint

    def skip_to(self, offset: int) -> None:
        """Move both offsets to `offset` when nothing is outstanding (a resumed file's start is re-based)."""
        if self._outstanding:
            raise ValueError(f"cannot move {self.path} while chunks are outstanding")
        self._read = offset
        self.record.offset = offset
        self._store.changed()

    def note_size(self, size: int) -> None:
        """Remember the file's size (saved beside the offset)."""
        self.record.size = size

    def note_identity(self, identity: FileIdentity) -> None:
        """Replace the record's identity (a longer fingerprint, or the copy a truncated file was drained from)."""
        if identity != self.record.identity:
            self.record.identity = identity
            self._store.changed()

    async def wait_idle(self) -> None:
        """Return once every chunk handed out so far has been acknowledged."""
        if not self._outstanding:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        await self._idle.wait()

    def _on_complete(self, _: Checkpoint) -> None:
        self._advance()

    def _advance(self) -> None:
        outstanding = self._outstanding
        if not outstanding or outstanding[0].pending > 0:
            return
        acked = self.record.offset
        while outstanding and outstanding[0].pending <= 0:
            acked = outstanding.popleft().position
        if self.released or self.record.tracker not in (None, self):
            return  # forgotten, or another reader took the record over
        if self._gauge is not None:
            self._gauge.dec(acked - self.record.offset)
        self.record.offset = acked
        self._store.changed()
        if not outstanding and self._idle is not None:
            self._idle.set()

    def _relabel(self, path: str) -> None:
        # The unacknowledged bytes move to the file's new path.
        if self._gauge is None or path == self._gauge_path:
            return
        self._gauge.dec(self._read - self.record.offset)
        self._store._untrack_gauge(self._gauge_path)
        self._gauge_path = path
        self._gauge = self._store._track_gauge(path)
        self._gauge.inc(self._read - self.record.offset)

    def _detach(self, *, keep_acks: bool = False) -> None:
        """Stop reporting to the gauge; with `keep_acks`, chunks still in flight go on advancing the record
        (until another reader tracks it), so a flush after the reader stopped still moves the position."""
        if self._gauge is not None:
            self._gauge.dec(self._read - self.record.offset)
            self._store._untrack_gauge(self._gauge_path)
            self._gauge = None
        self.released = not keep_acks

    def __repr__(self) -> str:
        return f"FileTracker(path={self.path!r}, read={self._read}, acked={self.record.offset})"
