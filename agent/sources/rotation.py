"""Recognising a file again after rotation: by inode, and by the content its first bytes fingerprint.

Discovery compares each new path with what it already knows, so that a rotated file matched under its new
name is adopted rather than read twice, a file renamed while the agent was stopped resumes at its saved
offset, and copytruncate's copy is left to the tail that was reading the original. `KnownFiles` indexes the
tails and saved records of one discovery pass; `RotationDetector` holds what a source remembers between passes
and makes those calls. Not here: starting, draining and adopting tails (`agent.sources.file`), identities
themselves (`agent.positions.tracker.FileIdentity`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.positions.tracker import FileIdentity, FileRecord, fingerprint
from agent.sources import fileio

if TYPE_CHECKING:
    from agent.positions.store import PositionStore
    from agent.server.metrics import Metrics
    from agent.sources.tail import FileTail

log = logging.getLogger(__name__)

COPY_GRACE = 1.0
"""Seconds a new file that looks like a copy of a followed file waits, so a truncated tail can claim it."""

FileKey = tuple[int, int]
"""A file by (device, inode)."""


class KnownFiles:
    """What one discovery pass compares new files against: tails and saved records by inode, tails by content.

    Built once per pass (not per file), so discovering thousands of files stays linear.
    """

    def __init__(self, tails: list[FileTail], records: list[FileRecord]) -> None:
        self._tails: dict[FileKey, FileTail] = {}
        self._fingerprints: dict[int, dict[str, FileTail]] = {}
        self._records = {
            (r.identity.device, r.identity.inode): r for r in records if r.identity is not None and r.tracker is None
        }
        for tail in tails:
            self.add(tail)

    def add(self, tail: FileTail) -> None:
        """Count a tail started during the pass."""
        self._tails[(tail.device, tail.inode)] = tail
        identity = tail.identity
        if identity.fingerprint_size:
            self._fingerprints.setdefault(identity.fingerprint_size, {})[identity.fingerprint] = tail

    def tail_at(self, key: FileKey) -> FileTail | None:
        """The tail reading the file `key`."""
        tail = self._tails.get(key)
        # A tail that moved to another inode meanwhile (a truncated file's copy) no longer counts here.
        return tail if tail is not None and (tail.device, tail.inode) == key else None

    def record_at(self, key: FileKey) -> FileRecord | None:
        """The saved record, not being read, of the file `key`."""
        return self._records.get(key)

    def tail_like(self, head: bytes) -> FileTail | None:
        """A tail whose file starts with the same bytes as `head` (one hash per distinct fingerprint size)."""
        for size, tails in self._fingerprints.items():
            if len(head) >= size:
                tail = tails.get(fingerprint(head[:size]))
                if tail is not None:
                    return tail
        return None


class RotationDetector:
    """One file source's memory for recognising rotated files among new paths, and its decisions.

    - A saved record not being read whose file turns up under a new path (renamed while the agent was
      stopped) is claimed there: `claim_by_identity`.
    - A saved file no longer at its path, or replaced there, is looked for beside it to be drained first:
      `find_rotated`.
    - A file read to the end and released while still linked somewhere is retired for a while (`retire`);
      found under another name soon after, it continues at its end instead of being read again
      (`retired_offset`).
    - A new file that starts like a followed one is most likely copytruncate's copy, seen before the tail
      noticed the truncation: it waits `COPY_GRACE` so that tail can claim it (`copy_of_followed`).
    """

    __slots__ = ("_deferred", "_metrics", "_request_check", "_retired", "_store")

    def __init__(self, store: PositionStore, metrics: Metrics, request_check: Callable[[str], None]) -> None:
        self._store = store
        self._metrics = metrics
        self._request_check = request_check  # look at a path again soon
        self._retired: dict[FileKey, tuple[FileIdentity, int, float]] = {}
        self._deferred: dict[str, int] = {}

    async def find_rotated(
        self, record: FileRecord, exclude: FileKey | None, busy: set[FileKey]
    ) -> fileio.Found | None:
        """The file `record` describes, found beside its old path (but not `exclude`).

        None when it is gone or already being read (one of `busy`); `record` is then released.
        """
        identity = record.identity
        assert identity is not None
        found = None
        for candidate in await fileio.scan_siblings(record.key, min_size=record.offset):
            ckey = (candidate.stat.device, candidate.stat.inode)
            if ckey == exclude or not identity.same_content(candidate.head):
                continue
            if ckey in busy:
                self._store.release(record)  # already being read
                return None
            if found is None or ckey == (identity.device, identity.inode):
                found = candidate
        if found is None:
            unread = (record.size or 0) - record.offset
            if unread > 0:
                self._metrics.errors.labels(component="file", reason="rotated_file_not_found").inc()
                log.warning(
                    "Rotated file not found beside its old path; its unread lines are lost.",
                    extra={"path": record.key, "offset": record.offset, "unread_bytes": unread},
                )
            self._store.release(record)
        return found

    def retire(self, key: FileKey, identity: FileIdentity, offset: int, now: float) -> None:
        """Remember the file `key`, read to `offset`, released at monotonic time `now`."""
        self._retired[key] = (identity, offset, now)

    def forget_retired_before(self, horizon: float) -> None:
        """Forget files retired before monotonic time `horizon`."""
        self._retired = {k: v for k, v in self._retired.items() if v[2] >= horizon}

    def retired_offset(self, path: str, opened: fileio.Opened) -> int:
        """Where to start `opened` at `path`: the end it was read to if it is a retired file, else 0."""
        stat = opened.stat
        retired = self._retired.pop((stat.device, stat.inode), None)
        if retired is None:
            return 0
        identity, offset, _ = retired
        if not identity.same_content(opened.head) or stat.size < offset:
            return 0
        log.info(
            "File already read found under a new name; continuing at its end.",
            extra={"path": path, "offset": offset},
        )
        return offset

    def claim_by_identity(self, path: str, opened: fileio.Opened, known: KnownFiles) -> FileRecord | None:
        """The saved record of the file `opened`, moved to `path` in the store, if it was saved under another path."""
        stat = opened.stat
        record = known.record_at((stat.device, stat.inode))
        identity = record.identity if record is not None else None
        if (
            record is None
            or identity is None
            or record.tracker is not None
            or record.key == path
            or not identity.same_content(opened.head)
            or stat.size < record.offset
        ):
            return None
        log.info(
            "Known file found under a new name; resuming it.",
            extra={"path": path, "previous": record.key, "offset": record.offset},
        )
        self._store.rekey(record, path)
        return record

    def copy_of_followed(self, path: str, opened: fileio.Opened, known: KnownFiles) -> bool:
        """Whether to leave `opened` at `path` alone for now, as a likely copy of a followed file."""
        if self._deferred.get(path) == opened.stat.inode:
            return False
        like = known.tail_like(opened.head)
        if like is None:
            return False
        self._deferred[path] = opened.stat.inode
        asyncio.get_running_loop().call_later(COPY_GRACE, self._request_check, path)
        log.debug(
            "New file starts like a followed one; checking again shortly.",
            extra={"path": path, "like": like.path},
        )
        return True

    def following(self, path: str) -> None:
        """`path` is being read now: a later copy there is checked afresh."""
        self._deferred.pop(path, None)
