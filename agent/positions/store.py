"""Acknowledged read positions: what the agent has delivered, saved so a restart resumes without loss.

The store owns two files and the in-memory state behind them:

- ``positions.yaml`` (`positions.filename`), in Promtail's format, so a user can roll back to Promtail::

      positions:
        /var/log/syslog: "12345"

  Keys the agent does not manage (journal cursors, ``cursor-...`` keys) are kept and written back as read.
- ``positions.yaml.agent``, beside it: per-file identity (device, inode, size at the last save and a
  fingerprint of the first bytes), the files still being drained after a rotation, and each container's
  exact cursor (`agent.positions.cursors`; ``positions.yaml`` keeps Promtail's whole-second ``cursor-<id>``).
  Promtail reads its positions file strictly (unknown top-level keys are an error there), so this cannot live in
  ``positions.yaml``; Promtail never looks at the side file. An identity whose offset no longer equals the
  one in ``positions.yaml`` was written before someone else (Promtail) moved on, and is ignored.

A file's position only advances when a `FileTracker` sees its chunks acknowledged: chunks complete in any
order, the saved offset is the end of the longest completed prefix. Saves are atomic (temp file, fsync,
rename, fsync of the directory), happen every `sync_period` and at `close`, and only when something
changed. The store does no file reading and knows nothing of rotation: the file source decides what a
record means and tells the store (`mark_rotated`, `rekey`, `release`). What it keeps per file (identity,
record, tracker) is `agent.positions.tracker`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

import yaml
from prometheus_client import Gauge

from agent.errors import PositionsError
from agent.positions.config import PositionsConfig
from agent.positions.cursors import CURSOR_PREFIX, ContainerCursors
from agent.positions.tracker import FileIdentity, FileRecord, FileTracker
from agent.server.metrics import Metrics
from agent.sources import fileio
from agent.sources.docker_frames import Cursor

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".agent"
"""The identity file is the positions file's name plus this suffix."""

_SIDECAR_VERSION = 1
_CLEANUP_EXEMPT_PREFIXES = ("cursor-", "journal-")  # Promtail never removes these keys


SAVE_DELAY = 0.1
"""Seconds between a change and the save that writes it: acknowledgements arriving meanwhile share the write."""


