"""`LokiClient` against the in-process Loki receiver: delivery, acknowledgement, retries, drops, isolation."""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import snappy

from agent.client.config import ClientConfig
from agent.client.loki import LokiClient
from agent.logs import LogfmtFormatter
from agent.model import Checkpoint, Chunk, LineRun, LogEntry
from agent.server.metrics import Metrics
from support.loki_receiver import LokiReceiver

pytestmark = pytest.mark.asyncio

FAST_BACKOFF = {"min_period": "20ms", "max_period": "100ms", "max_retries": 5}
PATIENT_BACKOFF = {**FAST_BACKOFF, "max_retries": 0}  # retry forever: only stopping the client ends it


def config(url: str, **overrides: Any) -> ClientConfig:
    """A client config with short waits, so the suite stays fast."""
    values: dict[str, Any] = {"url": url, "batchwait": "50ms", "timeout": "5s", "backoff_config": FAST_BACKOFF}
    values.update(overrides)
    return ClientConfig.model_validate(values)


class Acks:
    """Makes chunks whose checkpoints record when every entry was acknowledged."""

    def __init__(self, fanout: int = 1) -> None:
        self.fanout = fanout
        self.checkpoints: list[Checkpoint] = []
        self.completed: list[Checkpoint] = []
        self._changed = asyncio.Event()

    def chunk(
        self,
        lines: list[str],
        labels: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Chunk:
        checkpoint = Checkpoint(len(self.checkpoints), len(lines) * self.fanout, self._complete)
        self.checkpoints.append(checkpoint)
        shared = labels if labels is not None else {"job": "test"}
        now = time.time_ns()
        return [LogEntry(now + i, line, shared, checkpoint, metadata=metadata) for i, line in enumerate(lines)]

    def _complete(self, checkpoint: Checkpoint) -> None:
        self.completed.append(checkpoint)
        self._changed.set()

    @property
    def all_acked(self) -> bool:
        return len(self.completed) == len(self.checkpoints)

    async def wait_all(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.all_acked:
                self._changed.clear()
                await self._changed.wait()


class LogWaiter(logging.Handler):
    """Collects a logger's records and lets a test wait for a message (logging runs in the loop thread)."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self._logger = logging.getLogger(logger)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def __enter__(self) -> LogWaiter:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    async def wait_for(self, message: str, timeout: float = 5.0) -> logging.LogRecord:
        async with asyncio.timeout(timeout):
            while True:
                for record in self.records:
                    if record.getMessage() == message:
                        return record
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def running(client: LokiClient, stop_timeout: float = 5.0) -> AsyncIterator[LokiClient]:
    """Run `client` in a TaskGroup for the body of the block, then stop it."""
    async with asyncio.TaskGroup() as group:
        group.create_task(client.run())
        try:
            yield client
        finally:
            await client.stop(stop_timeout)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def lines(prefix: str, count: int, width: int = 0) -> list[str]:
    return [f"{prefix} {n}".ljust(width, ".") for n in range(count)]


class TestDelivery:
    async def test_delivers_lines_and_acknowledges_after_loki_answered(self, loki: LokiReceiver) -> None:
        """Lines arrive in order with their labels, and their checkpoint completes once Loki took them."""
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(lines("hello", 3), {"job": "web", "env": "prod"}))
            await loki.wait_for_entries(3)
            await acks.wait_all()
        assert loki.lines() == ["hello 0", "hello 1", "hello 2"]
        assert list(loki.streams()) == ['{env="prod", job="web"}']
        assert loki.entries[0].tenant == ""
        host = client.config.host
        assert sample(metrics, "promtail_sent_entries_total", host=host) == 3
        assert sample(metrics, "promtail_sent_bytes_total", host=host) > 0
        assert sample(metrics, "agent_client_up", host=host) == 1

    async def test_sends_protobuf_with_our_user_agent(self, loki: LokiReceiver) -> None:
        """Requests carry Loki's protobuf content type and identify the agent."""
        client = LokiClient(config(loki.url), Metrics())
        async with running(client):
            await client.queue.put(Acks().chunk(["x"]))
            await loki.wait_for_entries(1)
        headers = loki.requests[0].headers
        assert headers["Content-Type"] == "application/x-protobuf"
        assert headers["User-Agent"].startswith("agent/")

    async def test_sends_tenant_auth_and_custom_headers(self, loki: LokiReceiver, tmp_path: Path) -> None:
        """tenant_id becomes X-Scope-OrgID; basic auth reads password_file; custom headers are added."""
        password_file = tmp_path / "password"
        password_file.write_text("s3cret\n")
        client = LokiClient(
            config(
                loki.url,
                tenant_id="team-a",
                basic_auth={"username": "user", "password_file": str(password_file)},
                headers={"X-Loki-Disable-Structured-Metadata": "true"},
            ),
            Metrics(),
        )
        async with running(client):
            await client.queue.put(Acks().chunk(["x"]))
            await loki.wait_for_entries(1)
        headers = loki.requests[0].headers
        assert headers["X-Scope-OrgID"] == "team-a"
        assert headers["Authorization"] == "Basic dXNlcjpzM2NyZXQ="  # user:s3cret
        assert headers["X-Loki-Disable-Structured-Metadata"] == "true"

    async def test_delivers_structured_metadata_and_external_labels(self, loki: LokiReceiver) -> None:
        """Structured metadata reaches Loki per entry, external labels per stream."""
        client = LokiClient(config(loki.url, external_labels={"host": "web-1"}), Metrics())
        async with running(client):
            await client.queue.put(Acks().chunk(["x"], {"job": "a"}, metadata={"trace_id": "abc"}))
            await loki.wait_for_entries(1)
        assert loki.entries[0].metadata == {"trace_id": "abc"}
        assert loki.entries[0].labels == {"host": "web-1", "job": "a"}

    async def test_batchsize_is_respected(self, loki: LokiReceiver) -> None:
        """No request carries more than batchsize bytes of lines, and an oversized line goes alone."""
        client = LokiClient(config(loki.url, batchsize=1000, batchwait="5s"), Metrics())
        acks = Acks()
        async with running(client):
            await client.queue.put(acks.chunk([*lines("l", 25, width=100), "big".ljust(2500, "!")]))
            await loki.wait_for_entries(26)
            await acks.wait_all()
        sizes = [request.entries for request in loki.requests]
        assert sizes == [10, 10, 5, 1]
        assert loki.lines()[-1].startswith("big")

    async def test_line_runs_respect_batchsize_and_order(self, loki: LokiReceiver) -> None:
        """A file tail's chunks (`LineRun`, with their size known) are cut at batchsize and arrive in order."""
        client = LokiClient(config(loki.url, batchsize=1000, batchwait="200ms"), Metrics())
        acks = Acks()
        async with running(client):
            for part in range(3):
                chunk = acks.chunk(lines(f"run{part}", 9, width=100))
                await client.queue.put(LineRun(chunk, chunk[0].labels, 9 * 100))
            await loki.wait_for_entries(27)
            await acks.wait_all()
        assert [request.entries for request in loki.requests] == [10, 10, 7]
        assert loki.lines() == lines("run0", 9, 100) + lines("run1", 9, 100) + lines("run2", 9, 100)

    async def test_batchwait_sends_a_small_batch_in_time(self, loki: LokiReceiver) -> None:
        """A batch that never fills is sent once batchwait has passed, not before and not much later."""
        client = LokiClient(config(loki.url, batchwait="300ms"), Metrics())
        async with running(client):
            await asyncio.sleep(0)  # let run() start before timing
            put_at = time.monotonic()
            await client.queue.put(Acks().chunk(["one"]))
            (entry,) = await loki.wait_for_entries(1)
        waited = entry.received_at - put_at
        assert 0.29 <= waited < 1.3

    async def test_stop_flushes_the_pending_batch(self, loki: LokiReceiver) -> None:
        """Stopping sends what is still batched (batchwait not reached) and acknowledges it."""
        acks = Acks()
        client = LokiClient(config(loki.url, batchwait="60s"), Metrics())
        async with running(client):
            await client.queue.put(acks.chunk(lines("pending", 4)))
            await client.queue.put(acks.chunk(lines("queued", 2)))
        assert loki.lines() == lines("pending", 4) + lines("queued", 2)
        assert acks.all_acked

    async def test_stop_leaves_undelivered_entries_unacknowledged(self, loki: LokiReceiver) -> None:
        """When Loki is down at shutdown, stop returns in time and positions do not pass the entries."""
        loki.respond(503, seconds=30)
        acks = Acks()
        client = LokiClient(config(loki.url, batchwait="10ms", backoff_config=PATIENT_BACKOFF), Metrics())
        started = time.monotonic()
        async with running(client, stop_timeout=0.5):
            await client.queue.put(acks.chunk(lines("lost", 2)))
            await loki.wait_until(lambda: loki.status_counts()[503] >= 1, what="a 503")
        assert time.monotonic() - started < 3
        assert acks.completed == []
        assert acks.checkpoints[0].pending == 2

    async def test_entries_without_labels_are_dropped_and_counted(self, loki: LokiReceiver) -> None:
        """An entry with only internal labels cannot be a Loki stream: it is dropped, counted and acknowledged."""
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["orphan"], {"__path__": "/x"}))
            await client.queue.put(acks.chunk(["kept"]))
            await loki.wait_for_entries(1)
            await acks.wait_all()
        assert loki.lines() == ["kept"]
        labels = {"host": client.config.host, "reason": "no_labels", "tenant": ""}
        assert sample(metrics, "promtail_dropped_entries_total", **labels) == 1

    async def test_max_streams_drops_extra_streams(self, loki: LokiReceiver) -> None:
        """Beyond max_streams per batch, entries of new streams are dropped as stream_limited."""
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url, batchwait="100ms"), metrics, max_streams=1)
        async with running(client):
            await client.queue.put(acks.chunk(["a"], {"job": "a"}) + acks.chunk(["b"], {"job": "b"}))
            await loki.wait_for_entries(1)
            await acks.wait_all()
        assert loki.lines() == ["a"]
        labels = {"host": client.config.host, "reason": "stream_limited", "tenant": ""}
        assert sample(metrics, "promtail_dropped_entries_total", **labels) == 1


