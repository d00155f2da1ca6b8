"""Doctor's Loki checks against the strict in-process receiver: down, not ready, rejecting, and accepting."""

from __future__ import annotations

import gc
import socket
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest

from agent.client.config import ClientConfig
from agent.doctor.loki import check_client, ready_url
from support.loki_receiver import LokiReceiver


def client(url: str, **options: Any) -> ClientConfig:
    return ClientConfig.model_validate({"url": url, "timeout": "2s", **options})


def closed_port() -> int:
    """A port nothing listens on: bound once to get a free number, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def statuses(checks: list[Any]) -> list[tuple[str, str]]:
    return [(check.name, check.status) for check in checks]


@pytest.mark.asyncio
class TestLokiDown:
    async def test_closed_port(self) -> None:
        """Nothing listening: the TCP step fails with the fix, the later steps are skipped."""
        port = closed_port()
        checks = await check_client(0, client(f"http://127.0.0.1:{port}/loki/api/v1/push"), push=True)
        assert statuses(checks) == [
            ("loki[0] dns", "pass"), ("loki[0] tcp", "fail"), ("loki[0] ready", "skip"), ("loki[0] push", "skip"),
        ]
        tcp = checks[1]
        assert tcp.message == f"connection to 127.0.0.1:{port} refused: nothing listens there"
        assert tcp.fix == (
            "start Loki, or fix the port in the client's url (Loki listens on 3100 unless configured otherwise)"
        )

    async def test_unknown_host(self) -> None:
        """A host name that does not resolve fails at DNS, pointing at the service name to use."""
        checks = await check_client(0, client("http://loki.invalid:3100/loki/api/v1/push"), push=True)
        assert checks[0].status == "fail"
        assert checks[0].message.startswith("cannot resolve loki.invalid: ")

    async def test_not_a_push_url(self) -> None:
        """A url no push can succeed with fails before any network step."""
        [check] = await check_client(0, client(""), push=True)
        assert (check.name, check.status) == ("loki[0] url", "fail")


@pytest.mark.asyncio
class TestLokiAnswers:
    async def test_accepts_the_test_entry(self, loki: LokiReceiver) -> None:
        """A working Loki passes every step and stores one entry under the dedicated label, for the tenant."""
        checks = await check_client(0, client(loki.url, tenant_id="team-a"), push=True)
        assert statuses(checks) == [
            ("loki[0] dns", "pass"), ("loki[0] tcp", "pass"), ("loki[0] ready", "pass"), ("loki[0] push", "pass"),
        ]
        assert checks[3].message == "Loki accepted a test entry {agent_doctor=\"1\"} for tenant 'team-a' (status 204)"
        [entry] = loki.entries
        assert (entry.labels, entry.tenant) == ({"agent_doctor": "1"}, "team-a")

    async def test_unauthorized(self, loki: LokiReceiver) -> None:
        """401 without a tenant: Loki's answer is shown, and the fix names tenant_id and the credentials."""
        loki.respond(401, times=1, body="no org id")
        *_, push = await check_client(0, client(loki.url), push=True)
        assert (push.status, push.message) == ("fail", "Loki rejected the test entry: 401 no org id")
        assert push.fix == (
            "a multi-tenant Loki needs a tenant: set clients[0].tenant_id (sent as X-Scope-OrgID); "
            "behind an auth gateway, set clients[0].basic_auth or bearer_token"
        )
        assert push.details == {"status": 401, "body": "no org id"}

    async def test_forbidden_tenant(self, loki: LokiReceiver) -> None:
        """403 for a tenant: the fix names the tenant."""
        loki.respond(403, times=1, body="forbidden")
        *_, push = await check_client(1, client(loki.url, tenant_id="team-b"), push=True)
        assert push.message == "Loki rejected the test entry for tenant 'team-b': 403 forbidden"
        assert push.fix == (
            "these credentials may not write to tenant 'team-b': check clients[1].tenant_id and the token's rights"
        )

    async def test_bad_request(self, loki: LokiReceiver) -> None:
        """400: Loki's reason is shown as it came, and the usual causes are named."""
        body = "entry for stream '{agent_doctor=\"1\"}' has timestamp too old: 2020-01-01T00:00:00Z"
        loki.respond(400, times=1, body=body)
        *_, push = await check_client(0, client(loki.url), push=True)
        assert push.message == f"Loki rejected the test entry: 400 {body}"
        assert push.fix.startswith("Loki refused the entry itself (see its answer above): usually this machine's clock")

    async def test_rate_limited(self, loki: LokiReceiver) -> None:
        """429: the fix points at Loki's ingestion limits for the tenant."""
        loki.respond(429, times=1, body="Ingestion rate limit exceeded")
        *_, push = await check_client(0, client(loki.url, tenant_id="t"), push=True)
        assert push.message == "Loki rejected the test entry for tenant 't': 429 Ingestion rate limit exceeded"
        assert "ingestion_rate_mb" in push.fix

    async def test_not_ready(self, loki: LokiReceiver) -> None:
        """/ready answering 503 fails with Loki's reason; no push is tried."""
        loki.ready_status = 503
        checks = await check_client(0, client(loki.url), push=True)
        ready, push = checks[-2:]
        assert ready.status == "fail"
        assert ready.message == (
            f"GET {ready_url(loki.url)} answered 503: Ingester not ready: waiting for 15s after being ready"
        )
        assert push.status == "skip"
        assert loki.requests == []

    async def test_skip_push(self, loki: LokiReceiver) -> None:
        """With the push turned off, Loki receives nothing."""
        checks = await check_client(0, client(loki.url), push=False)
        assert [check.name for check in checks][-1] == "loki[0] ready"
        assert loki.requests == []


