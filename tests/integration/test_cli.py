"""The command line as a user types it: ``python -m agent <flags>`` in a subprocess; exit codes and output.

Exit codes: 0 success, 1 an unusable config, 2 a wrong command line. Every agent runs with TZ=UTC and with
HOME and AGENT_STATE_DIR inside the test's directory (`support.agent_process.Agents`).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from support.agent_process import REPO, Agents, file_job, write_config
from support.files import line_text, numbers, write_lines
from support.loki_receiver import LokiReceiver

pytestmark = pytest.mark.asyncio

CONFIGS = REPO / "tests" / "data" / "promtail-configs"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+0000"


def stdin_config(tmp_path: Path) -> Path:
    """One scrape config without files, whose pipeline lifts the first word of a line into a `level` label."""
    return write_config(
        tmp_path / "stdin.yaml",
        scrape_configs=[
            {
                "job_name": "piped",
                "static_configs": [{"labels": {"job": "piped", "env": "test"}}],
                "pipeline_stages": [
                    {"regex": {"expression": r"^(?P<level>\w+) (?P<msg>.*)$"}},
                    {"labels": {"level": None}},
                ],
            }
        ],
    )


# -- -check-syntax


async def test_check_syntax_accepts_a_valid_config(tmp_path: Path, agents: Agents) -> None:
    """A valid config: exit 0 and Promtail's "Valid config file!" line."""
    config = write_config(
        tmp_path / "agent.yaml",
        clients=[{"url": "http://127.0.0.1:3100/loki/api/v1/push"}],
        scrape_configs=[file_job("app", tmp_path / "*.log")],
    )
    agent = await agents.run("-check-syntax", config=config)
    assert agent.returncode == 0, agent.describe()
    assert agent.stdout.startswith("Valid config file! No syntax issues found.")


async def test_check_syntax_lists_every_mistake_with_its_yaml_path(tmp_path: Path, agents: Agents) -> None:
    """Three mistakes in one config: exit 1, and stderr names all three by their YAML paths."""
    config = tmp_path / "bad.yaml"
    config.write_text(
        "clients:\n"
        "  - url: http://127.0.0.1:3100/loki/api/v1/push\n"
        "    batchwait: 1x\n"
        "scrape_configs:\n"
        "  - job_name: app\n"
        "    static_configs:\n"
        f"      - labels: {{job: app, __path__: {tmp_path}/*.log}}\n"
        "    pipeline_stages:\n"
        "      - regex:\n"
        "          expression: '(?P<level>\\w+'\n"
        "      - lables:\n"
        "          level:\n"
    )
    agent = await agents.run("-check-syntax", config=config)
    assert agent.returncode == 1
    assert agent.stdout == ""
    assert f"3 config problems in {config}:" in agent.stderr
    assert "  clients[0].batchwait: invalid duration '1x'" in agent.stderr
    assert "  scrape_configs[0].pipeline_stages[0].regex.expression: invalid regular expression" in agent.stderr
    assert "  scrape_configs[0].pipeline_stages[1].lables: unknown stage 'lables' (did you mean 'labels'?)" in (
        agent.stderr
    )


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        pytest.param(
            "057_broken-typo-bad-url.yaml",
            ["clients[0].url", "scrape_configs[0].static_config", "scrape_configs[1].static_config"],
            id="057-typo-and-url-without-scheme",
        ),
        pytest.param("058_legacy-entry-parser-file-sd.yaml", ["scrape_configs[0].entry_parser"], id="058-entry-parser"),
        pytest.param(
            "059_broken-journal-relabel-nesting.yaml",
            ["scrape_configs[2].journal.relabel_configs"],
            id="059-relabel-inside-journal",
        ),
        pytest.param("060_broken-toplevel-pipeline-stages.yaml", ["pipeline_stages"], id="060-top-level-pipeline"),
    ],
)
async def test_check_syntax_rejects_configs_promtail_rejects(agents: Agents, name: str, paths: list[str]) -> None:
    """Real configs upstream Promtail refuses: exit 1, each offending YAML path named at the start of a line."""
    agent = await agents.run("-check-syntax", config=CONFIGS / name)
    assert agent.returncode == 1
    named = {line.strip().split(": ", 1)[0] for line in agent.stderr.splitlines() if line.startswith("  ")}
    assert named == set(paths), agent.stderr


# -- flags


async def test_version_prints_the_version(agents: Agents) -> None:
    """-version: exit 0 and a version line on stdout."""
    agent = await agents.run("-version")
    assert agent.returncode == 0
    assert re.fullmatch(r"agent, version \S+ \(.*\)\n", agent.stdout)


async def test_unknown_flag_is_a_usage_error(agents: Agents) -> None:
    """An unknown flag: exit 2 with Go's "flag provided but not defined" and the usage."""
    agent = await agents.run("-no-such-flag")
    assert agent.returncode == 2
    assert agent.stderr.startswith("flag provided but not defined: -no-such-flag\n")
    assert "Usage: agent [flags]" in agent.stderr


async def test_print_config_stderr_masks_secrets(tmp_path: Path, agents: Agents) -> None:
    """-print-config-stderr prints the effective config, defaults included, with passwords and tokens masked."""
    config = write_config(
        tmp_path / "agent.yaml",
        clients=[
            {
                "url": "http://127.0.0.1:3100/loki/api/v1/push",
                "basic_auth": {"username": "me", "password": "hunter2"},
                "bearer_token": "tok-s3cret",
            }
        ],
        scrape_configs=[file_job("app", tmp_path / "*.log")],
    )
    agent = await agents.run("-check-syntax", "-print-config-stderr", config=config)
    assert agent.returncode == 0
    assert "hunter2" not in agent.stderr
    assert "tok-s3cret" not in agent.stderr
    assert "    password: <secret>\n" in agent.stderr
    assert "  bearer_token: <secret>\n" in agent.stderr
    assert "- url: http://127.0.0.1:3100/loki/api/v1/push\n" in agent.stderr
    assert "  batchwait: 1s\n" in agent.stderr  # a default, shown


