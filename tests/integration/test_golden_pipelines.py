"""Golden end-to-end tests: real users' Promtail pipelines run by `agent -stdin -dry-run`, output compared exactly.

Each corpus case takes one scrape config from `tests/data/promtail-configs/` (real configs, see its INDEX.md),
puts it first and alone (``-stdin`` runs the first scrape config's pipeline), and feeds it a log from
`tests/data/golden/` shaped like that user's logs (their regexes tell the format). The expected output was
worked out by hand from Promtail's stage semantics (its stage code and docs), not by running the agent; a comment
per case says why each line comes out as it does. Where the user's config does something other than what its
author probably meant, the expectation is what Promtail does, and the comment says so.

Stdout is compared whole. A timestamp the pipeline did not set is the read time: it is replaced by
``<read-time>`` when it falls inside the run, everything else must match to the nanosecond. Timestamps print
in Go's ``2006-01-02T15:04:05.999999999-0700`` layout in the process's zone, UTC here (``TZ=UTC``).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "promtail-configs"
GOLDEN = ROOT / "tests" / "data" / "golden"
READ_TIME = "<read-time>"

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([+-])(\d\d)(\d\d)\t", re.MULTILINE
)


# -- helpers ---------------------------------------------------------------------------------------------------


def labels(**values: str) -> str:
    """A label set as dry-run prints it: sorted by name, ``name="value"`` joined by ``, ``."""
    for value in values.values():
        assert value.isprintable(), value
        assert '"' not in value, value
        assert "\\" not in value, value
    return "{" + ", ".join(f'{name}="{values[name]}"' for name in sorted(values)) + "}"


@dataclass(frozen=True)
class Row:
    """One printed entry: timestamp (or READ_TIME), labels, line and, when present, structured metadata."""

    ts: str
    labels: str
    line: str
    metadata: str | None = None

    def render(self) -> str:
        text = f"{self.ts}\t{self.labels}\t{self.line}"
        return text + (f"\t{self.metadata}" if self.metadata is not None else "") + "\n"


def render(rows: list[Row]) -> str:
    return "".join(row.render() for row in rows)


def _unix_ns(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second, fraction, sign, off_hours, off_minutes = match.groups()
    moment = datetime.datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=datetime.UTC
    )
    offset = (int(off_hours) * 60 + int(off_minutes)) * 60 * (1 if sign == "+" else -1)
    return (int(moment.timestamp()) - offset) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def normalize(stdout: str, started_ns: int, ended_ns: int) -> str:
    """Replace each entry's timestamp that lies within the run (a read or packing time) by READ_TIME."""

    def replace(match: re.Match[str]) -> str:
        if started_ns <= _unix_ns(match) <= ended_ns:
            return READ_TIME + "\t"
        return match.group(0)

    return _TIMESTAMP.sub(replace, stdout)


@dataclass
class Run:
    stdout: str
    stderr: str


def _run_once(config: Path, stdin: str, flags: tuple[str, ...], env: dict[str, str] | None) -> Run:
    started = time.time_ns()
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "-stdin", "-dry-run", "-config.file", str(config), *flags],
        input=stdin.encode(),
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC", **(env or {})},
        timeout=60,
        check=False,
    )
    ended = time.time_ns()
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    return Run(normalize(proc.stdout.decode(), started, ended), stderr)


def run_agent(
    config: Path, stdin: str, *flags: str, env: dict[str, str] | None = None, expected: str | None = None
) -> Run:
    """Run `python -m agent -stdin -dry-run` on `config` with `stdin`; the run must succeed."""
    return _run_once(config, stdin, flags, env)


def corpus_config(tmp_path: Path, corpus: str, job: str, static_labels: dict[str, str] | None = None) -> Path:
    """Write corpus config `corpus` with its scrape config `job` as the only one; return the path.

    The rest of the file (server, clients, ...) is kept as the user wrote it, except positions, which go to
    `tmp_path`. For a job discovered through `docker_sd_configs` or `journal` (no static labels), pass
    `static_labels`: what its relabel_configs would have made, given as a static config instead.
    """
    document: dict[str, Any] = yaml.safe_load((CORPUS / corpus).read_text())
    scrape = next(s for s in document["scrape_configs"] if s["job_name"] == job)
    if static_labels is not None:
        scrape = {
            "job_name": job,
            "static_configs": [{"targets": ["localhost"], "labels": static_labels}],
            "pipeline_stages": scrape["pipeline_stages"],
        }
    document["scrape_configs"] = [scrape]
    document["positions"] = {"filename": str(tmp_path / "positions.yaml")}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def log_lines(name: str) -> list[str]:
    """The lines of golden input `name`."""
    return (GOLDEN / name).read_text().splitlines()


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("POSITIONS", str(tmp_path / "positions.yaml")))
    return path