@pytest.mark.asyncio
class TestTLS:
    async def test_trusted(self, certificate: tuple[Path, Path]) -> None:
        """With the CA and the certificate's name, the TLS step passes and names the version and expiry."""
        cert, key = certificate
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        async with LokiReceiver(ssl_context=server) as loki:
            tls = {"ca_file": str(cert), "server_name": "loki.test"}
            checks = await check_client(0, client(loki.url, tls_config=tls), push=True)
        assert [check.status for check in checks] == ["pass"] * 5
        assert checks[2].name == "loki[0] tls"
        assert checks[2].message.startswith("TLSv1.3 with loki.test, certificate valid until ")

    async def test_untrusted(self, certificate: tuple[Path, Path]) -> None:
        """A certificate nobody vouches for fails the TLS step, and the fix names ca_file and server_name."""
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(*certificate)
        async with LokiReceiver(ssl_context=server) as loki:
            checks = await check_client(0, client(loki.url), push=True)
        # asyncio leaves the server side of a failed TLS handshake to the garbage collector, which warns about
        # an unclosed transport whenever it runs next: collect it here, knowingly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        tls = checks[2]
        assert (tls.name, tls.status) == ("loki[0] tls", "fail")
        assert tls.message == "certificate of 127.0.0.1 not trusted: self-signed certificate"
        assert tls.fix.startswith("set tls_config.ca_file to the CA that signed Loki's certificate")


class TestReadyUrl:
    @pytest.mark.parametrize(
        ("push", "ready"),
        [
            pytest.param("http://loki:3100/loki/api/v1/push", "http://loki:3100/ready", id="standard"),
            pytest.param("https://gw/tenant/loki/api/v1/push", "https://gw/tenant/ready", id="prefixed"),
            pytest.param("http://loki:3100/api/prom/push", "http://loki:3100/ready", id="legacy"),
            pytest.param("http://loki:3100/custom", None, id="unknown"),
        ],
    )
    def test_ready_beside_push(self, push: str, ready: str | None) -> None:
        """/ready is found beside the push path, under the same prefix."""
        assert ready_url(push) == ready
