"""`agent doctor` as a user runs it: ``python -m agent doctor ...`` in a subprocess, its lines and exit code.

Permission failures need a user other than root (root reads every file and connects to every socket): those
doctors run as `nobody` through ``setpriv`` (util-linux), on files and sockets the test makes in a directory
`nobody` may enter. The working-socket test uses the real Docker daemon: skipped when /var/run/docker.sock
is absent, failed instead when ``AGENT_REQUIRE_DOCKER=1`` (CI with Docker).
"""

from __future__ import annotations

import asyncio
import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import run
from agent.doctor.access import current_user
from agent.doctor.docker import check_socket
from support.docker_engine import require_docker
from support.loki_receiver import LokiReceiver

AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--")
DOCKER_SOCKET = "/var/run/docker.sock"
DOCTOR_TIMEOUT = 60.0  # seconds: every network step inside doctor has its own, shorter, timeout


def nobody_problem() -> str | None:
    """None when this test process can run a command as `nobody` (root with setpriv), else why not."""
    if os.geteuid() != 0:
        return "not root: cannot run doctor as another user"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    done = subprocess.run([*AS_NOBODY, "true"], capture_output=True, text=True, timeout=10, check=False)
    return None if done.returncode == 0 else f"setpriv cannot switch to nobody: {done.stderr.strip()}"


def require_docker_socket() -> str:
    """The real daemon's socket; skip without it, unless AGENT_REQUIRE_DOCKER=1 makes that a failure."""
    if not os.path.exists(DOCKER_SOCKET):
        require_docker(f"no Docker daemon ({DOCKER_SOCKET} does not exist)")
    return DOCKER_SOCKET


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A directory `nobody` may enter (pytest's tmp_path is root's alone), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="agent-test-doctor-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def adm_gid() -> int:
    """A group `nobody` is not in: adm, as for /var/log on Debian."""
    try:
        return grp.getgrnam("adm").gr_gid
    except KeyError:
        pytest.skip("no adm group on this machine")


def write_config(directory: Path, **top: Any) -> Path:
    """A Promtail-format config in `directory`, readable by everyone, positions in a world-writable directory."""
    state = directory / "state"
    state.mkdir(mode=0o777, exist_ok=True)
    state.chmod(0o777)
    document = {
        "server": {"http_listen_address": "127.0.0.1", "http_listen_port": free_port()},
        "positions": {"filename": str(state / "positions.yaml")},
        **top,
    }
    path = directory / "agent.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o644)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def files_job(glob: str) -> dict[str, Any]:
    labels = {"job": "app", "__path__": glob}
    return {"job_name": "app", "static_configs": [{"targets": ["localhost"], "labels": labels}]}


async def doctor(*args: str, as_nobody: bool = False) -> tuple[int, str]:
    """Run ``python -m agent doctor args``; return its exit code and standard output (stderr must be empty)."""
    prefix = AS_NOBODY if as_nobody else ()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"}
    process = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "agent", "doctor", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    async with asyncio.timeout(DOCTOR_TIMEOUT):
        out, err = await process.communicate()
    assert err.decode() == "", err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.asyncio
