"""Hot reload: SIGHUP and ``POST /reload`` switch to the edited config without losing or repeating a line;
a bad config is refused and the running one keeps shipping."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.agent_process import Agents, file_job, write_config
from support.files import LogWriter, numbers
from support.loki_receiver import LokiReceiver

pytestmark = pytest.mark.asyncio

TOTAL = 20_000
RATE = 4_000  # lines per second: the reload happens while the file grows


def client(loki: LokiReceiver) -> dict[str, Any]:
    return {"url": loki.url, "batchwait": "100ms", "backoff_config": {"min_period": "50ms", "max_period": "500ms"}}


def write(agents: Agents, loki: LokiReceiver, *jobs: dict[str, Any], reload_endpoint: bool = False) -> Path:
    path = write_config(agents.directory / "agent.yaml", clients=[client(loki)], scrape_configs=list(jobs))
    if reload_endpoint:
        document = yaml.safe_load(path.read_text())
        document["server"]["enable_runtime_reload"] = True
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def of_job(loki: LokiReceiver, job: str) -> list[str]:
    return [e.line for e in loki.entries if e.labels.get("job") == job]


async def test_sighup_applies_the_new_config_and_the_busy_file_loses_nothing(
    tmp_path: Path, agents: Agents, loki: LokiReceiver
) -> None:
    app, other = tmp_path / "app.log", tmp_path / "other.log"
    other.write_text("other line\n")
    path = write(agents, loki, file_job("app", app))
    app.touch()
    agent = await agents.start(config=path).started()
    writer = LogWriter(str(app), total=TOTAL, rate=RATE).start()
    await loki.wait_until(lambda: len(of_job(loki, "app")) >= 2_000, timeout=20, what="lines before the reload")

    write(agents, loki, file_job("app", app, env="prod"), file_job("other", other))
    agent.send(signal.SIGHUP)
    await agent.wait_for_log("Config reloaded.")
    writer.join()
    await loki.wait_until(lambda: len(of_job(loki, "app")) >= TOTAL, timeout=30, what="every app line")
    await loki.wait_until(lambda: of_job(loki, "other") == ["other line"], timeout=10, what="the new job's line")
    metrics = await agent.metrics()
    assert await agent.terminate() == 0

    counts = Counter(numbers(of_job(loki, "app")))
    missing = [n for n in range(TOTAL) if n not in counts]
    duplicated = {n: c for n, c in counts.items() if c > 1}
    assert (missing[:5], len(missing), list(duplicated.items())[:5], len(duplicated)) == ([], 0, [], 0)
    after = [e for e in loki.entries if e.labels.get("job") == "app" and e.labels.get("env") == "prod"]
    assert after, "lines read after the reload carry the new label"
    assert metrics.value("promtail_config_reload_success_total") == 1


async def test_a_bad_config_is_refused_and_the_old_one_keeps_running(
    tmp_path: Path, agents: Agents, loki: LokiReceiver
) -> None:
    app = tmp_path / "app.log"
    app.write_text("before\n")
    path = write(agents, loki, file_job("app", app))
    agent = await agents.start(config=path).started()
    await loki.wait_until(lambda: loki.lines() == ["before"], timeout=10, what="the first line")

    path.write_text(path.read_text().replace("scrape_configs:", "scrape_config:"))
    agent.send(signal.SIGHUP)
    record = await agent.wait_for_log("Config reload failed; keeping the running config.")
    with app.open("a") as handle:
        handle.write("after\n")
    await loki.wait_until(lambda: loki.lines() == ["before", "after"], timeout=10, what="the line after")
    metrics = await agent.metrics()
    ready = await agent.get("/ready")
    assert await agent.terminate() == 0

    assert "scrape_config: unknown key (did you mean 'scrape_configs'?)" in record["error"]
    assert metrics.value("promtail_config_reload_fail_total") == 1
    assert ready.status_code == 200


async def test_post_reload(tmp_path: Path, agents: Agents, loki: LokiReceiver) -> None:
    """``POST /reload`` (with server.enable_runtime_reload, as in Promtail) answers with the outcome."""
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    one.write_text("one\n")
    two.write_text("two\n")
    path = write(agents, loki, file_job("one", one), reload_endpoint=True)
    agent = await agents.start(config=path).started()
    await loki.wait_until(lambda: loki.lines() == ["one"], timeout=10, what="the first file")

    write(agents, loki, file_job("one", one), file_job("two", two), reload_endpoint=True)
    ok = await agent.post("/reload")
    await loki.wait_until(lambda: sorted(loki.lines()) == ["one", "two"], timeout=10, what="the second file")

    path.write_text(path.read_text().replace("job_name: two", "job_name: one"))
    refused = await agent.post("/reload")
    assert await agent.terminate() == 0

    assert (ok.status_code, ok.text) == (200, "Config reloaded.\n")
    assert refused.status_code == 500
    assert "scrape_configs[1].job_name" in refused.text
    assert loki.lines().count("one") == 1


async def test_post_reload_is_off_unless_enabled(tmp_path: Path, agents: Agents, loki: LokiReceiver) -> None:
    path = write(agents, loki, file_job("one", tmp_path / "one.log"))
    agent = await agents.start(config=path).started()
    refused = await agent.post("/reload")
    assert await agent.terminate() == 0
    assert refused.status_code == 501
    assert refused.text == "Runtime reload is off: set server.enable_runtime_reload: true.\n"
