"""Container logs through the Docker socket, end to end: a real engine, real containers, the real agent
process, and the strict Loki receiver.

Containers run the busybox test image (`support.docker_engine`); each test's containers carry its own label
and the agent's `docker_sd_configs` filters on it, so tests never see each other's containers.
"""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.agent_process import Agents, can_drop_file_access_caps, file_job, write_config
from support.docker_engine import Containers, containers_fixture, docker_logs
from support.files import wait_until
from support.loki_receiver import LokiReceiver, ReceivedEntry

pytestmark = pytest.mark.asyncio

NAME_TO_LABEL = {"source_labels": ["__meta_docker_container_name"], "regex": "/(.*)", "target_label": "container"}


@pytest.fixture
def containers() -> Iterator[Containers]:
    yield from containers_fixture()


def client(loki: LokiReceiver) -> dict[str, Any]:
    return {"url": loki.url, "batchwait": "100ms", "backoff_config": {"min_period": "50ms", "max_period": "500ms"}}


def docker_job(
    containers: Containers | None = None, host: str = "unix:///var/run/docker.sock", **sd: Any
) -> dict[str, Any]:
    """A scrape config following this test's containers; refresh is slow, so discovery must use events."""
    entry: dict[str, Any] = {"host": host, "refresh_interval": "60s", **sd}
    if containers is not None:
        entry["filters"] = [containers.filter]
    return {"job_name": "containers", "docker_sd_configs": [entry], "relabel_configs": [NAME_TO_LABEL]}


def config(agents: Agents, loki: LokiReceiver, *jobs: dict[str, Any], **top: Any) -> Path:
    return write_config(agents.directory / "agent.yaml", clients=[client(loki)], scrape_configs=list(jobs), **top)


def of(entries: list[ReceivedEntry], container: Any, stream: str | None = None) -> list[ReceivedEntry]:
    return [
        e for e in entries
        if e.labels.get("container") == container.name and (stream is None or e.labels.get("stream") == stream)
    ]


def received(loki: LokiReceiver, container: Any, stream: str | None = None) -> list[ReceivedEntry]:
    return of(loki.entries, container, stream)


async def wait_exited(container: Any, timeout: float = 30.0) -> None:
    def exited() -> bool:
        container.reload()
        return bool(container.status == "exited")

    await wait_until(exited, timeout, f"container {container.name} to exit")


