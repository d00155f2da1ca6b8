"""The agent's own HTTP server: `/metrics`, `/ready`, `/status`, `/reload` and a plain-text index.

It renders what `Metrics` and `Health` hold and computes nothing itself. The app starts and stops it inside
its TaskGroup (stopped last, after `/ready` has gone false); aiohttp installs no signal handlers here and
writes no access log (a scrape every 15 s would be most of the agent's output).

Every route lives under `server.http_path_prefix` when one is set, as in Promtail.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from agent.errors import AgentError, ConfigError
from agent.logs import RateLimitedLogger, log_fields
from agent.server.config import ServerConfig
from agent.server.health import Health
from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

Reload = Callable[[], Awaitable[None]]
"""Reloads the config; raises `ConfigError` (or another `AgentError`) when the new one cannot be used."""

# The classic text format, as Promtail serves it; `generate_latest` writes it (legacy names, underscores).
# prometheus_client >= 0.22 labels its output 1.0.0, which older scrapers and tools do not all accept.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ENDPOINTS = (
    ("GET ", "/metrics", "Prometheus metrics (Promtail's names, plus agent_* and process_*)"),
    ("GET ", "/ready", '200 "Ready" when shipping; 503 "Not ready: ..." with every reason otherwise'),
    ("GET ", "/status", "JSON: targets and their offsets, clients, uptime, version, config warnings"),
    ("POST", "/reload", "reload the config file (needs server.enable_runtime_reload: true)"),
)

# Paths people try from habit (Prometheus, Kubernetes, Promtail's web UI), by last segment: where to go.
_HINTS = {
    "metrics": "metrics are served at {p}/metrics",
    "ready": "readiness is served at {p}/ready",
    "readyz": "readiness is served at {p}/ready",
    "healthy": "readiness is served at {p}/ready",
    "health": "readiness is served at {p}/ready",
    "healthz": "readiness is served at {p}/ready",
    "livez": "readiness is served at {p}/ready",
    "status": "status is served at {p}/status",
    "targets": "targets are listed at {p}/status",
    "service-discovery": "targets are listed at {p}/status",
    "config": "the config's source and warnings are listed at {p}/status",
    "reload": "reload with POST {p}/reload",
}


def normalize_prefix(prefix: str) -> str:
    """``agent/`` and ``/agent/`` both become ``/agent``; an empty prefix or ``/`` becomes ``""``."""
    stripped = prefix.strip().strip("/")
    return f"/{stripped}" if stripped else ""


def ensure_runtime_collectors(registry: CollectorRegistry) -> None:
    """Register process_*, python_info and python_gc_* into `registry` unless something already did.

    Promtail exposes its runtime's metrics (go_*, process_*), and dashboards chart process_* from them.
    """
    present = {sample.name for family in registry.collect() for sample in family.samples}
    if "process_start_time_seconds" not in present:
        ProcessCollector(registry=registry)
    if "python_info" not in present:
        PlatformCollector(registry=registry)
    if "python_gc_collections_total" not in present:
        GCCollector(registry=registry)


class HttpServer:
    """Serves the agent's endpoints on `server.http_listen_address:http_listen_port` (port 0: any free one).

    ```python
    server = HttpServer(config.server, metrics, health, reload=agent.reload)
    await server.start()   # raises OSError when the port is taken
    print(server.port)
    await server.stop()
    ```
    """

    def __init__(
        self, config: ServerConfig, metrics: Metrics, health: Health, reload: Reload | None = None
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.health = health
        self.prefix = normalize_prefix(config.http_path_prefix)
        self._reload = reload
        self._reload_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._warn = RateLimitedLogger(log, interval=60.0)
        ensure_runtime_collectors(metrics.registry)

    @property
    def port(self) -> int:
        """The port the server listens on (the chosen one when configured with 0)."""
        if self._port is None:
            raise RuntimeError("the HTTP server is not started")
        return self._port

    async def start(self) -> None:
        """Bind and start serving. Raises OSError (the port is taken, the address is not ours)."""
        if self._runner is not None:
            raise RuntimeError("the HTTP server is already started")
        runner = web.AppRunner(
            self._application(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self.config.graceful_shutdown_timeout,
            keepalive_timeout=self.config.http_server_idle_timeout,
        )
        await runner.setup()
        # An empty address listens on every interface, as Go's net.Listen does.
        host = self.config.http_listen_address or None
        site = web.TCPSite(runner, host, self.config.http_listen_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info(
            "HTTP server listening.",
            extra=log_fields(address=self.config.http_listen_address, port=self._port, prefix=self.prefix),
        )

    async def stop(self) -> None:
        """Stop listening and close connections, letting running requests finish within the grace period."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- routes

    def _application(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        p = self.prefix
        app.router.add_get(f"{p}/", self._index)
        if p:
            app.router.add_get(p, self._index)
        app.router.add_get(f"{p}/metrics", self._metrics)
        app.router.add_get(f"{p}/ready", self._ready)
        app.router.add_get(f"{p}/status", self._status)
        app.router.add_get(f"{p}/status.json", self._status)
        app.router.add_post(f"{p}/reload", self._reload_config)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        lines = [f"agent {self.health.version}: ships logs to Grafana Loki (reads Promtail configs).", ""]
        lines += [f"{method} {self.prefix}{path:<10} {what}" for method, path, what in ENDPOINTS]
        return web.Response(text="\n".join(lines) + "\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        # Off the loop: thousands of per-path series take a while to render, and the collectors read /proc.
        body = await asyncio.to_thread(generate_latest, self.metrics.registry)
        response = web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})
        response.enable_compression()  # honours the scraper's Accept-Encoding
        return response

    async def _ready(self, request: web.Request) -> web.Response:
        is_ready, reasons = self.health.ready()
        if is_ready:
            return web.Response(text="Ready")
        return web.Response(status=503, text=f"Not ready: {'; '.join(reasons)}\n")

    async def _status(self, request: web.Request) -> web.Response:
        body = json.dumps(self.health.status(), indent=2, default=str) + "\n"
        return web.Response(text=body, content_type="application/json")

    async def _reload_config(self, request: web.Request) -> web.Response:
        if self._reload is None:
            return web.Response(
                status=501, text="Runtime reload is off: set server.enable_runtime_reload: true.\n"
            )
        async with self._reload_lock:
            try:
                await self._reload()
            except AgentError as exc:
                # The new config is refused and the running one kept: the user's mistake, reported to them.
                self.metrics.errors.labels(component="http", reason="reload_failed").inc()
                detail = exc.render() if isinstance(exc, ConfigError) else str(exc)
                log.warning(
                    "Config reload failed; keeping the running config.", extra=log_fields(error=detail)
                )
                return web.Response(status=500, text=f"failed to reload config: {detail}\n")
        log.info("Config reloaded.")
        return web.Response(text="Config reloaded.\n")

    def _not_found(self, request: web.Request) -> web.Response:
        segment = request.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        lines = [f"404 page not found: {request.path}"]
        if (hint := _HINTS.get(segment)) is not None:
            lines.append(hint.format(p=self.prefix))
        lines.append(f"endpoints: {', '.join(self.prefix + path for _, path, _ in ENDPOINTS)}")
        return web.Response(status=404, text="\n".join(lines) + "\n")

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._not_found(request)
        except web.HTTPException:
            raise
        except Exception:  # noqa: BLE001 - counted and logged (with traceback, rate limited) below
            self.metrics.errors.labels(component="http", reason="handler").inc()
            self._warn.error(
                f"handler:{request.path}", "HTTP handler failed.", exc_info=True,
                extra=log_fields(method=request.method, path=request.path),
            )
            return web.Response(status=500, text="Internal error: see the agent's log.\n")