class TestRetries:
    async def test_429_honours_retry_after_and_acks_only_after_success(self, loki: LokiReceiver) -> None:
        """A throttled batch waits for Retry-After, is sent again, and is acknowledged only then."""
        loki.respond(429, times=1, retry_after="1")
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url, backoff_config={**FAST_BACKOFF, "max_period": "5s"}), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["throttled"]))
            await loki.wait_until(lambda: loki.status_counts()[429] == 1, what="a 429")
            assert not acks.all_acked
            await loki.wait_for_entries(1, timeout=5)
            await acks.wait_all()
        first, second = loki.requests
        assert second.received_at - first.received_at >= 0.95
        assert loki.lines() == ["throttled"]
        labels = {"host": client.config.host, "tenant": ""}
        assert sample(metrics, "promtail_batch_retries_total", **labels) == 1

    async def test_500_is_retried(self, loki: LokiReceiver) -> None:
        """Server errors are retried until Loki takes the batch, exactly once."""
        loki.respond(500, times=2)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["retry me"]))
            await loki.wait_for_entries(1)
            await acks.wait_all()
        assert loki.status_counts() == {500: 2, 204: 1}
        assert loki.lines() == ["retry me"]
        host = client.config.host
        assert sample(metrics, "promtail_batch_retries_total", host=host, tenant="") == 2
        assert sample(metrics, "promtail_request_duration_seconds_count", status_code="500", host=host, tenant="") == 2

    async def test_400_is_dropped_counted_and_logged_once(
        self, loki: LokiReceiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A rejected batch is not retried: it is dropped, counted, acknowledged, and Loki's reason logged once."""
        reason = "entry for stream '{job=\"test\"}' has timestamp too old"
        loki.respond(400, times=1, body=reason)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url), metrics)
        with caplog.at_level(logging.WARNING, logger="agent.client.loki"):
            async with running(client):
                await client.queue.put(acks.chunk(["rejected 1", "rejected 2"]))
                await acks.wait_all()
                await client.queue.put(acks.chunk(["accepted"]))
                await loki.wait_for_entries(1)
        assert loki.status_counts() == {400: 1, 204: 1}
        assert loki.lines() == ["accepted"]
        labels = {"host": client.config.host, "reason": "ingester_error", "tenant": ""}
        assert sample(metrics, "promtail_dropped_entries_total", **labels) == 2
        rejections = [LogfmtFormatter().format(r) for r in caplog.records if "Push rejected" in r.getMessage()]
        assert len(rejections) == 1
        assert "has timestamp too old" in rejections[0]
        assert "status=400" in rejections[0]

    async def test_hanging_loki_times_out_and_is_retried(self, loki: LokiReceiver) -> None:
        """A request Loki never answers times out after `timeout` and the batch is sent again."""
        loki.hang(times=1)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url, timeout="300ms"), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["patient"]))
            await loki.wait_for_entries(1)
            await acks.wait_all()
        assert loki.lines() == ["patient"]
        labels = {"status_code": "-1", "host": client.config.host, "tenant": ""}
        assert sample(metrics, "promtail_request_duration_seconds_count", **labels) == 1

    async def test_closed_connection_is_retried(self, loki: LokiReceiver) -> None:
        """A connection closed without an answer is a retryable failure, not a loss."""
        loki.close_connection(times=1)
        acks = Acks()
        client = LokiClient(config(loki.url), Metrics())
        async with running(client):
            await client.queue.put(acks.chunk(["again"]))
            await loki.wait_for_entries(1)
            await acks.wait_all()
        assert loki.status_counts() == {0: 1, 204: 1}
        assert loki.lines() == ["again"]

    async def test_260_is_acknowledged_and_counted(self, loki: LokiReceiver, caplog: pytest.LogCaptureFixture) -> None:
        """Loki's 260 (accepted, ingestion blocked) is not retried but is counted and logged."""
        loki.respond(260, times=1)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url), metrics)
        with caplog.at_level(logging.WARNING, logger="agent.client.loki"):
            async with running(client):
                await client.queue.put(acks.chunk(["blocked"]))
                await acks.wait_all()
        assert loki.status_counts() == {260: 1}
        labels = {"host": client.config.host, "status_code": "260"}
        assert sample(metrics, "agent_push_unexpected_success_total", **labels) == 1
        assert any("unexpected success status" in r.getMessage() for r in caplog.records)

    async def test_exhausted_retries_drop_the_batch(self, loki: LokiReceiver) -> None:
        """After max_retries failed attempts the batch is dropped, counted, acknowledged, and /ready can tell."""
        loki.respond(503, seconds=30)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url, backoff_config={**FAST_BACKOFF, "max_retries": 3}), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["doomed"]))
            await acks.wait_all()
            assert client.permanently_failing
            assert client.state()["up"] is False
        assert loki.status_counts() == {503: 3}
        labels = {"host": client.config.host, "reason": "ingester_error", "tenant": ""}
        assert sample(metrics, "promtail_dropped_entries_total", **labels) == 1

    async def test_drop_rate_limited_batches(self, loki: LokiReceiver) -> None:
        """With drop_rate_limited_batches a 429 drops the batch at once, counted as rate_limited."""
        loki.respond(429, times=1)
        metrics, acks = Metrics(), Acks()
        client = LokiClient(config(loki.url, drop_rate_limited_batches=True), metrics)
        async with running(client):
            await client.queue.put(acks.chunk(["shed"]))
            await acks.wait_all()
        assert loki.status_counts() == {429: 1}
        labels = {"host": client.config.host, "reason": "rate_limited", "tenant": ""}
        assert sample(metrics, "promtail_dropped_entries_total", **labels) == 1

    async def test_401_marks_the_client_permanently_failing(self, loki: LokiReceiver) -> None:
        """Refused credentials are not retried and make the client report itself failing until a push works."""
        loki.respond(401, times=1, body="no")
        acks = Acks()
        client = LokiClient(config(loki.url), Metrics())
        async with running(client):
            await client.queue.put(acks.chunk(["denied"]))
            await acks.wait_all()
            assert client.permanently_failing
            await client.queue.put(acks.chunk(["allowed"]))
            await loki.wait_for_entries(1)
            await acks.wait_all()
            assert not client.permanently_failing


