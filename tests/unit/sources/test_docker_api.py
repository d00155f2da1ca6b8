"""The Docker API client's addressing (unix socket, tcp with TLS) and the messages its failures give."""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from agent.client.config import TLSConfig
from agent.config.model import Config
from agent.doctor.access import current_user
from agent.doctor.docker import check_docker
from agent.sources.docker_api import DockerAPI, DockerNotFound, DockerUnavailable, socket_problem


@pytest_asyncio.fixture
async def daemon(certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    """A stand-in Engine API over HTTPS on 127.0.0.1 (certificate for loki.test): /version and a 404."""

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"Version": "27.0.0", "ApiVersion": "1.46"})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "No such container: abc"}, status=404)

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/containers/{id}/json", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_tcp_host_with_tls_config(daemon: int, certificate: tuple[Path, Path]) -> None:
    api = DockerAPI(f"tcp://127.0.0.1:{daemon}", TLSConfig(ca_file=str(certificate[0]), server_name="loki.test"))
    try:
        assert (await api.version())["ApiVersion"] == "1.46"
        with pytest.raises(DockerNotFound, match="No such container: abc"):
            await api.inspect("abc")
    finally:
        await api.close()
    untrusted = DockerAPI(f"tcp://127.0.0.1:{daemon}", TLSConfig(server_name="loki.test"))
    try:
        with pytest.raises(DockerUnavailable, match="certificate verify failed") as caught:
            await untrusted.version()
        assert caught.value.reason == "connect_failed"
    finally:
        await untrusted.close()


def test_unsupported_host_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported Docker host 'ssh://box'"):
        DockerAPI("ssh://box")


def test_socket_problems_say_what_to_do(tmp_path: Path) -> None:
    path = str(tmp_path / "docker.sock")
    refused = socket_problem(path, OSError(errno.ECONNREFUSED, "Connection refused"))
    assert refused.reason == "daemon_down"
    assert str(refused).startswith(f"nothing answers on the Docker socket {path}: the Docker daemon is stopped")
    missing = socket_problem(path, FileNotFoundError(errno.ENOENT, "No such file"))
    assert missing.reason == "socket_missing"
    assert f"mount it into the agent's container (docker run -v {path}:{path}:ro" in str(missing)
    (tmp_path / "docker.sock").write_text("")
    denied = socket_problem(path, PermissionError(errno.EACCES, "Permission denied"))
    gid = (tmp_path / "docker.sock").stat().st_gid
    assert denied.reason == "permission_denied"
    assert f"add the agent's user to the group that owns the socket, GID {gid}" in str(denied)


@pytest.mark.asyncio
async def test_doctor_reaches_a_tls_host_as_the_agent_does(daemon: int, certificate: tuple[Path, Path]) -> None:
    """`agent doctor` asks a tcp:// daemon through this client, with the entry's tls_config."""
    host = f"tcp://127.0.0.1:{daemon}"
    sd = {"host": host, "tls_config": {"ca_file": str(certificate[0]), "server_name": "loki.test"}}
    config = Config.model_validate({"scrape_configs": [{"job_name": "c", "docker_sd_configs": [sd]}]})
    [check] = await check_docker(config, current_user())
    assert (check.status, check.message) == ("pass", f"Docker Engine 27.0.0 answers on {host} (API version 1.46)")
