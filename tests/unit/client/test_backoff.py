"""`agent.client.backoff`: Promtail's jittered exponential schedule, retry limits and Retry-After."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from agent.client.backoff import Backoff, parse_retry_after
from agent.client.config import BackoffConfig


def backoff_config(min_period: float, max_period: float, max_retries: int) -> BackoffConfig:
    """A config as YAML would spell it (durations need units)."""
    return BackoffConfig(min_period=f"{min_period}s", max_period=f"{max_period}s", max_retries=max_retries)


def schedule(config: BackoffConfig, rand: float, attempts: int) -> list[float | None]:
    backoff = Backoff(config, rand=lambda: rand)
    return [backoff.next_delay() for _ in range(attempts)]


class TestBackoff:
    def test_lowest_jitter_doubles_from_min_period(self) -> None:
        """With the smallest jitter, waits are min_period, then doubling: 0.5, 1, 2, 4 s."""
        assert schedule(backoff_config(0.5, 300, 5), 0.0, 4) == [0.5, 1, 2, 4]

    def test_jitter_stays_below_the_next_step(self) -> None:
        """The n-th wait is drawn from [min * 2**(n-1), min * 2**n)."""
        config = backoff_config(0.5, 300, 0)
        rng = random.Random(7)
        backoff = Backoff(config, rand=rng.random)
        for n in range(1, 9):
            delay = backoff.next_delay()
            assert delay is not None
            assert 0.5 * 2 ** (n - 1) <= delay < 0.5 * 2**n

    def test_jitter_spreads_retries(self) -> None:
        """Different random draws give different waits, so clients do not retry in lockstep."""
        config = backoff_config(1, 60, 0)
        assert schedule(config, 0.1, 1) != schedule(config, 0.9, 1)

    def test_never_waits_longer_than_max_period(self) -> None:
        """Waits are capped at max_period however many retries happened."""
        delays = schedule(backoff_config(1, 5, 0), 0.999, 20)
        assert all(d is not None and d <= 5 for d in delays)
        assert delays[-1] == 5

    def test_equal_min_and_max_give_a_constant_wait(self) -> None:
        """min_period == max_period means a fixed wait."""
        assert schedule(backoff_config(2, 2, 3), 0.5, 2) == [2, 2]

    def test_gives_up_after_max_retries_attempts(self) -> None:
        """With max_retries=3 the third failed attempt ends the batch (3 attempts in all, as Promtail)."""
        delays = schedule(backoff_config(0.1, 1, 3), 0.0, 3)
        assert delays[:2] == [0.1, 0.2]
        assert delays[2] is None

    def test_zero_max_retries_retries_forever(self) -> None:
        """max_retries=0 never gives up (dskit's convention, which Promtail inherits)."""
        backoff = Backoff(backoff_config(0.1, 1, 0))
        assert all(backoff.next_delay() is not None for _ in itertools.repeat(None, 1000))
        assert not backoff.exhausted

    def test_retry_after_longer_than_the_backoff_wins(self) -> None:
        """A server asking for a longer wait is obeyed."""
        backoff = Backoff(backoff_config(0.5, 300, 5), rand=lambda: 0.0)
        assert backoff.next_delay(retry_after=7.0) == 7.0

    def test_retry_after_shorter_than_the_backoff_is_ignored(self) -> None:
        """A server asking for a shorter wait does not shorten our backoff."""
        backoff = Backoff(backoff_config(4, 300, 5), rand=lambda: 0.0)
        assert backoff.next_delay(retry_after=1.0) == 4.0

    def test_retry_after_still_counts_the_attempt(self) -> None:
        """Retry-After does not grant extra attempts beyond max_retries."""
        backoff = Backoff(backoff_config(0.1, 1, 2))
        assert backoff.next_delay(retry_after=3) == 3
        assert backoff.next_delay(retry_after=3) is None


class TestParseRetryAfter:
    NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()

    @pytest.mark.parametrize(
        ("header", "seconds"),
        [
            pytest.param("120", 120.0, id="delay-seconds"),
            pytest.param(" 3 ", 3.0, id="spaces"),
            pytest.param("0", 0.0, id="zero"),
            pytest.param("Wed, 01 May 2024 12:00:30 GMT", 30.0, id="http-date"),
            pytest.param("Wed, 01 May 2024 11:59:00 GMT", 0.0, id="http-date-in-the-past"),
            pytest.param(None, None, id="absent"),
            pytest.param("soon", None, id="garbage"),
            pytest.param("-5", None, id="negative"),
            pytest.param("1.5", None, id="fraction-not-allowed"),
            pytest.param("Wed, 01 May 2024 12:00:30", None, id="date-without-zone"),
        ],
    )
    def test_parses_seconds_and_dates(self, header: str | None, seconds: float | None) -> None:
        """Both Retry-After forms of RFC 9110 are understood; anything else is ignored."""
        assert parse_retry_after(header, now=lambda: self.NOW) == seconds

    def test_date_is_relative_to_the_injected_clock(self) -> None:
        """An HTTP date is turned into a wait from now."""
        header = format_datetime(datetime(2024, 5, 1, 12, 1, 0, tzinfo=UTC), usegmt=True)
        assert parse_retry_after(header, now=lambda: self.NOW) == 60.0