class TestIsolation:
    async def test_a_failing_loki_does_not_delay_another_client(self, loki: LokiReceiver) -> None:
        """Two clients get the same entries; while one Loki fails, the other still receives promptly."""
        acks = Acks(fanout=2)
        async with LokiReceiver() as broken:
            broken.respond(503, seconds=30)
            healthy_client = LokiClient(config(loki.url), Metrics())
            broken_client = LokiClient(config(broken.url, backoff_config=PATIENT_BACKOFF), Metrics())
            async with running(healthy_client), running(broken_client, stop_timeout=0.2):
                for n in range(3):
                    chunk = acks.chunk([f"line {n}"])
                    put_at = time.monotonic()
                    await broken_client.queue.put(chunk)
                    await healthy_client.queue.put(chunk)
                    (*_, entry) = await loki.wait_for_entries(n + 1)
                    assert entry.received_at - put_at < 1.0
                assert broken.status_counts()[503] >= 1
        assert loki.lines() == ["line 0", "line 1", "line 2"]
        assert not acks.completed  # the broken client never acknowledged its share

    async def test_a_throttled_tenant_does_not_delay_another(self, loki: LokiReceiver) -> None:
        """Tenant A gets 429s; tenant B's entries, from the same client and queue, still arrive promptly."""
        loki.respond(429, seconds=30, tenant="a")
        acks = Acks()
        client = LokiClient(config(loki.url, backoff_config=PATIENT_BACKOFF), Metrics())
        async with running(client, stop_timeout=0.2):
            await client.queue.put(acks.chunk(["for a"], {"job": "x", "__tenant_id__": "a"}))
            await loki.wait_until(lambda: loki.status_counts()[429] >= 1, what="a 429 for tenant a")
            for n in range(3):
                put_at = time.monotonic()
                await client.queue.put(acks.chunk([f"for b {n}"], {"job": "x", "__tenant_id__": "b"}))
                (*_, entry) = await loki.wait_for_entries(n + 1)
                assert entry.tenant == "b"
                assert entry.received_at - put_at < 1.0
        assert loki.lines("b") == ["for b 0", "for b 1", "for b 2"]
        assert loki.lines("a") == []

    async def test_backpressure_blocks_the_queue_while_loki_hangs(self, loki: LokiReceiver) -> None:
        """With Loki hanging, the client stops taking chunks, so putting into its queue blocks; nothing is lost."""
        loki.hang(seconds=30)
        acks = Acks()
        client = LokiClient(config(loki.url, batchsize=100, timeout="20s"), Metrics(), queue_size=1)
        sent: list[str] = []
        async with running(client):
            for n in range(10):
                chunk = acks.chunk([f"chunk {n}".ljust(100, ".")])
                try:
                    await asyncio.wait_for(client.queue.put(chunk), timeout=0.5)
                except TimeoutError:
                    acks.checkpoints.pop()  # never queued, so never acknowledged
                    break
                sent.append(chunk[0].line)
            # One batch in flight, one ready, one filling, one chunk queued: the bound, whatever Loki does.
            assert len(sent) == 4
            assert client.queue.full()
            assert client.state()["pending_batches"] == 3
            loki.release()
            await loki.wait_for_entries(4)
            await acks.wait_all(timeout=5)
        assert sorted(loki.lines()) == sorted(sent)


