"""The real agent as a user runs it: ``python -m agent ...`` in a subprocess, for end-to-end tests.

`AgentProcess` starts the agent with a config file and flags, sends its stdout and stderr to files (so a
chatty agent never blocks on a full pipe), waits on its log lines or on any condition with a deadline,
sends signals, and asks its HTTP server for `/ready`, `/metrics` and `/status`. `Agents` starts them for a
test and kills whatever is still running at teardown (use it from a fixture). `write_config` writes a
Promtail-format config whose server listens on 127.0.0.1 on a free port.

Every wait is async and polls, so the in-process Loki receiver, which runs on the test's event loop, keeps
answering while the test waits. The helper does not know what the agent ships; tests ask the receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DROP_FILE_ACCESS_CAPS = (
    "setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search", "--",
)
"""A command prefix (util-linux) that runs a root process without root's bypass of file permissions."""
POLL = 0.02  # seconds between two looks at a condition
_LOGFMT_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def can_drop_file_access_caps() -> str | None:
    """None if `DROP_FILE_ACCESS_CAPS` works here (or is not needed: not root), else the reason it does not."""
    if os.geteuid() != 0:
        return None
    try:
        done = subprocess.run(
            [*DROP_FILE_ACCESS_CAPS, "true"], capture_output=True, text=True, timeout=10, check=False
        )
    except FileNotFoundError:
        return "running as root, which reads any file, and setpriv (util-linux) is not installed to drop that"
    if done.returncode != 0:
        return f"running as root, which reads any file, and setpriv cannot drop that: {done.stderr.strip()}"
    return None


def parse_logfmt(line: str) -> dict[str, str]:
    """The fields of one logfmt line (quoted values unquoted); an empty dict for other text."""
    fields: dict[str, str] = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields if "msg" in fields else {}


def write_config(
    path: Path,
    *,
    scrape_configs: list[dict[str, Any]],
    clients: Sequence[dict[str, Any]] = (),
    positions: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """Write a Promtail-format config to `path`: the HTTP server on 127.0.0.1, a free port; return `path`."""
    config: dict[str, Any] = {
        "server": {"http_listen_address": "127.0.0.1", "http_listen_port": 0},
        "positions": positions or {"filename": str(path.parent / "positions.yaml")},
        "scrape_configs": scrape_configs,
        **top,
    }
    if clients:
        config["clients"] = list(clients)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def file_job(job: str, path: str | Path, **labels: str) -> dict[str, Any]:
    """A scrape config tailing `path` with labels ``job=<job>`` plus `labels`."""
    return {
        "job_name": job,
        "static_configs": [{"targets": ["localhost"], "labels": {"job": job, **labels, "__path__": str(path)}}],
    }


class AgentProcess:
    """One run of ``python -m agent <args>``; its output goes to ``<name>.stdout`` and ``<name>.stderr``."""

    def __init__(
        self,
        args: Sequence[str],
        directory: Path,
        name: str,
        env: dict[str, str],
        stdin: bytes | None,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.args = list(args)
        self.name = name
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        self._port: int | None = None
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [*wrapper, sys.executable, "-m", "agent", *self.args],
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=directory,
                env=env,
            )
        if stdin is not None:
            assert self.popen.stdin is not None
            self.popen.stdin.write(stdin)
            self.popen.stdin.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    # -- output

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def records(self) -> list[dict[str, str]]:
        """The agent's log so far, one dict of logfmt fields per line (other stderr lines left out)."""
        return [fields for line in self.stderr.splitlines() if (fields := parse_logfmt(line))]

    def records_with(self, msg: str, **fields: str) -> list[dict[str, str]]:
        """Log records whose message starts with `msg` and that carry every one of `fields`."""
        return [
            r for r in self.records()
            if r["msg"].startswith(msg) and all(r.get(k) == v for k, v in fields.items())
        ]

    def describe(self, lines: int = 30) -> str:
        """The exit status and the last `lines` of stderr, for assertion messages."""
        tail = "\n".join(self.stderr.splitlines()[-lines:])
        return f"agent {self.name} (pid {self.pid}, exit {self.returncode}); last stderr lines:\n{tail}"

    # -- waiting

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until `condition()` holds; fail after `timeout` s, or at once if the agent exits meanwhile."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.returncode is not None and not condition():
                raise AssertionError(f"the agent exited while waiting for {what or 'a condition'}; {self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout}s for {what or 'a condition'}; {self.describe()}")
            await asyncio.sleep(POLL)

    async def wait_for_log(self, msg: str, timeout: float = 10.0, **fields: str) -> dict[str, str]:
        """Wait for a log record whose message starts with `msg` and carries `fields`; return the first."""
        await self.wait_until(lambda: bool(self.records_with(msg, **fields)), timeout, f"log {msg!r} {fields}")
        return self.records_with(msg, **fields)[0]

    async def started(self, timeout: float = 15.0) -> AgentProcess:
        """Wait for "Agent started." (sources, pipelines and clients run); return self."""
        await self.wait_for_log("Agent started.", timeout)
        return self

    async def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the process to end; return its exit code (fail after `timeout`, leaving it to teardown)."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the agent did not exit within {timeout}s; {self.describe()}")
            await asyncio.sleep(POLL)
        return self.popen.wait()

    # -- signals

    def send(self, signum: int) -> None:
        """Send `signum` to the agent (only if it still runs: its pid is never reused while unreaped)."""
        if self.returncode is None:
            self.popen.send_signal(signum)

    async def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for the exit code."""
        self.send(signal.SIGTERM)
        return await self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL and reap (a killed process ends at once)."""
        if self.returncode is None:
            self.popen.kill()
        self.popen.wait(5)

    # -- HTTP

    @property
    def port(self) -> int:
        """The HTTP port, as the agent logged it (the config asks for a free one)."""
        if self._port is None:
            found = self.records_with("HTTP server listening.")
            if not found:
                raise AssertionError(f"the agent has not logged its HTTP port; {self.describe()}")
            self._port = int(found[0]["port"])
        return self._port

    async def get(self, path: str) -> httpx.Response:
        """GET `path` from the agent's HTTP server."""
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
            return await http.get(f"http://127.0.0.1:{self.port}{path}")

    async def post(self, path: str, timeout: float = 60.0) -> httpx.Response:
        """POST to `path` on the agent's HTTP server (``/reload`` waits for clients to flush: a long timeout)."""
        async with httpx.AsyncClient(trust_env=False, timeout=timeout) as http:
            return await http.post(f"http://127.0.0.1:{self.port}{path}")

    async def status(self) -> dict[str, Any]:
        """`/status` as JSON."""
        response = await self.get("/status")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def metrics(self) -> Metrics:
        """`/metrics`, parsed."""
        response = await self.get("/metrics")
        assert response.status_code == 200, response.text
        return Metrics(response.text)