class PositionStore:
    """The positions file, its identity side file, and the records and trackers behind them.

    ```yaml
    positions:
      filename: /var/lib/agent/positions.yaml
      sync_period: 10s
      ignore_invalid_yaml: false
    ```

    Call `load` once at startup (it reads the files inline: nothing else runs yet), run `run` as a task,
    and `close` at shutdown, after the clients have flushed. With `read_only` (dry-run, stdin) the store
    reads but never writes.
    """

    def __init__(self, config: PositionsConfig, metrics: Metrics, *, read_only: bool = False) -> None:
        self.path = os.path.abspath(config.filename)
        self.sidecar_path = self.path + SIDECAR_SUFFIX
        self.sync_period = config.sync_period
        self.ignore_invalid_yaml = config.ignore_invalid_yaml
        self.read_only = read_only
        self.metrics = metrics
        self._foreign: dict[str, str] = {}  # keys the store does not manage, written back as read
        self._current: dict[str, FileRecord] = {}
        self._rotated: list[FileRecord] = []
        self._dirty = False
        self._generation = 0
        self._written_generation = 0
        self._write_lock = threading.Lock()
        self._save_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._gauge_users: dict[str, int] = {}
        self.containers = ContainerCursors()

    # -- loading

    def load(self) -> None:
        """Read the positions file and its side file; create the directory. Raises `PositionsError`."""
        if not self.read_only:
            directory = os.path.dirname(self.path)
            try:
                fileio.ensure_directory_now(directory)
            except OSError as exc:
                raise PositionsError(
                    f"cannot write positions file {self.path}: {exc.strerror or exc} ({directory}); make the "
                    "directory writable by the agent's user, or choose another location with "
                    "positions.filename or -positions.file"
                ) from exc
        try:
            raw = fileio.read_file_now(self.path)
        except OSError as exc:
            raise PositionsError(
                f"cannot read positions file {self.path}: {exc.strerror or exc}; fix its permissions, or "
                "choose another location with positions.filename or -positions.file"
            ) from exc
        positions = self._parse_positions(raw) if raw is not None else {}
        identities, saved_containers = self._load_sidecar()
        try:
            self.containers.load(saved_containers, positions)
        except (ValueError, TypeError, KeyError) as exc:
            self.metrics.errors.labels(component="positions", reason="invalid_identity_file").inc()
            log.warning(
                "Container cursors in the side file unreadable; resuming containers from positions.yaml's seconds.",
                extra={"path": self.sidecar_path, "error": exc},
            )
            self.containers.load([], positions)
        for key, value in positions.items():
            if key.startswith(CURSOR_PREFIX) and value.isdigit():
                continue  # a container cursor: `self.containers` has it
            offset = _as_offset(key, value)
            if offset is None:
                self._foreign[key] = value
                continue
            saved = identities.pop(key, None)
            if saved is not None and saved.offset == offset:
                self._current[key] = saved
            else:
                self._current[key] = FileRecord(key, offset, None, None)
        log.info(
            "Positions loaded.",
            extra={
                "path": self.path, "files": len(self._current), "rotated": len(self._rotated),
                "containers": len(self.containers.promtail_keys()), "other_keys": len(self._foreign),
            },
        )

    def _parse_positions(self, raw: bytes) -> dict[str, str]:
        try:
            document = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            return self._invalid(_describe_yaml_error(exc))
        if document is None:
            return {}
        if not isinstance(document, dict):
            return self._invalid(f"expected a mapping with a `positions:` key, found {type(document).__name__}")
        unknown = sorted(str(k) for k in document if k != "positions")
        if unknown:
            log.warning(
                "Positions file has keys Promtail would reject; they are ignored and not written back.",
                extra={"path": self.path, "keys": ",".join(unknown)},
            )
        positions = document.get("positions")
        if positions is None:
            return {}
        if not isinstance(positions, dict):
            return self._invalid(f"`positions` must be a mapping of path to offset, found {type(positions).__name__}")
        return {str(k): _scalar_text(v) for k, v in positions.items()}

    def _invalid(self, problem: str) -> dict[str, str]:
        if not self.ignore_invalid_yaml:
            raise PositionsError(
                f"invalid positions file {self.path}: {problem}. Fix or delete it, or set "
                "positions.ignore_invalid_yaml: true (-positions.ignore-invalid-yaml) to set it aside and start "
                "afresh (files are then read again from their start)"
            )
        self.metrics.errors.labels(component="positions", reason="invalid_yaml").inc()
        aside = self.path + ".corrupt"
        if self.read_only:
            log.warning(
                "Positions file is invalid; starting afresh (read-only: left in place).",
                extra={"path": self.path, "problem": problem},
            )
            return {}
        try:
            fileio.rename_now(self.path, aside)
        except OSError as exc:
            self.metrics.errors.labels(component="positions", reason="set_aside_failed").inc()
            log.warning(
                "Positions file is invalid and could not be set aside; it will be overwritten.",
                extra={"path": self.path, "problem": problem, "error": exc},
            )
            return {}
        log.warning(
            "Positions file is invalid; set aside, starting afresh.",
            extra={"path": self.path, "kept_as": aside, "problem": problem},
        )
        return {}

    def _load_sidecar(self) -> tuple[dict[str, FileRecord], list[object]]:
        """The side file's current file records (rotated ones go to `_rotated`) and its container cursors."""
        try:
            raw = fileio.read_file_now(self.sidecar_path)
            if raw is None:
                return {}, []
            document = yaml.safe_load(raw)
            entries = document.get("files") if isinstance(document, dict) else None
            if not isinstance(entries, list):
                raise ValueError("no `files:` list")
            containers = document.get("containers") or []
            if not isinstance(containers, list):
                raise ValueError("`containers:` is not a list")
            current: dict[str, FileRecord] = {}
            for entry in entries:
                record = _record_from_yaml(entry)
                if record.rotated:
                    self._rotated.append(record)
                else:
                    current[record.key] = record
        except (OSError, yaml.YAMLError, ValueError, TypeError, KeyError) as exc:
            self.metrics.errors.labels(component="positions", reason="invalid_identity_file").inc()
            log.warning(
                "File identities unreadable; rotation while stopped cannot be detected this time.",
                extra={"path": self.sidecar_path, "error": exc},
            )
            self._rotated.clear()
            return {}, []
        return current, containers

    # -- generic keys (journal or container cursors)

    def get(self, key: str) -> str | None:
        """The value saved under `key` (a file's offset as text, or a cursor), or None."""
        record = self._current.get(key)
        if record is not None:
            return str(record.offset)
        return self._foreign.get(key)

    def set(self, key: str, value: str) -> None:
        """Save `value` under `key`. For keys that are not files (cursors): files go through `FileTracker`."""
        if key in self._current:
            raise ValueError(f"{key} is a file position: update it through its FileTracker")
        if self._foreign.get(key) != value:
            self._foreign[key] = value
            self.changed()

    def remove(self, key: str) -> None:
        """Forget `key` (a cursor, or an untracked file record)."""
        record = self._current.get(key)
        if record is not None:
            if record.tracker is not None:
                raise ValueError(f"{key} is being read: release its tracker instead")
            del self._current[key]
            self.changed()
        elif self._foreign.pop(key, None) is not None:
            self.changed()

    # -- container cursors

    def set_cursor(self, job: str, container_id: str, cursor: Cursor) -> None:
        """Save `cursor` as where `job` has delivered the container's log up to."""
        if self.containers.set(job, container_id, cursor):
            self.changed()

    def forget_cursor(self, job: str, container_id: str) -> None:
        """Forget `job`'s cursor of a container (it was removed)."""
        if self.containers.remove(job, container_id):
            self.changed()

    # -- file records

    def record(self, path: str) -> FileRecord | None:
        """The current record of `path`, tracked or not."""
        return self._current.get(path)

    def rotated_records(self) -> list[FileRecord]:
        """Rotated records nobody is draining (found in the side file at startup)."""
        return [r for r in self._rotated if r.tracker is None]

    def records(self) -> list[FileRecord]:
        """Every file record, current then rotated."""
        return [*self._current.values(), *self._rotated]

    def new_record(self, path: str, identity: FileIdentity | None, offset: int = 0) -> FileRecord:
        """Make `path`'s current record (replacing an untracked one): the file now at `path` starts at `offset`."""
        old = self._current.get(path)
        if old is not None and old.tracker is not None:
            raise PositionsError(f"{path} is already being read")
        record = FileRecord(path, offset, identity, None)
        self._current[path] = record
        self.changed()
        return record

    def track(self, record: FileRecord, fanout: int, *, count_bytes: bool = True) -> FileTracker:
        """Start tracking acknowledgements for `record`. Raises `PositionsError` if it is already tracked."""
        if record.tracker is not None:
            raise PositionsError(f"{record.key} is already being read")
        tracker = FileTracker(self, record, fanout, count_bytes=count_bytes)
        record.tracker = tracker
        return tracker

    def mark_rotated(self, record: FileRecord) -> None:
        """`record`'s file is no longer at its path but still has lines to read: keep it in the side file."""
        if record.rotated:
            return
        if self._current.get(record.key) is record:
            del self._current[record.key]
        record.rotated = True
        self._rotated.append(record)
        self.changed()

    def rekey(self, record: FileRecord, path: str) -> None:
        """`record`'s file is now the current file at `path` (a rotated file that the globs match, say)."""
        old = self._current.get(path)
        if old is not None and old is not record and old.tracker is not None:
            raise PositionsError(f"{path} is already being read")
        if record.rotated:
            self._rotated.remove(record)
            record.rotated = False
        elif self._current.get(record.key) is record:
            del self._current[record.key]
        record.key = path
        self._current[path] = record
        if record.tracker is not None:
            record.tracker._relabel(path)
        self.changed()

    def release(self, record: FileRecord) -> None:
        """Forget `record`: its file is fully read and acknowledged, gone, or replaced."""
        if record.tracker is not None:
            record.tracker._detach()
            record.tracker = None
        if record.rotated:
            if record in self._rotated:
                self._rotated.remove(record)
                self.changed()
        elif self._current.get(record.key) is record:
            del self._current[record.key]
            self.changed()

    def untrack(self, record: FileRecord) -> None:
        """Stop tracking `record` but keep it (shutdown, reload, or a reader that will be restarted).

        Chunks already handed out still advance its offset when acknowledged (clients flush after sources
        stop), until another reader tracks the record."""
        if record.tracker is not None:
            record.tracker._detach(keep_acks=True)
            record.tracker = None

    def changed(self) -> None:
        """Mark the state as changed: the next save writes it, within `SAVE_DELAY` when `run` is running."""
        self._dirty = True
        self._changed.set()

    def _track_gauge(self, path: str) -> Gauge:
        self._gauge_users[path] = self._gauge_users.get(path, 0) + 1
        return self.metrics.unacked_bytes.labels(path=path)

    def _untrack_gauge(self, path: str) -> None:
        users = self._gauge_users.get(path, 0) - 1
        if users > 0:
            self._gauge_users[path] = users
            return
        if path in self._gauge_users:
            del self._gauge_users[path]
            self.metrics.unacked_bytes.remove(path)

    # -- saving

    async def run(self) -> None:
        """Save soon after every change, at least every `sync_period`, and forget files that no longer exist.

        Promtail saves every `sync_period` (10 s), so a crash re-sends up to 10 s of lines Loki already has.
        Here a change (an acknowledgement, mostly) is written within `SAVE_DELAY`: a burst of acknowledgements
        becomes one write, and a crash re-sends little more than what was in flight.
        """
        if self.read_only:
            return
        loop = asyncio.get_running_loop()
        cleanup_at = loop.time() + self.sync_period
        while True:
            try:
                async with asyncio.timeout_at(cleanup_at):
                    await self._changed.wait()
            except TimeoutError:
                pass
            self._changed.clear()
            await asyncio.sleep(SAVE_DELAY)
            await self.save()
            if loop.time() >= cleanup_at:
                await self._cleanup()
                cleanup_at = loop.time() + self.sync_period

    async def close(self) -> bool:
        """Save what is acknowledged now (at shutdown, after clients flushed). Returns whether it worked."""
        return await self.save()

    async def save(self) -> bool:
        """Write both files if something changed since the last save. Returns False if writing failed."""
        if self.read_only or not self._dirty:
            return True
        async with self._save_lock:
            self._dirty = False
            self._generation += 1
            generation = self._generation
            positions, files, containers = self._snapshot()
            try:
                await asyncio.to_thread(self._write, generation, positions, files, containers)
            except OSError as exc:
                self._dirty = True
                self.metrics.positions_saved.labels(result="error").inc()
                self.metrics.errors.labels(component="positions", reason="save_failed").inc()
                log.error(
                    "Saving positions failed; will retry. Make the directory writable or choose another "
                    "location with -positions.file.",
                    extra={"path": self.path, "error": exc},
                )
                return False
            except BaseException:
                self._dirty = True
                raise
            self.metrics.positions_saved.labels(result="ok").inc()
            return True

    def _snapshot(self) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
        positions = dict(self._foreign)
        files: list[dict[str, Any]] = []
        for record in self._current.values():
            positions[record.key] = str(record.offset)
            if record.identity is not None:
                files.append(_record_to_yaml(record))
        files.extend(_record_to_yaml(r) for r in self._rotated if r.identity is not None)
        positions.update(self.containers.promtail_keys())
        return positions, files, self.containers.to_yaml()

    def _write(
        self, generation: int, positions: dict[str, str], files: list[dict[str, Any]],
        containers: list[dict[str, Any]],
    ) -> None:
        # A save cancelled at shutdown may still be writing in its thread when `close` saves: the lock
        # orders them, and an older snapshot never overwrites a newer one.
        with self._write_lock:
            if generation <= self._written_generation:
                return
            main = yaml.dump({"positions": positions}, Dumper=_PositionsDumper, default_flow_style=False)
            side = "# Written by the agent beside its Promtail-format positions file; Promtail ignores it.\n"
            side += yaml.dump(
                {"version": _SIDECAR_VERSION, "files": files, "containers": containers},
                Dumper=_PositionsDumper, default_flow_style=False,
                sort_keys=False,
            )
            # Side file first: if the main file's write is lost, its offsets differ from the side file's,
            # and `load` falls back to the main file's (older, acknowledged) offsets.
            fileio.write_atomic_now(self.sidecar_path, side.encode())
            fileio.write_atomic_now(self.path, main.encode())
            self._written_generation = generation

    async def _cleanup(self) -> None:
        # Promtail's rule: a file key whose file no longer exists is forgotten (cursors are kept). Rotated
        # records nobody claimed at startup are forgotten too: sources claim theirs before the first save.
        stale = [r for r in self._rotated if r.tracker is None]
        for record in stale:
            self._rotated.remove(record)
            self.changed()
        candidates = [
            key for key, record in self._current.items()
            if record.tracker is None and key.startswith("/") and not key.startswith(_CLEANUP_EXEMPT_PREFIXES)
        ]
        if not candidates:
            return
        stats = await fileio.stat_paths(candidates)
        for key, result in stats.items():
            current = self._current.get(key)
            if current is None or current.tracker is not None:
                continue
            if isinstance(result, FileNotFoundError):
                del self._current[key]
                self.changed()
            elif isinstance(result, OSError):
                self.metrics.errors.labels(component="positions", reason="cleanup_stat_failed").inc()
                log.warning(
                    "Cannot tell whether a file still exists; keeping its position.",
                    extra={"path": key, "error": result},
                )


