"""`LokiClient`: batches chunks per tenant, pushes them to Loki, retries, and acknowledges what Loki took.

Owns one ``clients:`` entry at run time: the intake task that reads `LokiClient.queue` and fills batches,
one sender task per tenant, the shared HTTP connection pool, and the client's metrics and status. What goes
into a batch is `agent.client.batch`'s business, the bytes are `agent.client.encode`'s, the retry schedule
is `agent.client.backoff`'s. Wiring the queue to pipelines and ordering shutdown is `agent.app`'s.

Flow and bounds, per tenant (a "lane"): the intake appends entries to the lane's *current* batch; a batch
that reaches ``batchsize`` moves to the lane's *ready* slot; the lane's sender pushes ready batches first,
then the current batch once ``batchwait`` has passed since its first entry (a timer per pending batch, no
polling). So a tenant holds at most one batch in flight, `READY_BATCHES` full ones and one filling: about
``(2 + READY_BATCHES) * batchsize`` bytes. When a lane's bound is reached the intake waits, stops taking
chunks from the queue, and the sources wait in turn. Until then a tenant that Loki throttles does not delay
the others. Each `LokiClient` has its own queue, tasks and connections: clients never wait on each other.

Delivery rules (Promtail's): 2xx acknowledges the batch; 429, 5xx, timeouts and connection errors are
retried with backoff (a 429 is dropped at once with ``drop_rate_limited_batches``); any other status drops
the batch for good. Dropped entries are counted in ``promtail_dropped_entries_total`` with Promtail's
reason and acknowledged, so positions move past them; entries not delivered when the client stops are not
acknowledged, so they are read again on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from bisect import bisect_right
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

import httpx

from agent.client.backoff import Backoff, parse_retry_after
from agent.client.batch import Batch, StreamRouter, entry_size, run_size, run_sizes, runs
from agent.client.config import ClientConfig
from agent.client.encode import compress
from agent.client.tls import TLS_VERSIONS, ssl_context
from agent.errors import ConfigError, ConfigProblem, FatalPushError, PushError, RetryableError
from agent.logs import RateLimitedLogger
from agent.model import Chunk, Labels, LineRun, LogEntry, ack_entries
from agent.queues import bounded_queue
from agent.server.health import agent_version
from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

READY_BATCHES = 1
"""Full batches a tenant may hold waiting for its sender, besides the one in flight and the one filling."""

# Promtail's drop reasons (the `reason` label of promtail_dropped_entries_total), plus our "no_labels".
REASON_GENERIC = "ingester_error"
REASON_RATE_LIMITED = "rate_limited"
REASON_STREAM_LIMITED = "stream_limited"
REASON_NO_LABELS = "no_labels"
_REASONS = (REASON_GENERIC, REASON_RATE_LIMITED, REASON_STREAM_LIMITED, REASON_NO_LABELS)

_CONTENT_TYPE = "application/x-protobuf"
_MAX_ERROR_BODY = 1024  # Promtail keeps the first 1 KiB of an error response too
_NO_STATUS = "-1"  # promtail_request_duration_seconds' status_code when no response arrived, as Promtail
_DUE_SLACK = 0.001  # a batch due within 1 ms is sent now: asyncio timers may fire that much early
_LOG_INTERVAL = 10.0  # seconds between two log lines about the same recurring push problem
_STOP: Chunk = []  # put on the queue by `stop`: the intake drains what came before it, then flushes
_URL_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#@]*@")  # user:password@ in a URL, for /status


USER_AGENT = f"agent/{agent_version()}"


@contextlib.contextmanager
def map_push_errors() -> Iterator[None]:
    """Translate httpx's and asyncio's exceptions for one push into `RetryableError` (no status: retry)."""
    try:
        yield
    except TimeoutError as err:  # our overall deadline (asyncio.timeout) for the whole request
        raise RetryableError("Request timed out") from err
    except httpx.TimeoutException as err:
        raise RetryableError(f"Request timed out ({type(err).__name__})") from err
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as err:
        raise RetryableError(f"Connection failed ({type(err).__name__}: {err})") from err
    except (httpx.HTTPError, httpx.InvalidURL) as err:
        # Unsupported scheme, bad URL, too many redirects: a retry sends the same request, but Promtail
        # retries every failure that has no HTTP status, and so do we (the backoff bounds it).
        raise RetryableError(f"Request failed ({type(err).__name__}: {err})") from err


class _PushBody:
    """A request body that `LokiClient` lets go of as soon as its push is over.

    httpx's response and its stream refer to each other, so a finished request lives until the cyclic
    garbage collector runs, which `agent.app.tune_gc` makes rare; with a ``bytes`` body every push would
    keep its compressed batch (a few hundred KiB) alive that long. Re-iterable, so a redirect can resend it.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


