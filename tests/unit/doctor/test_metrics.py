"""Doctor's metrics checks: the path and port, the scrape snippet, a port held by another program, and a
Prometheus config that scrapes the wrong path."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from agent.config.model import Config
from agent.doctor.metrics import check_metrics, scrape_config_snippet

Serve = Callable[[str, str], Awaitable[int]]


def config(**server: Any) -> Config:
    return Config.model_validate({"server": {"http_listen_address": "127.0.0.1", **server}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve `body` at `path` on a free port of 127.0.0.1 (another program, or a stand-in for the agent)."""
    runners: list[web.AppRunner] = []

    async def _serve(path: str, body: str) -> int:
        app = web.Application()

        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=body)

        app.router.add_get(path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield _serve
    for runner in runners:
        await runner.cleanup()


def prometheus_config(tmp_path: Path, port: int, **job: Any) -> str:
    path = tmp_path / "prometheus.yml"
    document = {"scrape_configs": [{"job_name": "agent", "static_configs": [{"targets": [f"agent:{port}"]}], **job}]}
    path.write_text(yaml.safe_dump(document))
    return str(path)


class TestSnippet:
    def test_default(self) -> None:
        """The snippet names the job, the agent's host:port and /metrics."""
        assert scrape_config_snippet(config(http_listen_port=9080)) == (
            "scrape_configs:\n"
            "  - job_name: agent\n"
            "    metrics_path: /metrics\n"
            "    honor_labels: true  # event metrics carry the job of the logs they count\n"
            "    static_configs:\n"
            '      - targets: ["127.0.0.1:9080"]\n'
        )

    def test_path_prefix_moves_metrics(self) -> None:
        """server.http_path_prefix moves /metrics, and the snippet follows."""
        assert "    metrics_path: /agent/metrics\n" in scrape_config_snippet(config(http_path_prefix="agent/"))

    def test_wildcard_address_uses_the_host_name(self) -> None:
        """Listening on every interface, the target is this machine's name, which Prometheus can resolve."""
        snippet = scrape_config_snippet(Config.model_validate({}))
        assert f'["{socket.gethostname()}:9080"]' in snippet


@pytest.mark.asyncio
class TestCheckMetrics:
    async def test_not_running_is_fine(self) -> None:
        """Before the agent starts, nothing listens: the check passes and says where metrics will be."""
        port = free_port()
        [check] = await check_metrics(config(http_listen_port=port), None)
        assert (check.status, check.message) == (
            "pass",
            f"the agent serves its metrics at port {port}, path /metrics (not running now: nothing listens on "
            f"127.0.0.1:{port})",
        )

    async def test_running_agent(self, serve: Serve) -> None:
        """The agent answering on its port with its metrics passes."""
        port = await serve("/metrics", "promtail_files_active_total 1\n")
        [check] = await check_metrics(config(http_listen_port=port), None)
        assert check.status == "pass"
        assert check.message.endswith(f"GET http://127.0.0.1:{port}/metrics answers with the agent's metrics")

    async def test_port_held_by_another_program(self, serve: Serve) -> None:
        """Something else on the port (a 404 at the metrics path) fails: the agent could not listen there."""
        port = await serve("/", "another program")
        [check] = await check_metrics(config(http_listen_port=port), None)
        assert (check.status, check.message) == (
            "fail", f"GET http://127.0.0.1:{port}/metrics answered 404 without the agent's metrics"
        )

    async def test_disabled_server_warns(self) -> None:
        """server.disable: nothing serves /metrics; a warning, not a failure."""
        [check] = await check_metrics(config(disable=True), None)
        assert (check.status, check.message) == (
            "warn", "the HTTP server is disabled (server.disable: true): nothing serves /metrics"
        )


@pytest.mark.asyncio
class TestPrometheusConfig:
    async def test_wrong_metrics_path(self, tmp_path: Path) -> None:
        """A job aimed at the agent's port with another metrics_path fails, and the fix gives the right one."""
        port = free_port()
        prometheus = prometheus_config(tmp_path, port)
        _, job = await check_metrics(config(http_listen_port=port, http_path_prefix="/agent"), prometheus)
        assert (job.name, job.status) == ("prometheus job agent", "fail")
        assert job.message == f"scrapes /metrics on port {port}, but the agent serves its metrics at /agent/metrics"
        assert job.fix == "set metrics_path: /agent/metrics in the Prometheus job 'agent'"

    async def test_right_metrics_path(self, tmp_path: Path) -> None:
        """A job with the right path passes."""
        port = free_port()
        prometheus = prometheus_config(tmp_path, port, metrics_path="/agent/metrics")
        _, job = await check_metrics(config(http_listen_port=port, http_path_prefix="/agent"), prometheus)
        assert job.status == "pass"

    async def test_https_scheme(self, tmp_path: Path) -> None:
        """Scraping with https a server that speaks http fails."""
        port = free_port()
        _, job = await check_metrics(config(http_listen_port=port), prometheus_config(tmp_path, port, scheme="https"))
        assert job.message == "scrapes with scheme https, the agent serves http"

    async def test_no_job_for_the_agent(self, tmp_path: Path) -> None:
        """No job aims at the agent's port: Prometheus does not scrape it at all."""
        port = free_port()
        prometheus = prometheus_config(tmp_path, port + 1)
        _, job = await check_metrics(config(http_listen_port=port), prometheus)
        assert job.status == "fail"
        assert job.message == (
            f"no scrape job targets port {port} (static_configs), so Prometheus does not scrape this agent"
        )