class TestConnection:
    async def test_status_hides_the_url_password(self) -> None:
        """/status shows the client's URL without the password it may carry."""
        client = LokiClient(config("https://user:hunter2@loki.example:3100/loki/api/v1/push"), Metrics())
        assert client.state()["url"] == "https://user:<secret>@loki.example:3100/loki/api/v1/push"

    async def test_proxy_url_is_used(self, loki: LokiReceiver) -> None:
        """With proxy_url, pushes go through the proxy (here the receiver itself, as an HTTP proxy would)."""
        proxy = loki.url.removesuffix("/loki/api/v1/push")
        client = LokiClient(config("http://loki.invalid:3100/loki/api/v1/push", proxy_url=proxy), Metrics())
        async with running(client):
            await client.queue.put(Acks().chunk(["proxied"]))
            await loki.wait_for_entries(1)
        assert loki.requests[0].headers["Host"] == "loki.invalid:3100"

    async def test_no_proxy_bypasses_the_proxy(self, loki: LokiReceiver) -> None:
        """A Loki host listed in no_proxy is reached directly, even with a proxy that does not answer."""
        client = LokiClient(config(loki.url, proxy_url="http://127.0.0.1:9", no_proxy="localhost,127.0.0.1"), Metrics())
        async with running(client):
            await client.queue.put(Acks().chunk(["direct"]))
            await loki.wait_for_entries(1)
        assert loki.lines() == ["direct"]