class TestAsNobody:
    async def test_unreadable_file(self, shared: Path, adm_gid: int) -> None:
        """A file of group adm, mode 0640: doctor names the user, owner, group, mode, and the group to join."""
        if (reason := nobody_problem()) is not None:
            pytest.skip(reason)
        logs = shared / "logs"
        logs.mkdir(mode=0o755)
        secret = logs / "app.log"
        secret.write_text("line\n")
        os.chown(secret, 0, adm_gid)
        secret.chmod(0o640)
        config = write_config(shared, scrape_configs=[files_job(f"{logs}/*.log")])

        code, out = await doctor("-config.file", str(config), as_nobody=True)

        assert code == 1
        lines = out.splitlines()
        at = lines.index(
            f"❌ file {secret}: not readable by user nobody: owner root, group adm (GID {adm_gid}), mode 0640"
        )
        assert lines[at + 1 : at + 3] == [
            f"   fix: add the user nobody to the group adm (GID {adm_gid}): usermod -aG adm nobody, then restart "
            "the agent",
            f'        systemd: SupplementaryGroups=adm; container: --group-add {adm_gid} (compose: group_add: '
            f'["{adm_gid}"])',
        ]
        assert lines[0] == f"agent doctor: config {config}, running as user nobody (uid 65534, groups nogroup)"

    async def test_directory_out_of_reach(self, shared: Path, adm_gid: int) -> None:
        """A log directory only its group may enter: the glob matches nothing, and doctor says why."""
        if (reason := nobody_problem()) is not None:
            pytest.skip(reason)
        logs = shared / "logs"
        logs.mkdir()
        (logs / "app.log").write_text("line\n")
        os.chown(logs, 0, adm_gid)
        logs.chmod(0o750)
        config = write_config(shared, scrape_configs=[files_job(f"{logs}/*.log")])

        code, out = await doctor("-config.file", str(config), as_nobody=True)

        assert code == 1
        assert (
            f"❌ files job=app {logs}/*.log: no file matches: user nobody may not enter the directory {logs} "
            f"(owner root, group adm (GID {adm_gid}), mode 0750)"
        ) in out.splitlines()

    async def test_socket_without_permission(self, shared: Path, adm_gid: int) -> None:
        """A 0660 socket of a group the user is not in: doctor gives the group's name and GID to add."""
        if (reason := nobody_problem()) is not None:
            pytest.skip(reason)
        path = shared / "docker.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(path))
            server.listen()
            os.chown(path, 0, adm_gid)
            path.chmod(0o660)
            job = {"job_name": "containers", "docker_sd_configs": [{"host": f"unix://{path}"}]}
            config = write_config(shared, scrape_configs=[job])

            code, out = await doctor("-config.file", str(config), "-doctor.skip-push", as_nobody=True)

        assert code == 1
        lines = out.splitlines()
        at = lines.index(
            f"❌ docker access: permission denied on {path} for user nobody: owner root, group adm "
            f"(GID {adm_gid}), mode 0660"
        )
        assert lines[at + 1] == (
            f"   fix: add the user nobody to the group adm (GID {adm_gid}): usermod -aG adm nobody, then restart "
            "the agent"
        )
        assert f"✅ docker socket: {path} is present" in lines
        assert "⏭️ docker API: cannot connect" in lines


