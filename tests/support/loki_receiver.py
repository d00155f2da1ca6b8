"""An in-process Loki push receiver for tests: decodes strictly, records what it got, misbehaves on command.

``POST /loki/api/v1/push`` must carry ``Content-Type: application/x-protobuf`` and a snappy *block* (not
framed) of a valid ``logproto.PushRequest`` whose every stream has a parseable Loki label string with at
least one label. Anything else is answered 400 and recorded in `protocol_errors`, which tests expect to stay
empty. Accepted entries are recorded with their tenant (``X-Scope-OrgID``) and receive time.

Misbehaviour is queued as rules; the first rule that applies to a request decides the answer::

    loki.respond(429, times=2, retry_after="1")      # the next two requests get 429 with Retry-After
    loki.respond(503, seconds=0.5)                     # every request for half a second gets 503
    loki.respond(400, times=1, body="entry too old")   # a rejection with a body
    loki.respond(260, times=1)                         # Loki's "accepted but ingestion blocked"
    loki.hang(times=1)                                 # never answer (until loki.release())
    loki.close_connection(times=1)                     # read the request, close without answering
    loki.delay_ms = 50                                 # delay every answer
    loki.ready_status = 503                            # GET /ready answers 503 (200 "ready" by default)

Only requests answered 204 (the normal answer) have their entries recorded.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import snappy
from aiohttp import web
from google.protobuf.message import DecodeError

from agent.client._proto import logproto_pb2

PUSH_PATH = "/loki/api/v1/push"

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*', re.DOTALL)
_SIMPLE_ESCAPES = {
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\v",
    "\\": b"\\",
    '"': b'"',
}


class LabelStringError(ValueError):
    """A stream's labels are not a Loki label string."""


def go_unquote(body: str) -> str:
    """The text of a Go double-quoted string literal's body (without its quotes); raises on bad escapes."""
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\n":
            raise LabelStringError("a raw newline in a quoted value")
        if char != "\\":
            out += char.encode()
            i += 1
            continue
        if i + 1 >= len(body):
            raise LabelStringError("a trailing backslash")
        kind = body[i + 1]
        if kind in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[kind]
            i += 2
        elif kind in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise LabelStringError(f"a bad \\{kind} escape")
            value = int(digits, 16)
            if kind == "x":
                out.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    raise LabelStringError(f"an invalid code point U+{value:X}")
                out += chr(value).encode()
            i += 2 + width
        elif kind in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise LabelStringError("a bad octal escape")
            out.append(int(digits, 8))
            i += 4
        else:
            raise LabelStringError(f"an unknown escape \\{kind}")
    try:
        return out.decode()
    except UnicodeDecodeError as err:
        raise LabelStringError("escapes that are not UTF-8") from err


