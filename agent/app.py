"""Builds the running agent from a loaded config and owns its lifetime. The only module that wires parts.

Topology, per scrape config: source(s) → bounded queue → `Pipeline` task → every client's bounded queue →
`LokiClient` (or `StdoutClient` in dry-run). Checkpoints flow back: clients acknowledge entries, the
positions store advances offsets over acknowledged chunks only.

Shutdown is ordered, as uvicorn's is: `/ready` goes false, sources stop, pipelines drain (holding stages
flush), clients flush within the grace period, positions are saved, the HTTP server stops last. A second
SIGINT exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agent import sdnotify
from agent.client.loki import LokiClient
from agent.client.stdout import StdoutClient
from agent.config.loader import LoadedConfig
from agent.config.model import ScrapeConfig
from agent.errors import AgentError, ConfigError, ConfigProblem
from agent.inspect import inspect_stages
from agent.logs import log_fields
from agent.model import Chunk
from agent.pipeline import Pipeline
from agent.positions.store import PositionStore
from agent.queues import bounded_queue
from agent.relabel import relabel
from agent.server.health import Health
from agent.server.metrics import Metrics
from agent.sources.docker import DockerSource
from agent.sources.file import FileSource, FileTarget
from agent.sources.ratelimit import ReadlineLimiter
from agent.sources.stdin import StdinSource
from agent.stages.base import StageContext
from agent.stages.registry import build_stages

if TYPE_CHECKING:
    from agent.server.http import HttpServer

log = logging.getLogger(__name__)

PIPELINE_QUEUE_CHUNKS = 4
"""Chunks waiting between a scrape config's sources and its pipeline (each chunk is up to ~1 MiB of lines)."""


class Client(Protocol):
    queue: asyncio.Queue[Chunk]

    async def run(self) -> None: ...

    async def stop(self, timeout: float) -> None: ...

    def state(self) -> dict[str, Any]: ...

    @property
    def permanently_failing(self) -> bool: ...

    @property
    def failing(self) -> bool: ...

    @property
    def host(self) -> str: ...


@dataclass
class RunOptions:
    dry_run: bool = False
    stdin: bool = False
    inspect: bool = False
    shutdown_timeout: float = 30.0


