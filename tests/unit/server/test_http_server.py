"""The agent's HTTP server as a user reaches it with curl: metrics, readiness, status, hints and reload."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from agent.errors import ConfigError, ConfigProblem
from agent.server.config import ServerConfig
from agent.server.health import Health
from agent.server.http import HttpServer, normalize_prefix
from agent.server.metrics import Metrics


class FakeClient:
    def __init__(self, url: str = "http://loki:3100/loki/api/v1/push") -> None:
        self.url = url
        self.permanently_failing = False
        self.last_error: str | None = None

    def state(self) -> dict[str, Any]:
        return {"url": self.url, "state": "failing" if self.permanently_failing else "sending",
                "last_error": self.last_error}


Started = Callable[..., Awaitable[tuple[HttpServer, httpx.AsyncClient]]]


@pytest_asyncio.fixture
async def start() -> AsyncIterator[Started]:
    """Start servers on an ephemeral port of 127.0.0.1; stop them (and their HTTP clients) afterwards."""
    servers: list[HttpServer] = []
    clients: list[httpx.AsyncClient] = []

    async def _start(
        metrics: Metrics | None = None, health: Health | None = None, prefix: str = "",
        reload: Callable[[], Awaitable[None]] | None = None,
    ) -> tuple[HttpServer, httpx.AsyncClient]:
        config = ServerConfig(http_listen_address="127.0.0.1", http_listen_port=0, http_path_prefix=prefix)
        server = HttpServer(config, metrics or Metrics(), health or Health(), reload=reload)
        await server.start()
        servers.append(server)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", trust_env=False, timeout=10)
        clients.append(client)
        return server, client

    yield _start
    for client in clients:
        await client.aclose()
    for server in servers:
        await server.stop()


def ready_health() -> Health:
    health = Health()
    health.set_config_loaded("/etc/agent/config.yaml")
    health.set_started()
    return health


@pytest.mark.asyncio
class TestLifecycle:
    async def test_port_zero_binds_a_free_port(self, start: Started) -> None:
        """Configured with port 0 the server picks a free port and reports it."""
        server, client = await start()
        assert server.port > 0
        assert (await client.get("/")).status_code == 200

    async def test_taken_port_raises_oserror(self, start: Started) -> None:
        """A second server on a port already in use fails to start with OSError, which the app reports."""
        first, _ = await start()
        config = ServerConfig(http_listen_address="127.0.0.1", http_listen_port=first.port)
        second = HttpServer(config, Metrics(), Health())
        with pytest.raises(OSError, match="address already in use"):
            await second.start()

    async def test_stop_closes_the_port(self, start: Started) -> None:
        """After stop, connecting to the port is refused."""
        server, client = await start()
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get("/ready")

    async def test_two_servers_share_one_registry(self, start: Started) -> None:
        """Process collectors are registered once per registry, so a second server on it starts cleanly."""
        metrics = Metrics()
        await start(metrics=metrics)
        _, client = await start(metrics=metrics)
        assert (await client.get("/metrics")).text.count("# TYPE process_resident_memory_bytes") == 1


@pytest.mark.asyncio
class TestIndex:
    async def test_index_lists_endpoints(self, start: Started) -> None:
        """Curling the port shows what it serves."""
        _, client = await start()
        response = await client.get("/")
        assert response.headers["content-type"].startswith("text/plain")
        for path in ("/metrics", "/ready", "/status", "/reload"):
            assert path in response.text


@pytest.mark.asyncio
class TestMetrics:
    async def test_agent_metrics_are_exposed(self, start: Started) -> None:
        """A counter incremented by a component shows under Promtail's name with its value."""
        metrics = Metrics()
        metrics.read_lines.labels(path="/var/log/syslog").inc(3)
        _, client = await start(metrics=metrics)
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert 'promtail_read_lines_total{path="/var/log/syslog"} 3.0' in response.text

    async def test_process_metrics_are_exposed(self, start: Started) -> None:
        """process_* and python_info are there, for the dashboards that chart Promtail's process."""
        _, client = await start()
        text = (await client.get("/metrics")).text
        assert "process_resident_memory_bytes " in text
        assert "process_cpu_seconds_total " in text
        assert "python_info{" in text

    async def test_classic_text_format_content_type(self, start: Started) -> None:
        """The body is labelled as Prometheus' 0.0.4 text format, as Promtail labels it."""
        _, client = await start()
        response = await client.get("/metrics")
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"

    async def test_gzip_when_asked(self, start: Started) -> None:
        """A scraper asking for gzip gets a compressed body."""
        _, client = await start()
        response = await client.get("/metrics", headers={"accept-encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert "process_resident_memory_bytes" in response.text


@pytest.mark.asyncio
class TestReady:
    async def test_not_ready_before_start(self, start: Started) -> None:
        """Before the config is loaded and targets are started, /ready answers 503 with the reasons."""
        _, client = await start(health=Health())
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.text.startswith("Not ready: ")
        assert "config is not loaded" in response.text
        assert "targets are not started" in response.text

    async def test_ready_once_started(self, start: Started) -> None:
        """Once the config is loaded and targets started, /ready answers 200 "Ready", as Promtail does."""
        health = Health()
        _, client = await start(health=health)
        health.set_config_loaded()
        assert (await client.get("/ready")).status_code == 503
        health.set_started()
        response = await client.get("/ready")
        assert (response.status_code, response.text) == (200, "Ready")

    async def test_permanently_failing_client_is_not_ready(self, start: Started) -> None:
        """A client Loki rejects for good makes /ready fail, naming the client and the error."""
        health = ready_health()
        loki = FakeClient()
        health.register_client("client-0", loki)
        _, client = await start(health=health)
        assert (await client.get("/ready")).status_code == 200
        loki.permanently_failing, loki.last_error = True, "401 Unauthorized"
        response = await client.get("/ready")
        assert response.status_code == 503
        assert "client-0 (http://loki:3100/loki/api/v1/push) is failing permanently: 401 Unauthorized" in (
            response.text
        )

    async def test_not_ready_while_stopping(self, start: Started) -> None:
        """When shutdown begins /ready fails, so rollouts stop counting on this agent."""
        health = ready_health()
        _, client = await start(health=health)
        health.set_stopping()
        response = await client.get("/ready")
        assert response.status_code == 503
        assert "shutting down" in response.text

    async def test_head_works(self, start: Started) -> None:
        """Probes using HEAD get the same status without a body."""
        _, client = await start(health=ready_health())
        assert (await client.head("/ready")).status_code == 200


@pytest.mark.asyncio
class TestStatus:
    @pytest.mark.parametrize("path", ["/status", "/status.json"])
    async def test_status_json_shape(self, start: Started, path: str) -> None:
        """/status shows version, uptime, config source, warnings, targets with offsets and clients."""
        health = Health()
        health.set_config_loaded("/etc/agent/config.yaml", warnings=["docker_sd_configs is not supported"])
        syslog = {"path": "/var/log/syslog", "read": 120, "acked": 100, "size": 150}
        health.register_target_status("varlogs", lambda: {"files": [syslog]})
        health.register_client("client-0", FakeClient())
        health.set_started()
        _, client = await start(health=health)
        response = await client.get(path)
        assert response.headers["content-type"].startswith("application/json")
        status = response.json()
        assert status["ready"] is True
        assert status["version"]
        assert status["uptime_seconds"] >= 0
        assert status["config"] == {"source": "/etc/agent/config.yaml", "loaded": True}
        assert status["warnings"] == ["docker_sd_configs is not supported"]
        assert status["targets"] == [{"name": "varlogs", "files": [syslog]}]
        assert status["clients"][0]["name"] == "client-0"
        assert status["clients"][0]["url"] == "http://loki:3100/loki/api/v1/push"
        assert status["clients"][0]["permanently_failing"] is False

    async def test_status_survives_odd_values(self, start: Started) -> None:
        """Values JSON cannot encode (a set, a path object) are shown as text instead of failing."""
        health = ready_health()
        health.register_target_status("odd", lambda: {"paths": {"a"}})
        _, client = await start(health=health)
        assert (await client.get("/status")).json()["targets"][0]["paths"] == "{'a'}"


class TestNormalizePrefix:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            pytest.param("", "", id="empty"),
            pytest.param("/", "", id="slash"),
            pytest.param("agent", "/agent", id="no-slashes"),
            pytest.param("/agent/", "/agent", id="both-slashes"),
        ],
    )
    def test_normalize_prefix(self, given: str, expected: str) -> None:
        """Prefixes are read with or without their slashes."""
        assert normalize_prefix(given) == expected