# -- -dry-run and -stdin


async def test_dry_run_prints_entries_in_promtails_format_and_writes_no_positions(
    tmp_path: Path, agents: Agents
) -> None:
    """-dry-run prints `<ts>\\t{filename, job}\\t<line>` for each line of a tailed file and saves no positions."""
    log = tmp_path / "app.log"
    write_lines(str(log), 0, 20, 40)
    positions = tmp_path / "positions.yaml"
    config = write_config(
        tmp_path / "agent.yaml",
        clients=[{"url": "http://127.0.0.1:9/loki/api/v1/push"}],
        scrape_configs=[file_job("app", log)],
        positions={"filename": str(positions)},
    )
    agent = await agents.start("-dry-run", config=config).started()
    await agent.wait_until(lambda: agent.stdout.count("\n") >= 20, what="20 printed entries")
    assert await agent.terminate() == 0

    lines = agent.stdout.splitlines()
    pattern = re.compile(rf'^({TIMESTAMP})\t\{{filename="{re.escape(str(log))}", job="app"\}}\t(.*)$')
    matches = [pattern.match(line) for line in lines]
    assert all(matches), f"lines not in dry-run format: {[x for x, m in zip(lines, matches, strict=True) if not m]}"
    assert [m.group(3) for m in matches if m] == [line_text(n, 40) for n in range(20)]
    assert not positions.exists()


async def test_stdin_dry_run_runs_the_first_scrape_configs_pipeline(tmp_path: Path, agents: Agents) -> None:
    """-stdin -dry-run: each input line printed with the static labels plus those the pipeline set; exit 0."""
    agent = await agents.run(
        "-stdin", "-dry-run", config=stdin_config(tmp_path), stdin=b"info started\nerror it failed\n\nwarn last"
    )
    assert agent.returncode == 0, agent.describe()
    lines = agent.stdout.splitlines()
    # Sorted: the dry-run printer may reorder the last chunks at exit (a known bug in StdoutClient.stop).
    assert sorted(line.split("\t", 1)[1] for line in lines) == [
        '{env="test", job="piped", level="error"}\terror it failed',
        '{env="test", job="piped", level="info"}\tinfo started',
        '{env="test", job="piped", level="warn"}\twarn last',  # no trailing newline in the input
    ]
    timestamps = [line.split("\t", 1)[0] for line in lines]
    assert all(re.fullmatch(TIMESTAMP, ts) for ts in timestamps), timestamps


async def test_stdin_inspect_reports_each_stage_on_stderr(tmp_path: Path, agents: Agents) -> None:
    """-stdin -dry-run -inspect: what each stage changed is reported on stderr, the entries still on stdout."""
    config = stdin_config(tmp_path)
    agent = await agents.run("-stdin", "-dry-run", "-inspect", config=config, stdin=b"error disk full\n")
    assert agent.returncode == 0, agent.describe()
    assert agent.stdout.endswith('{env="test", job="piped", level="error"}\terror disk full\n')
    report = agent.stderr[agent.stderr.index("[inspect: regex stage]") :]
    assert report.startswith(
        "[inspect: regex stage]\n"
        "  extracted: +level='error' +msg='disk full'\n"
        "[inspect: labels stage]\n"
        "  labels: +level='error'\n"
    )


async def test_embedded_default_config_runs_in_dry_run(tmp_path: Path, agents: Agents) -> None:
    """Without -config.file the embedded config is used (logged as such); SIGTERM ends it with exit 0."""
    agent = await agents.start("-dry-run", "-server.http-listen-port", "0").started()
    started = agent.records_with("Agent started.")[0]
    assert started["config"] == "<embedded default>"
    assert started["dry_run"] == "true"
    agent.send(signal.SIGTERM)
    assert await agent.wait_exit() == 0
    assert list((tmp_path / "home").iterdir()) == []
    assert not (tmp_path / "state").exists() or list((tmp_path / "state").iterdir()) == []


# -- clients


async def test_no_client_is_an_unusable_config(tmp_path: Path, agents: Agents) -> None:
    """No `clients:` and no -client.url (and not a dry run): exit 1, telling how to add a client."""
    config = write_config(tmp_path / "agent.yaml", scrape_configs=[file_job("app", tmp_path / "*.log")])
    agent = await agents.run(config=config)
    assert agent.returncode == 1
    assert "clients: no Loki client configured: add `clients: [{url: ...}]` or pass -client.url" in agent.stderr


async def test_client_url_flag_adds_the_client(tmp_path: Path, agents: Agents, loki: LokiReceiver) -> None:
    """-client.url with a config that has no clients: the lines are pushed to that URL."""
    log = tmp_path / "app.log"
    write_lines(str(log), 0, 100)
    config = write_config(tmp_path / "agent.yaml", scrape_configs=[file_job("app", log)])
    agent = await agents.start("-client.url", loki.url, config=config).started()
    await loki.wait_for_entries(100, timeout=15)
    assert await agent.terminate() == 0
    assert numbers(loki.lines()) == list(range(100))
