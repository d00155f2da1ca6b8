"""Doctor's Docker checks: the daemon socket each `docker_sd_configs` entry names is there, ours, and answering.

For a ``unix://`` host: the socket file exists (else: mount it), the agent's user may connect (else: the
group to join, by name and GID, since a container knows the host's group only by number), and the Engine
API answers ``GET /version`` (the version is printed). A ``tcp://`` or ``http(s)://`` host gets the API
check only, with the entry's `tls_config`. The API is asked through the Docker source's own client
(`agent.sources.docker_api`), so doctor reaches the daemon exactly as the agent does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
from typing import Any

from agent.client.config import TLSConfig
from agent.config.model import Config
from agent.doctor.access import describe_path, permission_fix
from agent.doctor.report import Check, failed, passed, skipped
from agent.errors import AgentError
from agent.sources.docker_api import DEFAULT_HOST, DockerAPI, DockerUnavailable

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds for one connection or request: a healthy daemon answers /version at once


def docker_hosts(config: Config) -> list[str]:
    """The distinct daemon addresses of every `docker_sd_configs` entry, in config order."""
    hosts = [sd.host or DEFAULT_HOST for scrape in config.scrape_configs for sd in scrape.docker_sd_configs]
    return list(dict.fromkeys(hosts))


async def check_docker(config: Config, user: dict[str, Any]) -> list[Check]:
    hosts = docker_hosts(config)
    if not hosts:
        return [skipped("docker", "the config has no docker_sd_configs")]
    tls = {
        sd.host or DEFAULT_HOST: sd.tls_config
        for scrape in reversed(config.scrape_configs) for sd in reversed(scrape.docker_sd_configs)
    }  # the first entry naming a host wins
    checks: list[Check] = []
    for host in hosts:
        if host.startswith("unix://"):
            checks += await check_socket(host.removeprefix("unix://"), user)
        else:
            checks.append(await _check_version("docker API", host, tls.get(host)))
    return checks


async def check_socket(path: str, user: dict[str, Any]) -> list[Check]:
    """Present, connectable by `user`, and answering `GET /version`: one check each."""
    host = f"unix://{path}"
    present = await asyncio.to_thread(_socket_present, path)
    if present is not None:
        return [present, skipped("docker access", "socket missing"), skipped("docker API", "socket missing")]
    checks = [passed("docker socket", f"{path} is present", path=path)]
    access = await _check_connect(path, user)
    checks.append(access)
    if access.failed:
        checks.append(skipped("docker API", "cannot connect"))
        return checks
    checks.append(await _check_version("docker API", host))
    return checks


def _socket_present(path: str) -> Check | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        fix = (
            f"mount the host's Docker socket into the agent's container, read-only:\n"
            f"docker run -v {path}:{path}:ro ...; compose: volumes: [\"{path}:{path}:ro\"]; "
            f"Kubernetes: a hostPath volume of type Socket\n"
            f"on a host without containers: start Docker (systemctl start docker)"
        )
        return failed("docker socket", f"{path} is missing: the Docker daemon socket is not mounted", fix, path=path)
    except PermissionError:
        parent = os.path.dirname(path)
        return failed("docker socket", f"cannot look into {parent}", f"give the agent's user access to {parent}")
    if not stat.S_ISSOCK(mode):
        return failed("docker socket", f"{path} is not a socket", "point docker_sd_configs.host at the daemon's socket")
    return None


async def _check_connect(path: str, user: dict[str, Any]) -> Check:
    try:
        async with asyncio.timeout(TIMEOUT):
            _, writer = await asyncio.open_unix_connection(path)
    except PermissionError:
        info = await asyncio.to_thread(describe_path, path)
        who = f"user {user['name']}"
        if info is None:
            return failed("docker access", f"permission denied on {path} for {who}", f"give {who} access to {path}")
        return failed(
            "docker access",
            f"permission denied on {path} for {who}: {info.evidence()}",
            permission_fix(info, user, "connect"),
            **info.as_dict(),
        )
    except ConnectionRefusedError:
        fix = "start the Docker daemon (systemctl start docker), or mount the socket of the running one"
        return failed("docker access", f"nothing answers on {path}: the Docker daemon is not running", fix, path=path)
    except TimeoutError:
        return failed("docker access", f"connecting to {path} timed out after {TIMEOUT:g}s", "check the Docker daemon")
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        return failed("docker access", f"cannot connect to {path}: {reason}", "check the Docker daemon", path=path)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError as exc:  # the connection worked, which is what was checked; closing it is not our concern
        log.debug("Closing the probe connection failed.", extra={"path": path, "error": str(exc)})
    return passed("docker access", f"user {user['name']} may connect to {path}", path=path)


async def _check_version(name: str, host: str, tls: TLSConfig | None = None) -> Check:
    not_docker = "check that docker_sd_configs.host is a Docker Engine API"
    try:
        api = DockerAPI(host, tls)
    except (ValueError, AgentError) as exc:  # an unsupported scheme, certificates that do not load
        return failed(name, f"cannot reach {host}: {exc}", "fix docker_sd_configs.host and its tls_config", host=host)
    try:
        info = await api.version()
    except DockerUnavailable as exc:
        fix = "check that the Docker daemon runs and that docker_sd_configs.host is its address"
        return failed(name, f"no answer from {host}: {exc}", fix, host=host)
    finally:
        await api.close()
    try:
        version, api_version = str(info["Version"]), str(info["ApiVersion"])
    except (KeyError, TypeError):
        return failed(name, f"{host} answered GET /version with something else than Docker's JSON", not_docker,
                      host=host)
    return passed(
        name, f"Docker Engine {version} answers on {host} (API version {api_version})", version=version,
        api=api_version,
    )