# -- YAML helpers


# libyaml's emitter when PyYAML has it: with many containers the files are written up to ten times a
# second, and the pure-Python emitter took 18 % of the agent's CPU following 60 containers.
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _PositionsDumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Writes strings plainly unless YAML would read them as something else, then double-quoted (as Go does)."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = None
    if dumper.resolve(yaml.ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":  # type: ignore[no-untyped-call]
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_PositionsDumper.add_representer(str, _represent_str)


def _scalar_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _as_offset(key: str, value: str) -> int | None:
    # A file key holds a decimal offset; journal cursors and other keys hold anything else.
    if key.startswith(_CLEANUP_EXEMPT_PREFIXES) or not value.isdigit():
        return None
    return int(value)


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)


def _record_to_yaml(record: FileRecord) -> dict[str, Any]:
    identity = record.identity
    assert identity is not None
    return {
        "path": record.key,
        "offset": record.offset,
        "rotated": record.rotated,
        "device": identity.device,
        "inode": identity.inode,
        "size": record.size if record.size is not None else -1,
        "fingerprint": identity.fingerprint,
        "fingerprint_size": identity.fingerprint_size,
    }


def _record_from_yaml(entry: object) -> FileRecord:
    if not isinstance(entry, dict):
        raise ValueError(f"expected a mapping per file, found {entry!r}")
    identity = FileIdentity(
        int(entry["device"]), int(entry["inode"]), str(entry["fingerprint"]), int(entry["fingerprint_size"])
    )
    size = int(entry.get("size", -1))
    return FileRecord(
        str(entry["path"]), int(entry["offset"]), identity, size if size >= 0 else None, bool(entry["rotated"])
    )