class _Lane:
    """One tenant's batches and the wakeups between the intake and the tenant's sender."""

    __slots__ = ("current", "in_flight", "ready", "space", "task", "tenant", "wake")

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.current: Batch | None = None
        self.ready: deque[Batch] = deque()
        self.in_flight: Batch | None = None
        self.wake = asyncio.Event()  # for the sender: a batch was created, filled, or we are stopping
        self.space = asyncio.Event()  # for the intake: the sender took a ready batch
        self.task: asyncio.Task[None] | None = None

    def pending(self) -> int:
        return len(self.ready) + (self.current is not None) + (self.in_flight is not None)


class LokiClient:
    """Pushes the chunks put on `queue` to one Loki endpoint. Start `run()` in a TaskGroup; `stop()` ends it.

    ```yaml
    clients:
      - url: http://loki:3100/loki/api/v1/push
        tenant_id: team-a
        batchwait: 1s
        batchsize: 1048576
        backoff_config: {min_period: 500ms, max_period: 5m, max_retries: 10}
    limits_config:
      max_streams: 0      # passed as `max_streams`
    ```
    """

    def __init__(self, config: ClientConfig, metrics: Metrics, *, max_streams: int = 0, queue_size: int = 4) -> None:
        _check_supported(config)
        self.config = config
        self.queue: asyncio.Queue[Chunk] = bounded_queue(queue_size)
        self._metrics = metrics
        self._host = config.host
        self._router = StreamRouter(config.tenant_id, config.external_labels)
        self._max_streams = max_streams
        self._lanes: dict[str, _Lane] = {}
        self._http: httpx.AsyncClient | None = None
        server_name = config.tls_config.server_name  # the name to verify, and to send as SNI
        self._extensions: dict[str, Any] = {"sni_hostname": server_name} if server_name else {}
        self._intake_task: asyncio.Task[None] | None = None
        self._started = False
        self._stop_requested = False
        self._stopped = False
        self._flushing = False
        self._done = asyncio.Event()
        # Status for /status and /ready.
        self._last_status: int | None = None
        self._last_error = ""
        self._failing = False
        self._permanently_failing = False
        self._retries = 0
        self._sent_entries = metrics.sent_entries.labels(host=self._host)
        self._sent_bytes = metrics.sent_bytes.labels(host=self._host)
        self._encoded_bytes = metrics.encoded_bytes.labels(host=self._host)
        self._ack_latency = metrics.ack_latency.labels(host=self._host)
        self._stream_lag = metrics.stream_lag.labels(host=self._host)
        self._up = metrics.client_up.labels(host=self._host)
        self._log = RateLimitedLogger(log, interval=_LOG_INTERVAL)
        # `timeout: 0` means no timeout, as in Go's http.Client (and so in Promtail).
        self._timeout = config.timeout if config.timeout > 0 else None

    # -- public surface

    @property
    def permanently_failing(self) -> bool:
        """True after Loki refused our credentials (401/403) or retries ran out, until a push works."""
        return self._permanently_failing

    @property
    def failing(self) -> bool:
        """True while the last push attempt failed (the client is retrying), until a push works."""
        return self._failing

    @property
    def host(self) -> str:
        """`host:port` of the push URL, the value of the `host` metric label."""
        return self._host

    def state(self) -> dict[str, Any]:
        """A snapshot for the status page."""
        return {
            "url": _URL_PASSWORD.sub(r"\1<secret>@", self.config.url),
            "up": not self._failing,
            "permanently_failing": self._permanently_failing,
            "last_status": self._last_status,
            "last_error": self._last_error,
            **self._pending(),
            "retries": self._retries,
            "tenants": sorted(self._lanes),
        }

    def _pending(self) -> dict[str, int]:
        pending = sum(lane.pending() for lane in self._lanes.values())
        return {"pending_batches": pending, "queued_chunks": self.queue.qsize()}

    async def run(self) -> None:
        """Push until `stop()` has flushed, or until cancelled (then nothing pending is acknowledged)."""
        if self._started:
            raise RuntimeError("LokiClient.run() was already started")
        self._started = True
        try:
            if self._stopped:
                return  # stop() gave up before run() began: there is nothing to flush into
            # Reading certificates and secret files blocks: do it off the event loop.
            http = await asyncio.to_thread(self.build_http_client)
            async with http:
                self._http = http
                self._up.set(1)
                async with asyncio.TaskGroup() as group:
                    self._intake_task = group.create_task(self._intake(group), name=f"loki-intake host={self._host}")
        finally:
            self._done.set()

    async def stop(self, timeout: float) -> None:
        """Stop taking chunks; push what is queued and pending within `timeout` seconds, then cancel the rest.

        Entries that were not delivered stay unacknowledged, so their positions do not advance.
        """
        if self._stop_requested:
            with contextlib.suppress(TimeoutError):  # an earlier stop() is already flushing and reporting
                async with asyncio.timeout(timeout):
                    await self._done.wait()
            return
        self._stop_requested = True
        try:
            async with asyncio.timeout(timeout):
                await self.queue.put(_STOP)  # after every chunk already queued: the intake flushes on it
                await self._done.wait()
        except TimeoutError:
            self._metrics.errors.labels(component="client", reason="flush_timeout").inc()
            fields = {"host": self._host, "timeout": timeout, **self._pending()}
            log.warning("Flush timed out, undelivered entries stay unacknowledged.", extra=fields)
            self._cancel_tasks()
            if self._started:
                await self._done.wait()
        finally:
            self._stopped = True

    # -- intake: chunks to batches

    async def _intake(self, group: asyncio.TaskGroup) -> None:
        queue = self.queue
        while True:
            chunk = await queue.get()
            if chunk is _STOP:
                self._start_flush()
                return
            await self._add_chunk(chunk, group)

    async def _add_chunk(self, chunk: Chunk, group: asyncio.TaskGroup) -> None:
        # Entries move in runs that share one label dict (a file's lines do): one route lookup, one size
        # computation in bulk and one list extend per run, instead of per-line Python work.
        loop = asyncio.get_running_loop()
        lanes = self._lanes
        limit = self.config.batchsize
        groups: Iterable[tuple[Labels, Sequence[LogEntry]]]
        if isinstance(chunk, LineRun):  # a file tail's chunk says what it knows: no need to look entry by entry
            groups, known_size, ordered = ((chunk.labels, chunk),), chunk.size, True
        else:
            groups, known_size, ordered = runs(chunk), -1, False
        for label_dict, run in groups:
            tenant, labels = self._router.route(label_dict)
            if not labels:
                self._drop(list(run), sum(map(entry_size, run)), tenant, REASON_NO_LABELS)
                continue
            lane = lanes.get(tenant) or self._open_lane(tenant, group)
            batch = lane.current if lane.current is not None else self._new_batch(lane, loop.time())
            total = known_size if known_size >= 0 else run_size(run)
            if batch.size + total <= limit:  # the whole run fits: no per-entry sizes needed
                if not batch.add_run(labels, run, total, ordered=ordered):
                    self._drop(list(run), total, tenant, REASON_STREAM_LIMITED)
                elif batch.size >= limit:
                    await self._hand_off(lane, batch)
                continue
            ends = list(accumulate(run_sizes(run)))  # ends[i]: bytes of run[0..i]
            start = 0
            while start < len(run):
                batch = lane.current if lane.current is not None else self._new_batch(lane, loop.time())
                before = ends[start - 1] if start else 0
                stop = bisect_right(ends, before + limit - batch.size, lo=start)
                if stop == start:  # the next entry does not fit
                    if batch.count:
                        await self._hand_off(lane, batch)
                        continue
                    stop = start + 1  # an entry larger than batchsize travels alone
                part = run if stop - start == len(run) else run[start:stop]
                size = ends[stop - 1] - before
                if not batch.add_run(labels, part, size, ordered=ordered):
                    self._drop(list(part), size, tenant, REASON_STREAM_LIMITED)
                elif batch.size >= limit:
                    await self._hand_off(lane, batch)
                start = stop

    def _open_lane(self, tenant: str, group: asyncio.TaskGroup) -> _Lane:
        lane = self._lanes[tenant] = _Lane(tenant)
        # Export zeros from the start, as Promtail does, so rate() works from the first failure.
        for reason in _REASONS:
            for counter in (self._metrics.dropped_entries, self._metrics.dropped_bytes):
                counter.labels(host=self._host, reason=reason, tenant=tenant)
        self._metrics.batch_retries.labels(host=self._host, tenant=tenant)
        name = f"loki-sender host={self._host} tenant={tenant}"
        lane.task = group.create_task(self._send_lane(lane), name=name)
        return lane

    def _new_batch(self, lane: _Lane, now: float) -> Batch:
        batch = lane.current = Batch(lane.tenant, now, self._max_streams)
        lane.wake.set()  # the sender arms the batchwait timer
        return batch

    async def _hand_off(self, lane: _Lane, batch: Batch) -> None:
        """Move a full batch to the ready slot, waiting for room (this is where backpressure starts)."""
        while len(lane.ready) >= READY_BATCHES:
            if lane.current is not batch:
                return  # the sender took it meanwhile, because its batchwait ran out
            lane.space.clear()
            await lane.space.wait()
        if lane.current is batch:
            lane.ready.append(batch)
            lane.current = None
            lane.wake.set()

    def _start_flush(self) -> None:
        self._flushing = True
        for lane in self._lanes.values():
            lane.wake.set()

    def _cancel_tasks(self) -> None:
        if self._intake_task is not None:
            self._intake_task.cancel()
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()

    # -- senders: one per tenant

    async def _send_lane(self, lane: _Lane) -> None:
        while True:
            batch = await self._next_batch(lane)
            if batch is None:
                return
            lane.in_flight = batch
            try:
                await self._deliver(lane.tenant, batch)
            finally:
                lane.in_flight = None

    async def _next_batch(self, lane: _Lane) -> Batch | None:
        """The lane's next batch to push: a full one, or the filling one once due; None when flushed."""
        loop = asyncio.get_running_loop()
        wait = self.config.batchwait
        while True:
            lane.wake.clear()
            if lane.ready:
                lane.space.set()
                return lane.ready.popleft()
            batch = lane.current
            if batch is None:
                if self._flushing:
                    return None
                await lane.wake.wait()
                continue
            deadline = batch.created_at + wait
            if self._flushing or loop.time() >= deadline - _DUE_SLACK:
                lane.current = None
                return batch
            timer = loop.call_at(deadline, lane.wake.set)
            try:
                await lane.wake.wait()
            finally:
                timer.cancel()

    async def _deliver(self, tenant: str, batch: Batch) -> None:
        """Push one batch until Loki takes it, retries run out, or Loki rejects it for good."""
        encoded = batch.encode()
        if encoded.replaced_lines:
            mutated = self._metrics.mutated_entries.labels(host=self._host, reason="invalid_utf8", tenant=tenant)
            mutated.inc(encoded.replaced_lines)
        body = compress(encoded.body)
        self._encoded_bytes.inc(len(body))
        backoff = Backoff(self.config.backoff_config)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                status = await self._push(tenant, body)
            except PushError as err:
                self._observe(err.status, tenant, loop.time() - started)
                self._record_failure(err)
                delay = self._retry_delay(err, backoff, tenant, batch)
                if delay is None:
                    return
                await asyncio.sleep(delay)
            else:
                self._observe(status, tenant, loop.time() - started)
                self._record_success(batch, status, len(body), tenant)
                return

    def _retry_delay(self, err: PushError, backoff: Backoff, tenant: str, batch: Batch) -> float | None:
        """Seconds to wait before pushing `batch` again, or None once it is dropped (counted, acknowledged)."""
        fields = {"host": self._host, "tenant": tenant, "status": err.status, "entries": batch.count}
        if not isinstance(err, RetryableError):  # FatalPushError: retrying cannot help
            if err.status in (401, 403):
                self._permanently_failing = True
            # Loki's 400 body names the rejected entries and why: the one place a user learns it.
            body = err.body.strip()
            self._log.error(
                f"rejected:{tenant}:{err.status}", "Push rejected, dropping the batch.", extra={**fields, "body": body}
            )
            self._drop(batch.entries(), batch.size, tenant, REASON_GENERIC)
            return None
        if err.status == 429 and self.config.drop_rate_limited_batches:
            message = "Push rate limited, dropping the batch (drop_rate_limited_batches)."
            self._log.warning(f"rate_limited:{tenant}", message, extra=fields)
            self._drop(batch.entries(), batch.size, tenant, REASON_RATE_LIMITED)
            return None
        # Retry-After is obeyed when it asks for longer than our backoff, up to max_period: the config's
        # ceiling on waiting wins over a server asking for hours.
        max_wait = self.config.backoff_config.max_period
        delay = backoff.next_delay(None if err.retry_after is None else min(err.retry_after, max_wait))
        fields.update(attempt=backoff.retries, error=str(err))
        if delay is None:
            self._permanently_failing = True
            message = "Push failed, retries exhausted, dropping the batch."
            self._log.error(f"exhausted:{tenant}", message, extra=fields)
            reason = REASON_RATE_LIMITED if err.status == 429 else REASON_GENERIC  # the last failure decides
            self._drop(batch.entries(), batch.size, tenant, reason)
            return None
        self._retries += 1
        self._metrics.batch_retries.labels(host=self._host, tenant=tenant).inc()
        self._log.warning(f"retry:{tenant}", "Push failed, will retry.", extra={**fields, "delay": round(delay, 3)})
        return delay

    async def _push(self, tenant: str, body: bytes) -> int:
        """POST one batch; return the 2xx status or raise a `PushError`."""
        http = self._http
        assert http is not None, "run() builds the HTTP client before any sender starts"
        # An explicit length keeps httpx from sending an iterable body chunked.
        headers = {"Content-Length": str(len(body))}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        content = _PushBody(body)
        with map_push_errors():
            # httpx's timeout bounds each read and write; this bounds the whole request, as Promtail's does.
            async with asyncio.timeout(self._timeout):
                request = http.build_request(
                    "POST", self.config.url, content=content, headers=headers, extensions=self._extensions
                )
                try:
                    response = await http.send(request, stream=True)
                    try:
                        status = response.status_code
                        text = await _read_capped(response, _MAX_ERROR_BODY)
                    finally:
                        await response.aclose()
                finally:
                    content.data = b""
        if 200 <= status < 300:
            return status
        message = f"Loki answered {status}"
        if status == 429 or 500 <= status < 600:
            raise RetryableError(message, status, text, self._retry_after(response))
        raise FatalPushError(message, status, text)

    def _retry_after(self, response: httpx.Response) -> float | None:
        header = response.headers.get("Retry-After")
        seconds = parse_retry_after(header)
        if header is not None and seconds is None:
            self._metrics.errors.labels(component="client", reason="bad_retry_after").inc()
            self._log.warning(
                "retry_after", "Ignoring an invalid Retry-After header.", extra={"host": self._host, "value": header}
            )
        return seconds

    # -- outcomes

    def _observe(self, status: int | None, tenant: str, seconds: float) -> None:
        code = _NO_STATUS if status is None else str(status)
        self._metrics.request_duration.labels(status_code=code, host=self._host, tenant=tenant).observe(seconds)

    def _record_success(self, batch: Batch, status: int, sent_bytes: int, tenant: str) -> None:
        ack_entries(batch.entries())
        self._sent_entries.inc(batch.count)
        self._sent_bytes.inc(sent_bytes)
        # One observation per batch (its newest entry), not per entry: per-entry histograms cost too much.
        lag = time.time() - batch.newest / 1e9
        self._ack_latency.observe(lag)
        self._stream_lag.set(lag)
        self._up.set(1)
        self._failing = False
        self._permanently_failing = False
        self._last_status = status
        self._last_error = ""
        if status not in (200, 204):
            # Loki answers 260 when it accepted the request but ingestion is blocked for the tenant.
            self._metrics.non_standard_responses.labels(host=self._host, status_code=str(status)).inc()
            self._log.warning(
                f"unexpected_success:{tenant}",
                "Push answered with an unexpected success status, entries may not be stored.",
                extra={"host": self._host, "tenant": tenant, "status": status, "entries": batch.count},
            )

    def _record_failure(self, err: PushError) -> None:
        self._up.set(0)
        self._failing = True
        self._last_status = err.status
        self._last_error = str(err)
        reason = "timeout_or_connection" if err.status is None else f"status_{err.status}"
        self._metrics.errors.labels(component="client", reason=reason).inc()

    def _drop(self, entries: list[LogEntry], size: int, tenant: str, reason: str) -> None:
        """Count `entries` as dropped for `reason` and acknowledge them: they are gone for good."""
        labels = {"host": self._host, "reason": reason, "tenant": tenant}
        self._metrics.dropped_entries.labels(**labels).inc(len(entries))
        self._metrics.dropped_bytes.labels(**labels).inc(size)
        ack_entries(entries)

    # -- HTTP client

    def build_http_client(self) -> httpx.AsyncClient:
        """The shared connection pool with TLS, proxy and credentials; reads files, so runs in a thread."""
        config = self.config
        headers = {"Content-Type": _CONTENT_TYPE, "User-Agent": USER_AGENT}
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        taken = {name.lower() for name in headers} | ({"x-scope-orgid"} if config.tenant_id else set())
        for name, value in config.headers.items():
            if name.lower() in taken:
                log.warning(
                    "Ignoring a custom header the client sets itself.", extra={"host": self._host, "header": name}
                )
                continue
            headers[name] = value
        auth = None
        basic = config.basic_auth
        if basic is not None and (basic.username or basic.password or basic.password_file):
            password = (
                _read_secret(basic.password_file, "basic_auth.password_file") if basic.password_file else basic.password
            )
            auth = httpx.BasicAuth(basic.username, password)
        return httpx.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=self._timeout,
            verify=ssl_context(config.tls_config) if config.url.lower().startswith("https:") else True,
            proxy=self._proxy(),
            # HTTP(S)_PROXY and NO_PROXY from the environment only when asked, as Promtail does.
            trust_env=config.proxy_from_environment,
            follow_redirects=config.follow_redirects,
        )

    def _proxy(self) -> httpx.Proxy | None:
        """`proxy_url` with its CONNECT headers, unless `no_proxy` names Loki's host."""
        config = self.config
        if not config.proxy_url or _bypasses_proxy(httpx.URL(config.url).host, config.no_proxy):
            return None
        headers = {
            k: ", ".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in (config.proxy_connect_header or {}).items()
        }
        return httpx.Proxy(config.proxy_url, headers=headers or None)

    def _authorization(self) -> str:
        config = self.config
        if config.bearer_token:
            return f"Bearer {config.bearer_token}"
        if config.bearer_token_file:
            return f"Bearer {_read_secret(config.bearer_token_file, 'bearer_token_file')}"
        auth = config.authorization
        if auth is not None and auth.credentials_file:
            return f"{auth.type or 'Bearer'} {_read_secret(auth.credentials_file, 'authorization.credentials_file')}"
        if auth is not None and auth.credentials:
            return f"{auth.type or 'Bearer'} {auth.credentials}"
        return ""