class Agent:
    """One running agent: sources, pipelines, clients, positions and the HTTP server."""

    def __init__(self, loaded: LoadedConfig, options: RunOptions, metrics: Metrics | None = None) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.options = options
        self.metrics = metrics if metrics is not None else Metrics()
        self.health = Health(self.metrics)
        self.positions = PositionStore(
            self.config.positions, self.metrics, read_only=options.dry_run or options.stdin
        )
        self.clients: list[Client] = self._make_clients()
        self._sources: list[Any] = []
        self._pipelines: list[tuple[Pipeline, asyncio.Queue[Chunk | None]]] = []
        self.http: HttpServer | None = None
        self._stopping = asyncio.Event()
        # One bucket for every file, as Promtail's readline limit is global.
        self._readline_limiter = ReadlineLimiter.from_limits(self.config.limits_config)

    # -- building

    def _make_clients(self) -> list[Client]:
        if self.options.dry_run:
            return [StdoutClient()]
        configs = self.config.all_clients()
        if not configs:
            raise ConfigError(
                [
                    ConfigProblem(
                        "clients",
                        "no Loki client configured: add `clients: [{url: ...}]` or pass -client.url",
                    )
                ],
                self.loaded.source,
            )
        problems = []
        for index, client in enumerate(configs):
            path = f"clients[{index}].url" if index < len(self.config.clients) else "client.url"
            if (problem := client.push_url_problem) is not None:
                problems.append(ConfigProblem(path, f"this client cannot push: {problem}"))
        if problems:
            raise ConfigError(problems, self.loaded.source)
        max_streams = self.config.limits_config.max_streams
        return [LokiClient(c, self.metrics, max_streams=max_streams) for c in configs]

    def _pipeline(self, scrape: ScrapeConfig) -> tuple[Pipeline, asyncio.Queue[Chunk | None]]:
        context = StageContext(
            job_name=scrape.job_name,
            metrics=self.metrics,
            fanout=len(self.clients),
            build_stages=None,
        )
        stages = build_stages(self.loaded.pipelines.get(scrape.job_name, []), context)
        if self.options.inspect:
            stages = inspect_stages(stages)
        pipeline = Pipeline(stages, fanout=len(self.clients), name=scrape.job_name, metrics=self.metrics)
        queue: asyncio.Queue[Chunk | None] = bounded_queue(PIPELINE_QUEUE_CHUNKS)
        self._pipelines.append((pipeline, queue))
        return pipeline, queue

    def _file_targets(self, scrape: ScrapeConfig) -> list[FileTarget]:
        targets = []
        for static in scrape.static_configs:
            labels = dict(static.labels)
            if static.targets:
                labels.setdefault("__address__", static.targets[0])
            result = relabel(labels, scrape.relabel_configs)
            if result is None or "__path__" not in result:
                continue
            public = {k: v for k, v in result.items() if not k.startswith("__")}
            targets.append(FileTarget(result["__path__"], result.get("__path_exclude__", ""), public))
        return targets

    def _build_sources(self) -> None:
        if self.options.stdin:
            scrape = self.config.scrape_configs[0] if self.config.scrape_configs else None
            labels = stdin_labels(scrape)
            if scrape is None:
                pipeline = Pipeline([], fanout=len(self.clients), name="stdin", metrics=self.metrics)
                queue: asyncio.Queue[Chunk | None] = bounded_queue(PIPELINE_QUEUE_CHUNKS)
                self._pipelines.append((pipeline, queue))
            else:
                _, queue = self._pipeline(scrape)
            self._sources.append(StdinSource(queue, labels))
            return
        for index, scrape in enumerate(self.config.scrape_configs):
            targets = self._file_targets(scrape)
            if not targets and not scrape.docker_sd_configs:
                continue
            _, queue = self._pipeline(scrape)
            for number, docker in enumerate(scrape.docker_sd_configs):
                name = scrape.job_name if number == 0 else f"{scrape.job_name}[{number}]"
                docker_source = DockerSource(
                    name=scrape.job_name,
                    config=docker,
                    relabel_configs=scrape.relabel_configs,
                    queue=queue,
                    positions=self.positions,
                    fanout=len(self.clients),
                    metrics=self.metrics,
                    limits=self.config.limits_config,
                    limiter=self._readline_limiter,
                    config_path=f"scrape_configs[{index}].docker_sd_configs[{number}]",
                )
                self._sources.append(docker_source)
                self.health.register_target_status(f"{name}/docker", docker_source.status)
            if not targets:
                continue
            source = FileSource(
                name=scrape.job_name,
                targets=targets,
                queue=queue,
                positions=self.positions,
                fanout=len(self.clients),
                metrics=self.metrics,
                limits=self.config.limits_config,
                sync_period=self.config.target_config.sync_period,
                watch=self.config.global_.file_watch_config,
                encoding=scrape.encoding,
                decompression=scrape.decompression,
                limiter=self._readline_limiter,
            )
            self._sources.append(source)
            self.health.register_target_status(scrape.job_name, source.status)

    # -- running

    async def run(self) -> int:
        """Run until a signal (or, with -stdin, the end of input); return the process exit code."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        tune_gc()
        tune_malloc()
        self.positions.load()
        self._build_sources()
        for index, client in enumerate(self.clients):
            self.health.register_client(f"client-{index}", client)
        self.health.set_config_loaded(self.loaded.source, [str(w) for w in self.loaded.warnings])
        if not self.config.server.disable and not self.options.stdin:
            # Imported here: aiohttp costs about 10 MiB and 0.15 s of start-up to agents that disable the server.
            from agent.server.http import HttpServer

            self.http = HttpServer(self.config.server, self.metrics, self.health)
            try:
                await self.http.start()
            except OSError as exc:
                if not self.options.dry_run:
                    raise AgentError(
                        f"cannot listen on {self.config.server.http_listen_address}:"
                        f"{self.config.server.http_listen_port}: {exc.strerror}; "
                        "set server.http_listen_port or -server.http-listen-port"
                    ) from exc
                log.warning("HTTP server not started in dry-run.", extra=log_fields(reason=exc.strerror))
                self.http = None
        async with asyncio.TaskGroup() as group:
            client_tasks = [group.create_task(client.run(), name="client") for client in self.clients]
            pipeline_tasks = [
                group.create_task(p.run(q, self.clients), name=f"pipeline:{p.name}")
                for p, q in self._pipelines
            ]
            source_tasks = [group.create_task(s.run(), name="source") for s in self._sources]
            positions_task = group.create_task(self.positions.run(), name="positions")
            watchdog = group.create_task(sdnotify.watchdog_loop(metrics=self.metrics), name="watchdog")
            self.health.set_started()
            sdnotify.notify(sdnotify.READY, metrics=self.metrics)
            log.info(
                "Agent started.",
                extra=log_fields(
                    config=self.loaded.source,
                    clients=len(self.clients),
                    pipelines=len(self._pipelines),
                    dry_run=self.options.dry_run,
                ),
            )
            if self.options.stdin:
                # Standard input ends the run at EOF, or a signal does.
                stop_waiter = group.create_task(self._stopping.wait(), name="stop-waiter")
                await asyncio.wait([*source_tasks, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
                stop_waiter.cancel()
            else:
                await self._stopping.wait()
            await self._shutdown(source_tasks, pipeline_tasks, client_tasks, [positions_task, watchdog])
        return 0

    async def _shutdown(
        self,
        sources: list[asyncio.Task[None]],
        pipelines: list[asyncio.Task[None]],
        clients: list[asyncio.Task[None]],
        others: list[asyncio.Task[Any]],
    ) -> None:
        log.info("Shutting down: stopping sources, draining pipelines, flushing clients.")
        self.health.set_stopping()
        sdnotify.notify(sdnotify.STOPPING, metrics=self.metrics)
        for task in sources:
            task.cancel()
        await asyncio.gather(*sources, return_exceptions=True)
        for _, queue in self._pipelines:
            await queue.put(None)  # pipelines drain what is queued, flush held entries, then return
        await asyncio.gather(*pipelines, return_exceptions=True)
        timeout = self.options.shutdown_timeout
        await asyncio.gather(*(client.stop(timeout) for client in self.clients))
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.positions.close()
        if self.http is not None:
            await self.http.stop()
        log.info("Agent stopped.")

    def request_stop(self) -> None:
        self._stopping.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        interrupts = 0

        def on_signal(signum: int) -> None:
            nonlocal interrupts
            if signum == signal.SIGINT:
                interrupts += 1
                if interrupts > 1:
                    log.warning("Second interrupt: exiting now without flushing.")
                    os._exit(130)
            log.info("Signal received, shutting down.", extra=log_fields(signal=signal.Signals(signum).name))
            self.request_stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on the main thread (tests)
                loop.add_signal_handler(signum, on_signal, signum)


def check_stages(loaded: LoadedConfig) -> None:
    """Build every pipeline once, as `-check-syntax` does, so checks only a constructor can make (a metric
    name clash, an unreadable GeoIP database) are reported too. Raises ConfigError."""
    metrics = Metrics()
    problems: list[ConfigProblem] = []
    for scrape in loaded.config.scrape_configs:
        try:
            build_stages(loaded.pipelines.get(scrape.job_name, []), StageContext(scrape.job_name, metrics))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems, loaded.source)


def tune_gc() -> None:
    """Keep the cyclic garbage collector from rescanning every queued entry many times a second.

    Entries are allocated by the million and live a while in queues and batches; with the default
    thresholds each young-generation collection walks them again, which tripled the cost of creating an
    entry. Entries form no reference cycles, so collecting rarely loses nothing. Objects made at start-up
    (modules, config, compiled regexes) are moved out of the collector's sight for good.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MALLOC_KEEP_BYTES = 8 * 1024 * 1024
