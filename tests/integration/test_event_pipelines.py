"""Event pipelines end to end: `agent -stdin -dry-run` on realistic lines, and accuracy on the labelled corpus.

Golden cases give the exact labels and structured metadata each line must get (or no event labels at all).
The corpus (`tests/data/events/*.tsv`, expected event type per line) is run in-process through the same
pipeline; precision and recall must stay at or above their floors, and every label value produced must be in
the vocabulary.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.stages.events import vocabulary

ROOT = Path(__file__).resolve().parents[2]
# By path: the name `pipelines` is also the test package tests/unit/pipelines.
_SPEC = importlib.util.spec_from_file_location("benchmarks_event_pipelines", ROOT / "benchmarks" / "pipelines.py")
assert _SPEC is not None
assert _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)

FLOOR = 0.95  # precision and recall on our own corpus; see the README's accuracy section


def _dry_run(tmp_path: Path, pipeline: str, lines: list[str]) -> list[tuple[str, str]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        "clients: [{url: http://127.0.0.1:9/loki/api/v1/push}]\n"
        f"scrape_configs:\n  - job_name: app\n    pipeline_stages:\n      - include: {pipeline}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "agent", "-config.file", str(config), "-stdin", "-dry-run", "-log.level", "error"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
        check=True,
    )
    rows = [row.split("\t") for row in result.stdout.splitlines()]
    return [(row[1], row[3] if len(row) > 3 else "") for row in rows]


GOLDEN = {
    "security": [
        (
            "Mar  3 14:02:11 web-1 sshd[1234]: Failed password for invalid user admin from 203.0.113.7 port 52144 ssh2",
            '{event_category="security", event_type="auth_failure", severity="warning"}',
            '{auth_method="password", src_ip="203.0.113.7", src_port="52144", user="admin"}',
        ),
        (
            "<86>1 2024-03-03T10:11:12.123Z bastion sshd-session 812 - - Invalid user oracle from 45.1.2.3 port 40022",
            '{event_category="security", event_type="invalid_user", severity="warning"}',
            '{src_ip="45.1.2.3", src_port="40022", user="oracle"}',
        ),
        (
            "Mar  3 14:02:13 web-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
            "COMMAND=/usr/bin/apt update",
            '{event_category="security", event_type="sudo", severity="notice"}',
            '{command="/usr/bin/apt update", target_user="root", tty="pts/0", user="alice"}',
        ),
        (
            '203.0.113.9 - - [03/Mar/2024:14:02:15 +0000] "GET /../../etc/passwd HTTP/1.1" 400 150 "-" "curl/8.0"',
            '{event_category="security", event_type="path_traversal", severity="error"}',
            '{http_method="GET", path="/../../etc/passwd", remote_user="-", src_ip="203.0.113.9", status="400", '
            'user_agent="curl/8.0"}',
        ),
        (
            'level=warn msg="login failed" user=bob reason=bad_password ip=192.0.2.1',
            '{event_category="security", event_type="auth_failure", severity="warning"}',
            '{reason="bad_password", src_ip="192.0.2.1", user="bob"}',
        ),
        ("Mar  3 14:02:14 web-1 CRON[999]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
         "{}", ""),
        ("Mar  3 14:02:17 web-1 systemd[1]: Started Session 4 of User alice.", "{}", ""),
    ],
    "performance": [
        (
            '10.0.0.1 - - [03/Mar/2024:14:02:16 +0000] "GET /api/orders?page=2 HTTP/1.1" 200 512 "-" "Mozilla/5.0" '
            "rt=1.532",
            '{event_category="performance", event_type="slow_request", severity="warning"}',
            '{duration_seconds="1.532", http_method="GET", path="/api/orders", status="200"}',
        ),
        (
            '10.0.0.1 - - [03/Mar/2024:14:02:16 +0000] "GET /api/orders HTTP/1.1" 502 512 "-" "Mozilla/5.0" 0.032',
            '{event_category="performance", event_type="server_error", severity="error"}',
            '{http_method="GET", path="/api/orders", status="502"}',
        ),
        (
            '{"level":"warning","msg":"slow query","query":"SELECT 1","duration_ms":812}',
            '{event_category="performance", event_type="slow_query", severity="warning"}',
            '{duration_seconds="0.812", query="SELECT 1"}',
        ),
        ('10.0.0.1 - - [03/Mar/2024:14:02:16 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0" rt=0.012', "{}", ""),
    ],
    "business": [
        (
            '{"level":"info","event":"order.placed","order_id":"o-1","user_id":"u-9","amount":42.5,"currency":"EUR"}',
            '{event_category="business", event_type="order_placed", severity="info"}',
            '{amount="42.5", currency="EUR", order_id="o-1", user_id="u-9"}',
        ),
        (
            'level=warn event=payment_declined order_id=o-2 amount=10 reason="insufficient funds"',
            '{event_category="business", event_type="payment_failed", severity="warning"}',
            '{amount="10", order_id="o-2", reason="insufficient funds"}',
        ),
        ('{"level":"info","event":"request.finished","status":200}', "{}", ""),
    ],
}


@pytest.mark.parametrize("pipeline", sorted(GOLDEN))
def test_golden_lines(tmp_path: Path, pipeline: str) -> None:
    """Each line comes out unchanged with exactly the expected labels and structured metadata."""
    cases = GOLDEN[pipeline]
    assert _dry_run(tmp_path, pipeline, [line for line, _, _ in cases]) == [(labels, meta) for _, labels, meta in cases]


@pytest.mark.parametrize("pipeline", ["security", "performance", "business"])
def test_corpus_accuracy_and_vocabulary(pipeline: str) -> None:
    """Precision and recall on the labelled corpus stay above the floor; every label value is in the vocabulary."""
    rows = bench.read_corpus(pipeline)
    assert len(rows) >= 300
    precision, recall, _, misses = bench.accuracy(pipeline)
    assert precision >= FLOOR, misses[:10]
    assert recall >= FLOOR, misses[:10]
    built, _ = bench.build(pipeline)
    vocab = vocabulary()
    for labels in bench.label(built, [line for _, line in rows]):
        if "event_category" in labels:
            assert labels["event_type"] in vocab.event_types[labels["event_category"]]
            assert labels.get("severity", "info") in vocab.severities
