"""File targets of one scrape config: find files, give each one a `FileTail`, follow rotations without loss.

Discovery runs every `target_config.sync_period` (10 s) and, between syncs, on filesystem events (inotify
on Linux) for the directories the globs start from, so new files and rotations are seen within tens of
milliseconds and appended lines wake their tail at once. Where events do not reach (files behind symlinks,
network filesystems), one poller fstats every idle file each `min_poll_frequency` in a single thread hop.
Globs follow Promtail's doublestar rules: ``**`` spans directories, ``{a,b}`` alternatives,
``__path_exclude__`` removes matches.

A path is followed by inode: when the file at a path changes (rename + create), the old tail drains the
renamed file through its open descriptor while a new tail reads the new file from the start; a drained
file matched again under its new name is adopted, not read twice. Copytruncate is handled by the tail
(it reads the rest from the copy). Positions are resumed by identity: a saved file that is no longer at
its path (rotated while the agent was stopped) is looked up beside it and its remaining lines read first.

This module owns discovery and the per-file task lifetimes; reading is `agent.sources.tail`, offsets are
`agent.positions.store`, blocking calls are `agent.sources.fileio`. Compiling globs is `agent.sources.globs`,
filesystem events `agent.sources.watch`, recognising a file again by identity `agent.sources.rotation`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import watchfiles

from agent.config.model import DecompressionConfig, FileWatchConfig, LimitsConfig
from agent.model import Labels
from agent.positions.store import PositionStore
from agent.positions.tracker import FileIdentity, FileRecord
from agent.server.metrics import Metrics
from agent.sources import fileio
from agent.sources.globs import TargetGlobs
from agent.sources.ratelimit import ReadlineLimiter
from agent.sources.rotation import KnownFiles, RotationDetector
from agent.sources.tail import READ_SIZE, ChunkSink, FileTail, TailEnd, TailOptions
from agent.sources.watch import Changes, DirectoryWatcher

log = logging.getLogger(__name__)

FILENAME_LABEL = "filename"
"""The label Promtail adds to every entry of a file: the file's path."""

WATCH_START_RESYNC = 0.5
"""Seconds after the watcher (re)starts at which one extra sync catches files created meanwhile."""

ROTATE_WAIT = 5.0
"""Seconds a rotated or deleted file is still followed after its last growth (writers reopen late)."""

_COMPRESSED_EXTENSIONS = {".gz": "gz", ".bz2": "bz2", ".z": "z"}


@dataclass(frozen=True)
class FileTarget:
    """One relabelled static target: `path` (``__path__``), `exclude` (``__path_exclude__``), and labels.

    `labels` are the stream's labels without ``__``-prefixed ones; the source adds ``filename``.
    """

    path: str
    exclude: str = ""
    labels: Labels = field(default_factory=dict)


class _CompiledTarget(TargetGlobs):
    """A target and its compiled globs."""

    __slots__ = ("target",)

    def __init__(self, target: FileTarget) -> None:
        super().__init__(target.path, target.exclude)
        self.target = target


