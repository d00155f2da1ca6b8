"""Container targets of one `docker_sd_configs` entry: discover containers, follow each one's log, resume exactly.

```yaml
scrape_configs:
  - job_name: containers
    docker_sd_configs:
      - host: unix:///var/run/docker.sock
        refresh_interval: 5s
        filters: [{name: label, values: ["logging=promtail"]}]
    relabel_configs:
      - source_labels: [__meta_docker_container_name]
        regex: /(.*)
        target_label: container
```

Discovery lists the running containers (with the entry's `filters`) at start, whenever the events API
reports a container starting, and every `refresh_interval` as a safety net, so a new container is followed
within a second of starting. `relabel_configs` run once per container and stream (with
``__meta_docker_container_log_stream`` set), not once per line. Each container is followed by one coroutine
reading ``GET /containers/{id}/logs?follow=1&timestamps=1`` (`agent.sources.docker_frames` decodes it);
the entries carry Docker's timestamps and a ``stream`` label (stdout or stderr) unless relabelling set one.

A container that stops is read to its last line, then released; if it starts again (same ID), following
resumes where reading stopped. Acknowledged entries advance the container's cursor in the positions file
(`agent.positions.cursors`), so after an agent restart each container resumes right after its last
delivered line. A cursor is forgotten when its container is removed.

When the daemon cannot be reached the source says why and what to do (`agent.sources.docker_api`), shows
as failing in `/ready`, `/status` and ``agent_docker_target_up``, and retries with backoff; other targets
are not affected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

from agent.config.model import DockerSDConfig, LimitsConfig
from agent.logs import RateLimitedLogger, log_fields
from agent.model import Chunk, Labels, LogEntry
from agent.positions.cursors import CursorTracker
from agent.positions.store import PositionStore
from agent.relabel import RelabelConfig, relabel
from agent.server.metrics import Metrics
from agent.sources.coalesce import ChunkCoalescer
from agent.sources.docker_api import DockerAPI, DockerNotFound, DockerUnavailable
from agent.sources.docker_frames import STDERR, STDOUT, Cursor, Decoded, FrameError, LogDecoder, Mark
from agent.sources.docker_targets import LOG_STREAM_LABEL, Container, containers, network_labels
from agent.sources.ratelimit import DROP_REASON, ReadlineLimiter
from agent.sources.tail import LINE_TOO_LONG, ChunkSink

log = logging.getLogger(__name__)

STREAM_LABEL = "stream"
"""The label that tells a container's stdout from its stderr (as Promtail's `docker` stage sets it)."""

DEFAULT_MAX_LINE = 256 * 1024
"""Bytes a line joined from Docker's 16 KiB pieces may have without `limits_config.max_line_size`
(Loki's own default line limit); longer lines are cut there and counted."""

RETRY_MIN = 0.5
RETRY_MAX = 30.0
"""Seconds between attempts to reach an unreachable daemon: doubling from `RETRY_MIN` up to `RETRY_MAX`."""

RESTART_CHECK = 0.25
"""Seconds after a container's log ended before it may be followed again (it restarted, or is stopping)."""

_EVENTS = {"type": ["container"], "event": ["start", "die", "destroy"]}


class _Followed:
    """What the source keeps per container: labels per stream, where reading got to, acknowledgements."""

    __slots__ = ("container", "drained", "labels", "read", "retry_at", "task", "tracker")

    def __init__(self, container: Container, labels: dict[str, Labels | None], tracker: CursorTracker) -> None:
        self.container = container
        self.labels = labels  # by stream; None: relabelling dropped that stream
        self.tracker = tracker
        self.read: Cursor | None = None  # where the last follower stopped reading, in this process
        self.task: asyncio.Task[None] | None = None
        self.retry_at = 0.0
        self.drained = False  # its log was read to the end (it stopped) since it last started


class DockerSource:
    """Follows the containers one `docker_sd_configs` entry discovers, into `queue`, until cancelled."""

    def __init__(
        self,
        *,
        name: str,
        config: DockerSDConfig,
        relabel_configs: Sequence[RelabelConfig],
        queue: ChunkSink,
        positions: PositionStore,
        fanout: int,
        metrics: Metrics,
        limits: LimitsConfig | None = None,
        limiter: ReadlineLimiter | None = None,
        config_path: str = "",
        api: DockerAPI | None = None,
    ) -> None:
        limits = limits if limits is not None else LimitsConfig()
        self.name = name
        self._config = config
        self._relabel = list(relabel_configs)
        self._queue = ChunkCoalescer(queue)
        self._store = positions
        self._fanout = fanout
        self._metrics = metrics
        self._limiter = limiter
        self._max_line = limits.max_line_size or DEFAULT_MAX_LINE
        self._drop_long = bool(limits.max_line_size) and not limits.max_line_size_truncate
        self._api = api if api is not None else DockerAPI(config.host, config.tls_config, path=config_path)
        self._filters = {f.name: list(f.values) for f in config.filters}
        self._followed: dict[str, _Followed] = {}
        self._seen_starting: set[str] = set()  # started since the last refresh (events)
        self._wake = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self._failing: str | None = None
        self._connected = False
        self._daemon = ""
        self._started_ns = time.time_ns()
        self._warn = RateLimitedLogger(log, interval=60.0)
        self._up = metrics.docker_up.labels(job=name, host=config.host)
        self._up.set(0)
        self._gauge = metrics.docker_containers.labels(job=name)

    # -- lifetime

    async def run(self) -> None:
        """Discover and follow containers until cancelled, reconnecting to the daemon with backoff."""
        delay = RETRY_MIN
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._queue.run(), name=f"docker-chunks:{self.name}")
                while True:
                    self._connected = False
                    try:
                        await self._session()
                    except DockerUnavailable as exc:
                        self._set_failing(exc)
                    if self._connected:  # it worked for a while: a new failure starts the backoff afresh
                        delay = RETRY_MIN
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
        finally:
            await self._api.close()

    def status(self) -> dict[str, Any]:
        """For `/status`: the daemon, whether it answers, and every container followed or known."""
        listed: list[dict[str, Any]] = []
        for followed in self._followed.values():
            container = followed.container
            listed.append({
                "id": container.id[:12],
                "name": container.name,
                "state": "following" if followed.task is not None else "stopped",
                "acked_timestamp": _iso(followed.tracker.acked.timestamp),
            })
        listed.sort(key=lambda c: c["name"])
        return {
            "ready": any(c["state"] == "following" for c in listed),
            "failing": self._failing,
            "host": self._config.host,
            "daemon": self._daemon,
            "containers": listed,
        }

    async def _session(self) -> None:
        """One connection to the daemon: follow events and refresh until it fails (raises DockerUnavailable)."""
        version = await self._api.version()
        self._daemon = f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})"
        if self._failing is not None:
            log.info("Docker daemon reachable again.", extra=log_fields(job=self.name, host=self._config.host))
        self._failing = None
        self._connected = True
        self._up.set(1)
        events = asyncio.ensure_future(self._watch_events())
        try:
            refreshed_at = 0.0
            loop = asyncio.get_running_loop()
            while True:
                self._wake.clear()
                full = loop.time() - refreshed_at >= self._config.refresh_interval
                await self._refresh(expire=full)
                if full:
                    refreshed_at = loop.time()
                waiter = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    [events, waiter], timeout=self._next_refresh(refreshed_at, loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                if events.done():
                    events.result()  # raises DockerUnavailable
                    raise DockerUnavailable("the Docker daemon ended the events stream", "stream_closed")
        finally:
            events.cancel()
            await asyncio.gather(events, return_exceptions=True)

    def _next_refresh(self, refreshed_at: float, now: float) -> float:
        wait = refreshed_at + self._config.refresh_interval - now
        retry = [f.retry_at - now for f in self._followed.values() if f.task is None and f.retry_at > now]
        return max(0.0, min([wait, *retry]))

    def _set_failing(self, exc: DockerUnavailable) -> None:
        message = str(exc)
        self._up.set(0)
        self._metrics.errors.labels(component="docker", reason=exc.reason).inc()
        if message != self._failing:
            log.error(
                "Docker target failing; retrying with backoff. Other targets keep working.",
                extra=log_fields(job=self.name, host=self._config.host, reason=message),
            )
        self._failing = message

    # -- discovery

    async def _watch_events(self) -> None:
        async for event in self._api.events(_EVENTS):
            action = event.get("Action") or event.get("status", "")
            container_id = event.get("id") or (event.get("Actor") or {}).get("ID", "")
            if action == "destroy":
                self._forget(container_id)
            else:
                if action == "start":
                    self._seen_starting.add(container_id)
                self._wake.set()

    async def _refresh(self, *, expire: bool) -> None:
        # Stopped containers are listed too: one seen starting (however briefly it ran) or with a saved
        # cursor (it stopped while the agent was down) still owes lines, read once to its end.
        starting, self._seen_starting = self._seen_starting, set()
        listed = await self._api.containers(self._filters, all_=True)
        networks = network_labels(await self._api.networks())
        found = containers(
            listed, networks, port=self._config.port, host_networking_host=self._config.host_networking_host
        )
        now = asyncio.get_running_loop().time()
        for container in found:
            followed = self._followed.get(container.id)
            if followed is None:
                owed = container.id in starting or self._store.containers.get(self.name, container.id)
                if not container.running and not owed:
                    continue
                followed = self._followed[container.id] = self._track(container)
            if not container.running and followed.drained:
                continue  # read to its end already
            if followed.task is None and followed.retry_at <= now and any(followed.labels.values()):
                assert self._group is not None
                followed.task = self._group.create_task(self._follow(followed), name=f"docker:{container.name}")
        self._gauge.set(sum(1 for f in self._followed.values() if f.task is not None))
        if expire:
            existing = {c.id for c in found}
            for container_id in set(self._store.containers.ids(self.name)) | set(self._followed):
                if container_id not in existing:
                    self._forget(container_id)

    def _track(self, container: Container) -> _Followed:
        labels = {stream: self._stream_labels(container, stream) for stream in (STDOUT, STDERR)}
        saved = self._store.containers.adopt(self.name, container.id)
        container_id = container.id

        def on_advance(cursor: Cursor) -> None:
            self._store.set_cursor(self.name, container_id, cursor)

        return _Followed(container, labels, CursorTracker(saved or Cursor(), on_advance))

    def _stream_labels(self, container: Container, stream: str) -> Labels | None:
        discovered = dict(container.labels)
        discovered[LOG_STREAM_LABEL] = stream
        result = relabel(discovered, self._relabel)
        if result is None:
            return None
        labels = {k: v for k, v in result.items() if not k.startswith("__")}
        labels.setdefault(STREAM_LABEL, stream)
        return labels

    def _forget(self, container_id: str) -> None:
        followed = self._followed.get(container_id)
        if followed is not None and followed.task is not None:
            return  # still draining: forgotten at the next refresh after it ends
        self._followed.pop(container_id, None)
        self._store.forget_cursor(self.name, container_id)

    # -- following one container

    async def _follow(self, followed: _Followed) -> None:
        container = followed.container
        followed.drained = False
        decoder: LogDecoder | None = None
        try:
            info = await self._api.inspect(container.id)
            tty = bool((info.get("Config") or {}).get("Tty"))
            resume = followed.read or followed.tracker.acked
            if resume == Cursor():
                resume = self._first_cursor(info)
            decoder = self._decoder(tty, resume)
            log.info(
                "Following container.",
                extra=log_fields(job=self.name, container=container.name, id=container.id[:12], tty=tty,
                                 since=_iso(resume.since())),
            )
            await self._read(followed, decoder, follow=True)
            # The daemon may end a followed stream when the container stops before it has sent everything
            # (seen with Docker 20.10: 40,356 of 100,000 lines). Read what is left without following.
            decoder = self._decoder(tty, decoder.cursor)
            await self._read(followed, decoder, follow=False)
            log.info(
                "Container stopped; its log is read to the end.",
                extra=log_fields(job=self.name, container=container.name, id=container.id[:12]),
            )
            followed.drained = True
            # The daemon may list it as running a moment longer: look again shortly, not in a tight loop.
            followed.retry_at = asyncio.get_running_loop().time() + RESTART_CHECK
        except DockerNotFound:
            log.info("Container removed.", extra=log_fields(job=self.name, container=container.name))
        except DockerUnavailable as exc:
            self._metrics.errors.labels(component="docker", reason=exc.reason).inc()
            followed.retry_at = asyncio.get_running_loop().time() + RETRY_MIN
            self._warn.warning(
                f"follow:{container.id}", "Following a container's log failed; resuming where it stopped.",
                extra=log_fields(job=self.name, container=container.name, reason=str(exc)),
            )
        except FrameError as exc:
            self._metrics.docker_parsing_errors.inc()
            self._metrics.errors.labels(component="docker", reason="bad_frame").inc()
            followed.retry_at = asyncio.get_running_loop().time() + RETRY_MAX
            log.error(
                "Unexpected data in a container's log stream; resuming after the last whole line.",
                extra=log_fields(job=self.name, container=container.name, error=str(exc)),
            )
        finally:
            if decoder is not None:
                followed.read = decoder.cursor
            followed.task = None
            self._gauge.set(sum(1 for f in self._followed.values() if f.task is not None))
            self._wake.set()  # a container restarted meanwhile is followed again at once

    def _decoder(self, tty: bool, resume: Cursor) -> LogDecoder:
        return LogDecoder(tty=tty, max_line_bytes=self._max_line, drop_long=self._drop_long, resume=resume)

    async def _read(self, followed: _Followed, decoder: LogDecoder, *, follow: bool) -> None:
        since = decoder.cursor.since_param()
        async with self._api.logs(followed.container.id, since=since, follow=follow) as body:
            while data := await body.readany():
                decoded = decoder.feed(data)
                if decoded:
                    await self._emit(followed, decoded, decoder.cursor)

    def _first_cursor(self, info: dict[str, Any]) -> Cursor:
        """Where to start a container with no cursor: its beginning, or (``start_from: now``) the agent's start."""
        if self._config.start_from == "beginning":
            return Cursor()
        started = _parse_docker_time(str((info.get("State") or {}).get("StartedAt", "")))
        if started is not None and started >= self._started_ns:
            return Cursor()  # started after the agent: everything it wrote is new
        start = Mark(self._started_ns, 0)
        return Cursor(start, start)

    async def _emit(self, followed: _Followed, decoded: Decoded, cursor: Cursor) -> None:
        self._metrics.docker_entries.inc(len(decoded) + (decoded.truncated if self._drop_long else 0))
        if decoded.truncated:
            self._count_long(followed, decoded)
        streams, timestamps, lines = decoded.streams, decoded.timestamps, decoded.lines
        labels = followed.labels
        if labels[STDOUT] is None or labels[STDERR] is None:  # relabelling dropped one stream
            keep = [i for i, stream in enumerate(streams) if labels[stream] is not None]
            streams = [streams[i] for i in keep]
            timestamps = [timestamps[i] for i in keep]
            lines = [lines[i] for i in keep]
        if self._limiter is not None and lines:
            lines, streams, timestamps = await self._limit(lines, streams, timestamps)
        checkpoint = followed.tracker.checkpoint(cursor, len(lines) * self._fanout)
        if not lines:
            return
        by_stream: dict[str, Labels] = labels  # type: ignore[assignment]  # dropped streams were filtered out
        chunk: Chunk = list(map(LogEntry, timestamps, lines, map(by_stream.__getitem__, streams), repeat(checkpoint)))
        await self._queue.put(chunk)

    async def _limit(
        self, lines: list[str], streams: list[str], timestamps: list[int]
    ) -> tuple[list[str], list[str], list[int]]:
        limiter = self._limiter
        assert limiter is not None
        if not limiter.drop:
            await limiter.acquire(len(lines))
            return lines, streams, timestamps
        allowed = limiter.allow(len(lines))
        if allowed < len(lines):
            self._metrics.stage_dropped.labels(reason=DROP_REASON).inc(len(lines) - allowed)
        return lines[:allowed], streams[:allowed], timestamps[:allowed]

    def _count_long(self, followed: _Followed, decoded: Decoded) -> None:
        labels = {"host": "", "reason": LINE_TOO_LONG, "tenant": ""}
        counter = self._metrics.dropped_entries if self._drop_long else self._metrics.mutated_entries
        counter.labels(**labels).inc(decoded.truncated)
        self._warn.warning(
            f"long:{followed.container.id}",
            "Container log line over the line size limit: "
            + ("dropped." if self._drop_long else "cut to the limit."),
            extra=log_fields(job=self.name, container=followed.container.name, limit=self._max_line),
        )


def _parse_docker_time(text: str) -> int | None:
    """Docker's RFC 3339 time (nanoseconds) in ns since the epoch, or None."""
    if not text or text.startswith("0001-"):
        return None
    fraction = "".join(ch for ch in text[20:].partition("Z")[0] if ch.isdigit()) if text[19:20] == "." else ""
    try:
        seconds = datetime.fromisoformat(text[:19] + "+00:00").timestamp()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int(fraction[:9].ljust(9, "0") or 0)


def _iso(timestamp: int) -> str | None:
    if not timestamp:
        return None
    seconds, nanos = divmod(timestamp, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
