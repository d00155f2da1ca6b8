"""Filesystem events for the file source: inotify (through watchfiles) on the directories its globs start from.

`DirectoryWatcher` watches a set of directories (each with or without its subdirectories) and hands every
batch of changes to a callback; it restarts when the set changes, and after a failure (inotify limits, a
directory removed meanwhile) it waits for the next `watch` call, while polling and periodic syncs carry on.
Not here: what a change means (`agent.sources.file`), which directories to watch (`agent.sources.globs`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import watchfiles

from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

WATCH_DEBOUNCE_MS = 50
WATCH_STEP_MS = 10
"""watchfiles batching: a change is reported after 10 ms of quiet, or 50 ms into a burst of changes."""

Changes = set[tuple[watchfiles.Change, str]]


class DirectoryWatcher:
    """Runs watchfiles on the directories last given to `watch`; `run` until cancelled, `stop` before waiting.

    `on_changes` receives each batch of changes; `on_started` is called each time a watch (re)starts, since
    files created while it was starting raised no event.
    """

    def __init__(
        self, on_changes: Callable[[Changes], None], on_started: Callable[[], None], metrics: Metrics
    ) -> None:
        self._on_changes = on_changes
        self._on_started = on_started
        self._metrics = metrics
        self._roots: dict[str, bool] = {}
        self._stop = asyncio.Event()
        self._failed = False

    def watch(self, roots: dict[str, bool]) -> None:
        """Watch these directories (True: with their subdirectories); restarts the watch when they changed."""
        if roots != self._roots or self._failed:
            self._roots = roots
            self._failed = False
            self._stop.set()  # the watch loop restarts with the new roots

    def stop(self) -> None:
        """End the current watch. watchfiles waits in a thread that only checks this event: set it at shutdown
        before the task group waits for `run`."""
        self._stop.set()

    async def run(self) -> None:
        """Watch until cancelled, restarting whenever `watch` changes the directories."""
        while True:
            stop = self._stop = asyncio.Event()
            roots = dict(self._roots)
            if not roots:
                await stop.wait()
                continue
            async with asyncio.TaskGroup() as group:
                for recursive in (False, True):
                    dirs = sorted(d for d, r in roots.items() if r is recursive)
                    if dirs:
                        group.create_task(self._watch(dirs, recursive, stop))
                self._on_started()

    async def _watch(self, dirs: list[str], recursive: bool, stop: asyncio.Event) -> None:
        try:
            async for changes in watchfiles.awatch(
                *dirs, watch_filter=None, debounce=WATCH_DEBOUNCE_MS, step=WATCH_STEP_MS, stop_event=stop,
                recursive=recursive, rust_timeout=1000,
            ):
                self._on_changes(changes)
        except (OSError, RuntimeError) as exc:
            # inotify limits, a directory removed meanwhile: polling still reads appends and syncs still
            # find files, only later. Retried at the next sync.
            self._failed = True
            self._metrics.errors.labels(component="file", reason="watch_failed").inc()
            log.warning(
                "Watching directories failed; falling back to polling.",
                extra={"dirs": ",".join(dirs), "error": exc},
            )
            await stop.wait()