def parse_label_string(text: str) -> dict[str, str]:
    """Parse ``{a="b", c="d"}`` as Loki does (double quotes only); raise `LabelStringError` otherwise."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise LabelStringError(f"not enclosed in braces: {text!r}")
    inner = stripped[1:-1]
    labels: dict[str, str] = {}
    pos = 0
    while inner.strip():
        match = _PAIR.match(inner, pos)
        if match is None:
            raise LabelStringError(f"cannot parse a label at offset {pos + 1}: {text!r}")
        name, value = match.group(1), go_unquote(match.group(2))
        if name in labels:
            raise LabelStringError(f"duplicate label {name!r}: {text!r}")
        labels[name] = value
        pos = match.end()
        if pos == len(inner):
            break
        if inner[pos] != ",":
            raise LabelStringError(f"expected ',' at offset {pos + 1}: {text!r}")
        pos += 1
    if not labels:
        raise LabelStringError("a stream needs at least one label")
    return labels


@dataclass(frozen=True)
class ReceivedEntry:
    """One entry Loki accepted. `received_at` is `time.monotonic()` (the asyncio loop's clock)."""

    tenant: str
    stream: str
    labels: dict[str, str]
    timestamp: int
    line: str
    metadata: dict[str, str]
    received_at: float


@dataclass(frozen=True)
class ReceivedRequest:
    """One push request and how it was answered (status 0: no answer, the connection was closed or hung)."""

    tenant: str
    status: int
    entries: int
    headers: dict[str, str]
    received_at: float


@dataclass
class _Rule:
    action: Literal["status", "hang", "close"]
    status: int = 0
    body: str = ""
    retry_after: str | None = None
    times: int | None = None
    until: float | None = None
    tenant: str | None = None

    def applies(self, tenant: str, now: float) -> bool:
        if self.tenant is not None and self.tenant != tenant:
            return False
        if self.until is not None and now >= self.until:
            return False
        return self.times is None or self.times > 0


@dataclass
class LokiReceiver:
    """A Loki push endpoint on 127.0.0.1 (a free port). Use ``async with LokiReceiver() as loki``.

    With `ssl_context` it serves HTTPS (and may require client certificates, as the context says).
    """

    ssl_context: ssl.SSLContext | None = None
    delay_ms: float = 0.0
    ready_status: int = 200
    entries: list[ReceivedEntry] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _port: int = 0

    # -- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(PUSH_PATH, self._handle)
        app.router.add_get("/ready", self._ready)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LokiReceiver:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The push URL, for `ClientConfig.url`."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}{PUSH_PATH}"

    # -- misbehaviour on command

    def respond(
        self,
        status: int,
        *,
        times: int | None = None,
        seconds: float | None = None,
        retry_after: str | None = None,
        body: str = "",
        tenant: str | None = None,
    ) -> None:
        """Answer `status` to the next `times` requests, or to every request for `seconds` (of `tenant`)."""
        self._add(_Rule("status", status, body, retry_after), times, seconds, tenant)

    def hang(self, *, times: int | None = None, seconds: float | None = None, tenant: str | None = None) -> None:
        """Never answer the matching requests, until `release()` (or the receiver stops)."""
        self._release.clear()
        self._add(_Rule("hang"), times, seconds, tenant)

    def release(self) -> None:
        """Let hanging requests go (they are then answered 503) and stop hanging new ones."""
        self._rules = [rule for rule in self._rules if rule.action != "hang"]
        self._release.set()

    def close_connection(self, *, times: int | None = None, tenant: str | None = None) -> None:
        """Read the matching requests, then close their connections without answering."""
        self._add(_Rule("close"), times, None, tenant)

    def behave(self) -> None:
        """Forget every rule and delay: answer 204 again."""
        self.release()
        self._rules.clear()
        self.delay_ms = 0.0

    def _add(self, rule: _Rule, times: int | None, seconds: float | None, tenant: str | None) -> None:
        if times is None and seconds is None:
            raise ValueError("say for how long: times=N or seconds=T")
        rule.times = times
        rule.until = None if seconds is None else time.monotonic() + seconds
        rule.tenant = tenant
        self._rules.append(rule)

    # -- what tests read

    def lines(self, tenant: str | None = None) -> list[str]:
        """Every accepted line in arrival order (of one tenant, if given)."""
        return [e.line for e in self.entries if tenant is None or e.tenant == tenant]

    def streams(self) -> dict[str, list[str]]:
        """Accepted lines by stream label string, exactly as the client sent it."""
        out: dict[str, list[str]] = {}
        for entry in self.entries:
            out.setdefault(entry.stream, []).append(entry.line)
        return out

    def status_counts(self) -> Counter[int]:
        """How many requests got each status (0: none, the connection was closed or the request hung)."""
        return Counter(request.status for request in self.requests)

    async def wait_for_entries(self, count: int, timeout: float = 5.0) -> list[ReceivedEntry]:
        """Wait until at least `count` entries were accepted; fail the test after `timeout` seconds."""
        await self.wait_until(lambda: len(self.entries) >= count, timeout, f"{count} entries")
        return self.entries

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        """Wait until `condition()` holds, checked after every request; fail the test after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"Loki receiver: waited {timeout}s for {what or 'a condition'}; got {len(self.entries)} "
                f"entries, statuses {dict(self.status_counts())}, protocol errors {self.protocol_errors}"
            ) from None

    # -- the endpoint

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        tenant = request.headers.get("X-Scope-OrgID", "")
        headers = dict(request.headers)
        body = await request.read()
        try:
            entries = self._decode(request.content_type, body, tenant, received_at)
        except ValueError as err:
            self.protocol_errors.append(str(err))
            self._record(ReceivedRequest(tenant, 400, 0, headers, received_at))
            return web.Response(status=400, text=f"receiver: {err}\n")
        rule = self._rule_for(tenant, received_at)
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if rule is not None and rule.action == "hang":
            self._record(ReceivedRequest(tenant, 0, len(entries), headers, received_at))
            await self._release.wait()
            return web.Response(status=503, text="released\n")
        if rule is not None and rule.action == "close":
            self._record(ReceivedRequest(tenant, 0, len(entries), headers, received_at))
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPInternalServerError()  # never sent: the connection is closed
        status = rule.status if rule is not None else 204
        if status == 204:
            self.entries.extend(entries)
        self._record(ReceivedRequest(tenant, status, len(entries), headers, received_at))
        response_headers = {"Retry-After": rule.retry_after} if rule is not None and rule.retry_after else None
        text = rule.body if rule is not None else ""
        return web.Response(status=status, text=text or None, headers=response_headers)

    async def _ready(self, request: web.Request) -> web.Response:
        # Loki's own words: "ready", or why not (an ingester still joining the ring).
        text = "ready" if self.ready_status == 200 else "Ingester not ready: waiting for 15s after being ready"
        return web.Response(status=self.ready_status, text=text + "\n")

    def _rule_for(self, tenant: str, now: float) -> _Rule | None:
        for rule in self._rules:
            if rule.applies(tenant, now):
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    def _record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        self._changed.set()

    @staticmethod
    def _decode(content_type: str, body: bytes, tenant: str, received_at: float) -> list[ReceivedEntry]:
        if content_type != "application/x-protobuf":
            raise ValueError(f"Content-Type is {content_type!r}, not application/x-protobuf")
        try:
            raw = snappy.uncompress(body)
        except snappy.UncompressError as err:
            raise ValueError(f"body is not a snappy block: {err!r}") from err
        push = logproto_pb2.PushRequest()
        try:
            push.ParseFromString(raw)
        except DecodeError as err:
            raise ValueError(f"body is not a PushRequest: {err}") from err
        out = []
        for stream in push.streams:
            try:
                labels = parse_label_string(stream.labels)
            except LabelStringError as err:
                raise ValueError(f"stream labels {stream.labels!r}: {err}") from err
            if not stream.entries:
                raise ValueError(f"stream {stream.labels!r} has no entries")
            for entry in stream.entries:
                ts = entry.timestamp
                if not 0 <= ts.nanos < 1_000_000_000:
                    raise ValueError(f"timestamp nanos out of range: {ts.nanos}")
                metadata = {pair.name: pair.value for pair in entry.structuredMetadata}
                out.append(
                    ReceivedEntry(
                        tenant,
                        stream.labels,
                        labels,
                        ts.seconds * 1_000_000_000 + ts.nanos,
                        entry.line,
                        metadata,
                        received_at,
                    )
                )
        return out
