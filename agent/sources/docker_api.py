"""The few calls of the Docker Engine API the agent makes, asynchronously, over its socket or TCP.

List containers and networks, inspect one container, follow the events stream, and follow a container's
logs. Every connection problem becomes a `DockerUnavailable` whose message says what is wrong *and what to
do about it* (mount the socket, join its group), because "connect: no such file or directory" is where
operators get stuck with Promtail. The socket's path and group are looked up on the spot, so the message
names the real GID.

Paths are unversioned: the daemon answers with its own API version, so any Engine since 1.13 works.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import os
import pwd
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from agent.client.config import TLSConfig
from agent.client.tls import ssl_context

DEFAULT_HOST = "unix:///var/run/docker.sock"

REQUEST_TIMEOUT = 10.0
"""Seconds a short call (list, inspect, version) may take; streams (events, logs) have no total timeout."""

READ_SIZE = 256 * 1024
"""Bytes a log stream read may return at once."""


class DockerUnavailable(Exception):
    """The Docker daemon cannot be reached or refused a call. `reason` is a short metric label value."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DockerNotFound(DockerUnavailable):
    """The container (or other object) does not exist (any more)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "not_found")


class DockerAPI:
    """One daemon, one connection pool. `host` as in `docker_sd_configs` (``unix://``, ``tcp://``,
    ``http(s)://``); `tls` turns ``tcp://`` into HTTPS. Call `close` when done."""

    def __init__(self, host: str = DEFAULT_HOST, tls: TLSConfig | None = None, *, path: str = "") -> None:
        self.host = host
        parts = urlsplit(host)
        self.socket_path = ""
        self._ssl: ssl.SSLContext | bool = False
        self._request_options: dict[str, Any] = {}
        if parts.scheme == "unix":
            self.socket_path = parts.path
            self._base = "http://docker"
        elif parts.scheme in ("tcp", "http", "https"):
            secure = parts.scheme == "https" or tls is not None
            if secure:
                self._ssl = ssl_context(tls or TLSConfig(), f"{path}.tls_config" if path else "tls_config")
                if tls is not None and tls.server_name:
                    self._request_options["server_hostname"] = tls.server_name
            self._base = f"{'https' if secure else 'http'}://{parts.netloc}"
        else:
            raise ValueError(f"unsupported Docker host {host!r}: use unix:///path/to/docker.sock or tcp://host:port")
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.socket_path:
                connector = aiohttp.UnixConnector(path=self.socket_path, limit=0)
            else:
                connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- short calls

    async def version(self) -> dict[str, Any]:
        """``GET /version``: the daemon's version, API version, OS."""
        result: dict[str, Any] = await self._get_json("/version")
        return result

    async def containers(self, filters: dict[str, list[str]] | None = None, *, all_: bool = False) -> list[Any]:
        """``GET /containers/json``: running containers (all with `all_`) matching `filters`."""
        query = {"all": "1" if all_ else "0"}
        if filters:
            query["filters"] = json.dumps(filters)
        result: list[Any] = await self._get_json("/containers/json", query)
        return result

    async def networks(self) -> list[Any]:
        """``GET /networks``: every network, with its labels and scope."""
        result: list[Any] = await self._get_json("/networks")
        return result

    async def inspect(self, container_id: str) -> dict[str, Any]:
        """``GET /containers/{id}/json``. Raises `DockerNotFound` when it no longer exists."""
        result: dict[str, Any] = await self._get_json(f"/containers/{quote(container_id)}/json")
        return result

    async def _get_json(self, path: str, query: dict[str, str] | None = None) -> Any:
        try:
            async with self._client().get(
                self._base + path, params=query, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                **self._request_options,
            ) as response:
                await self._check(response, path)
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self.describe(exc) from exc

    # -- streams

    async def events(self, filters: dict[str, list[str]]) -> AsyncIterator[dict[str, Any]]:
        """``GET /events``: each event as it happens, until the connection ends (then `DockerUnavailable`)."""
        try:
            async with self._client().get(
                self._base + "/events", params={"filters": json.dumps(filters)},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT), **self._request_options,
            ) as response:
                await self._check(response, "/events")
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self.describe(exc) from exc
        raise DockerUnavailable("the Docker daemon closed the events stream (restarting?)", "stream_closed")

    @contextlib.asynccontextmanager
    async def logs(self, container_id: str, *, since: str, follow: bool = True) -> AsyncIterator[aiohttp.StreamReader]:
        """``GET /containers/{id}/logs`` with timestamps, stdout and stderr: the body's reader."""
        query = {
            "follow": "1" if follow else "0", "stdout": "1", "stderr": "1", "timestamps": "1", "since": since,
        }
        path = f"/containers/{quote(container_id)}/logs"
        try:
            async with self._client().get(
                self._base + path, params=query,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT),
                read_bufsize=READ_SIZE, **self._request_options,
            ) as response:
                await self._check(response, path)
                yield response.content
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self.describe(exc) from exc

    async def _check(self, response: aiohttp.ClientResponse, path: str) -> None:
        if response.status < 300:
            return
        body = (await response.read())[:500].decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            body = json.loads(body).get("message", body)
        if response.status == 404:
            raise DockerNotFound(f"Docker answered 404 to {path}: {body}")
        raise DockerUnavailable(f"Docker answered {response.status} to {path}: {body}", f"http_{response.status}")

    # -- errors a person can act on

    def describe(self, exc: BaseException) -> DockerUnavailable:
        """`exc` (raised talking to the daemon) as a `DockerUnavailable` that says what to do."""
        if isinstance(exc, DockerUnavailable):
            return exc
        os_error = _os_error(exc)
        if self.socket_path and os_error is not None:
            return socket_problem(self.socket_path, os_error)
        if isinstance(exc, TimeoutError):
            return DockerUnavailable(
                f"the Docker daemon at {self.host} did not answer within {REQUEST_TIMEOUT:g}s", "timeout"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return DockerUnavailable(
                f"cannot connect to the Docker daemon at {self.host}: {exc.strerror or exc}; check that dockerd "
                "listens there and that docker_sd_configs[].host is right",
                "connect_failed",
            )
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            return DockerUnavailable(
                f"the Docker daemon at {self.host} closed the connection (restarting?)", "disconnected"
            )
        return DockerUnavailable(f"talking to the Docker daemon at {self.host} failed: {exc}", "error")


def socket_problem(path: str, error: OSError) -> DockerUnavailable:
    """What to tell the operator when the Docker socket at `path` cannot be used, given the error."""
    code = error.errno
    if code == errno.ENOENT:
        return DockerUnavailable(
            f"the Docker socket {path} does not exist: mount it into the agent's container "
            f"(docker run -v {path}:{path}:ro ..., or a read-only volume in compose/Kubernetes), or set "
            "docker_sd_configs[].host to where the daemon listens",
            "socket_missing",
        )
    if code in (errno.EACCES, errno.EPERM):
        return DockerUnavailable(_permission_hint(path), "permission_denied")
    if code in (errno.ECONNREFUSED, errno.ECONNRESET):
        return DockerUnavailable(
            f"nothing answers on the Docker socket {path}: the Docker daemon is stopped or restarting "
            "(systemctl status docker); the agent keeps retrying",
            "daemon_down",
        )
    return DockerUnavailable(f"cannot use the Docker socket {path}: {error.strerror or error}", "socket_error")


def _permission_hint(path: str) -> str:
    user = _user_name(os.geteuid())
    try:
        info = os.stat(path)
    except OSError:
        return f"permission denied on the Docker socket {path} for user {user}"
    group = _group_name(info.st_gid)
    return (
        f"permission denied on the Docker socket {path} (owner {_user_name(info.st_uid)}, group {group} "
        f"GID {info.st_gid}, mode {info.st_mode & 0o777:o}) for user {user}: add the agent's user to the group "
        f"that owns the socket, GID {info.st_gid} (docker run --group-add {info.st_gid}; compose group_add: "
        f"['{info.st_gid}']; systemd SupplementaryGroups={group}; Kubernetes securityContext.supplementalGroups: "
        f"[{info.st_gid}])"
    )


def _user_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (UID {uid})"
    except KeyError:
        return f"UID {uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _os_error(exc: BaseException) -> OSError | None:
    """The operating system error behind `exc`, if there is one (aiohttp wraps it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError):
            return seen.os_error
        if isinstance(seen, OSError) and seen.errno is not None and not isinstance(seen, aiohttp.ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