async def _read_capped(response: httpx.Response, limit: int) -> str:
    """Up to `limit` bytes of the body as text; the rest is not read (the connection is then not reused)."""
    data = b""
    async for piece in response.aiter_raw():
        data += piece
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", "replace")


def _bypasses_proxy(hostname: str, no_proxy: str) -> bool:
    """Whether `no_proxy` (comma-separated hosts, domains, ``.domain`` suffixes or ``*``) covers `hostname`."""
    for entry in no_proxy.split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry and (entry == "*" or hostname == entry or hostname.endswith("." + entry)):
            return True
    return False


def _read_secret(path: str, key: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError([ConfigProblem(key, f"cannot read {path}: {err.strerror or err}")]) from err


def _check_supported(config: ClientConfig) -> None:
    problems = []
    tls = config.tls_config
    if tls.cert or tls.key:
        message = "inline certificates are not supported; use cert_file and key_file"
        problems.append(ConfigProblem("tls_config.cert" if tls.cert else "tls_config.key", message))
    for key, value in (("min_version", tls.min_version), ("max_version", tls.max_version)):
        if value and value not in TLS_VERSIONS:
            known = ", ".join(TLS_VERSIONS)
            problems.append(ConfigProblem(f"tls_config.{key}", f"unknown TLS version {value!r}; use one of {known}"))
    if config.oauth2:
        problems.append(ConfigProblem("oauth2", "oauth2 is not supported"))
    if problems:
        raise ConfigError(problems)