async def test_stdout_and_stderr_arrive_with_dockers_timestamps_and_stream_labels(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """Lines a running container wrote before the agent started are shipped once, each with Docker's own
    timestamp, labelled by the relabel rule (run once per container) and by stream."""
    app = containers.run("for i in $(seq 1 20); do echo out $i; echo err $i >&2; done; sleep 60")
    await wait_until(lambda: len(docker_logs(app, "stderr")) == 20, 10, "the container's lines")
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await loki.wait_until(lambda: len(received(loki, app)) >= 40, timeout=20, what="40 container lines")
    assert await agent.terminate() == 0

    for stream in ("stdout", "stderr"):
        got = [(e.timestamp, e.line) for e in received(loki, app, stream)]
        assert sorted(got) == docker_logs(app, stream)
        assert [line for _, line in got] == [f"{stream[3:]} {i}" for i in range(1, 21)]
    labels = {tuple(sorted(e.labels.items())) for e in received(loki, app)}
    assert labels == {
        (("container", app.name), ("stream", "stderr")), (("container", app.name), ("stream", "stdout"))
    }


async def test_tty_container(agents: Agents, loki: LokiReceiver, containers: Containers) -> None:
    """A TTY container's log is raw text with CRLF line ends: lines arrive without the CR, on stdout."""
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    app = containers.run("for i in 1 2 3; do echo tty line $i; done", tty=True)
    await loki.wait_until(lambda: len(received(loki, app)) >= 3, timeout=20, what="3 TTY lines")
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == ["tty line 1", "tty line 2", "tty line 3"]
    assert {e.labels["stream"] for e in received(loki, app)} == {"stdout"}


LONG = "head -c {n} /dev/zero | tr '\\0' x; echo ' end'"


async def test_lines_longer_than_16k_are_joined_back(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """Docker cuts lines into 16 KiB pieces; each arrives as the one line the app wrote."""
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    app = containers.run(f"echo before; {LONG.format(n=40_000)}; echo after")
    tty = containers.run(f"{LONG.format(n=20_000)}; echo after", tty=True)
    await loki.wait_until(
        lambda: len(received(loki, app)) >= 3 and len(received(loki, tty)) >= 2, timeout=20, what="long lines"
    )
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == ["before", "x" * 40_000 + " end", "after"]
    assert [e.line for e in received(loki, tty)] == ["x" * 20_000 + " end", "after"]


async def test_joined_lines_are_capped_at_max_line_size(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    limits = {"max_line_size": "20KB", "max_line_size_truncate": True}
    agent = agents.start(config=config(agents, loki, docker_job(containers), limits_config=limits))
    await agent.started()
    app = containers.run(f"{LONG.format(n=50_000)}; echo short")
    await loki.wait_until(lambda: len(received(loki, app)) >= 2, timeout=20, what="2 lines")
    metrics = await agent.metrics()
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == ["x" * 20_000, "short"]
    assert metrics.value("promtail_mutated_entries_total", reason="line_too_long") == 1


@pytest.mark.slow
async def test_a_burst_of_100k_lines_arrives_once_in_order(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    app = containers.run("seq 1 100000")
    await loki.wait_until(lambda: len(received(loki, app)) >= 100_000, timeout=90, what="100k lines")
    await wait_exited(app)
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == [str(i) for i in range(1, 100_001)]


async def test_containers_starting_and_stopping_while_the_agent_runs(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """New containers are found through the events API (refresh_interval is 60 s here); a stopped one is
    read to its last line and released, and `/status` says so."""
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    first = containers.run("echo first; sleep 1; echo first done")
    await loki.wait_until(lambda: len(received(loki, first)) >= 1, timeout=10, what="the first container's line")
    second = containers.run("echo second")
    await loki.wait_until(lambda: len(received(loki, second)) >= 1, timeout=10, what="the second container's line")
    await agent.wait_for_log("Container stopped; its log is read to the end.", container=first.name, timeout=15)
    await loki.wait_until(lambda: len(received(loki, first)) >= 2, timeout=10, what="the last line")
    status = await agent.status()
    metrics = await agent.metrics()
    assert await agent.terminate() == 0

    assert [e.line for e in received(loki, first)] == ["first", "first done"]
    assert [e.line for e in received(loki, second)] == ["second"]
    (target,) = [t for t in status["targets"] if t["name"] == "containers/docker"]
    assert target["failing"] is None
    states = {c["name"]: c["state"] for c in target["containers"]}
    assert states[first.name] == "stopped"
    assert metrics.value("agent_docker_target_up", job="containers", host="unix:///var/run/docker.sock") == 1


@pytest.mark.slow
async def test_agent_restart_in_the_middle_loses_and_repeats_nothing(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """15,000 lines (every tenth also on stderr) while the agent is stopped and started again halfway:
    each container resumes right after its last acknowledged line, to the nanosecond, per stream."""
    script = (
        "i=0; while [ $i -lt 15000 ]; do echo line $i; [ $((i % 10)) -eq 0 ] && echo err $i >&2; "
        "i=$((i+1)); [ $((i % 100)) -eq 0 ] && usleep 20000; done; true"
    )
    path = config(agents, loki, docker_job(containers))
    first = agents.start(config=path)
    await first.started()
    app = containers.run(script)
    await loki.wait_until(lambda: len(received(loki, app)) >= 4000, timeout=30, what="4000 lines")
    assert await first.terminate() == 0
    positions = yaml.safe_load((agents.directory / "positions.yaml").read_text())["positions"]
    assert f"cursor-{app.id}" in positions
    second = agents.start(config=path)
    await wait_exited(app, timeout=60)
    await loki.wait_until(lambda: len(received(loki, app)) >= 16_500, timeout=30, what="all 16,500 lines")
    await second.wait_for_log("Container stopped; its log is read to the end.", container=app.name)
    assert await second.terminate() == 0

    for stream, expected in (("stdout", [f"line {i}" for i in range(15_000)]),
                             ("stderr", [f"err {i}" for i in range(0, 15_000, 10)])):
        counts = Counter(e.line for e in received(loki, app, stream))
        missing = [line for line in expected if line not in counts]
        duplicated = {line: n for line, n in counts.items() if n > 1}
        assert (stream, missing[:5], len(missing), list(duplicated.items())[:5]) == (stream, [], 0, [])


@pytest.mark.slow
async def test_reload_in_the_middle_loses_and_repeats_nothing(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """SIGHUP while a container logs: the new config's source resumes where the old one's lines were
    acknowledged (clients flush first), and lines read after it carry the new labels."""
    script = "i=0; while [ $i -lt 6000 ]; do echo line $i; i=$((i+1)); [ $((i % 100)) -eq 0 ] && usleep 20000; done"
    path = config(agents, loki, docker_job(containers))
    agent = await agents.start(config=path).started()
    app = containers.run(script)
    await loki.wait_until(lambda: len(received(loki, app)) >= 1500, timeout=30, what="1500 lines")
    job = docker_job(containers)
    job["relabel_configs"].append({"target_label": "reloaded", "replacement": "yes"})
    config(agents, loki, job)
    agent.send(signal.SIGHUP)
    await agent.wait_for_log("Config reloaded.")
    await wait_exited(app, timeout=60)
    await loki.wait_until(lambda: len(received(loki, app)) >= 6000, timeout=30, what="all 6,000 lines")
    assert await agent.terminate() == 0
    counts = Counter(e.line for e in received(loki, app))
    assert sorted(counts.values()) == [1] * 6000
    assert set(counts) == {f"line {i}" for i in range(6000)}
    assert any(e.labels.get("reloaded") == "yes" for e in received(loki, app))


async def test_a_restarted_container_continues(agents: Agents, loki: LokiReceiver, containers: Containers) -> None:
    """Same container ID started again: the new run's lines arrive, the old run's are not sent again."""
    script = (
        "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; "
        "for i in 1 2 3; do echo run $n line $i; done"
    )
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    app = containers.run(script)
    await loki.wait_until(lambda: len(received(loki, app)) >= 3, timeout=10, what="the first run")
    await wait_exited(app)
    app.start()
    await loki.wait_until(lambda: len(received(loki, app)) >= 6, timeout=10, what="the second run")
    await wait_exited(app)
    await agent.wait_for_log("Container stopped; its log is read to the end.", container=app.name)
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == [f"run {r} line {i}" for r in (1, 2) for i in (1, 2, 3)]


async def test_cursor_is_saved_and_expires_when_the_container_is_removed(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    agent = agents.start(config=config(agents, loki, docker_job(containers)))
    await agent.started()
    app = containers.run("echo one; echo two")
    await loki.wait_until(lambda: len(received(loki, app)) >= 2, timeout=20, what="2 lines")
    positions_file = agents.directory / "positions.yaml"
    side_file = agents.directory / "positions.yaml.agent"

    def saved() -> dict[str, str]:
        return dict(yaml.safe_load(positions_file.read_text())["positions"]) if positions_file.exists() else {}

    await wait_until(lambda: f"cursor-{app.id}" in saved(), 10, "the container's cursor saved")
    side = yaml.safe_load(side_file.read_text())
    (exact,) = [c for c in side["containers"] if c["id"] == app.id]
    last = max(e.timestamp for e in received(loki, app))
    assert exact["job"] == "containers"
    assert exact["stdout"] == [last, 1]
    assert int(saved()[f"cursor-{app.id}"]) == last // 1_000_000_000

    await wait_exited(app)
    app.remove()
    await wait_until(lambda: f"cursor-{app.id}" not in saved(), 10, "the cursor forgotten")
    assert await agent.terminate() == 0


async def test_start_from_now_skips_what_running_containers_wrote_before(
    agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    app = containers.run("echo old; mkfifo /go; cat /go >/dev/null; echo new; sleep 30")
    await wait_until(lambda: b"old" in app.logs(), 10, "the container's first line")
    agent = agents.start(config=config(agents, loki, docker_job(containers, start_from="now")))
    await agent.wait_for_log("Following container.", container=app.name)
    app.exec_run(["sh", "-c", "echo go > /go"])
    await loki.wait_until(lambda: len(received(loki, app)) >= 1, timeout=10, what="the new line")
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == ["new"]


# -- the daemon cannot be used: these need no Docker engine


async def test_missing_socket_says_what_to_mount_and_files_keep_shipping(
    tmp_path: Path, agents: Agents, loki: LokiReceiver
) -> None:
    log_file = tmp_path / "app.log"
    log_file.write_text("file line\n")
    missing = tmp_path / "docker.sock"
    path = config(agents, loki, docker_job(host=f"unix://{missing}"), file_job("files", log_file))
    agent = agents.start(config=path)
    record = await agent.wait_for_log("Docker target failing; retrying with backoff. Other targets keep working.")
    await loki.wait_until(lambda: loki.lines() == ["file line"], timeout=10, what="the file's line")
    ready = await agent.get("/ready")
    metrics = await agent.metrics()
    assert await agent.terminate() == 0

    assert record["reason"] == (
        f"the Docker socket {missing} does not exist: mount it into the agent's container "
        f"(docker run -v {missing}:{missing}:ro ..., or a read-only volume in compose/Kubernetes), or set "
        "docker_sd_configs[].host to where the daemon listens"
    )
    assert ready.status_code == 503
    assert f"target containers/docker is failing: the Docker socket {missing} does not exist" in ready.text
    assert metrics.value("agent_docker_target_up", job="containers", host=f"unix://{missing}") == 0
    assert metrics.value("agent_errors_total", component="docker", reason="socket_missing") >= 1


async def test_socket_without_permission_names_the_group_to_join(
    tmp_path: Path, agents: Agents, loki: LokiReceiver
) -> None:
    if (reason := can_drop_file_access_caps()) is not None:
        pytest.skip(reason)
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    try:
        os.chown(path, 65534, 65534)  # someone else's socket: the agent (root without DAC override) may not use it
        path.chmod(0o660)
        gid = 65534
        agent = agents.start(
            config=config(agents, loki, docker_job(host=f"unix://{path}")), without_root_file_access=True
        )
        record = await agent.wait_for_log("Docker target failing; retrying with backoff. Other targets keep working.")
        assert await agent.terminate() == 0
    finally:
        server.close()
    assert f"permission denied on the Docker socket {path}" in record["reason"]
    assert f"add the agent's user to the group that owns the socket, GID {gid}" in record["reason"]
    assert f"--group-add {gid}" in record["reason"]


async def test_socket_appearing_later_is_picked_up(
    tmp_path: Path, agents: Agents, loki: LokiReceiver, containers: Containers
) -> None:
    """The daemon unreachable at start (a socket mounted late, a daemon restarting): the agent retries
    with backoff and ships once it answers, without a restart."""
    link = tmp_path / "docker.sock"
    app = containers.run("echo hello; sleep 60")
    agent = agents.start(config=config(agents, loki, docker_job(containers, host=f"unix://{link}")))
    await agent.wait_for_log("Docker target failing; retrying with backoff. Other targets keep working.")
    link.symlink_to("/var/run/docker.sock")
    await loki.wait_until(lambda: len(received(loki, app)) >= 1, timeout=40, what="the line after reconnecting")
    await agent.wait_for_log("Docker daemon reachable again.")
    assert await agent.terminate() == 0
    assert [e.line for e in received(loki, app)] == ["hello"]



# -- real users' configs, unchanged but for where Loki and the positions file are

CORPUS = Path(__file__).resolve().parents[1] / "data" / "promtail-configs"


def corpus_config(agents: Agents, loki: LokiReceiver, name: str) -> Path:
    document = yaml.safe_load((CORPUS / name).read_text())
    for entry in document["clients"]:
        entry.update(url=loki.url, batchwait="100ms")
    document["positions"] = {"filename": str(agents.directory / "positions.yaml")}
    document["server"] = {"http_listen_address": "127.0.0.1", "http_listen_port": 0}
    path = agents.directory / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("name", "container_name", "labels", "script", "lines", "stream_labels", "tenant"),
    [
        pytest.param(
            # Its `replace` expression has no capture group, so (as in Promtail) the colour codes stay.
            "013_kroleg-docker-sd-replace.yaml", "app-{run}", {}, r"printf '\033[31mred\033[0m alert\n'",
            ["\x1b[31mred\x1b[0m alert"], {"container": "app-{run}", "stream": "stdout"}, "", id="013-no-group",
        ),
        pytest.param(
            "014_grafana-for-dev-docker-sd.yaml", "web-{run}", {"loki.log": "true"}, "echo plain line",
            ["plain line"], {"container": "web-{run}", "job": "promtail", "stream": "stdout"}, "",
            id="014-filter-static-labels",
        ),
        pytest.param(
            "016_xql-guide-docker-sd-match.yaml", "xql-sample-{run}", {}, """echo '{"question":"abc42"}'""",
            ['{"question":"abc42"}'], {"container": "xql-sample-{run}", "question": "abc42", "stream": "stdout"},
            "tenant1", id="016-tenant-match",
        ),
    ],
)
async def test_real_configs_ship_containers_with_their_relabelled_labels(
    agents: Agents, loki: LokiReceiver, containers: Containers, name: str, container_name: str,
    labels: dict[str, str], script: str, lines: list[str], stream_labels: dict[str, str], tenant: str,
) -> None:
    agent = agents.start(config=corpus_config(agents, loki, name))
    await agent.started()
    app = containers.run(script, name=container_name.format(run=containers.run_id), labels=labels)
    await loki.wait_until(lambda: len(received(loki, app)) >= len(lines), timeout=15, what="the container's lines")
    assert await agent.terminate() == 0
    got = received(loki, app)
    assert [e.line for e in got] == lines
    assert [e.labels for e in got] == [{k: v.format(run=containers.run_id) for k, v in stream_labels.items()}]
    assert {e.tenant for e in got} == {tenant}
