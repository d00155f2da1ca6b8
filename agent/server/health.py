"""What `/ready` and `/status` report: the app fills a `Health` as it builds and stops the agent.

`Health` holds no data of its own about files or pushes. Targets and clients register a callable or an
object that describes them when asked, so `/status` shows the live state and nothing is copied on the hot
path. The HTTP server only renders what `ready()` and `status()` return.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from agent.logs import RateLimitedLogger, log_fields
from agent.server.metrics import Metrics

log = logging.getLogger(__name__)

NO_TARGETS_REASON = "Unable to find any logs to tail. Please verify permissions, volumes, scrape_config, etc."
"""Promtail's own words when `health_check_target` is on and no target has found a file."""

TargetStatus = Callable[[], dict[str, Any]]
"""Describes one target (a scrape job's files, say): a JSON-able dict, read on every `/status` request."""


class ClientStatus(Protocol):
    """What `/status` and `/ready` need from a client (a `LokiClient`)."""

    @property
    def permanently_failing(self) -> bool:
        """True when retrying cannot help (Loki rejects every push): the agent is not ready."""
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-able description: ``{"url": ..., "state": "sending", "last_error": ...}``."""
        ...


def agent_version() -> str:
    """The installed package's version, or ``0.0.0+unknown`` when run from an uninstalled tree."""
    try:
        return version("agent")
    except PackageNotFoundError:
        return "0.0.0+unknown"


class Health:
    """The agent's readiness and status, as the app reports them.

    Ready means: the config is loaded, the targets are started, the agent is not shutting down, no client
    is permanently failing and, with `require_targets` (Promtail's `server.health_check_target`), at least
    one target has found something to tail.
    """

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        require_targets: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.require_targets = require_targets
        self.version = agent_version()
        self._clock = clock
        self._started_clock = clock()
        self._started_at = datetime.now(UTC)
        self._config_loaded = False
        self._config_source = ""
        self._warnings: list[str] = []
        self._started = False
        self._stopping = False
        self._targets: dict[str, TargetStatus] = {}
        self._clients: dict[str, ClientStatus] = {}
        self._warn = RateLimitedLogger(log, interval=60.0, clock=clock)

    # -- filled by the app

    def set_config_loaded(self, source: str = "", warnings: Sequence[str] = ()) -> None:
        """The config at `source` is loaded; `warnings` are the parts accepted but not run."""
        self._config_loaded = True
        self._config_source = source
        self._warnings = list(warnings)

    def register_target_status(self, name: str, status: TargetStatus) -> None:
        """Show `status()` under `name` in `/status`, replacing any target of that name.

        A target whose dict says ``"ready": False`` has found nothing to tail yet (see `require_targets`);
        one whose ``"failing"`` is a message cannot work now (the Docker daemon is unreachable): `/ready` fails
        with that message while other targets keep working.
        """
        self._targets[name] = status

    def unregister_target(self, name: str) -> None:
        """Forget the target `name` (it stopped, or a reload removed it); unknown names are ignored."""
        self._targets.pop(name, None)

    def unregister_client(self, name: str) -> None:
        """Forget the client `name` (a reload replaced it); unknown names are ignored."""
        self._clients.pop(name, None)

    def register_client(self, name: str, client: ClientStatus) -> None:
        """Show `client.state()` under `name` in `/status`; while it fails permanently, `/ready` fails."""
        self._clients[name] = client

    def set_started(self) -> None:
        """Sources, pipelines and clients are running."""
        self._started = True

    def set_stopping(self) -> None:
        """Shutdown began: `/ready` fails from now on, so load balancers and rollouts stop waiting on us."""
        self._stopping = True

    # -- read by the HTTP server

    def ready(self) -> tuple[bool, list[str]]:
        """Return whether the agent is ready and, when it is not, every reason why."""
        return self._ready(self._target_states())

    def _ready(self, targets: dict[str, dict[str, Any]]) -> tuple[bool, list[str]]:
        reasons: list[str] = []
        if self._stopping:
            reasons.append("the agent is shutting down")
        if not self._config_loaded:
            reasons.append("the config is not loaded yet")
        if not self._started:
            reasons.append("targets are not started yet")
        reasons += [
            self._client_failure(name, client) for name, client in sorted(self._clients.items())
            if client.permanently_failing
        ]
        reasons += [
            f"target {name} is failing: {state['failing']}" for name, state in targets.items() if state.get("failing")
        ]
        any_ready = any(state.get("ready", True) is not False for state in targets.values())
        if self.require_targets and self._started and not any_ready:
            reasons.append(NO_TARGETS_REASON)
        return not reasons, reasons

    def status(self) -> dict[str, Any]:
        """Everything `/status` shows, as a JSON-able dict."""
        targets = self._target_states()
        is_ready, reasons = self._ready(targets)
        return {
            "version": self.version,
            "started_at": self._started_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime_seconds": round(self._clock() - self._started_clock, 3),
            "ready": is_ready,
            "not_ready_reasons": reasons,
            "config": {"source": self._config_source, "loaded": self._config_loaded},
            "warnings": list(self._warnings),
            "targets": [{"name": name, **state} for name, state in targets.items()],
            "clients": [
                {
                    "name": name,
                    "permanently_failing": client.permanently_failing,
                    **self._describe("client", name, client.state),
                }
                for name, client in sorted(self._clients.items())
            ],
        }

    def _client_failure(self, name: str, client: ClientStatus) -> str:
        state = self._describe("client", name, client.state)
        where = f" ({state['url']})" if state.get("url") else ""
        why = f": {state['last_error']}" if state.get("last_error") else ""
        return f"{name}{where} is failing permanently{why}"

    def _target_states(self) -> dict[str, dict[str, Any]]:
        """Each target's description, by name, asked once per `/ready` or `/status` request."""
        return {name: self._describe("target", name, status) for name, status in sorted(self._targets.items())}

    def _describe(self, kind: str, name: str, describe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        # One broken status provider must not take `/status` or `/ready` down with it.
        try:
            return dict(describe())
        except Exception as exc:  # noqa: BLE001 - counted and logged (with traceback, rate limited) below
            if self.metrics is not None:
                self.metrics.errors.labels(component="health", reason=f"{kind}_status").inc()
            self._warn.error(
                f"{kind}:{name}", "Status provider failed.", exc_info=True,
                extra=log_fields(kind=kind, name=name),
            )
            return {"ready": False, "status_error": f"{type(exc).__name__}: {exc}"}
