"""`limits_config.readline_rate`: one token bucket shared by every file the agent reads.

Promtail applies it to every entry after the pipeline; the agent applies it where lines are read, per
chunk, which keeps the hot path free of per-line calls. With `readline_rate_drop` the lines beyond the
budget are dropped and counted (``logentry_dropped_lines_total{reason="global_rate_limiter_drop"}``, as
Promtail counts them); without it the reader waits, so the file stays the buffer.

```yaml
limits_config:
  readline_rate_enabled: true
  readline_rate: 10000
  readline_burst: 10000
  readline_rate_drop: true
```
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from agent.config.model import LimitsConfig

DROP_REASON = "global_rate_limiter_drop"
"""Promtail's `reason` label for lines the readline limiter dropped."""


class ReadlineLimiter:
    """A token bucket of `rate` lines per second holding at most `burst` lines."""

    def __init__(
        self, rate: float, burst: int, *, drop: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"readline_rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1, burst)
        self.drop = drop
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()

    @classmethod
    def from_limits(cls, limits: LimitsConfig) -> ReadlineLimiter | None:
        """The limiter `limits` asks for, or None when `readline_rate_enabled` is off. Make one per agent."""
        if not limits.readline_rate_enabled:
            return None
        return cls(limits.readline_rate, limits.readline_burst, drop=limits.readline_rate_drop)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    def allow(self, lines: int) -> int:
        """Take up to `lines` tokens now; return how many lines may go on (the rest are to be dropped)."""
        self._refill()
        allowed = min(lines, int(self._tokens))
        self._tokens -= allowed
        return allowed

    def reserve(self, lines: int) -> float:
        """Take `lines` tokens, going into debt if needed; return how long to wait before sending them."""
        self._refill()
        self._tokens -= lines
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, lines: int) -> None:
        """Wait until `lines` lines fit the rate (a chunk larger than the burst waits for its debt)."""
        delay = self.reserve(lines)
        if delay > 0:
            await asyncio.sleep(delay)