@pytest.mark.asyncio
class TestPrefixAndNotFound:
    async def test_routes_under_prefix(self, start: Started) -> None:
        """With http_path_prefix set, endpoints are served under it."""
        metrics = Metrics()
        metrics.read_lines.labels(path="/a").inc()
        _, client = await start(metrics=metrics, health=ready_health(), prefix="/agent/")
        assert (await client.get("/agent/ready")).text == "Ready"
        assert "promtail_read_lines_total" in (await client.get("/agent/metrics")).text
        assert (await client.get("/agent/")).status_code == 200
        assert (await client.get("/agent")).status_code == 200

    async def test_unprefixed_path_hints_at_prefix(self, start: Started) -> None:
        """Missing the prefix gets a 404 that says where metrics are."""
        _, client = await start(prefix="/agent")
        response = await client.get("/metrics")
        assert response.status_code == 404
        assert "metrics are served at /agent/metrics" in response.text

    async def test_wrong_metrics_path_hints(self, start: Started) -> None:
        """/prometheus/metrics gets a 404 with a hint pointing at /metrics."""
        _, client = await start()
        response = await client.get("/prometheus/metrics")
        assert response.status_code == 404
        assert "metrics are served at /metrics" in response.text

    async def test_promtail_targets_page_hints_status(self, start: Started) -> None:
        """Promtail's /targets page points Promtail users to /status."""
        _, client = await start()
        response = await client.get("/targets")
        assert response.status_code == 404
        assert "targets are listed at /status" in response.text

    async def test_unknown_path_lists_endpoints(self, start: Started) -> None:
        """Any other path gets a 404 listing the endpoints."""
        _, client = await start()
        response = await client.get("/nope")
        assert response.status_code == 404
        assert "endpoints: /metrics, /ready, /status, /reload" in response.text

    async def test_wrong_method_is_405(self, start: Started) -> None:
        """POSTing to /metrics is a method error, not a missing page."""
        _, client = await start()
        assert (await client.post("/metrics")).status_code == 405


