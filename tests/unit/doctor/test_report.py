"""The report as people read it (one line per check, the fix below) and as programs read it (-format json)."""

from __future__ import annotations

import json

from agent.doctor.report import Report, failed, passed, skipped, warned

USER = {"name": "agent", "uid": 999, "gids": [999, 4], "groups": ["agent", "adm"]}


def report() -> Report:
    return Report(
        USER,
        "/etc/agent/config.yaml",
        [
            passed("config", "loads and validates (1 client, 1 scrape config)"),
            failed("loki[0] tcp", "connection to loki:3100 refused: nothing listens there", "start Loki\nor fix it"),
            warned("metrics", "the HTTP server is disabled"),
            skipped("docker", "the config has no docker_sd_configs"),
        ],
    )


class TestReport:
    def test_text(self) -> None:
        """Each check is one line with its symbol; a failure's fix follows, indented; the last line counts."""
        assert report().render_text() == (
            "agent doctor: config /etc/agent/config.yaml, running as user agent (uid 999, groups agent, adm)\n"
            "✅ config: loads and validates (1 client, 1 scrape config)\n"
            "❌ loki[0] tcp: connection to loki:3100 refused: nothing listens there\n"
            "   fix: start Loki\n"
            "        or fix it\n"
            "⚠️ metrics: the HTTP server is disabled\n"
            "⏭️ docker: the config has no docker_sd_configs\n"
            "\n"
            "1 check failed.\n"
        )

    def test_json(self) -> None:
        """JSON carries the overall verdict, the user and every check with status, message and fix."""
        document = json.loads(report().render_json())
        assert document["ok"] is False
        assert document["user"]["groups"] == ["agent", "adm"]
        assert [(c["name"], c["status"]) for c in document["checks"]] == [
            ("config", "pass"), ("loki[0] tcp", "fail"), ("metrics", "warn"), ("docker", "skip"),
        ]
        assert document["checks"][1]["fix"] == "start Loki\nor fix it"

    def test_warnings_and_skips_do_not_fail(self) -> None:
        """Only a failed check makes the report not ok (exit code 1)."""
        assert Report(USER, "x", [warned("a", "b"), skipped("c", "d"), passed("e", "f")]).ok
