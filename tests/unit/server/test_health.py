"""Health: what makes the agent ready, and what /status shows when a status provider breaks."""

from __future__ import annotations

from typing import Any

from agent.server.health import NO_TARGETS_REASON, Health
from agent.server.metrics import Metrics


class Client:
    def __init__(self, failing: bool = False) -> None:
        self.permanently_failing = failing

    def state(self) -> dict[str, Any]:
        return {"url": "http://loki/push", "state": "sending"}


def started(health: Health) -> Health:
    health.set_config_loaded("config.yaml")
    health.set_started()
    return health


def broken() -> dict[str, Any]:
    raise RuntimeError("boom")


class TestReady:
    def test_new_health_lists_every_missing_step(self) -> None:
        """A fresh Health is not ready and says both the config and the targets are missing."""
        assert Health().ready() == (False, ["the config is not loaded yet", "targets are not started yet"])

    def test_ready_after_config_and_start(self) -> None:
        """Config loaded and targets started is ready, with no reasons."""
        assert started(Health()).ready() == (True, [])

    def test_healthy_client_keeps_ready(self) -> None:
        """A client that is not permanently failing does not affect readiness."""
        health = started(Health())
        health.register_client("client-0", Client())
        assert health.ready() == (True, [])

    def test_stopping_is_not_ready(self) -> None:
        """set_stopping turns readiness off for good."""
        health = started(Health())
        health.set_stopping()
        assert health.ready() == (False, ["the agent is shutting down"])

    def test_require_targets_uses_promtails_words(self) -> None:
        """With require_targets and no target tailing anything, the reason is Promtail's sentence."""
        health = started(Health(require_targets=True))
        assert health.ready() == (False, [NO_TARGETS_REASON])
        health.register_target_status("varlogs", lambda: {"ready": False, "files": []})
        assert health.ready() == (False, [NO_TARGETS_REASON])
        health.register_target_status("varlogs", lambda: {"ready": True, "files": ["/var/log/syslog"]})
        assert health.ready() == (True, [])

    def test_unregistered_target_disappears(self) -> None:
        """unregister_target removes the target from /status."""
        health = started(Health())
        health.register_target_status("varlogs", dict)
        health.unregister_target("varlogs")
        health.unregister_target("never-registered")
        assert health.status()["targets"] == []


class TestBrokenProviders:
    def test_broken_target_is_shown_and_counted(self) -> None:
        """A status provider that raises shows its error in /status and is counted, the rest still shows."""
        metrics = Metrics()
        health = started(Health(metrics))
        health.register_target_status("a-broken", broken)
        health.register_target_status("b-fine", lambda: {"files": []})
        targets = health.status()["targets"]
        assert targets[0] == {"name": "a-broken", "ready": False, "status_error": "RuntimeError: boom"}
        assert targets[1] == {"name": "b-fine", "files": []}
        assert metrics.registry.get_sample_value(
            "agent_errors_total", {"component": "health", "reason": "target_status"}
        ) == 1.0

    def test_broken_target_does_not_count_as_tailing(self) -> None:
        """With require_targets, a target whose provider raises does not make the agent ready."""
        health = started(Health(Metrics(), require_targets=True))
        health.register_target_status("broken", broken)
        assert health.ready() == (False, [NO_TARGETS_REASON])


class TestStatus:
    def test_uptime_follows_the_clock(self) -> None:
        """uptime_seconds is measured with the injected clock."""
        now = [100.0]
        health = Health(clock=lambda: now[0])
        now[0] = 142.5
        assert health.status()["uptime_seconds"] == 42.5

    def test_clients_listed_in_name_order(self) -> None:
        """Clients appear sorted by name with their state and failure flag."""
        health = started(Health())
        health.register_client("client-1", Client(failing=True))
        health.register_client("client-0", Client())
        clients = health.status()["clients"]
        assert [(c["name"], c["permanently_failing"]) for c in clients] == [
            ("client-0", False), ("client-1", True)
        ]
        assert clients[0]["url"] == "http://loki/push"
