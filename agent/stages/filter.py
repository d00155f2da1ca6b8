"""Filtering stages: `drop` (by content, age or size), `sampling` (keep a fraction) and `limit` (rate limit).

Each drop is counted with Promtail's reason strings (`drop_stage`, `sampling_stage`, `ratelimit_drop_stage`
unless configured otherwise) through `StageContext.count_drop`, then the stage returns None.

`limit` without ``drop: true`` never drops: it makes the pipeline wait. Its protocol with the runner is one
method, present only in that mode::

    delay_for(entry) -> float   # seconds to wait before `process(entry)`; 0.0 means go now

The runner loops ``while (d := stage.delay_for(entry)) > 0: await asyncio.sleep(d)`` and then calls
`process`, which takes the token. `delay_for` has no side effect, so asking again after the sleep is safe.
Clocks (`time.monotonic`) and random sources are constructor keywords, for tests.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import field_validator, model_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration, Size
from agent.model import LogEntry
from agent.regex import compile_re2
from agent.stages.base import StageContext
from agent.stages.values import go_string

log = logging.getLogger(__name__)


class DropConfig(ConfigModel):
    """Promtail's `drop` keys. Every configured condition must hold for an entry to be dropped."""

    source: str | list[str] | None = None
    separator: str = ";"
    expression: str | None = None
    value: str | None = None
    older_than: Duration | None = None
    longer_than: Size | None = None
    drop_counter_reason: str = "drop_stage"

    @field_validator("source")
    @classmethod
    def _names(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else value or []
        if any(not name for name in names):
            raise ValueError("source names cannot be empty")
        return value

    @field_validator("expression")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_re2(value)
        return value

    @field_validator("drop_counter_reason")
    @classmethod
    def _default_reason(cls, value: str) -> str:
        return value or "drop_stage"

    @model_validator(mode="after")
    def _combination(self) -> DropConfig:
        if not (self.source or self.expression is not None or self.older_than is not None) and (
            self.longer_than is None
        ):
            raise ValueError("drop needs at least one of source, expression, older_than or longer_than")
        if self.value is not None and self.expression is not None:
            raise ValueError("value and expression cannot both be set")
        if self.value is not None and not self.source:
            raise ValueError("value can only be used together with source")
        return self


class DropStage:
    """`drop`: drop entries for which every configured condition holds.

    ```yaml
    - drop:
        source: ["level", "msg"]
        separator: "#"
        expression: "(error|ERROR)#.*/loki/api/push.*"
    - drop:
        older_than: 24h
        drop_counter_reason: line_too_old
    ```
    """

    name: ClassVar[str] = "drop"
    Config: ClassVar[type[DropConfig]] = DropConfig

    __slots__ = ("_ctx", "_longer_than", "_older_than_ns", "_pattern", "_reason", "_separator", "_sources", "_value")

    def __init__(self, config: DropConfig, ctx: StageContext) -> None:
        self._ctx = ctx
        source = config.source
        self._sources: tuple[str, ...] = (source,) if isinstance(source, str) else tuple(source or ())
        self._separator = config.separator
        self._pattern = compile_re2(config.expression) if config.expression is not None else None
        self._value = config.value
        self._older_than_ns = round(config.older_than * 1e9) if config.older_than is not None else None
        self._longer_than = config.longer_than
        self._reason = config.drop_counter_reason

    def process(self, entry: LogEntry) -> LogEntry | None:
        if self._longer_than is not None and not _longer_than(entry.line, self._longer_than):
            return entry
        if self._older_than_ns is not None and entry.timestamp >= self._ctx.now_ns() - self._older_than_ns:
            return entry
        if self._sources:
            if not self._source_matches(entry.extracted or {}):
                return entry
        elif self._pattern is not None and self._pattern.search(entry.line) is None:
            return entry
        self._ctx.count_drop(self._reason, entry)
        return None

    def _source_matches(self, extracted: dict[str, Any]) -> bool:
        # Sources missing from the extracted map are skipped; with none present nothing is dropped. With
        # neither value nor expression, presence alone drops (the documented `source: [level, msg]` case).
        present = [extracted[name] for name in self._sources if name in extracted]
        if not present:
            return False
        if self._value is None and self._pattern is None:
            return True
        texts = [go_string(value) for value in present]
        if None in texts:
            return False  # a map or list cannot be compared as text
        joined = self._separator.join(texts)  # type: ignore[arg-type]
        if self._value is not None:
            return joined == self._value
        assert self._pattern is not None
        return self._pattern.search(joined) is not None


def _longer_than(line: str, limit: int) -> bool:
    """True when `line` is longer than `limit` bytes in UTF-8, encoding only when characters cannot tell."""
    if len(line) > limit:
        return True
    if len(line) * 4 <= limit:
        return False
    return len(line.encode("utf-8", "surrogatepass")) > limit


class SamplingConfig(ConfigModel):
    """Promtail's `sampling` keys. A missing rate is 0, as in Promtail: every entry is dropped."""

    rate: float = 0.0
    drop_counter_reason: str = "sampling_stage"

    @field_validator("rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"rate must be between 0.0 and 1.0, got {value}")
        return value

    @field_validator("drop_counter_reason")
    @classmethod
    def _default_reason(cls, value: str) -> str:
        return value or "sampling_stage"


class SamplingStage:
    """`sampling`: keep each entry with probability `rate`, drop the rest.

    ```yaml
    - sampling:
        rate: 0.1
    ```
    """

    name: ClassVar[str] = "sampling"
    Config: ClassVar[type[SamplingConfig]] = SamplingConfig

    __slots__ = ("_ctx", "_random", "_rate", "_reason")

    def __init__(self, config: SamplingConfig, ctx: StageContext, *, rng: random.Random | None = None) -> None:
        self._ctx = ctx
        self._rate = config.rate
        self._reason = config.drop_counter_reason
        self._random = (rng or random.Random()).random

    def process(self, entry: LogEntry) -> LogEntry | None:
        if self._random() < self._rate:
            return entry
        self._ctx.count_drop(self._reason, entry)
        return None


_MIN_DISTINCT_LABELS = 10_000  # Promtail raises smaller values to this (about 1 MiB of limiters)
_RATELIMIT_REASON = "ratelimit_drop_stage"


class LimitConfig(ConfigModel):
    """Promtail's `limit` keys."""

    rate: float
    burst: int
    drop: bool = False
    by_label_name: str | None = None
    max_distinct_labels: int = _MIN_DISTINCT_LABELS

    @model_validator(mode="after")
    def _valid(self) -> LimitConfig:
        if self.rate <= 0 or self.burst <= 0:
            raise ValueError("rate and burst must both be greater than 0")
        if self.by_label_name and not self.drop:
            raise ValueError("by_label_name needs drop: true (limits by label drop, they never wait)")
        return self


# Clock arithmetic leaves rounding errors (100.1 - 100.0 is not 0.1): that much short of a token is a token.
_EPSILON = 1e-9


class TokenBucket:
    """A token bucket (`burst` tokens, refilled at `rate` per second), on a caller-supplied clock in seconds.

    `allow` takes a token if there is one; `wait_time` says how long until one is there; `take` takes one
    regardless, going negative, so the next `wait_time` includes the debt.
    """

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def allow(self, now: float) -> bool:
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float:
        self._refill(now)
        missing = 1.0 - self._tokens
        return missing / self._rate if missing > _EPSILON else 0.0

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0


class LimitStage:
    """`limit`: at most `rate` entries per second with bursts of `burst`; wait, or drop with ``drop: true``.

    ```yaml
    - limit:
        rate: 10
        burst: 10
        drop: true
        by_label_name: namespace   # one bucket per namespace value; entries without it pass
    ```
    """

    name: ClassVar[str] = "limit"
    Config: ClassVar[type[LimitConfig]] = LimitConfig

    __slots__ = (
        "_buckets",
        "_burst",
        "_by_label",
        "_clock",
        "_ctx",
        "_max_labels",
        "_old_buckets",
        "_rate",
        "_single",
        "_waits",
        "delay_for",
    )

    # Present only without `drop`: the runner's cue to wait (see the module docstring).
    delay_for: Callable[[LogEntry], float]

    def __init__(self, config: LimitConfig, ctx: StageContext, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ctx = ctx
        self._clock = clock
        self._by_label = config.by_label_name or None
        self._max_labels = config.max_distinct_labels
        if self._by_label and self._max_labels < _MIN_DISTINCT_LABELS:
            log.warning(
                "Raised limit max_distinct_labels to the minimum. configured=%d used=%d",
                self._max_labels,
                _MIN_DISTINCT_LABELS,
            )
            self._max_labels = _MIN_DISTINCT_LABELS
        self._rate = config.rate
        self._burst = config.burst
        self._single = TokenBucket(config.rate, config.burst, clock())
        # Buckets per label value, in two generations: when the current one is full, the older is forgotten.
        self._buckets: dict[str, TokenBucket] = {}
        self._old_buckets: dict[str, TokenBucket] = {}
        self._waits = not config.drop
        if self._waits:
            self.delay_for = self._delay_for

    def process(self, entry: LogEntry) -> LogEntry | None:
        now = self._clock()
        if self._by_label is not None:
            value = entry.labels.get(self._by_label)
            if value is None:
                return entry  # entries without the label are not limited
            if self._bucket_for(value, now).allow(now):
                return entry
        elif self._waits:
            self._single.take(now)
            return entry
        elif self._single.allow(now):
            return entry
        self._ctx.count_drop(_RATELIMIT_REASON, entry)
        return None

    def _delay_for(self, entry: LogEntry) -> float:
        return self._single.wait_time(self._clock())

    def _bucket_for(self, value: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(value)
        if bucket is None:
            bucket = self._old_buckets.pop(value, None)
            if bucket is None:
                bucket = TokenBucket(self._rate, self._burst, now)
            if len(self._buckets) >= self._max_labels:
                self._old_buckets = self._buckets
                self._buckets = {}
            self._buckets[value] = bucket
        return bucket