class TestTLS:
    async def test_ca_file_server_name_and_client_certificate(self, certificate: tuple[Path, Path]) -> None:
        """HTTPS works with our CA, the certificate's name as server_name, and a client certificate (mTLS)."""
        cert, key = certificate
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        server.load_verify_locations(cert)
        server.verify_mode = ssl.CERT_REQUIRED  # the client must present its certificate
        tls = {"ca_file": str(cert), "cert_file": str(cert), "key_file": str(key), "server_name": "loki.test"}
        async with LokiReceiver(ssl_context=server) as loki:
            client = LokiClient(config(loki.url, tls_config=tls), Metrics())
            async with running(client):
                await client.queue.put(Acks().chunk(["secret"]))
                await loki.wait_for_entries(1)
        assert loki.lines() == ["secret"]

    async def test_insecure_skip_verify(self, certificate: tuple[Path, Path]) -> None:
        """insecure_skip_verify accepts a certificate nobody vouches for, on any host name."""
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(*certificate)
        async with LokiReceiver(ssl_context=server) as loki:
            client = LokiClient(config(loki.url, tls_config={"insecure_skip_verify": True}), Metrics())
            async with running(client):
                await client.queue.put(Acks().chunk(["trusting"]))
                await loki.wait_for_entries(1)
        assert loki.lines() == ["trusting"]

    async def test_unknown_certificate_is_not_trusted(self, certificate: tuple[Path, Path]) -> None:
        """Without our CA the push fails (and is retried), nothing is delivered or acknowledged."""
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(*certificate)
        acks = Acks()
        async with LokiReceiver(ssl_context=server) as loki:
            client = LokiClient(config(loki.url, backoff_config=PATIENT_BACKOFF), Metrics())
            with LogWaiter("agent.client.loki") as logs:
                async with running(client, stop_timeout=0.3):
                    await client.queue.put(acks.chunk(["refused"]))
                    record = await logs.wait_for("Push failed, will retry.")
        # asyncio leaves the server side of a failed TLS handshake to the garbage collector, which warns about
        # an unclosed transport whenever it runs next, in whichever test that is: collect it here, knowingly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        assert "CERTIFICATE_VERIFY_FAILED" in LogfmtFormatter().format(record)
        assert loki.lines() == []
        assert not acks.completed


