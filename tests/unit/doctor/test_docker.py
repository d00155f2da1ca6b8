"""Doctor's Docker checks that need no other user: a missing socket, a file that is no socket, no daemon.

A socket without permission needs a user other than root, and a working socket the real daemon: both are in
tests/integration/test_doctor.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent.config.model import Config
from agent.doctor.access import current_user
from agent.doctor.docker import check_docker, check_socket, docker_hosts

pytestmark = pytest.mark.asyncio


class TestDockerSocket:
    async def test_missing_socket_says_to_mount_it(self, tmp_path: Path) -> None:
        """No socket file: the fix is mounting the host's socket read-only into the agent's container."""
        path = str(tmp_path / "docker.sock")
        present, access, api = await check_socket(path, current_user())
        assert (present.name, present.status) == ("docker socket", "fail")
        assert present.message == f"{path} is missing: the Docker daemon socket is not mounted"
        assert present.fix.splitlines()[:2] == [
            "mount the host's Docker socket into the agent's container, read-only:",
            f'docker run -v {path}:{path}:ro ...; compose: volumes: ["{path}:{path}:ro"]; '
            "Kubernetes: a hostPath volume of type Socket",
        ]
        assert (access.status, api.status) == ("skip", "skip")

    async def test_not_a_socket(self, tmp_path: Path) -> None:
        """A regular file where the socket should be is named as such."""
        path = tmp_path / "docker.sock"
        path.write_text("")
        [present, *_] = await check_socket(str(path), current_user())
        assert (present.status, present.message) == ("fail", f"{path} is not a socket")

    async def test_no_daemon_listening(self, tmp_path: Path) -> None:
        """A socket file nobody listens on (a stopped daemon) is refused: start the daemon."""
        path = str(tmp_path / "docker.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(path)  # bound, not listening: connect(2) is refused
            present, access, api = await check_socket(path, current_user())
        assert present.status == "pass"
        assert (access.status, access.message) == (
            "fail", f"nothing answers on {path}: the Docker daemon is not running"
        )
        assert api.status == "skip"


class TestDockerHosts:
    async def test_hosts_from_the_config(self) -> None:
        """Each distinct docker_sd_configs host is checked once; the default is the local socket."""
        config = Config.model_validate({
            "scrape_configs": [
                {"job_name": "a", "docker_sd_configs": [{"host": "unix:///run/docker.sock"}, {}]},
                {"job_name": "b", "docker_sd_configs": [{"host": "unix:///run/docker.sock"}]},
            ]
        })
        assert docker_hosts(config) == ["unix:///run/docker.sock", "unix:///var/run/docker.sock"]

    async def test_no_docker_targets(self) -> None:
        """Without docker_sd_configs there is nothing to check, and nothing fails."""
        [check] = await check_docker(Config.model_validate({}), current_user())
        assert check.status == "skip"
