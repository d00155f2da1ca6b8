"""The agent's exception tree. Lower layers (httpx, YAML, the OS) are translated into these at the boundary.

    AgentError
    ├── ConfigError            a config cannot be used; carries every problem found, each with its YAML path
    ├── PositionsError         the positions file is unreadable or corrupt (and ignore_invalid_yaml is off)
    └── PushError              one push to Loki failed
        ├── RetryableError     429, 5xx, connection and timeout errors: retry with backoff
        └── FatalPushError     any other 4xx: drop the batch, count it, log Loki's reason once

Only `agent.cli` turns these into exit codes. Callers classify by type, never by message text.
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config: `path` is a YAML path such as ``scrape_configs[0].job_name``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(AgentError):
    """A config that cannot be used. `problems` lists all of them, not just the first."""

    def __init__(self, problems: list[ConfigProblem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{len(self.problems)} config {noun}{where}:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


class PositionsError(AgentError):
    """The positions file cannot be read or written."""


class PushError(AgentError):
    """A push to Loki failed. `status` is the HTTP status, or None when no response arrived."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RetryableError(PushError):
    """Worth retrying: Loki throttled us (429), failed (5xx), or could not be reached.

    `retry_after` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(
        self, message: str, status: int | None = None, body: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, status, body)
        self.retry_after = retry_after


class FatalPushError(PushError):
    """Loki rejected the batch for good (a 4xx other than 429): retrying cannot help."""
