"""systemd's notify protocol (`sd_notify(3)`), without a dependency: READY, STOPPING, STATUS and the watchdog.

With ``Type=notify`` in the unit, systemd sets ``$NOTIFY_SOCKET``; each state is one datagram on that
AF_UNIX socket (a path, or ``@name`` in the abstract namespace). With ``WatchdogSec=``, systemd also sets
``$WATCHDOG_USEC`` and restarts the agent when pings stop. Without those variables every call is a no-op,
so the app calls these unconditionally. A datagram send never waits, so calling from the event loop is fine.

This module does not decide *when* the agent is ready; the app does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

from agent.logs import RateLimitedLogger, log_fields
from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

READY = "READY=1"
STOPPING = "STOPPING=1"
RELOADING = "RELOADING=1"
WATCHDOG = "WATCHDOG=1"


def notify(state: str, *, env: Mapping[str, str] | None = None, metrics: Metrics | None = None) -> bool:
    """Send `state` (``READY=1``, ``STATUS=Tailing 3 files``, several joined by newlines) to systemd.

    Returns whether a datagram was sent: False without ``$NOTIFY_SOCKET`` and when sending failed (that is
    logged and counted, never raised: systemd's supervision must not take the agent down).
    """
    error = _send(state, os.environ if env is None else env)
    if error is None:
        return notify_socket(env) is not None
    _count(error, metrics)
    log.warning("Cannot notify systemd.", extra=_fields(state, error))
    return False


def status(text: str, *, env: Mapping[str, str] | None = None, metrics: Metrics | None = None) -> bool:
    """Show `text` as the unit's status line in ``systemctl status`` (one line; newlines become spaces)."""
    return notify(f"STATUS={' '.join(text.splitlines())}", env=env, metrics=metrics)


def notify_socket(env: Mapping[str, str] | None = None) -> str | None:
    """The socket address systemd gave us (abstract names start with NUL), or None when not run by it."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]
    return address


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings: half of ``$WATCHDOG_USEC``, as `sd_watchdog_enabled(3)` advises.

    None when the watchdog is off: no ``$WATCHDOG_USEC``, a value that is not a positive integer, or a
    ``$WATCHDOG_PID`` naming another process (the variables were inherited, not meant for us).
    """
    values = os.environ if env is None else env
    pid = values.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(values.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1_000_000 if usec > 0 else None


async def watchdog_loop(*, env: Mapping[str, str] | None = None, metrics: Metrics | None = None) -> None:
    """Ping systemd's watchdog every `watchdog_interval()` seconds until cancelled; return at once if off.

    Runs as a task in the app's TaskGroup, so a stuck event loop stops the pings and systemd restarts us.
    """
    interval = watchdog_interval(env)
    if interval is None or notify_socket(env) is None:
        return
    limited = RateLimitedLogger(log, interval=300.0)
    while True:
        error = _send(WATCHDOG, os.environ if env is None else env)
        if error is not None:
            _count(error, metrics)
            limited.warning("watchdog", "Cannot ping systemd's watchdog.", extra=_fields(WATCHDOG, error))
        await asyncio.sleep(interval)


def _send(state: str, env: Mapping[str, str]) -> OSError | None:
    address = notify_socket(env)
    if address is None:
        return None
    if not address.startswith(("/", "\0")):
        # systemd >= 254 may hand out vsock:CID:PORT (VMs); the agent runs on the host it watches.
        return OSError(f"unsupported NOTIFY_SOCKET address {address!r}: only paths and @names")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as exc:
        return exc
    return None


def _count(error: OSError, metrics: Metrics | None) -> None:
    if metrics is not None:
        reason = "send_failed" if error.errno is not None else "bad_address"
        metrics.errors.labels(component="sdnotify", reason=reason).inc()


def _fields(state: str, error: OSError) -> dict[str, object]:
    return log_fields(state=state.split("=", 1)[0], error=error.strerror or str(error))