class Metrics:
    """Samples of a Prometheus text exposition, summed over the labels a question leaves open."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
        return sum(
            value for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )


class Agents:
    """Starts agents for one test, in `directory`; `close` kills any still running (call it at teardown).

    The environment is the test's, with TZ=UTC and HOME / AGENT_STATE_DIR inside `directory`, so even the
    embedded config writes nothing outside it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[AgentProcess] = []
        home = directory / "home"
        home.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "TZ": "UTC",
            "HOME": str(home),
            "AGENT_STATE_DIR": str(directory / "state"),
            "PYTHONPATH": str(REPO),  # this tree's agent, whatever is installed
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("STATE_DIRECTORY", None)
        self.env.pop("NOTIFY_SOCKET", None)

    def start(
        self,
        *args: str | Path,
        config: Path | None = None,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        without_root_file_access: bool = False,
    ) -> AgentProcess:
        """Start ``python -m agent [-config.file <config>] <args>``.

        `without_root_file_access` runs it, when the tests run as root, without the capabilities that let
        root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so file permissions apply to it.
        """
        argv = [str(a) for a in args]
        if config is not None:
            argv = ["-config.file", str(config), *argv]
        name = f"agent-{len(self.started) + 1}"
        wrapper = DROP_FILE_ACCESS_CAPS if without_root_file_access and os.geteuid() == 0 else ()
        process = AgentProcess(argv, self.directory, name, {**self.env, **(env or {})}, stdin, wrapper)
        self.started.append(process)
        return process

    async def run(self, *args: str | Path, timeout: float = 20.0, **options: Any) -> AgentProcess:
        """Start an agent that ends by itself (-check-syntax, -stdin, a bad config) and wait for its exit."""
        process = self.start(*args, **options)
        await process.wait_exit(timeout)
        return process

    def close(self) -> None:
        """Kill every agent still running; print each one's stderr tail (pytest shows it when a test fails)."""
        for process in self.started:
            process.kill()
            print(process.describe(lines=20))

