"""What `agent doctor` found: one `Check` per thing it verified, and the two ways of printing them.

A check is pass, fail, warn (worth knowing, not blocking: the exit code stays 0) or skip (could not be
checked because an earlier check failed, or does not apply). Every failure carries the fix, written for the
person at the terminal. Rendering is plain text (one line per check, the fix indented below it) or JSON
(`-format json`). This module runs no checks itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]

SYMBOLS: dict[str, str] = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}


@dataclass(frozen=True)
class Check:
    """One verified fact. `name` says what was checked (``loki[0] push``), `message` what was found."""

    name: str
    status: Status
    message: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def passed(name: str, message: str, **details: Any) -> Check:
    return Check(name, "pass", message, details=details)


def failed(name: str, message: str, fix: str, **details: Any) -> Check:
    return Check(name, "fail", message, fix, details)


def warned(name: str, message: str, fix: str = "", **details: Any) -> Check:
    return Check(name, "warn", message, fix, details)


def skipped(name: str, message: str, **details: Any) -> Check:
    return Check(name, "skip", message, details=details)


@dataclass
class Report:
    """Everything one doctor run found, in the order it is printed."""

    user: dict[str, Any]
    config_source: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scrape_config: str = ""

    @property
    def ok(self) -> bool:
        """True when no check failed: the exit code is 0."""
        return not any(check.failed for check in self.checks)

    def render_text(self) -> str:
        lines = [f"agent doctor: config {self.config_source}, running as {describe_user(self.user)}"]
        lines += [f"   note: {note}" for note in self.notes]
        for check in self.checks:
            lines.append(f"{SYMBOLS[check.status]} {check.name}: {check.message}")
            for i, line in enumerate(check.fix.splitlines()):
                lines.append(f"   fix: {line}" if i == 0 else f"        {line}")
        if self.scrape_config:
            lines += ["", "Prometheus scrape config for this agent:", "", self.scrape_config.rstrip("\n")]
        failures = sum(check.failed for check in self.checks)
        lines.append("")
        lines.append("All checks passed." if not failures else f"{failures} check{'s' * (failures != 1)} failed.")
        return "\n".join(lines) + "\n"

    def render_json(self) -> str:
        document = {
            "ok": self.ok,
            "config": self.config_source,
            "user": self.user,
            "notes": self.notes,
            "checks": [asdict(check) for check in self.checks],
            "prometheus_scrape_config": self.scrape_config,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def describe_user(user: dict[str, Any]) -> str:
    """``user nobody (uid 65534, groups nogroup)``, from `agent.doctor.access.current_user`."""
    groups = ", ".join(user.get("groups", [])) or "none"
    return f"user {user['name']} (uid {user['uid']}, groups {groups})"
