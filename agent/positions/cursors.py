"""Container cursors: how far each container's log was delivered, per scrape job, to the nanosecond.

Promtail keeps one ``cursor-<container id>`` key in ``positions.yaml`` holding whole seconds, and resumes
with Docker's ``since`` at that second: everything already sent in that second is sent again. The agent
keeps that key (so a rollback to Promtail resumes where the agent stopped, give or take that second) and,
in the side file, the exact `Cursor` of every (job, container): a `Mark` per stream. A side-file cursor
whose second no longer matches ``positions.yaml`` was overtaken by someone else (Promtail) and is ignored.

`CursorTracker` turns acknowledged chunks of one container into its saved cursor, as `FileTracker` does
for files: chunks complete in any order, the cursor moves to the end of the longest completed prefix.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from agent.model import Checkpoint
from agent.sources.docker_frames import Cursor, Mark

CURSOR_PREFIX = "cursor-"
"""Promtail's positions key prefix for a container: ``cursor-<container id>``."""

_NS = 1_000_000_000


class ContainerCursors:
    """Exact cursors by (job, container id), and the Promtail keys derived from them."""

    def __init__(self) -> None:
        self._cursors: dict[tuple[str, str], Cursor] = {}

    def get(self, job: str, container_id: str) -> Cursor | None:
        return self._cursors.get((job, container_id))

    def set(self, job: str, container_id: str, cursor: Cursor) -> bool:
        """Remember `cursor`; return whether anything changed."""
        key = (job, container_id)
        if self._cursors.get(key) == cursor:
            return False
        self._cursors[key] = cursor
        return True

    def remove(self, job: str, container_id: str) -> bool:
        return self._cursors.pop((job, container_id), None) is not None

    def ids(self, job: str) -> list[str]:
        """The containers `job` has a cursor for."""
        return [cid for j, cid in self._cursors if j == job]

    # -- the two files

    def promtail_keys(self) -> dict[str, str]:
        """``cursor-<id>: <seconds>`` for positions.yaml, as Promtail writes it: the second of the newest line
        delivered (the earliest such second over the jobs following the container)."""
        seconds: dict[str, int] = {}
        for (_, container_id), cursor in self._cursors.items():
            second = cursor.timestamp // _NS
            seconds[container_id] = min(second, seconds.get(container_id, second))
        return {CURSOR_PREFIX + cid: str(second) for cid, second in seconds.items()}

    def to_yaml(self) -> list[dict[str, Any]]:
        return [
            {"job": job, "id": cid, "stdout": list(cursor.stdout), "stderr": list(cursor.stderr)}
            for (job, cid), cursor in self._cursors.items()
        ]

    def load(self, saved: Iterable[object], promtail: dict[str, str]) -> None:
        """Take the side file's `saved` cursors that agree with positions.yaml's `promtail` keys, then those
        Promtail keys that have no exact cursor (a migration from Promtail, or Promtail moved them).

        Raises ValueError or KeyError on a malformed entry (the caller sets the side file aside)."""
        exact: dict[tuple[str, str], Cursor] = {}
        for entry in saved:
            if not isinstance(entry, dict):
                raise ValueError(f"expected a mapping per container, found {entry!r}")
            cursor = Cursor(Mark(*map(int, entry["stdout"])), Mark(*map(int, entry["stderr"])))
            exact[(str(entry["job"]), str(entry["id"]))] = cursor
        self._cursors = dict(exact)
        agreed = self.promtail_keys()
        for key, value in promtail.items():
            if not key.startswith(CURSOR_PREFIX) or not value.isdigit():
                continue
            if agreed.get(key) == value:
                continue
            # No exact cursor, or one Promtail has moved past since: resume from Promtail's second, for every
            # job (Promtail has one cursor per container).
            container_id = key[len(CURSOR_PREFIX):]
            start = Mark(int(value) * _NS, 0)
            jobs = {job for job, cid in exact if cid == container_id} or {""}
            for job in jobs:
                self._cursors[(job, container_id)] = Cursor(start, start)
        for (job, container_id) in list(self._cursors):
            if CURSOR_PREFIX + container_id not in promtail:
                del self._cursors[(job, container_id)]  # positions.yaml lost it (deleted, or Promtail expired it)

    def adopt(self, job: str, container_id: str) -> Cursor | None:
        """`job`'s cursor for the container, taking over one that came from Promtail (which has no job)."""
        cursor = self._cursors.get((job, container_id))
        if cursor is None and (cursor := self._cursors.pop(("", container_id), None)) is not None:
            self._cursors[(job, container_id)] = cursor
        return cursor


class CursorTracker:
    """Turns one container's acknowledged chunks into its saved cursor (`on_advance` gets each new one)."""

    def __init__(self, acked: Cursor, on_advance: Callable[[Cursor], None]) -> None:
        self.acked = acked
        self._on_advance = on_advance
        self._outstanding: deque[tuple[Checkpoint, Cursor]] = deque()

    @property
    def idle(self) -> bool:
        return not self._outstanding

    def checkpoint(self, cursor: Cursor, acks: int) -> Checkpoint:
        """The checkpoint of a chunk ending at `cursor` that completes after `acks` acknowledgements."""
        checkpoint = Checkpoint(0, acks, self._on_complete)
        self._outstanding.append((checkpoint, cursor))
        self._advance()
        return checkpoint

    def _on_complete(self, _: Checkpoint) -> None:
        self._advance()

    def _advance(self) -> None:
        outstanding = self._outstanding
        if not outstanding or outstanding[0][0].pending > 0:
            return
        while outstanding and outstanding[0][0].pending <= 0:
            self.acked = outstanding.popleft()[1]
        self._on_advance(self.acked)