@pytest.mark.asyncio
class TestDoctorCommand:
    async def test_everything_passes(self, tmp_path: Path, loki: LokiReceiver) -> None:
        """Readable files, a writable positions directory, a working Loki: exit 0, and the test entry arrived."""
        (tmp_path / "app.log").write_text("line\n")
        config = write_config(
            tmp_path, clients=[{"url": loki.url, "tenant_id": "t1"}], scrape_configs=[files_job(f"{tmp_path}/*.log")]
        )

        code, out = await doctor("-config.file", str(config))

        assert code == 0, out
        assert out.endswith("\nAll checks passed.\n")
        assert "✅ loki[0] push: Loki accepted a test entry {agent_doctor=\"1\"} for tenant 't1' (status 204)" in out
        assert [(e.labels, e.tenant) for e in loki.entries] == [({"agent_doctor": "1"}, "t1")]

    async def test_json_with_loki_refusing(self, tmp_path: Path, loki: LokiReceiver) -> None:
        """-format json: Loki's 401 is a failed check with its status and body; the exit code is 1."""
        loki.respond(401, times=1, body="no org id")
        config = write_config(tmp_path, clients=[{"url": loki.url}], scrape_configs=[])

        code, out = await doctor("-config.file", str(config), "-format", "json")

        assert code == 1
        document = json.loads(out)
        assert document["ok"] is False
        push = next(check for check in document["checks"] if check["name"] == "loki[0] push")
        assert push["status"] == "fail"
        assert push["message"] == "Loki rejected the test entry: 401 no org id"
        assert push["details"] == {"status": 401, "body": "no org id"}
        assert "metrics_path: /metrics" in document["prometheus_scrape_config"]

    async def test_loki_down(self, tmp_path: Path) -> None:
        """A closed Loki port: the TCP line fails with its fix."""
        port = free_port()
        url = f"http://127.0.0.1:{port}/loki/api/v1/push"
        config = write_config(tmp_path, clients=[{"url": url}], scrape_configs=[])

        code, out = await doctor("-config.file", str(config))

        assert code == 1
        lines = out.splitlines()
        at = lines.index(f"❌ loki[0] tcp: connection to 127.0.0.1:{port} refused: nothing listens there")
        assert lines[at + 1] == (
            "   fix: start Loki, or fix the port in the client's url (Loki listens on 3100 unless configured otherwise)"
        )

    async def test_wrong_metrics_path(self, tmp_path: Path, loki: LokiReceiver) -> None:
        """A Prometheus job scraping /metrics of an agent serving /agent/metrics fails, with the path to set."""
        config = write_config(tmp_path, clients=[{"url": loki.url}], scrape_configs=[])
        document = yaml.safe_load(config.read_text())
        document["server"]["http_path_prefix"] = "/agent"
        config.write_text(yaml.safe_dump(document))
        port = document["server"]["http_listen_port"]
        prometheus = tmp_path / "prometheus.yml"
        job = {"job_name": "agent", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        prometheus.write_text(yaml.safe_dump({"scrape_configs": [job]}))

        code, out = await doctor(
            "-config.file", str(config), "-doctor.skip-push", "-doctor.prometheus-config", str(prometheus)
        )

        assert code == 1
        lines = out.splitlines()
        at = lines.index(
            f"❌ prometheus job agent: scrapes /metrics on port {port}, but the agent serves its metrics at "
            "/agent/metrics"
        )
        assert lines[at + 1] == "   fix: set metrics_path: /agent/metrics in the Prometheus job 'agent'"
        assert "    metrics_path: /agent/metrics" in lines

    async def test_missing_socket(self, tmp_path: Path) -> None:
        """A docker_sd_configs host whose socket is not there: doctor says to mount it read-only."""
        path = tmp_path / "docker.sock"
        job = {"job_name": "containers", "docker_sd_configs": [{"host": f"unix://{path}"}]}
        config = write_config(tmp_path, scrape_configs=[job])

        code, out = await doctor("-config.file", str(config), "-doctor.skip-push")

        assert code == 1
        lines = out.splitlines()
        at = lines.index(f"❌ docker socket: {path} is missing: the Docker daemon socket is not mounted")
        assert lines[at + 1] == "   fix: mount the host's Docker socket into the agent's container, read-only:"

    async def test_bad_config(self, tmp_path: Path) -> None:
        """A config that does not load is the one failed check, with its YAML path."""
        config = tmp_path / "agent.yaml"
        config.write_text("clients:\n  - url: http://loki:3100/loki/api/v1/push\n    tenant: a\n")

        code, out = await doctor("-config.file", str(config))

        assert code == 1
        assert out.splitlines()[1].startswith("❌ config: 1 problem(s): clients[0].tenant: ")


@pytest.mark.asyncio
async def test_working_docker_socket() -> None:
    """The real daemon's socket: present, connectable, and the Engine's version and API version printed."""
    path = require_docker_socket()
    present, access, api = await check_socket(path, current_user())
    assert (present.status, access.status, api.status) == ("pass", "pass", "pass"), api.message
    assert api.message.startswith("Docker Engine ")
    assert api.message.endswith(")")
    assert f"answers on unix://{path} (API version 1." in api.message


def test_wrong_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown doctor flag value exits 2 with the usage."""
    assert run(["doctor", "-format", "yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("invalid value 'yaml' for -format: use text or json\n\nUsage: agent doctor [flags]")