class FileSource:
    """Reads every file that one scrape config's targets match, into `queue`, until cancelled.

    ```yaml
    scrape_configs:
      - job_name: system
        static_configs:
          - labels: {job: varlogs, __path__: /var/log/**/*.log, __path_exclude__: /var/log/skip/*.log}
    ```

    `limiter` is the agent-wide `ReadlineLimiter` (make one with `ReadlineLimiter.from_limits` and pass it
    to every source); without one, a source with `readline_rate_enabled` makes its own.
    """

    def __init__(
        self,
        *,
        name: str,
        targets: Sequence[FileTarget],
        queue: ChunkSink,
        positions: PositionStore,
        fanout: int,
        metrics: Metrics,
        limits: LimitsConfig | None = None,
        sync_period: float = 10.0,
        watch: FileWatchConfig | None = None,
        encoding: str = "",
        decompression: DecompressionConfig | None = None,
        limiter: ReadlineLimiter | None = None,
        rotate_wait: float = ROTATE_WAIT,
        read_size: int = READ_SIZE,
    ) -> None:
        limits = limits if limits is not None else LimitsConfig()
        watch = watch if watch is not None else FileWatchConfig()
        self.name = name
        self._targets = [_CompiledTarget(t) for t in targets]
        self._queue = queue
        self._store = positions
        self._fanout = fanout
        self._metrics = metrics
        self._sync_period = sync_period
        self._decompression = decompression if decompression is not None else DecompressionConfig()
        self._limiter = limiter if limiter is not None else ReadlineLimiter.from_limits(limits)
        self._options = TailOptions(
            encoding=encoding,
            max_line_size=limits.max_line_size,
            max_line_size_truncate=limits.max_line_size_truncate,
            min_poll=watch.min_poll_frequency,
            max_poll=max(watch.min_poll_frequency, watch.max_poll_frequency),
            rotate_wait=rotate_wait,
            initial_delay=self._decompression.initial_delay,
            read_size=read_size,
            external_poll=True,
        )
        self._tails: dict[str, FileTail] = {}
        self._target_of: dict[str, _CompiledTarget] = {}
        self._draining: set[FileTail] = set()
        self._finished: dict[str, tuple[int, int]] = {}
        self._rotations = RotationDetector(positions, metrics, self._request_check)
        self._warned: set[tuple[str, str]] = set()
        self._quiet_patterns: set[str] = set()
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self._watcher = DirectoryWatcher(self._on_changes, self._sync_soon, metrics)
        self._group: asyncio.TaskGroup | None = None
        self._next_sync = 0.0

    # -- lifetime

    async def run(self) -> None:
        """Discover and read files until cancelled; positions stay at what was acknowledged."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                await self._recover_saved()
                await self._sync()
                group.create_task(self._watcher.run(), name=f"watch:{self.name}")
                group.create_task(self._poll_loop(), name=f"poll:{self.name}")
                await self._control_loop()
            finally:
                self._watcher.stop()  # before the group waits: watchfiles' thread checks only this

    def status(self) -> dict[str, Any]:
        """For `/status`: every file being read, with read and acknowledged offsets. Ready once one is."""
        files = []
        for tail in self._all_tails():
            files.append({
                "path": tail.path,
                "state": "draining" if tail.draining else "following",
                "read_offset": tail.tracker.read_offset,
                "acked_offset": tail.tracker.acked_offset,
                "size": tail.size,
                "unit": "lines" if self._compression(tail.path) else "bytes",
            })
        files.sort(key=lambda f: (f["path"], f["state"]))
        return {"ready": bool(self._tails), "files": files}

    async def _control_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_sync = time.monotonic() + self._sync_period
        while True:
            delay = self._next_sync - time.monotonic()
            if delay > 0 and not self._changed:
                handle = loop.call_later(delay, self._wake.set)
                await self._wake.wait()
                handle.cancel()
            self._wake.clear()
            if time.monotonic() >= self._next_sync:
                self._next_sync = time.monotonic() + self._sync_period
                self._changed.clear()
                await self._sync()
            elif self._changed:
                paths, self._changed = self._changed, set()
                await self._check(paths)

    def _sync_soon(self) -> None:
        # Files created while the watcher was (re)starting raised no event: look once more shortly.
        self._next_sync = min(self._next_sync, time.monotonic() + WATCH_START_RESYNC)
        self._wake.set()

    def _request_check(self, path: str) -> None:
        self._changed.add(path)
        self._wake.set()

    # -- discovery

    async def _sync(self) -> None:
        horizon = time.monotonic() - 2 * self._sync_period - self._options.rotate_wait
        self._rotations.forget_retired_before(horizon)
        matched = await fileio.expand_globs([t.patterns for t in self._targets])
        candidates: dict[str, _CompiledTarget] = {}
        for target, paths in zip(self._targets, matched, strict=True):
            kept = [p for p in paths if not target.excludes(p)]
            self._note_matches(target, len(kept))
            for path in kept:
                candidates.setdefault(path, target)
        await self._reconcile(candidates, None)
        await self._update_roots()

    async def _check(self, paths: set[str]) -> None:
        candidates: dict[str, _CompiledTarget] = {}
        for path in paths:
            target = self._target_of.get(path) or self._target_for(path)
            if target is not None:
                candidates[path] = target
        await self._reconcile(candidates, paths)

    async def _reconcile(self, candidates: dict[str, _CompiledTarget], checked: set[str] | None) -> None:
        """Compare what is at each path with what is being read; `checked` None means every path."""
        followed = [p for p in self._tails if checked is None or p in checked]
        stats = await fileio.stat_paths(sorted({*candidates, *followed}))
        for path in followed:
            tail = self._tails.get(path)
            if tail is None:
                continue
            stat = stats.get(path)
            if isinstance(stat, OSError) and not isinstance(stat, FileNotFoundError):
                # Cannot tell (EACCES on a directory, EIO): keep reading through the open descriptor.
                self._metrics.errors.labels(component="file", reason="stat_failed").inc()
                self._warn_once(
                    path,
                    "stat",
                    "Cannot check whether a file was rotated; still reading it.",
                    extra={"path": path, "error": stat},
                )
                continue
            self._warned.discard((path, "stat"))
            if (
                path in candidates
                and isinstance(stat, fileio.FileStat)
                and (stat.device, stat.inode) == (tail.device, tail.inode)
            ):
                continue
            self._depart(path, tail, "removed" if not isinstance(stat, fileio.FileStat) else "rotated")
        arrivals = [p for p in candidates if p not in self._tails]
        if not arrivals:
            return
        # Paths with a saved position first: their rotated predecessors are found before a new name of the
        # same file could be taken for a new file.
        arrivals.sort(key=lambda p: (self._store.record(p) is None, p))
        known = KnownFiles(self._all_tails(), self._store.records())
        for path in arrivals:
            stat = stats.get(path)
            if isinstance(stat, fileio.FileStat) and path not in self._tails:
                await self._arrive(path, candidates[path], stat, known)

    def _depart(self, path: str, tail: FileTail, why: str) -> None:
        del self._tails[path]
        self._target_of.pop(path, None)
        self._draining.add(tail)
        self._store.mark_rotated(tail.tracker.record)
        tail.drain()
        log.info(
            "File %s; reading it to the end.",
            why,
            extra={"path": path, "read_offset": tail.tracker.read_offset},
        )

    def _all_tails(self) -> list[FileTail]:
        return [*self._draining, *self._tails.values()]

    async def _arrive(self, path: str, target: _CompiledTarget, stat: fileio.FileStat, known: KnownFiles) -> None:
        key = (stat.device, stat.inode)
        tail = known.tail_at(key)
        if tail is not None:
            if tail.draining:
                self._adopt(tail, path, target)
            return  # else the same file under a second matched name (a link): read it once
        fmt = self._compression(path)
        if fmt is None:
            self._warn_once(
                path,
                "compressed",
                "Compressed file skipped: set decompression.enabled (and decompression.format) in its scrape "
                "config to read it.",
                extra={"path": path},
            )
            return
        if fmt and self._finished.get(path) == key:
            return
        opened = await self._open(path)
        if opened is None:
            return
        okey = (opened.stat.device, opened.stat.inode)
        if not fmt and self._rotations.copy_of_followed(path, opened, known):
            fileio.close_now(opened.fd)
            return
        if path in self._tails or known.tail_at(okey) is not None:
            fileio.close_now(opened.fd)  # changed while opening: the next check sorts it out
            self._request_check(path)
            return
        try:
            tracker_record = await self._record_for(path, opened, fmt, known)
        except BaseException:
            fileio.close_now(opened.fd)
            raise
        if tracker_record is None:
            fileio.close_now(opened.fd)
            return
        tracker = self._store.track(tracker_record, self._fanout, count_bytes=not fmt)
        tail = FileTail(
            path, opened, tracker, self._labels(path, target), self._queue, self._tail_options(fmt),
            self._metrics, limiter=self._limiter, on_truncated=self._on_truncated,
        )
        self._tails[path] = tail
        self._target_of[path] = target
        self._rotations.following(path)
        known.add(tail)
        self._spawn(tail)
        log.info("Reading file.", extra={"path": path, "offset": tracker.read_offset})

    async def _record_for(self, path: str, opened: fileio.Opened, fmt: str, known: KnownFiles) -> FileRecord | None:
        """The record to resume `path` from: its own, one found by identity, or a new one at offset 0."""
        stat, head = opened.stat, opened.head
        identity = FileIdentity.of(stat.device, stat.inode, head)
        record = self._store.record(path)
        if record is not None and record.tracker is not None:
            self._warn_once(
                path,
                "shared",
                "File already read by another scrape config; reading it once.",
                extra={"path": path, "job": self.name},
            )
            return None
        if record is None:
            record = self._rotations.claim_by_identity(path, opened, known)
            if record is None:
                return self._store.new_record(path, identity, self._rotations.retired_offset(path, opened))
        elif record.identity is None:
            # Written by Promtail: trust the offset unless the file is now shorter (Promtail's rule).
            if not fmt and stat.size < record.offset:
                log.info(
                    "Saved position is past the end of the file; reading from the start.",
                    extra={"path": path, "offset": record.offset, "size": stat.size},
                )
                record.offset = 0
            record.identity = identity
            self._store.changed()
        elif not record.identity.same_file(stat.device, stat.inode, head) or (
            not fmt and stat.size < record.offset
        ):
            if not fmt:
                await self._recover(record, exclude=(stat.device, stat.inode), known=known)
            return self._store.new_record(path, identity, 0)
        return record

    def _adopt(self, tail: FileTail, path: str, target: _CompiledTarget) -> None:
        log.info(
            "Rotated file matched under its new name; following it there.",
            extra={"path": path, "previous": tail.path},
        )
        self._store.rekey(tail.tracker.record, path)
        tail.adopt(path, self._labels(path, target))
        self._draining.discard(tail)
        self._tails[path] = tail
        self._target_of[path] = target

    async def _open(self, path: str) -> fileio.Opened | None:
        try:
            opened = await fileio.open_file(path)
        except PermissionError:
            self._metrics.errors.labels(component="file", reason="permission_denied").inc()
            self._warn_once(
                path,
                "unreadable",
                "Cannot read file: permission denied; run the agent as a user in group adm or make the file readable.",
                extra={"path": path},
            )
            return None
        except FileNotFoundError:
            return None  # gone between the glob and the open: nothing to read
        except OSError as exc:
            self._metrics.errors.labels(component="file", reason="open_failed").inc()
            self._warn_once(
                path,
                "unreadable",
                "Cannot open file; will retry at the next sync.",
                extra={"path": path, "error": exc},
            )
            return None
        self._warned.discard((path, "unreadable"))
        return opened

    # -- rotation while stopped

    async def _recover_saved(self) -> None:
        """At startup: drain files saved as rotated, or no longer at their path, before reading new ones."""
        for record in self._store.rotated_records():
            if self._target_for(record.key) is not None:
                await self._recover(record, exclude=None)
        saved = [r for r in self._store.records() if not r.rotated and r.tracker is None and r.identity is not None
                 and self._target_for(r.key) is not None and not self._compression(r.key)]
        if not saved:
            return
        stats = await fileio.stat_paths([r.key for r in saved])
        for record in saved:
            if isinstance(stats.get(record.key), FileNotFoundError):
                await self._recover(record, exclude=None)

    async def _recover(
        self, record: FileRecord, exclude: tuple[int, int] | None, known: KnownFiles | None = None
    ) -> None:
        """Find the file `record` describes beside its old path and drain it from the saved offset."""
        identity = record.identity
        assert identity is not None
        busy = {(t.device, t.inode) for t in self._all_tails()}
        found = await self._rotations.find_rotated(record, exclude, busy)
        if found is None:
            return
        opened = await self._open(found.path)
        if opened is None or not identity.same_content(opened.head):
            if opened is not None:
                fileio.close_now(opened.fd)
            self._store.release(record)
            return
        self._store.mark_rotated(record)
        record.identity = FileIdentity(opened.stat.device, opened.stat.inode, identity.fingerprint,
                                       identity.fingerprint_size)
        tracker = self._store.track(record, self._fanout)
        target = self._target_for(record.key)
        labels = self._labels(record.key, target) if target is not None else {FILENAME_LABEL: record.key}
        tail = FileTail(record.key, opened, tracker, labels, self._queue, self._options, self._metrics,
                        limiter=self._limiter, on_truncated=self._on_truncated)
        tail.drain()
        self._draining.add(tail)
        if known is not None:
            known.add(tail)
        self._spawn(tail)
        log.info(
            "Reading the rest of a file rotated while the agent was stopped.",
            extra={"path": record.key, "now_at": found.path, "offset": record.offset},
        )

    # -- tails

    def _on_truncated(self, tail: FileTail) -> None:
        if self._tails.get(tail.path) is tail:
            del self._tails[tail.path]
            self._target_of.pop(tail.path, None)
        self._draining.add(tail)
        self._store.mark_rotated(tail.tracker.record)
        self._request_check(tail.path)

    def _spawn(self, tail: FileTail) -> None:
        assert self._group is not None
        self._group.create_task(self._run_tail(tail), name=f"tail:{tail.path}")

    async def _run_tail(self, tail: FileTail) -> None:
        record = tail.tracker.record
        self._metrics.files_active.inc()
        try:
            end = await tail.run()
        except asyncio.CancelledError:
            self._store.untrack(record)
            raise
        except Exception as exc:
            # One file failing (EIO, a stale NFS handle) must not stop the others: count it, keep its
            # acknowledged position, and let the next sync start it again.
            self._store.untrack(record)
            self._metrics.errors.labels(component="file", reason="read_failed").inc()
            log.warning(
                "Reading file failed; will retry at the next sync.",
                extra={"path": tail.path, "error": exc},
                exc_info=not isinstance(exc, OSError),
            )
        else:
            if end is TailEnd.KEEP:
                self._store.untrack(record)
                self._finished[tail.path] = (tail.device, tail.inode)
            else:
                self._store.release(record)
                if tail.linked and tail.identity.fingerprint_size:
                    key = (tail.device, tail.inode)
                    self._rotations.retire(key, tail.identity, tail.tracker.read_offset, time.monotonic())
                log.info("Finished reading file.", extra={"path": tail.path, "offset": tail.tracker.read_offset})
        finally:
            tail.close()
            self._metrics.files_active.dec()
            self._draining.discard(tail)
            if self._tails.get(tail.path) is tail:
                del self._tails[tail.path]
                self._target_of.pop(tail.path, None)
            if all(t.path != tail.path for t in self._all_tails()):
                tail.forget_metrics()  # as Promtail does: no series left behind for files no longer read

    async def _poll_loop(self) -> None:
        # Filesystem events miss some changes (files behind symlinks, network filesystems, a full inotify
        # queue): every min_poll_frequency, one thread hop fstats every waiting tail's file and wakes those
        # that changed. One hop for all files, instead of one per file, keeps thousands of idle files cheap.
        while True:
            await asyncio.sleep(self._options.min_poll)
            waiting = [t for t in self._all_tails() if t.waiting and t.fd is not None]
            if not waiting:
                continue
            stats = await fileio.fstat_many([t.fd for t in waiting if t.fd is not None])
            for tail, stat in zip(waiting, stats, strict=True):
                if stat is None or stat.size != tail.size or stat.nlink == 0:
                    tail.wake()

    # -- helpers

    def _labels(self, path: str, target: _CompiledTarget) -> Labels:
        return {**target.target.labels, FILENAME_LABEL: path}

    def _tail_options(self, fmt: str) -> TailOptions:
        return dataclasses.replace(self._options, compression=fmt) if fmt else self._options

    def _compression(self, path: str) -> str | None:
        """``""`` for a plain file, the format for a compressed one to decompress, None to skip it."""
        _, ext = os.path.splitext(path)
        by_extension = _COMPRESSED_EXTENSIONS.get(ext, "")
        if self._decompression.enabled:
            fmt = self._decompression.format or by_extension
            return fmt if fmt in ("gz", "bz2", "z") else None
        return None if by_extension else ""

    def _target_for(self, path: str) -> _CompiledTarget | None:
        for target in self._targets:
            if target.matches(path):
                return target
        return None

    def _note_matches(self, target: _CompiledTarget, count: int) -> None:
        pattern = target.target.path
        if count:
            self._quiet_patterns.discard(pattern)
        elif pattern not in self._quiet_patterns:
            self._quiet_patterns.add(pattern)
            log.info("No files match the path; nothing to read yet.", extra={"job": self.name, "path": pattern})

    def _warn_once(self, path: str, kind: str, message: str, *, extra: dict[str, Any]) -> None:
        if (path, kind) not in self._warned:
            self._warned.add((path, kind))
            log.warning(message, extra=extra)

    # -- filesystem events

    async def _update_roots(self) -> None:
        wanted: dict[str, bool] = {}
        for target in self._targets:
            for root, recursive in target.roots:
                wanted[root] = wanted.get(root, False) or recursive
        existing = await fileio.existing_directories(wanted)
        roots = {d: r for d, r in wanted.items() if d in existing}
        self._watcher.watch(roots)

    def _on_changes(self, changes: Changes) -> None:
        wake_draining = False
        for change, path in changes:
            tail = self._tails.get(path)
            if tail is not None:
                tail.wake()
                if change != watchfiles.Change.modified:
                    self._changed.add(path)
                continue
            if change == watchfiles.Change.deleted or (path, "unreadable") in self._warned:
                wake_draining = True
                continue
            if self._target_for(path) is not None:
                self._changed.add(path)
            else:
                wake_draining = True
        if wake_draining:
            for tail in self._draining:
                tail.wake()
        if self._changed:
            self._wake.set()