# -- corpus cases ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    corpus: str
    job: str
    log: str
    expected: list[Row]
    static_labels: dict[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()


# 034 (dockprom), job `containers`. json pulls log/stream/time/attrs out of Docker's envelope, a second json
# pulls `tag` out of attrs, the regex splits the daemon's `ImageName|Name|ImageFullID|FullID` tag on its three
# `|` (each `.` matches one `|`; the groups cannot contain one). The timestamp stage reads `time`, which no stage
# extracted (the first json stored it as `timestamp`): source missing, fudge with no earlier timestamp for the
# label set, so every entry keeps its read time. labels adds the six values; output sets the line to `log`,
# which keeps Docker's trailing newline (printed as an empty line after each entry).
_GRAFANA_TAG = (
    "grafana/grafana:10.4.2|grafana|sha256:7d5faae481a4c6f436c99e98af11534f7fd5e8d3e35213552dd1dd02bc393d2e"
    "|c8a4f2e0b3d14e8b9f6a2c7d5e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
)
_PROMETHEUS_TAG = (
    "prom/prometheus:v2.51.2|prometheus|sha256:3b9b2a15d376334da8c286d995777d3b9315aa666d2311170ada6059a517b74f"
    "|5e0d3c2b1a4f6e8d7c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d"
)
_CADDY_TAG = (
    "caddy:2.7.6|caddy|sha256:8a4e1b2c3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
    "|0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)


def _tag_labels(tag: str, stream: str) -> str:
    image_name, container_name, image_id, container_id = tag.split("|")
    return labels(
        container_id=container_id,
        container_name=container_name,
        image_id=image_id,
        image_name=image_name,
        job="containerlogs",
        stream=stream,
        tag=tag,
    )


CASE_034 = Case(
    "034_dockprom-pipeline.yaml",
    "containers",
    "034-dockprom-containers.log",
    [
        Row(
            READ_TIME,
            _tag_labels(_GRAFANA_TAG, "stderr"),
            'logger=http.server t=2024-05-01T10:00:00.123456789Z level=info msg="HTTP Server Listen" '
            "address=[::]:3000 protocol=http\n",
        ),
        Row(
            READ_TIME,
            _tag_labels(_PROMETHEUS_TAG, "stderr"),
            'ts=2024-05-01T10:00:01.001Z caller=main.go:1166 level=info msg="Server is ready to receive web '
            'requests."\n',
        ),
        Row(
            READ_TIME,
            _tag_labels(_CADDY_TAG, "stdout"),
            '{"level":"info","ts":1714557602.5,"logger":"http.log.access","msg":"handled request","status":200}\n',
        ),
    ],
)

# 021 (glog), job `loki_log`. The static labels include `refresh_interval: 1m`, which the user put among the
# labels, so it is a label. The match selector {job="varlogs"} holds for every line. The first regex reads
# `filename`, which stdin entries lack (only file targets set it): skipped. The glog regex (glog 0.7 writes the
# year) fills level/yyyy/mm/dd/time/pid/filename/lineno/content; template builds an RFC 3339 string in +08:00;
# timestamp parses it (printed in UTC, 8 h earlier); labels adds level, filename, lineno and the template's
# `timestamp`; output sets the line to `content`. Lines the regex misses (the file header, a continuation): the
# template's missing keys print as Go's `<no value>`, so `timestamp` does not parse and the label carries that
# text; fudge gives the last timestamp of the same label set plus 1 ns, or the read time when there is none yet
# (the header lines come first); output has no `content`, so the line stays.
_NO_VALUE_TS = "<no value>-<no value>-<no value>T<no value>000+08:00"
_GLOG_STATIC = {"host": "127.0.0.1", "job": "varlogs", "refresh_interval": "1m"}
CASE_021 = Case(
    "021_glog-multistage.yaml",
    "loki_log",
    "021-glog.log",
    [
        Row(READ_TIME, labels(**_GLOG_STATIC, timestamp=_NO_VALUE_TS), "Log file created at: 2024/05/01 10:00:00"),
        Row(READ_TIME, labels(**_GLOG_STATIC, timestamp=_NO_VALUE_TS), "Running on machine: build-agent-07"),
        Row(READ_TIME, labels(**_GLOG_STATIC, timestamp=_NO_VALUE_TS), "Running duration (h:mm:ss): 0:00:00"),
        Row(
            READ_TIME,
            labels(**_GLOG_STATIC, timestamp=_NO_VALUE_TS),
            "Log line format: [IWEF]yyyymmdd hh:mm:ss.uuuuuu threadid file:line] msg",
        ),
        Row(
            "2024-05-01T02:00:00.123456+0000",
            labels(
                **_GLOG_STATIC,
                filename="server.cc",
                level="I",
                lineno="88",
                timestamp="2024-05-01T10:00:00.123456000+08:00",
            ),
            "Listening on 0.0.0.0:8080",
        ),
        Row(
            "2024-05-01T02:00:05.5+0000",
            labels(
                **_GLOG_STATIC,
                filename="pool.cc",
                level="W",
                lineno="214",
                timestamp="2024-05-01T10:00:05.500000000+08:00",
            ),
            "Connection pool at 90% capacity",
        ),
        Row(
            "2024-05-01T02:00:07.000001+0000",
            labels(
                **_GLOG_STATIC,
                filename="handler.cc",
                level="E",
                lineno="57",
                timestamp="2024-05-01T10:00:07.000001000+08:00",
            ),
            "Request failed: upstream timeout",
        ),
        Row(
            "2024-05-01T02:00:07.000001001+0000",
            labels(**_GLOG_STATIC, timestamp=_NO_VALUE_TS),
            "    retry budget exhausted after 3 attempts",
        ),
        Row(
            "2024-05-01T02:00:08.25+0000",
            labels(
                **_GLOG_STATIC,
                filename="server.cc",
                level="I",
                lineno="102",
                timestamp="2024-05-01T10:00:08.250000000+08:00",
            ),
            "Shutting down",
        ),
    ],
)

# 022 (fail2ban). multiline: every line starting with a date opens a block, so the traceback joins the ERROR line
# before it (lines joined with "\n", the block keeps its first line's timestamp); the last block is flushed at
# end of input. The regex is a folded YAML scalar (`expression: >`), which keeps a trailing newline: the
# expression ends in `$\n`, and in RE2 `$` is the end of the text, after which no "\n" can follow, so it never
# matches. Hence no extracted values: timestamp's source is missing (read time kept), labels and output do
# nothing. That is what Promtail does with this config: the user gets neither levels nor parsed times.
_F2B = "fail2ban.actions        [812]: ERROR   Failed to execute ban jail 'sshd' action 'iptables-multiport'"
CASE_022 = Case(
    "022_fail2ban-multiline-env.yaml",
    "fail2ban",
    "022-fail2ban.log",
    [
        Row(
            READ_TIME,
            labels(job="fail2ban"),
            "2024-05-01 10:00:00,123 fail2ban.server         [812]: INFO    Starting Fail2ban v1.0.2",
        ),
        Row(
            READ_TIME,
            labels(job="fail2ban"),
            "2024-05-01 10:05:13,789 fail2ban.filter         [812]: INFO    [sshd] Found 203.0.113.50 - "
            "2024-05-01 10:05:13",
        ),
        Row(
            READ_TIME,
            labels(job="fail2ban"),
            "2024-05-01 10:05:14,012 fail2ban.actions        [812]: NOTICE  [sshd] Ban 203.0.113.50",
        ),
        Row(
            READ_TIME,
            labels(job="fail2ban"),
            f"2024-05-01 10:05:14,347 {_F2B} info 'ActionInfo({{'ip': '203.0.113.50'}})': Error starting action "
            "Jail('sshd')/iptables-multiport\n"
            "Traceback (most recent call last):\n"
            '  File "/usr/lib/python3/dist-packages/fail2ban/server/actions.py", line 461, in _Actions__checkBan\n'
            "    action.ban(aInfo)\n"
            "RuntimeError: Error starting action Jail('sshd')/iptables-multiport",
        ),
        Row(
            READ_TIME,
            labels(job="fail2ban"),
            "2024-05-01 10:06:00,001 fail2ban.filter         [812]: INFO    [sshd] Found 198.51.100.23 - "
            "2024-05-01 10:06:00",
        ),
    ],
)

# 023 (Laravel). multiline: a line like `[date] channel.LEVEL: ...` opens a block, so the exception's
# `[stacktrace]` and `#n` frames join the ERROR line (the last block is flushed at end of input). The regex finds
# the first `[timestamp] channel.level:` in the block; timestamp parses it in Etc/UTC; labels adds `level`. The
# match (`|= "[Event]"`) only extracts `event_name`, which nothing uses: no visible change.
_LARAVEL_ERROR = (
    "[2024-05-01 10:00:02] production.ERROR: SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate "
    "entry 'alice@example.com' for key 'users_email_unique' {\"exception\":\"[object] "
    "(Illuminate\\\\Database\\\\QueryException(code: 23000): SQLSTATE[23000]: Integrity constraint violation at "
    "/var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php:829)\n"
    "[stacktrace]\n"
    "#0 /var/www/html/vendor/laravel/framework/src/Illuminate/Database/Connection.php(783): "
    "Illuminate\\\\Database\\\\Connection->runQueryCallback()\n"
    "#1 {main}\n"
    '"}'
)
CASE_023 = Case(
    "023_devconf22-multiline.yaml",
    "app",
    "023-laravel.log",
    [
        Row(
            "2024-05-01T10:00:00+0000",
            labels(job="app", level="INFO"),
            '[2024-05-01 10:00:00] production.INFO: Order 1001 placed {"user_id":42}',
        ),
        Row("2024-05-01T10:00:02+0000", labels(job="app", level="ERROR"), _LARAVEL_ERROR),
        Row(
            "2024-05-01T10:00:03+0000",
            labels(job="app", level="INFO"),
            '[2024-05-01 10:00:03] production.INFO: [Event] order.shipped {"order_id":1001}',
        ),
        Row(
            "2024-05-01T10:00:04+0000",
            labels(job="app", level="WARNING"),
            "[2024-05-01 10:00:04] production.WARNING: Cache miss ratio above 40%",
        ),
    ],
)

# 027 (slides), job `containers` (docker_sd; the labels its relabel_configs make are given statically). docker
# sets the `stream` label, the timestamp from `time` and the line from `log` (trailing newline kept);
# static_labels adds job="containers".
_SLIDES = {"container": "slides-grafana-1", "service": "grafana"}
CASE_027_CONTAINERS = Case(
    "027_slides-loki-structured-metadata.yaml",
    "containers",
    "027-containers.log",
    [
        Row(
            "2024-05-01T10:00:00.512345678+0000",
            labels(**_SLIDES, job="containers", stream="stdout"),
            "logger=context userId=1 orgId=1 uname=admin t=2024-05-01T10:00:00.51+00:00 level=info "
            'msg="Request Completed" method=GET path=/api/live/ws status=-1 remote_addr=172.18.0.1 time_ms=3 '
            "duration=3.126ms size=0 referer= handler=/api/live/ws\n",
        ),
        Row(
            "2024-05-01T10:00:01.020304+0000",
            labels(**_SLIDES, job="containers", stream="stderr"),
            'logger=ngalert.scheduler t=2024-05-01T10:00:01.02+00:00 level=warn msg="Tick dropped because alert '
            'rule evaluation is too slow" rule_uid=ddkq0pd\n',
        ),
    ],
    static_labels={**_SLIDES},
)

# 027, job `journal` (its relabel_configs turn journal fields into labels; given statically here).
# structured_metadata names labels: each one found (level, systemd_slice, systemd_unit) becomes structured
# metadata and leaves the stream labels, as Promtail's stage does; labeldrop then finds nothing left to drop.
CASE_027_JOURNAL = Case(
    "027_slides-loki-structured-metadata.yaml",
    "journal",
    "027-journal.log",
    [
        Row(
            READ_TIME,
            labels(hostname="vagrant", job="journal", syslog_identifier="sshd"),
            "Accepted publickey for vagrant from 10.0.2.2 port 52144 ssh2: ED25519 "
            "SHA256:Zq8mJ3pX0cN6V9bL1kF4hR7tY2wE5sA8dG3jK6mQ9pU",
            labels(level="info", systemd_slice="system.slice", systemd_unit="ssh.service"),
        ),
        Row(
            READ_TIME,
            labels(hostname="vagrant", job="journal", syslog_identifier="sshd"),
            "pam_unix(sshd:session): session opened for user vagrant(uid=1000) by (uid=0)",
            labels(level="info", systemd_slice="system.slice", systemd_unit="ssh.service"),
        ),
    ],
    static_labels={
        "job": "journal",
        "level": "info",
        "syslog_identifier": "sshd",
        "systemd_slice": "system.slice",
        "systemd_unit": "ssh.service",
        "hostname": "vagrant",
    },
)

# 027, job `structured-metadata`. logfmt extracts `stream` and `traceID`; replace deletes the first group of
# `(traceID=[0-9a-c]+\s?)` from the line. The class stops at the first d-f digit, so a W3C trace id
# (4bf92f...) loses only `traceID=4b` and the rest stays in the line: that is this config's result in Promtail.
# labels sets `stream`; structured_metadata attaches the traceID extracted before the replace (4th field).
CASE_027_METADATA = Case(
    "027_slides-loki-structured-metadata.yaml",
    "structured-metadata",
    "027-structured-metadata.log",
    [
        Row(
            READ_TIME,
            labels(job="structured-metadata", stream="stdout"),
            'ts=2024-05-01T10:00:00.000Z level=info stream=stdout msg="request served" path=/api/v1/orders',
            labels(traceID="0242ac120002"),
        ),
        Row(
            READ_TIME,
            labels(job="structured-metadata", stream="stderr"),
            'ts=2024-05-01T10:00:00.250Z level=error stream=stderr f92f3577b34da6a3ce929d0e0e4736 msg="payment '
            'failed" code=402',
            labels(traceID="4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        Row(
            READ_TIME,
            labels(job="structured-metadata", stream="stdout"),
            'ts=2024-05-01T10:00:01.000Z level=debug stream=stdout msg="cache hit" key=user:42',
        ),
    ],
)


# 029 (AdGuard Home query log). json takes the query fields (Result, an object, as JSON text); json on Result
# gives Rules (JSON text) for a filtered query; the regex cuts the first rule object out of `[...]`; json on it
# gives FilterListID (a number: printed "1"). template replaces QH by `Sha2Hash .QH "adGuardSalt"`, i.e.
# sha256(QH + "adGuardSalt") (Sha2Hash's first argument is the salt). timestamp parses T (+02:00, printed in
# UTC). The last template writes a JSON-ish summary (absent Upstream/FilterListID render empty via `if`), and
# output makes it the line. Elapsed (a JSON number) prints in Go's shortest form.
def _qh(name: str) -> str:
    return hashlib.sha256((name + "adGuardSalt").encode()).hexdigest()


CASE_029 = Case(
    "029_openwrt-json-template.yaml",
    "agh",
    "029-adguard-querylog.log",
    [
        Row(
            "2024-05-01T10:00:00.123456789+0000",
            labels(log="agh.testing12"),
            f'{{ "Elapsed": "15883209", "QH": "{_qh("example.com")}", "QT": "A", '
            '"Upstream": "https://dns10.quad9.net:443/dns-query", "FilterListID": "" }',
        ),
        Row(
            "2024-05-01T10:00:01.5+0000",
            labels(log="agh.testing12"),
            f'{{ "Elapsed": "81234", "QH": "{_qh("ads.doubleclick.net")}", "QT": "AAAA", "Upstream": "", '
            '"FilterListID": "1" }',
        ),
    ],
)


# 028 (kolonie), job `containers`: Docker's envelope, `service` from attrs (compose label), timestamp from
# `time` (every entry exact), `level` from the line when it is JSON, then per-service matches:
# - postgres: the regex reads `%m [%p] %q%u@%d/%a` prefixes; psql sessions are `interactive`, ERROR is
#   `error`, other severities (STATEMENT, LOG) `info`; a statement continuation does not match, so the template
#   renders "" and removes `level`: no level label.
# - traefik/website/pgadmin: traefik's own `level=warning` wins; otherwise the status after the request decides
#   (502: error, 404: info). A website error-log line matches neither regex here: "" removes `level`.
# - website: nginx's own severity (notice: info), except the missing-file signature, which is `info`; for the
#   access line both regexes miss, the template renders "" and the label set by the block before stays.
# - loki/promtail: `level=` anywhere in the line becomes the label; debug and info lines are dropped; a line
#   without `level=` (a panic) is kept without a level.
# output strips the envelope: the line is Docker's `log`, trailing newline included.
def _kolonie(service: str, level: str | None = None) -> str:
    return labels(job="containers", service=service, **({"level": level} if level is not None else {}))


CASE_028 = Case(
    "028_kolonie-commented-large.yaml",
    "containers",
    "028-kolonie-containers.log",
    [
        Row(
            "2026-08-08T10:15:02.123876543+0000",
            _kolonie("postgres", "interactive"),
            "2026-08-08 10:15:02.123 UTC [2841] kolonie@kolonie/psql ERROR:  column v.passed does not exist at "
            "character 8\n",
        ),
        Row(
            "2026-08-08T10:15:03.456912345+0000",
            _kolonie("postgres", "error"),
            "2026-08-08 10:15:03.456 UTC [2907] kolonie@kolonie/ ERROR:  duplicate key value violates unique "
            'constraint "verdicts_pkey"\n',
        ),
        Row(
            "2026-08-08T10:15:03.456987654+0000",
            _kolonie("postgres", "info"),
            "2026-08-08 10:15:03.456 UTC [2907] kolonie@kolonie/ STATEMENT:  INSERT INTO verdicts (id, passed)\n",
        ),
        Row("2026-08-08T10:15:03.457001234+0000", _kolonie("postgres"), "\tVALUES ($1, $2)\n"),
        Row(
            "2026-08-08T10:20:00.001234567+0000",
            _kolonie("postgres", "info"),
            "2026-08-08 10:20:00.001 UTC [27] LOG:  checkpoint starting: time\n",
        ),
        Row(
            "2026-08-08T10:15:04.000456789+0000",
            _kolonie("traefik", "error"),
            '203.0.113.9 - - [08/Aug/2026:10:15:04 +0000] "GET /api/verdicts HTTP/2.0" 502 11 "-" "Mozilla/5.0" '
            '1042 "api@docker" "http://172.18.0.7:3000" 3ms\n',
        ),
        Row(
            "2026-08-08T10:15:05.000123456+0000",
            _kolonie("traefik", "warning"),
            'time="2026-08-08T10:15:05Z" level=warning msg="Error while Peeking first byte: read tcp '
            '172.18.0.3:443->203.0.113.9:51234: i/o timeout"\n',
        ),
        Row(
            "2026-08-08T10:15:06.1002003+0000",
            _kolonie("website", "info"),
            '203.0.113.9 - - [08/Aug/2026:10:15:06 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "Mozilla/5.0"\n',
        ),
        Row(
            "2026-08-08T10:15:06.1004005+0000",
            _kolonie("website", "info"),
            '2026/08/08 10:15:06 [error] 29#29: *12 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such '
            'file or directory), client: 203.0.113.9, server: _, request: "GET /favicon.ico HTTP/1.1", host: '
            '"kolonie.example"\n',
        ),
        Row(
            "2026-08-09T04:12:07.000000001+0000",
            _kolonie("website", "info"),
            "2026/08/09 04:12:07 [notice] 1#1: gracefully shutting down\n",
        ),
        # The loki `level=info` line is dropped here.
        Row(
            "2026-08-08T10:15:08.500345678+0000",
            _kolonie("loki", "warn"),
            'ts=2026-08-08T10:15:08.5Z caller=flush.go:143 level=warn component=ingester msg="failed to flush" '
            "retries=1\n",
        ),
        # The promtail `level=debug` line is dropped here.
        Row(
            "2026-08-08T10:15:09.000567891+0000",
            _kolonie("loki"),
            "panic: runtime error: invalid memory address or nil pointer dereference\n",
        ),
        Row(
            "2026-08-08T10:15:09.120678912+0000",
            _kolonie("api", "warn"),
            '{"level":"warn","time":"2026-08-08T10:15:09.120Z","msg":"slow query","durationMs":1840,'
            '"reqId":"r-7f3a"}\n',
        ),
    ],
)

# 012 (greg-zone), job `docker` (docker_sd; relabel_configs' labels given statically). json keeps `log` as
# `output` but never extracts `time`, so the timestamp stage finds no source: read time. The tag regex takes
# the container name before the first `|`. The match's line filter sees the raw envelope, which contains
# "Player connected:"; its regexes extract player_name and xuid (labels). The template calls sprig's
# `contains .message "connected"`, whose first argument is the substring: it asks whether "connected"
# contains the whole message, which is false, so event_type renders "" and no label is set. output: `log`.
_MC_ID = "9d1c6a0f3b7e4d2c8a5f1e0b9c7d3a6f2e8b4c1d5a9f7e3b0c6d2a8f4e1b7c9d"
_MC = {"job": "docker", "container_name": "minecraft", "container_id": _MC_ID}
CASE_012 = Case(
    "012_greg-zone-docker-sd-pipeline.yaml",
    "docker",
    "012-minecraft-docker.log",
    [
        Row(READ_TIME, labels(**_MC, stream="stdout"), "[2024-05-01 10:00:00:123 INFO] Starting Server\n"),
        Row(
            READ_TIME,
            labels(**_MC, player_name="Steve", stream="stdout", xuid="2535412345678901"),
            "[2024-05-01 10:05:12:456 INFO] Player connected: Steve, xuid: 2535412345678901\n",
        ),
        Row(
            READ_TIME,
            labels(**_MC, player_name="Steve", stream="stdout", xuid="2535412345678901"),
            "[2024-05-01 10:41:03:789 INFO] Player disconnected: Steve, xuid: 2535412345678901\n",
        ),
    ],
    static_labels={**_MC},
)

# 019 (openrelik), job `openrelik-audit` (docker_sd; labels given statically). The regex parses uvicorn access
# lines. /healthz is dropped by path. Other drops test `^$` on values a template rendered empty, but an empty
# template result *removes* the key and drop skips a missing source, so read-only GETs (keep_line "") and
# non-access lines (method "") are kept, as Promtail keeps them. action/verdict come from the templates; for
# the non-access line `regexMatch ... $p` and `hasPrefix "2" .status` get a missing value where a string is
# required, which is an execution error in Go templates: no action or verdict label. The download is kept
# (`is_download` from a YAML regex, where `\b` is a word boundary) but its action is `api_get`: inside the
# template, `"...(?:\b|/)"` is a Go string literal, where `\b` is a backspace, so `file_download` never matches.
_RELIK = {"job": "openrelik-audit", "case": "4711", "host": "case-4711", "source": "openrelik", "class": "audit"}
CASE_019_OPENRELIK = Case(
    "019_openrelik-large.yaml",
    "openrelik-audit",
    "019-openrelik-uvicorn.log",
    [
        Row(
            READ_TIME,
            labels(**_RELIK, action="workflow_run", verdict="ok"),
            'INFO:     172.18.0.9:41234 - "POST /api/v1/workflows/12/run HTTP/1.1" 200 OK',
        ),
        # GET /healthz: dropped.
        Row(
            READ_TIME,
            labels(**_RELIK, action="api_get", verdict="ok"),
            'INFO:     172.18.0.9:41250 - "GET /api/v1/files/33/download HTTP/1.1" 200 OK',
        ),
        Row(
            READ_TIME,
            labels(**_RELIK, action="api_get", verdict="ok"),
            'INFO:     172.18.0.9:41260 - "GET /api/v1/folders/ HTTP/1.1" 200 OK',
        ),
        Row(
            READ_TIME,
            labels(**_RELIK, action="workflow_delete", verdict="denied"),
            'INFO:     172.18.0.9:41270 - "DELETE /api/v1/workflows/12 HTTP/1.1" 403 Forbidden',
        ),
        Row(READ_TIME, labels(**_RELIK), "INFO:     Application startup complete."),
    ],
    static_labels={**_RELIK},
)

# 019, job `velociraptor-audit` (a static job). The regex reads `filename`, absent on stdin: skipped, so
# `or .verdict_from_file .level "ok"` falls through to `level`; the second template maps "info" to "ok".
# timestamp parses RFC 3339 (the +02:00 one prints 2 h earlier); labels renames principal/operation.
_VELO = {
    "job": "velociraptor-audit",
    "case": "__CASE_ID__",
    "host": "case-__CASE_ID__",
    "source": "velociraptor",
    "class": "audit",
}
CASE_019_VELOCIRAPTOR = Case(
    "019_openrelik-large.yaml",
    "velociraptor-audit",
    "019-velociraptor-audit.log",
    [
        Row(
            "2024-05-01T10:00:00+0000",
            labels(**_VELO, action="CreateHunt", actor="admin", verdict="ok"),
            '{"time":"2024-05-01T10:00:00Z","principal":"admin","operation":"CreateHunt","level":"info",'
            '"details":{"hunt_id":"H.CNQ4R3JDP5TAG"}}',
        ),
        Row(
            "2024-05-01T08:02:30+0000",
            labels(**_VELO, action="CollectClient", actor="analyst1", verdict="error"),
            '{"time":"2024-05-01T10:02:30+02:00","principal":"analyst1","operation":"CollectClient","level":"error",'
            '"details":{"client_id":"C.1a2b3c4d5e6f7a8b"}}',
        ),
    ],
)

# 024 (OSSEC), job `ossec_alerts`. json flattens the alert; the host regex strips the `(agent) ip` form; the
# level template pads with `%02s` (two-digit levels here, so the padding does nothing); labels skip absent
# fields (srcuser; dstuser and program_name on the syscheck alert); timestamp reads TimeStamp as Unix ms. The
# metrics stage counts and leaves the entry alone: the line is the alert as read.
CASE_024_ALERTS = Case(
    "024_cnhids-metrics.yaml",
    "ossec_alerts",
    "024-ossec-alerts.log",
    [
        Row(
            "2024-05-01T10:00:00.123+0000",
            labels(
                application="sshd",
                dstuser="admin",
                group="syslog,attacks,authentication_failures,",
                host="web01",
                job="ossec",
                level="10",
                type="alert",
            ),
            log_lines("024-ossec-alerts.log")[0],
        ),
        Row(
            "2024-05-01T10:01:01.456+0000",
            labels(group="ossec,syscheck,", host="ossec-server", job="ossec", level="12", type="alert"),
            log_lines("024-ossec-alerts.log")[1],
        ),
    ],
)

# 024, job `ossec_firewall`. The first regex takes host as `(web01)` (then the ip->file part is skipped) or, on
# the server, as `ossec-server->/var/log/messages`; the two host regexes cut those to `web01` and
# `ossec-server`. Templates lower-case action and protocol. The timestamp has no zone: Europe/London, on
# 1 May British Summer Time, so 10:00 is 09:00 UTC. metrics leaves the line alone.
CASE_024_FIREWALL = Case(
    "024_cnhids-metrics.yaml",
    "ossec_firewall",
    "024-ossec-firewall.log",
    [
        Row(
            "2024-05-01T09:00:00+0000",
            labels(action="drop", host="web01", job="ossec", protocol="tcp", type="firewall"),
            "2024 May 01 10:00:00 (web01) 10.0.0.5->/var/log/messages DROP TCP 203.0.113.7:51514->10.0.0.5:22",
        ),
        Row(
            "2024-05-01T09:00:03+0000",
            labels(action="reject", host="ossec-server", job="ossec", protocol="udp", type="firewall"),
            "2024 May 01 10:00:03 ossec-server->/var/log/messages REJECT UDP 198.51.100.23:5353->10.0.0.1:53",
        ),
    ],
)

# 025 (logging-poc), job `system`: four regexes feed five counters; nothing sets labels, the timestamp or the
# line, so every line comes out as read, with the job label and its read time.
CASE_025 = Case(
    "025_logging-poc-metrics.yaml",
    "system",
    "025-sample-tool.log",
    [Row(READ_TIME, labels(job="sample_tool_logs"), line) for line in log_lines("025-sample-tool.log")],
)

# 036 (mylab), with -config.expand-env (env/host labels from the environment, as the user runs it). json takes
# attrs.tag and attrs.log_format; labels sets container and format (absent for redis); docker sets stream, the
# timestamp and the line. Then per format:
# - nginx: the access regex; request_type from api_request/metrics_request; replace masks the 32-hex id and
#   `=2` in request_url with the user's Cyrillic "xxx" (U+0445 three times); no error/warn word: level "info";
#   five labels; output: `log` (newline kept).
# - net: replace drops the newline; multiline joins a .NET console entry (colour codes around the level make
#   `^\S+info\S+:` match) with its indented lines. A block is released by the next first line or at end of
#   input, carrying its first line's timestamp and extracted values, so the second net match reads the first
#   line's `output`: info stays "info", fail becomes "error".
# - mylab-yaml: same joining on `^Message:`; the level regex reads the first line's `output` only, which has
#   no `log_level`, so level is "undefined".
# - no format: `{format=""}` matches a missing label; output sets the line it already has.
# Order: held blocks come out when released, after the lines that passed them; at the end the net block comes
# before the yaml block (its match is earlier in the pipeline, as in Promtail's stage chain).
_SHOP = {"env": "production", "host": "docker-01"}
_MASK = "\u0445" * 3  # what 036's replace writes: Cyrillic "xxx"
CASE_036 = Case(
    "036_mylab-multiline-replace-env.yaml",
    "container_files",
    "036-mylab-containers.log",
    [
        Row(
            "2024-05-01T10:00:00.000123456+0000",
            labels(
                **_SHOP,
                container="shop-nginx",
                format="nginx",
                http_method="GET",
                http_status="200",
                level="info",
                request_type="api",
                request_url=f"/api/orders/{_MASK}/items?page={_MASK}",
                stream="stdout",
            ),
            '172.18.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api/orders/8f14e45fceea167a5a36dedd4bea2543/items'
            '?page=2 HTTP/1.1" 200 512 "-" "Mozilla/5.0" "0.012"\n',
        ),
        Row(
            "2024-05-01T10:00:02.000456789+0000",
            labels(
                **_SHOP,
                container="shop-nginx",
                format="nginx",
                http_method="GET",
                http_status="200",
                level="info",
                request_type="metrics",
                request_url="/metrics",
                stream="stdout",
            ),
            '172.18.0.5 - - [01/May/2024:10:00:02 +0000] "GET /metrics HTTP/1.1" 200 8123 "-" "Prometheus/2.51.2" '
            '"0.003"\n',
        ),
        Row(
            "2024-05-01T10:00:02.500567891+0000",
            labels(**_SHOP, container="shop-redis", stream="stdout"),
            "1:M 01 May 2024 10:00:02.500 * Ready to accept connections tcp\n",
        ),
        Row(
            "2024-05-01T10:00:01.100234567+0000",
            labels(**_SHOP, container="shop-api", format="net", level="info", stream="stdout"),
            "\x1b[40m\x1b[32minfo\x1b[39m\x1b[22m\x1b[49m: Microsoft.Hosting.Lifetime[14]\n"
            "      Now listening on: http://[::]:8080",
        ),
        Row(
            "2024-05-01T10:00:03.300678912+0000",
            labels(**_SHOP, container="shop-api", format="net", level="error", stream="stdout"),
            "\x1b[41m\x1b[30mfail\x1b[39m\x1b[22m\x1b[49m: Microsoft.AspNetCore.Server.Kestrel[13]\n"
            '      Connection id "0HMQ8L2V3K5J1", Request id "0HMQ8L2V3K5J1:00000002": An unhandled exception was '
            "thrown by the application.\n"
            "      System.InvalidOperationException: Sequence contains no elements",
        ),
        Row(
            "2024-05-01T10:00:03.400891234+0000",
            labels(**_SHOP, container="shop-worker", format="mylab-yaml", level="undefined", stream="stdout"),
            "Message: Payment captured\nlog_level: info",
        ),
    ],
    env={"PROMTAIL_ENV": "production", "PROMTAIL_HOST": "docker-01", "PROMTAIL_LOKI": "http://loki:3100"},
    flags=("-config.expand-env",),
)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(CASE_034, id="034-dockprom-json-regex-timestamp-fudge"),
        pytest.param(CASE_021, id="021-glog-match-regex-template-timestamp"),
        pytest.param(CASE_022, id="022-fail2ban-multiline-folded-regex"),
        pytest.param(CASE_023, id="023-laravel-multiline-timestamp-match"),
        pytest.param(CASE_027_CONTAINERS, id="027-docker-static-labels"),
        pytest.param(CASE_027_JOURNAL, id="027-structured-metadata-from-labels"),
        pytest.param(CASE_027_METADATA, id="027-logfmt-replace-structured-metadata"),
        pytest.param(CASE_029, id="029-adguard-json-template-output"),
        pytest.param(CASE_028, id="028-kolonie-nested-match-drop"),
        pytest.param(CASE_012, id="012-docker-sd-json-regex-match-template"),
        pytest.param(CASE_019_OPENRELIK, id="019-openrelik-template-drop"),
        pytest.param(CASE_019_VELOCIRAPTOR, id="019-velociraptor-json-template-timestamp"),
        pytest.param(CASE_024_ALERTS, id="024-ossec-alerts-metrics"),
        pytest.param(CASE_024_FIREWALL, id="024-ossec-firewall-metrics-location"),
        pytest.param(CASE_025, id="025-regex-metrics-line-unchanged"),
        pytest.param(CASE_036, id="036-mylab-multiline-replace-docker-match"),
    ],
)
def test_corpus_pipeline(case: Case, tmp_path: Path) -> None:
    """A real user's pipeline prints exactly the entries Promtail would ship for its logs."""
    config = corpus_config(tmp_path, case.corpus, case.job, case.static_labels)
    expected = render(case.expected)
    run = run_agent(config, (GOLDEN / case.log).read_text(), *case.flags, env=case.env, expected=expected)
    assert run.stdout == expected


# -- hand-written pipelines ------------------------------------------------------------------------------------


def _config(labels_yaml: str, stages_yaml: str) -> str:
    """A one-job config: `labels_yaml` and `stages_yaml` are YAML blocks indented for their place."""
    return f"""\
positions:
  filename: POSITIONS
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [localhost]
        labels:
{labels_yaml}
    pipeline_stages:
{stages_yaml}
"""


# json + timestamp + labels + output on JSON application logs. RFC3339Nano accepts a zone offset (printed in
# UTC); `status` is a JSON number, labelled in Go's shortest form. The last line is not JSON: nothing is
# extracted, and the timestamp stage (which runs before `labels`, so every entry has the same label set there)
# fudges it to the previous entry's timestamp plus 1 ns; output has no `msg`, so the line stays.
_JSON_APP = _config(
    """\
          job: checkout
          __path__: /var/log/checkout/*.json""",
    """\
      - json:
          expressions:
            time:
            level:
            msg:
            status: http.status
      - timestamp:
          source: time
          format: RFC3339Nano
      - labels:
          level:
          status:
      - output:
          source: msg""",
)
_JSON_APP_INPUT = (GOLDEN / "json-app.log").read_text()
_JSON_APP_EXPECTED = [
    Row("2024-05-01T10:00:00.123456789+0000", labels(job="checkout", level="info", status="200"), "request served"),
    Row("2024-05-01T10:00:00.5+0000", labels(job="checkout", level="error", status="504"), "upstream timeout"),
    Row("2024-05-01T10:00:00.500000001+0000", labels(job="checkout"), "java.lang.OutOfMemoryError: Java heap space"),
]

# drop by content and by size: probe requests match the first drop's expression, the 206-byte line is longer
# than 160 bytes; dropped entries are simply absent. The others keep their read time.
_NGINX_OK, _NGINX_POST = log_lines("nginx-access.log")[1], log_lines("nginx-access.log")[4]
_DROP = _config(
    """\
          job: nginx
          __path__: /var/log/nginx/access.log""",
    """\
      - drop:
          expression: '"GET /(healthz|readyz) '
          drop_counter_reason: probes
      - drop:
          longer_than: 160""",
)
_DROP_INPUT = (GOLDEN / "nginx-access.log").read_text()
_DROP_EXPECTED = [Row(READ_TIME, labels(job="nginx"), _NGINX_OK), Row(READ_TIME, labels(job="nginx"), _NGINX_POST)]

# labelallow keeps only the listed labels, the one the pipeline added included.
_LABELALLOW = _config(
    """\
          job: kubernetes-pods
          namespace: shop
          pod: checkout-7d9f8b6c5-x2x4z
          container: checkout
          node: worker-3
          pod_template_hash: 7d9f8b6c5""",
    """\
      - regex:
          expression: 'level=(?P<level>\\w+)'
      - labels:
          level:
      - labelallow:
          - job
          - namespace
          - container
          - level""",
)
_LABELALLOW_INPUT = """\
ts=2024-05-01T10:00:00.000Z level=info msg="order placed" order_id=1001
ts=2024-05-01T10:00:00.420Z level=warn msg="payment retry" attempt=2
"""
_ALLOWED = {"container": "checkout", "job": "kubernetes-pods", "namespace": "shop"}
_LABELALLOW_EXPECTED = [
    Row(
        READ_TIME,
        labels(**_ALLOWED, level="info"),
        'ts=2024-05-01T10:00:00.000Z level=info msg="order placed" order_id=1001',
    ),
    Row(
        READ_TIME,
        labels(**_ALLOWED, level="warn"),
        'ts=2024-05-01T10:00:00.420Z level=warn msg="payment retry" attempt=2',
    ),
]

# pack wraps the line in JSON with the named values (labels and extracted values alike), keys sorted, the line
# last under `_entry`, escaped as Go's JSON encoder does (`&` is \u0026, `<` \u003c); packed labels leave the
# stream. A value that is absent (no level on the panic line) is left out. The timestamp becomes the packing
# time (ingest_timestamp defaults to true), which falls within the run.
_PACK = _config(
    """\
          job: kubernetes-pods
          namespace: shop
          container: web
          pod: web-7d9f8b6c5-x2x4z""",
    """\
      - regex:
          expression: '^(?P<level>[A-Z]+) '
      - pack:
          labels:
            - container
            - pod
            - level""",
)
_PACK_INPUT = """\
INFO GET /search?q=shoes&size=42 200 12ms
panic: <nil> "boom"
"""
_PACK_EXPECTED = [
    Row(
        READ_TIME,
        labels(job="kubernetes-pods", namespace="shop"),
        '{"container":"web","level":"INFO","pod":"web-7d9f8b6c5-x2x4z",'
        '"_entry":"INFO GET /search?q=shoes\\u0026size=42 200 12ms"}',
    ),
    Row(
        READ_TIME,
        labels(job="kubernetes-pods", namespace="shop"),
        '{"container":"web","pod":"web-7d9f8b6c5-x2x4z","_entry":"panic: \\u003cnil\\u003e \\"boom\\""}',
    ),
]

# decolorize strips ANSI colour sequences (16- and 256-colour, bold) and leaves plain lines alone.
_DECOLORIZE = _config(
    """\
          job: worker
          __path__: /var/log/worker.log""",
    """\
      - decolorize: {}""",
)
_DECOLORIZE_INPUT = (
    "\x1b[36mINFO\x1b[0m[0000] server started addr=\x1b[1m:8080\x1b[0m\n"
    "\x1b[38;5;196mERROR\x1b[0m cannot connect to database host=db-1\n"
    "plain line without colours\n"
)
_DECOLORIZE_EXPECTED = [
    Row(READ_TIME, labels(job="worker"), "INFO[0000] server started addr=:8080"),
    Row(READ_TIME, labels(job="worker"), "ERROR cannot connect to database host=db-1"),
    Row(READ_TIME, labels(job="worker"), "plain line without colours"),
]


@pytest.mark.parametrize(
    ("config", "stdin", "expected"),
    [
        pytest.param(_JSON_APP, _JSON_APP_INPUT, _JSON_APP_EXPECTED, id="json-rfc3339nano-labels-output-fudge"),
        pytest.param(_DROP, _DROP_INPUT, _DROP_EXPECTED, id="drop-by-regex-and-size"),
        pytest.param(_LABELALLOW, _LABELALLOW_INPUT, _LABELALLOW_EXPECTED, id="labelallow"),
        pytest.param(_PACK, _PACK_INPUT, _PACK_EXPECTED, id="pack"),
        pytest.param(_DECOLORIZE, _DECOLORIZE_INPUT, _DECOLORIZE_EXPECTED, id="decolorize"),
    ],
)
def test_hand_written_pipeline(config: str, stdin: str, expected: list[Row], tmp_path: Path) -> None:
    """A small pipeline prints exactly the entries Promtail's stage semantics give."""
    text = render(expected)
    run = run_agent(write_config(tmp_path, config), stdin, expected=text)
    assert run.stdout == text


_SYSLOG_REGEX = (
    r"^(?P<timestamp>\w{3} [ \d]\d \d{2}:\d{2}:\d{2}) \S+ (?P<app>[^\[:\s]+)(?:\[(?P<pid>\d+)\])?: "
    r"(?P<message>.*)$"
)


def test_syslog_timestamp_without_year_takes_the_current_year(tmp_path: Path) -> None:
    """A `Jan _2 15:04:05` syslog timestamp gets the current year; a line the regex misses keeps its read time."""
    config = _config(
        """\
          job: syslog
          host: web-01
          __path__: /var/log/syslog""",
        """\
      - regex:
          expression: 'SYSLOG_REGEX'
      - labels:
          app:
      - timestamp:
          source: timestamp
          format: Jan _2 15:04:05""",
    ).replace("SYSLOG_REGEX", _SYSLOG_REGEX)
    stdin = (GOLDEN / "syslog.log").read_text()
    lines = log_lines("syslog.log")
    # Promtail gives a year-less layout the current year, except across New Year (a December line read in
    # January is last year's): March lines are this year's. The unmatched line has no `app`, so at the
    # timestamp stage its label set ({host, job}) has no earlier timestamp to fudge from: read time.
    year = datetime.datetime.now(datetime.UTC).year
    expected = render(
        [
            Row(f"{year}-03-03T07:12:45+0000", labels(app="sshd", host="web-01", job="syslog"), lines[0]),
            Row(f"{year}-03-14T22:01:09+0000", labels(app="CRON", host="web-01", job="syslog"), lines[1]),
            Row(f"{year}-03-14T22:01:10+0000", labels(app="kernel", host="web-01", job="syslog"), lines[2]),
            Row(READ_TIME, labels(host="web-01", job="syslog"), lines[3]),
        ]
    )
    run = run_agent(write_config(tmp_path, config), stdin, expected=expected)
    assert run.stdout == expected


def test_tenant_stage_sets_no_visible_label(tmp_path: Path) -> None:
    """The `tenant` stage's `__tenant_id__` is internal: dry-run prints the labels Loki receives, without it."""
    config = _config(
        """\
          job: billing
          __path__: /var/log/billing.json""",
        """\
      - json:
          expressions:
            customer: customer_id
      - tenant:
          source: customer""",
    )
    stdin = """\
{"customer_id":"acme","msg":"invoice created","amount":120.5}
{"customer_id":"globex","msg":"invoice paid","amount":99}
{"msg":"nightly run finished"}
"""
    expected = render([Row(READ_TIME, labels(job="billing"), line) for line in stdin.splitlines()])
    run = run_agent(write_config(tmp_path, config), stdin, expected=expected)
    assert "__tenant_id__" not in run.stdout
    assert run.stdout == expected


def test_inspect_reports_each_stage_and_the_labels_it_added(tmp_path: Path) -> None:
    """`-inspect` writes, per entry, a report naming each stage and the extracted values and labels it added."""
    config = _config(
        """\
          job: app
          __path__: /var/log/app.log""",
        """\
      - regex:
          expression: 'level=(?P<level>\\w+) msg="(?P<msg>[^"]*)"'
      - labels:
          level:""",
    )
    stdin = 'ts=2024-05-01T10:00:00Z level=warn msg="disk almost full"\n'
    expected = render([Row(READ_TIME, labels(job="app", level="warn"), stdin.rstrip("\n"))])
    run = run_agent(write_config(tmp_path, config), stdin, "-inspect", expected=expected)
    assert run.stdout == expected
    regex_report, labels_report = run.stderr.split("[inspect: regex stage]", 1)[1].split("[inspect: labels stage]", 1)
    assert re.search(r"extracted: .*\+level=.warn.", regex_report)
    assert re.search(r"extracted: .*\+msg=.disk almost full.", regex_report)
    assert re.search(r"labels: \+level=.warn.", labels_report)