"""Blocks up to this size come from (and free memory up to 4x this size stays in) the C heap."""


def tune_malloc() -> None:
    """Keep glibc from returning the memory of each batch's big buffers to the kernel, only to map it again.

    Every batch allocates blocks of a few hundred KiB to a few MiB (file reads, the encoded and compressed
    push body) and frees them soon after. By default glibc maps such blocks anew (or trims its heap) each
    time, and the kernel zero-fills every page again: a 1M-line file cost 90,000 page faults, a tenth of the
    agent's CPU. Fixed thresholds keep those blocks in the heap; peak RSS does not change. A C library other
    than glibc (musl, macOS) has no such knob, or ignores it.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # TypeError: no C library handle to open (Windows)
        return
    mallopt(_M_MMAP_THRESHOLD, MALLOC_KEEP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, 4 * MALLOC_KEEP_BYTES)


def stdin_labels(scrape: ScrapeConfig | None) -> dict[str, str]:
    """The starting labels of `-stdin` entries: the scrape config's merged static labels, as Promtail."""
    if scrape is None:
        return {"job": "stdin", "hostname": socket.gethostname()}
    labels: dict[str, str] = {}
    for static in scrape.static_configs:
        labels.update(static.labels)
    return {k: v for k, v in labels.items() if not k.startswith("__")}
