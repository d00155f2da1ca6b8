"""Doctor's Loki checks, per client: DNS, TCP, TLS, `/ready`, and a real push of one test entry.

Each step that fails stops that client's later steps (they are reported as skipped). The push uses the
client's own HTTP setup (headers, credentials, TLS, proxy: `LokiClient`'s) and the agent's own encoder, so
it proves what the agent will do; its entry carries the one label `{agent_doctor="1"}`, easy to find and
to delete. A rejected push shows Loki's status and body, and the fix for that status. Not here: retries.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from typing import Any

import httpx

from agent.client.config import ClientConfig
from agent.client.encode import compress, encode_push
from agent.client.loki import LokiClient
from agent.client.tls import ssl_context
from agent.doctor.report import Check, failed, passed, skipped, warned
from agent.errors import ConfigError
from agent.model import Checkpoint, LogEntry
from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

TEST_LABELS = '{agent_doctor="1"}'
"""The stream of doctor's test entry: one dedicated label, never a real job's stream."""

MAX_TIMEOUT = 10.0  # seconds per step at most, whatever the client's `timeout` (doctor should answer quickly)
_PUSH_SUFFIXES = ("/loki/api/v1/push", "/api/prom/push")
_MAX_BODY = 500  # characters of an error body shown


def ready_url(push_url: str) -> str | None:
    """Loki's `/ready` beside the push endpoint (``http://loki:3100/loki/api/v1/push`` → ``.../ready``)."""
    url = httpx.URL(push_url)
    for suffix in _PUSH_SUFFIXES:
        if url.path.endswith(suffix):
            return str(url.copy_with(path=url.path[: -len(suffix)] + "/ready", query=None))
    return None


async def check_client(index: int, config: ClientConfig, *, push: bool) -> list[Check]:
    """Every step for `clients[index]`, in order; steps after a failure are skipped."""
    prefix = f"loki[{index}]"
    if (problem := config.push_url_problem) is not None:
        return [failed(f"{prefix} url", problem, f"fix clients[{index}].url")]
    url = httpx.URL(config.url)
    timeout = min(config.timeout, MAX_TIMEOUT) if config.timeout > 0 else MAX_TIMEOUT
    checks: list[Check] = []
    steps = ["dns", "tcp", *(["tls"] if url.scheme == "https" else []), "ready", *(["push"] if push else [])]

    def stop_here() -> list[Check]:
        done = len(checks)
        return checks + [skipped(f"{prefix} {step}", "an earlier step failed") for step in steps[done:]]

    port = url.port or (443 if url.scheme == "https" else 80)
    if config.proxy_url or config.proxy_from_environment:
        for step in steps[: steps.index("ready")]:
            checks.append(skipped(f"{prefix} {step}", "through a proxy: the HTTP checks below cover it"))
    else:
        dns = await _check_dns(prefix, url.host, port, timeout)
        checks.append(dns)
        if dns.failed:
            return stop_here()
        tcp = await _check_tcp(prefix, url.host, port, timeout)
        checks.append(tcp)
        if tcp.failed:
            return stop_here()
        if url.scheme == "https":
            tls = await _check_tls(prefix, config, url.host, port, timeout)
            checks.append(tls)
            if tls.failed:
                return stop_here()
    try:
        client = LokiClient(config, Metrics())
        # Reading certificates and secret files blocks: build off the loop, as the client itself does.
        http = await asyncio.to_thread(client.build_http_client)
    except ConfigError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        checks.append(failed(f"{prefix} config", problems, f"fix clients[{index}]"))
        return stop_here()
    server_name = config.tls_config.server_name
    extensions: dict[str, Any] = {"sni_hostname": server_name} if server_name else {}
    async with http:
        ready = await _check_ready(prefix, http, config.url, timeout, extensions)
        checks.append(ready)
        if ready.failed:
            return stop_here()
        if push:
            checks.append(await _check_push(prefix, index, http, config, timeout, extensions))
    return checks


async def _check_dns(prefix: str, host: str, port: int, timeout: float) -> Check:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fix = (
            "check the host name in the client's url; in compose or Kubernetes use Loki's service name "
            "(http://loki:3100/loki/api/v1/push) and put the agent on the same network"
        )
        return failed(f"{prefix} dns", f"cannot resolve {host}: {exc.strerror}", fix, host=host)
    except TimeoutError:
        return failed(f"{prefix} dns", f"resolving {host} timed out after {timeout:g}s", "check the DNS servers")
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return passed(f"{prefix} dns", f"{host} resolves to {', '.join(addresses[:4])}", addresses=addresses)


async def _check_tcp(prefix: str, host: str, port: int, timeout: float) -> Check:
    target = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        fix = "start Loki, or fix the port in the client's url (Loki listens on 3100 unless configured otherwise)"
        return failed(f"{prefix} tcp", f"connection to {target} refused: nothing listens there", fix, target=target)
    except TimeoutError:
        fix = "a firewall may be dropping the packets; check the address and the network path to Loki"
        return failed(f"{prefix} tcp", f"no answer from {target} within {timeout:g}s", fix, target=target)
    except OSError as exc:
        fix = "check the address and the network path to Loki"
        return failed(f"{prefix} tcp", f"cannot connect to {target}: {exc.strerror or exc}", fix, target=target)
    await _close(writer)
    return passed(f"{prefix} tcp", f"{target} accepts connections", target=target)


