"""ReadlineLimiter: `limits_config.readline_rate` and `readline_burst` as one shared token bucket."""

from __future__ import annotations

from agent.config.model import LimitsConfig
from agent.sources.ratelimit import ReadlineLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate() -> None:
    """The burst goes through at once; after that, lines pass at the configured rate."""
    clock = FakeClock()
    limiter = ReadlineLimiter(10, 5, drop=True, clock=clock)
    assert limiter.allow(8) == 5
    assert limiter.allow(1) == 0
    clock.now += 0.5
    assert limiter.allow(10) == 5


def test_waiting_mode_borrows_and_reports_the_delay() -> None:
    """Without dropping, a chunk larger than the budget waits for the tokens it borrowed."""
    clock = FakeClock()
    limiter = ReadlineLimiter(100, 10, drop=False, clock=clock)
    assert limiter.reserve(10) == 0.0
    assert limiter.reserve(50) == 0.5


def test_disabled_by_default() -> None:
    """No limiter is made unless readline_rate_enabled is set."""
    assert ReadlineLimiter.from_limits(LimitsConfig()) is None
    limiter = ReadlineLimiter.from_limits(LimitsConfig(readline_rate_enabled=True, readline_rate_drop=False))
    assert limiter is not None
    assert not limiter.drop
