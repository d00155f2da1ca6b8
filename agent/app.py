"""Builds the running agent from a loaded config and owns its lifetime. The only module that wires parts.

Topology, per scrape config: source(s) → bounded queue → `Pipeline` task → every client's bounded queue →
`LokiClient` (or `StdoutClient` in dry-run). Checkpoints flow back: clients acknowledge entries, the
positions store advances offsets over acknowledged chunks only.

Shutdown is ordered, as uvicorn's is: `/ready` goes false, sources stop, pipelines drain (holding stages
flush), clients flush within the grace period, positions are saved, the HTTP server stops last. A second
SIGINT exits at once. A reload (SIGHUP, ``POST /reload``) runs the first half of that order on the current
`Topology` and starts the new config's: positions carry over, so nothing is lost or sent twice.
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
from collections.abc import Callable
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
from agent.sources.file import FileSource, FileTarget
from agent.sources.ratelimit import ReadlineLimiter
from agent.sources.stdin import StdinSource
from agent.stages.base import StageContext
from agent.stages.registry import build_stages

if TYPE_CHECKING:
    from agent.server.http import HttpServer
    from agent.sources.docker import DockerSource

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


class Topology:
    """Everything one config builds: clients, a pipeline per scrape config, sources. A reload replaces it.

    `run` runs the parts until `stop` is called, then shuts them down in order: sources stop, pipelines
    drain (holding stages flush), clients flush within the grace period. The positions store and the HTTP
    server outlive it (they belong to the `Agent`).
    """

    def __init__(
        self, loaded: LoadedConfig, options: RunOptions, metrics: Metrics, positions: PositionStore, health: Health
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.options = options
        self.metrics = metrics
        self.positions = positions
        self.health = health
        self.clients: list[Client] = self._make_clients()
        self.sources: list[Any] = []
        self.pipelines: list[tuple[Pipeline, asyncio.Queue[Chunk | None]]] = []
        self.targets: dict[str, FileSource | DockerSource] = {}  # shown in /status, by name
        self._stopping = asyncio.Event()
        # One bucket for every file, as Promtail's readline limit is global.
        self._readline_limiter = ReadlineLimiter.from_limits(self.config.limits_config)
        self._build_sources()

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

    def _pipeline(self, scrape: ScrapeConfig) -> asyncio.Queue[Chunk | None]:
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
        self.pipelines.append((pipeline, queue))
        return queue

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
                self.pipelines.append((pipeline, queue))
            else:
                queue = self._pipeline(scrape)
            self.sources.append(StdinSource(queue, labels))
            return
        for index, scrape in enumerate(self.config.scrape_configs):
            targets = self._file_targets(scrape)
            if not targets and not scrape.docker_sd_configs:
                continue
            queue = self._pipeline(scrape)
            if scrape.docker_sd_configs:
                # Imported here: the Docker client (aiohttp's) costs 0.15 s of start-up to agents without it.
                from agent.sources.docker import DockerSource
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
                self._add_source(f"{name}/docker", docker_source)
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
            self._add_source(scrape.job_name, source)

    def _add_source(self, name: str, source: FileSource | DockerSource) -> None:
        self.sources.append(source)
        self.targets[name] = source

    # -- running

    def register(self) -> None:
        """Show this topology's targets and clients in `/status` and `/ready`."""
        for name, source in self.targets.items():
            self.health.register_target_status(name, source.status)
        for index, client in enumerate(self.clients):
            self.health.register_client(f"client-{index}", client)

    def unregister(self) -> None:
        for name in self.targets:
            self.health.unregister_target(name)
        for index in range(len(self.clients)):
            self.health.unregister_client(f"client-{index}")

    def stop(self) -> None:
        """Begin the ordered shutdown; `run` returns once it is done."""
        self._stopping.set()

    async def run(self) -> None:
        """Run every part until `stop` (or, with -stdin, the end of input), then shut them down in order."""
        async with asyncio.TaskGroup() as group:
            client_tasks = [group.create_task(client.run(), name="client") for client in self.clients]
            pipeline_tasks = [
                group.create_task(p.run(q, self.clients), name=f"pipeline:{p.name}") for p, q in self.pipelines
            ]
            source_tasks = [group.create_task(s.run(), name="source") for s in self.sources]
            stop_waiter = group.create_task(self._stopping.wait(), name="stop-waiter")
            if self.options.stdin:
                # Standard input ends the run at EOF, or a signal does.
                await asyncio.wait([*source_tasks, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
            else:
                await stop_waiter
            stop_waiter.cancel()
            for task in source_tasks:
                task.cancel()
            await asyncio.gather(*source_tasks, return_exceptions=True)
            for _, queue in self.pipelines:
                await queue.put(None)  # pipelines drain what is queued, flush held entries, then return
            await asyncio.gather(*pipeline_tasks, return_exceptions=True)
            timeout = self.options.shutdown_timeout
            await asyncio.gather(*(client.stop(timeout) for client in self.clients))
            for task in client_tasks:
                task.cancel()
            await asyncio.gather(*client_tasks, return_exceptions=True)


class Agent:
    """One running agent: the positions store, the HTTP server, and the `Topology` of the current config.

    `reload` (SIGHUP, or ``POST /reload`` with ``server.enable_runtime_reload``) loads the config again with
    `load` (the CLI's loader, same flags); a config that does not load or build is refused and the running
    one keeps running. Otherwise the running topology shuts down in order (clients flush, so every line read
    is acknowledged), the new one starts from the positions, and nothing is lost or read twice.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        options: RunOptions,
        metrics: Metrics | None = None,
        load: Callable[[], LoadedConfig] | None = None,
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.options = options
        self.metrics = metrics if metrics is not None else Metrics()
        self.health = Health(self.metrics)
        self.positions = PositionStore(
            self.config.positions, self.metrics, read_only=options.dry_run or options.stdin
        )
        self._load = None if options.stdin else load  # standard input is read once: nothing to reload
        self.topology = Topology(loaded, options, self.metrics, self.positions, self.health)
        self.http: HttpServer | None = None
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._topology_task: asyncio.Task[None] | None = None
        self._group: asyncio.TaskGroup | None = None

    # -- running

    async def run(self) -> int:
        """Run until a signal (or, with -stdin, the end of input); return the process exit code."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        tune_gc()
        tune_malloc()
        self.positions.load()
        self.topology.register()
        self.health.set_config_loaded(self.loaded.source, [str(w) for w in self.loaded.warnings])
        if not self.config.server.disable and not self.options.stdin:
            # Imported here: aiohttp costs about 10 MiB and 0.15 s of start-up to agents that disable the server.
            from agent.server.http import HttpServer

            reload = self.reload if self.config.server.enable_runtime_reload and self._load else None
            self.http = HttpServer(self.config.server, self.metrics, self.health, reload)
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
            self._group = group
            self._topology_task = group.create_task(self.topology.run(), name="topology")
            positions_task = group.create_task(self.positions.run(), name="positions")
            watchdog = group.create_task(sdnotify.watchdog_loop(metrics=self.metrics), name="watchdog")
            self.health.set_started()
            sdnotify.notify(sdnotify.READY, metrics=self.metrics)
            log.info(
                "Agent started.",
                extra=log_fields(
                    config=self.loaded.source,
                    clients=len(self.topology.clients),
                    pipelines=len(self.topology.pipelines),
                    dry_run=self.options.dry_run,
                ),
            )
            stop_waiter = group.create_task(self._stopping.wait(), name="stop-waiter")
            if self.options.stdin:  # the end of standard input ends the run, or a signal does
                await asyncio.wait([self._topology_task, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
            else:
                await stop_waiter
            stop_waiter.cancel()
            await self._shutdown([positions_task, watchdog])
        return 0

    async def _shutdown(self, others: list[asyncio.Task[Any]]) -> None:
        log.info("Shutting down: stopping sources, draining pipelines, flushing clients.")
        self.health.set_stopping()
        sdnotify.notify(sdnotify.STOPPING, metrics=self.metrics)
        async with self._reload_lock:  # a reload in progress finishes first
            self.topology.stop()
            assert self._topology_task is not None
            await self._topology_task
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.positions.close()
        if self.http is not None:
            await self.http.stop()
        log.info("Agent stopped.")

    def request_stop(self) -> None:
        self._stopping.set()

    async def reload(self) -> None:
        """Load the config again and switch to it. Raises `ConfigError` (and keeps running) when it is bad."""
        if self._load is None:
            raise AgentError("this agent was started without a config file to reload")
        async with self._reload_lock:
            if self._stopping.is_set():
                raise AgentError("the agent is shutting down")
            try:
                loaded = await asyncio.to_thread(self._load)
                check_stages(loaded)
                topology = Topology(loaded, self.options, self.metrics, self.positions, self.health)
            except ConfigError:
                self.metrics.reloads_failed.inc()
                raise
            needs_restart = [
                key for key in ("server", "positions")
                if getattr(loaded.config, key) != getattr(self.config, key)
            ]
            log.info("Reloading the config: stopping the running targets, flushing clients.",
                     extra=log_fields(config=loaded.source))
            old = self.topology
            old.stop()
            assert self._topology_task is not None
            assert self._group is not None
            await self._topology_task
            await self.positions.save()
            old.unregister()
            self.loaded, self.config, self.topology = loaded, loaded.config, topology
            topology.register()
            self.health.set_config_loaded(loaded.source, [str(w) for w in loaded.warnings])
            self._topology_task = self._group.create_task(topology.run(), name="topology")
            self.metrics.reloads_succeeded.inc()
            if needs_restart:
                log.warning(
                    "Config reloaded; changes to these sections need a restart and were not applied.",
                    extra=log_fields(sections=",".join(needs_restart)),
                )
            else:
                log.info("Config reloaded.", extra=log_fields(config=loaded.source))

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
        if self._load is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, self._reload_on_signal)

    def _reload_on_signal(self) -> None:
        log.info("Signal received, reloading the config.", extra=log_fields(signal="SIGHUP"))
        if self._group is not None:
            self._group.create_task(self._reload_logged(), name="reload")

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except AgentError as exc:
            detail = exc.render() if isinstance(exc, ConfigError) else str(exc)
            self.metrics.errors.labels(component="config", reason="reload_failed").inc()
            log.error("Config reload failed; keeping the running config.", extra=log_fields(error=detail))


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