class TestReceiver:
    """The test receiver must refuse what Loki refuses, or the client tests above prove nothing."""

    @pytest.mark.parametrize(
        ("content_type", "body", "problem"),
        [
            pytest.param("application/json", b"{}", "Content-Type", id="json-content-type"),
            pytest.param("application/x-protobuf", b"\xff\x06\x00\x00sNaPpY", "snappy", id="framed-snappy"),
            pytest.param(
                "application/x-protobuf", snappy.compress(b"\x0a\x7f\x0a"), "PushRequest", id="truncated-proto"
            ),
            pytest.param(
                "application/x-protobuf",
                snappy.compress(b"\x0a\x0b\x0a\x07{a='b'}\x12\x00"),
                "labels",
                id="single-quoted-labels",
            ),
            pytest.param(
                "application/x-protobuf", snappy.compress(b"\x0a\x06\x0a\x02{}\x12\x00"), "label", id="empty-labels"
            ),
        ],
    )
    async def test_rejects_malformed_pushes(self, content_type: str, body: bytes, problem: str) -> None:
        """A malformed push gets 400 and is recorded as a protocol error."""
        async with LokiReceiver() as receiver, httpx.AsyncClient() as http:
            response = await http.post(receiver.url, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400
        assert len(receiver.protocol_errors) == 1
        assert problem in receiver.protocol_errors[0]
        assert receiver.entries == []