@pytest.mark.asyncio
class TestReload:
    async def test_without_callback_is_501(self, start: Started) -> None:
        """When runtime reload is off, /reload answers 501 naming the setting."""
        _, client = await start()
        response = await client.post("/reload")
        assert response.status_code == 501
        assert "server.enable_runtime_reload" in response.text

    async def test_callback_runs(self, start: Started) -> None:
        """POST /reload runs the reload and answers 200."""
        calls: list[str] = []

        async def reload() -> None:
            calls.append("reload")

        _, client = await start(reload=reload)
        response = await client.post("/reload")
        assert response.status_code == 200
        assert calls == ["reload"]

    async def test_bad_config_is_reported_and_counted(self, start: Started) -> None:
        """A refused config answers 500 with Promtail's wording and every problem, and is counted."""
        metrics = Metrics()

        async def reload() -> None:
            raise ConfigError([ConfigProblem("clients[0].url", "missing scheme")], "/etc/agent.yaml")

        _, client = await start(metrics=metrics, reload=reload)
        response = await client.post("/reload")
        assert response.status_code == 500
        assert response.text.startswith("failed to reload config: 1 config problem in /etc/agent.yaml:")
        assert "clients[0].url: missing scheme" in response.text
        assert metrics.registry.get_sample_value(
            "agent_errors_total", {"component": "http", "reason": "reload_failed"}
        ) == 1.0

    async def test_unexpected_error_is_500_and_counted(self, start: Started) -> None:
        """A handler bug answers 500 pointing at the log and is counted; the server keeps serving."""
        metrics = Metrics()

        async def reload() -> None:
            raise RuntimeError("bug")

        _, client = await start(metrics=metrics, reload=reload)
        response = await client.post("/reload")
        assert response.status_code == 500
        assert "see the agent's log" in response.text
        assert metrics.registry.get_sample_value(
            "agent_errors_total", {"component": "http", "reason": "handler"}
        ) == 1.0
        assert json.loads((await client.get("/status")).text)["version"]
