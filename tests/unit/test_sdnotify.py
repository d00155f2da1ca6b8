"""sd_notify: datagrams reach a real AF_UNIX socket; without systemd's variables nothing happens."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import sdnotify
from agent.server.metrics import Metrics


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound in tmp_path, standing in for systemd's notify socket."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5.0)
        yield sock, path


class TestNotify:
    @pytest.mark.parametrize("state", [sdnotify.READY, sdnotify.STOPPING, sdnotify.WATCHDOG])
    def test_state_arrives(self, receiver: tuple[socket.socket, str], state: str) -> None:
        """Each state is sent as one datagram with exactly its text."""
        sock, path = receiver
        assert sdnotify.notify(state, env={"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == state.encode()

    def test_status_is_one_line(self, receiver: tuple[socket.socket, str]) -> None:
        """status() sends STATUS= with newlines folded, as systemctl shows one line."""
        sock, path = receiver
        assert sdnotify.status("Tailing 3 files\nshipping to 1 client", env={"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"STATUS=Tailing 3 files shipping to 1 client"

    def test_abstract_namespace(self) -> None:
        """An @name address reaches a socket bound in Linux's abstract namespace."""
        name = f"agent-test-{uuid.uuid4().hex}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            sock.settimeout(5.0)
            assert sdnotify.notify(sdnotify.READY, env={"NOTIFY_SOCKET": "@" + name})
            assert sock.recv(4096) == b"READY=1"

    def test_no_socket_is_a_noop(self) -> None:
        """Without $NOTIFY_SOCKET nothing is sent and nothing fails."""
        assert not sdnotify.notify(sdnotify.READY, env={})

    def test_missing_socket_is_logged_and_counted(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A socket path nobody listens on is counted and warned about, never raised."""
        metrics = Metrics()
        with caplog.at_level(logging.WARNING, logger="agent.sdnotify"):
            sent = sdnotify.notify(
                sdnotify.READY, env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, metrics=metrics
            )
        assert not sent
        assert [r.getMessage() for r in caplog.records] == ["Cannot notify systemd."]
        assert metrics.registry.get_sample_value(
            "agent_errors_total", {"component": "sdnotify", "reason": "send_failed"}
        ) == 1.0

    def test_vsock_address_is_refused_and_counted(self) -> None:
        """A vsock: address (systemd in a VM) is reported as unsupported instead of crashing."""
        metrics = Metrics()
        assert not sdnotify.notify(sdnotify.READY, env={"NOTIFY_SOCKET": "vsock:2:1234"}, metrics=metrics)
        assert metrics.registry.get_sample_value(
            "agent_errors_total", {"component": "sdnotify", "reason": "bad_address"}
        ) == 1.0


class TestWatchdogInterval:
    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            pytest.param({"WATCHDOG_USEC": "30000000"}, 15.0, id="half-the-period"),
            pytest.param({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0, id="our-pid"),
            pytest.param({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None, id="other-pid"),
            pytest.param({}, None, id="unset"),
            pytest.param({"WATCHDOG_USEC": "0"}, None, id="zero"),
            pytest.param({"WATCHDOG_USEC": "soon"}, None, id="not-a-number"),
        ],
    )
    def test_interval(self, env: dict[str, str], expected: float | None) -> None:
        """The ping interval is half of $WATCHDOG_USEC, and off when it is absent or not meant for us."""
        assert sdnotify.watchdog_interval(env) == expected


@pytest.mark.asyncio
class TestWatchdogLoop:
    async def test_pings_repeatedly(self, receiver: tuple[socket.socket, str]) -> None:
        """With a watchdog configured, WATCHDOG=1 arrives again and again until the task is cancelled."""
        sock, path = receiver
        sock.setblocking(False)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}  # a ping every 10 ms
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(sdnotify.watchdog_loop(env=env))
        try:
            async with asyncio.timeout(5.0):
                pings = [await loop.sock_recv(sock, 4096) for _ in range(3)]
        finally:
            task.cancel()
        assert pings == [b"WATCHDOG=1"] * 3
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_returns_when_off(self) -> None:
        """Without a watchdog the loop returns at once, so the app's task simply finishes."""
        async with asyncio.timeout(5.0):
            await sdnotify.watchdog_loop(env={"NOTIFY_SOCKET": "/run/notify"})
