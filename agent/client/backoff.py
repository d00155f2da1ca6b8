"""How long to wait before retrying a push: jittered exponential backoff, and Loki's Retry-After.

Owns the arithmetic only; the waiting happens in `agent.client.loki`. The schedule is the one Promtail's
client uses (dskit's backoff): the n-th wait is drawn uniformly from ``[min_period * 2**(n-1),
min_period * 2**n)``, both bounds capped at `max_period`, and a batch is given up after `max_retries`
failed attempts (0: never). A server's Retry-After is honoured when it asks for longer than that.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from agent.client.config import BackoffConfig


class Backoff:
    """The retry schedule of one batch. `rand` returns a float in [0, 1); inject it in tests.

    ```yaml
    clients:
      - url: http://loki:3100/loki/api/v1/push
        backoff_config: {min_period: 500ms, max_period: 5m, max_retries: 10}
    ```
    """

    __slots__ = ("_high", "_low", "_max", "_max_retries", "_rand", "retries")

    def __init__(self, config: BackoffConfig, rand: Callable[[], float] = random.random) -> None:
        self._max = config.max_period
        self._max_retries = config.max_retries
        self._rand = rand
        self._low = min(config.min_period, self._max)
        self._high = min(config.min_period * 2, self._max)
        self.retries = 0
        """Failed attempts so far."""

    @property
    def exhausted(self) -> bool:
        """True once `max_retries` attempts failed: the batch is to be dropped."""
        return self._max_retries > 0 and self.retries >= self._max_retries

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """Record a failed attempt; return seconds to wait before the next one, or None to give up.

        `retry_after` (seconds, from the server) replaces the computed delay when it is longer.
        """
        self.retries += 1
        if self.exhausted:
            return None
        low, high = self._low, self._high
        delay = low if low >= high else low + (high - low) * self._rand()
        self._low = min(low * 2, self._max)
        self._high = min(high * 2, self._max)
        if retry_after is not None and retry_after > delay:
            return retry_after
        return delay


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date; None when absent or invalid.

    `now` is the wall clock (seconds since the epoch), compared with an HTTP date; dates in the past mean 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are always GMT; a date without a zone is not one
    return max(0.0, when.timestamp() - now())