async def _check_tls(prefix: str, config: ClientConfig, host: str, port: int, timeout: float) -> Check:
    name = config.tls_config.server_name or host
    try:
        context = await asyncio.to_thread(ssl_context, config.tls_config, "tls_config")
    except ConfigError as exc:
        return failed(f"{prefix} tls", str(exc.problems[0]), "fix the client's tls_config")
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=name)
    except ssl.SSLCertVerificationError as exc:
        fix = (
            "set tls_config.ca_file to the CA that signed Loki's certificate, or tls_config.server_name to the "
            "name the certificate was issued for"
        )
        return failed(f"{prefix} tls", f"certificate of {name} not trusted: {exc.verify_message}", fix)
    except ssl.SSLError as exc:
        fix = "check that this port serves TLS (else use http://) and the client's tls_config (versions, cert_file)"
        return failed(f"{prefix} tls", f"TLS handshake with {host}:{port} failed: {exc.reason or exc}", fix)
    except (OSError, TimeoutError) as exc:
        return failed(f"{prefix} tls", f"TLS handshake with {host}:{port} failed: {exc!r}", "check Loki's TLS setup")
    ssl_object = writer.get_extra_info("ssl_object")
    version = ssl_object.version() if ssl_object is not None else "TLS"
    certificate = ssl_object.getpeercert() if ssl_object is not None else None
    expires = certificate.get("notAfter", "") if certificate else ""
    await _close(writer)
    until = f", certificate valid until {expires}" if expires else ""
    return passed(f"{prefix} tls", f"{version} with {name}{until}", version=version, expires=expires)


async def _check_ready(
    prefix: str, http: httpx.AsyncClient, push_url: str, timeout: float, extensions: dict[str, Any]
) -> Check:
    url = ready_url(push_url)
    if url is None:
        return skipped(f"{prefix} ready", f"{push_url} is not a standard push path; /ready not derived")
    try:
        async with asyncio.timeout(timeout):
            response = await http.get(url, extensions=extensions)
    except (httpx.HTTPError, TimeoutError) as exc:
        return failed(f"{prefix} ready", f"GET {url} failed: {_describe(exc)}", "check that Loki runs at this address")
    body = _body(response)
    status = response.status_code
    if status == 200:
        return passed(f"{prefix} ready", f"GET {url} answered 200 {body}".rstrip(), status=status)
    if status in (401, 403, 404):  # gateways and hosted Lokis often expose only the push path
        message = f"GET {url} answered {status} (a gateway or hosted Loki may not expose /ready); the push decides"
        return warned(f"{prefix} ready", message, status=status)
    fix = "Loki is starting or unhealthy: wait and run doctor again, or read Loki's log"
    return failed(f"{prefix} ready", f"GET {url} answered {status}: {body}", fix, status=status, body=body)


async def _check_push(
    prefix: str, index: int, http: httpx.AsyncClient, config: ClientConfig, timeout: float,
    extensions: dict[str, Any],
) -> Check:
    tenant = config.tenant_id
    line = f"agent doctor test entry from {socket.gethostname()}; safe to ignore"
    entry = LogEntry(time.time_ns(), line, {"agent_doctor": "1"}, Checkpoint(0, 0, lambda _: None))
    body = compress(encode_push([(TEST_LABELS, [entry])]).body)
    headers = {"Content-Length": str(len(body))}
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    try:
        async with asyncio.timeout(timeout):
            response = await http.post(config.url, content=body, headers=headers, extensions=extensions)
    except (httpx.HTTPError, TimeoutError) as exc:
        return failed(f"{prefix} push", f"POST {config.url} failed: {_describe(exc)}", "check that Loki runs there")
    status = response.status_code
    where = f" for tenant {tenant!r}" if tenant else ""
    if 200 <= status < 300:
        return passed(f"{prefix} push", f"Loki accepted a test entry {TEST_LABELS}{where} (status {status})",
                      status=status)
    text = _body(response)
    message = f"Loki rejected the test entry{where}: {status} {text}".rstrip()
    return failed(f"{prefix} push", message, _push_fix(status, index, tenant, config.url), status=status, body=text)


def _push_fix(status: int, index: int, tenant: str, url: str) -> str:
    client = f"clients[{index}]"
    if status == 401:
        if not tenant:
            return (
                f"a multi-tenant Loki needs a tenant: set {client}.tenant_id (sent as X-Scope-OrgID); "
                f"behind an auth gateway, set {client}.basic_auth or bearer_token"
            )
        return f"Loki refused the credentials: check {client}.basic_auth / bearer_token and tenant_id {tenant!r}"
    if status == 403:
        return f"these credentials may not write to tenant {tenant!r}: check {client}.tenant_id and the token's rights"
    if status == 400:
        return (
            "Loki refused the entry itself (see its answer above): usually this machine's clock (entry too old "
            "or too new: run NTP), or Loki's limits_config (labels, line size)"
        )
    if status == 404:
        return f"nothing serves the push API at {url}: the url must end in /loki/api/v1/push"
    if status == 429:
        target = f"tenant {tenant!r}" if tenant else "this tenant"
        return (
            f"Loki is rate limiting {target}: raise ingestion_rate_mb and ingestion_burst_size_mb in Loki's "
            "limits_config (or its per-tenant overrides), or ship less"
        )
    if status >= 500:
        return "Loki is failing: read Loki's log; the agent retries these with backoff"
    return "read Loki's answer above"


def _body(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:_MAX_BODY]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError as exc:  # the connection worked, which is what was checked: a failing close changes nothing
        log.debug("Closing the probe connection failed.", extra={"error": str(exc)})
