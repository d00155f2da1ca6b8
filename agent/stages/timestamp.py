"""The `timestamp` stage: set an entry's timestamp from an extracted value, as Promtail's stage does.

It owns Promtail's choices around Go's time parsing: the formats accepted by name (`ANSIC` ... `RFC3339Nano`,
which Promtail parses with ``time.Parse`` and so without the configured `location`), the Unix epoch formats,
`fallback_formats`, the year given to layouts without one (the current year, or the neighbouring one across
New Year), and `action_on_failure` (``fudge``: one nanosecond after the last timestamp of the same label set;
``skip``: leave it). Go's layout semantics live in `agent.stages.golayout`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from pydantic import Field, field_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.golayout import NAMED_LAYOUTS, LayoutParser, layout_parser, load_location, system_local_zone
from agent.stages.values import go_string

_MISSING: Any = object()
_LAST_KNOWN_LIMIT = 10_000  # label sets whose last timestamp `fudge` remembers (Promtail's LRU size)
_KEYS_LIMIT = 4096  # label dicts whose `fudge` key is kept
_INT = re.compile(r"[+-]?[0-9]+\Z")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_YEAR_CHECK_NS = 10 * 1_000_000_000  # how often a year-less layout re-reads the clock's year and month

Parse = Callable[[str], int]


def _go_parse_int(text: str) -> int:
    """Go's ``strconv.ParseInt(text, 10, 64)``: optional sign, ASCII digits, int64 range."""
    if _INT.match(text) is None:
        raise ValueError(f"invalid syntax: {text!r}")
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"value out of range: {text!r}")
    return value


def _wrap64(value: int) -> int:
    # Go multiplies int64s without overflow checks.
    return (value - _INT64_MIN) % (1 << 64) + _INT64_MIN


def _parse_unix(text: str) -> int:
    """`Unix`: seconds, optionally with a fraction (``1562708916.414``), as Promtail reads them."""
    if text.count(".") == 1:
        seconds_text, fraction_text = text.split(".")
        seconds = _go_parse_int(seconds_text)
        fraction = _go_parse_int(fraction_text)
        # Promtail scales the fraction in float64 and truncates; more than nine digits lose the rest.
        digits = len(fraction_text)
        scale = 10.0 ** (9 - digits) if digits <= 9 else 1.0 / 10.0 ** (digits - 9)
        return seconds * 1_000_000_000 + int(float(fraction) * scale)
    return _go_parse_int(text) * 1_000_000_000


def _parse_unix_ms(text: str) -> int:
    return _wrap64(_go_parse_int(text) * 1_000_000)


def _parse_unix_us(text: str) -> int:
    return _wrap64(_go_parse_int(text) * 1_000)


def _parse_unix_ns(text: str) -> int:
    return _go_parse_int(text)


_EPOCH_FORMATS: dict[str, Parse] = {
    "Unix": _parse_unix,
    "UnixMs": _parse_unix_ms,
    "UnixUs": _parse_unix_us,
    "UnixNs": _parse_unix_ns,
}


class _YearGuess:
    """Promtail's year for a timestamp whose layout has none: this year, except across New Year.

    A December timestamp read in January belongs to last year; a January one read in December to next year.
    The clock's year and month are re-read every few seconds; when they change, `changed` is set so the
    parsers drop their cached seconds.
    """

    __slots__ = ("_zone", "check_at", "month", "now_ns", "year")

    def __init__(self, now_ns: Callable[[], int], zone: tzinfo) -> None:
        self.now_ns = now_ns
        self._zone = zone
        self.check_at = 0  # when `refresh` next reads the clock (callers may skip calling it before then)
        self.year = 0
        self.month = 0

    def refresh(self) -> bool:
        """Re-read the clock when due; True when the year or month changed since the last reading."""
        now = self.now_ns()
        if now < self.check_at:
            return False
        self.check_at = now + _YEAR_CHECK_NS
        wall = datetime.fromtimestamp(now // 1_000_000_000, self._zone)
        changed = (wall.year, wall.month) != (self.year, self.month)
        self.year, self.month = wall.year, wall.month
        return changed

    def __call__(self, month: int) -> int:
        if month == 12 and self.month == 1:
            return self.year - 1
        if month == 1 and self.month == 12:
            return self.year + 1
        return self.year


class TimestampConfig(ConfigModel):
    """`timestamp` stage settings (Promtail's keys and defaults)."""

    source: str
    format: str
    fallback_formats: list[str] = Field(default_factory=list)
    location: str | None = None
    action_on_failure: str = "fudge"

    @field_validator("source")
    @classmethod
    def _source_required(cls, value: str) -> str:
        if not value:
            raise ValueError("timestamp source value is required if timestamp is specified")
        return value

    @field_validator("format")
    @classmethod
    def _format_required(cls, value: str) -> str:
        if not value:
            raise ValueError("timestamp format is required")
        return value

    @field_validator("location")
    @classmethod
    def _known_location(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                load_location(value)
            except ValueError as exc:
                raise ValueError(f"invalid location specified: {exc}") from None
        return value

    @field_validator("action_on_failure")
    @classmethod
    def _known_action(cls, value: str) -> str:
        if value not in ("skip", "fudge"):
            raise ValueError(f"invalid action on failure {value!r} (supported values are [skip fudge])")
        return value


class TimestampStage:
    """`timestamp`: parse an extracted value into the entry's timestamp.

    ```yaml
    - timestamp:
        source: time
        format: RFC3339Nano
        fallback_formats: [UnixMs]
        location: Europe/Berlin       # for layouts without a zone
        action_on_failure: fudge      # or skip
    ```

    `format` is a Go reference layout (``02/Jan/2006:15:04:05 -0700``) or one of Go's layout names (ANSIC,
    UnixDate, RubyDate, RFC822, RFC822Z, RFC850, RFC1123, RFC1123Z, RFC3339, RFC3339Nano) or Unix, UnixMs,
    UnixUs, UnixNs. A missing or unparsable value is counted (``agent_errors_total{component="stage"}``)
    and, with ``fudge``, gets the label set's last timestamp plus 1ns (none known yet: left as it is).
    """

    name: ClassVar[str] = "timestamp"
    Config: ClassVar[type[TimestampConfig]] = TimestampConfig
    __slots__ = (
        "_fudge",
        "_keys",
        "_last_known",
        "_missing",
        "_parse",
        "_parsers_without_year",
        "_pending_key",
        "_pending_labels",
        "_pending_timestamp",
        "_source",
        "_unparsable",
        "_year_guess",
    )

    def __init__(self, config: TimestampConfig, ctx: StageContext) -> None:
        self._source = config.source
        self._fudge = config.action_on_failure == "fudge"
        location = None if config.location is None else load_location(config.location)
        self._year_guess = _YearGuess(ctx.now_ns, system_local_zone())
        self._parsers_without_year: list[LayoutParser] = []
        parsers = [self._compile(text, location) for text in (config.format, *config.fallback_formats)]
        self._parse = parsers[0] if len(parsers) == 1 else _first_success(parsers)
        self._last_known: dict[frozenset[tuple[str, str]], int] = {}
        self._keys: dict[int, tuple[dict[str, str], frozenset[tuple[str, str]]]] = {}
        self._pending_labels: dict[str, str] | None = None
        self._pending_key: frozenset[tuple[str, str]] = frozenset()
        self._pending_timestamp = 0
        self._missing = ctx.error_counter("timestamp_source_missing")
        self._unparsable = ctx.error_counter("timestamp_parse_failed")

    def _compile(self, text: str, location: tzinfo | None) -> Parse:
        epoch = _EPOCH_FORMATS.get(text)
        if epoch is not None:
            return epoch
        named = NAMED_LAYOUTS.get(text)
        if named is not None:
            # Promtail parses the named formats with time.Parse: the configured location does not apply.
            return layout_parser(named).parse
        if "06" in text:  # Promtail's test for a year in the layout (2006 or 06)
            return layout_parser(text, location).parse
        parser = LayoutParser(text, location, year_for_month=self._year_guess)
        self._parsers_without_year.append(parser)
        return self._year_aware(parser)

    def _year_aware(self, parser: LayoutParser) -> Parse:
        guess = self._year_guess
        parsers = self._parsers_without_year
        now_ns = guess.now_ns

        def parse(text: str) -> int:
            # The due check inline saves a method call per value (~1.4k -> ~0.7k instructions).
            if now_ns() >= guess.check_at and guess.refresh():
                for each in parsers:
                    each.clear_cache()
            return parser.parse(text)

        return parse

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        value = _MISSING if extracted is None else extracted.get(self._source, _MISSING)
        if value.__class__ is not str:
            if value is _MISSING:
                self._missing.inc()
                return self._fail(entry)
            value = go_string(value)
            if value is None:
                self._unparsable.inc()
                return self._fail(entry)
        try:
            timestamp = self._parse(value)
        except ValueError:
            self._unparsable.inc()
            return self._fail(entry)
        entry.timestamp = timestamp
        if self._fudge:
            labels = entry.labels
            if labels is self._pending_labels:  # `_remember`'s common case, inline
                self._pending_timestamp = timestamp
            else:
                self._remember(labels, timestamp)
        return entry

    def _fail(self, entry: LogEntry) -> LogEntry:
        if self._fudge:
            last = self._last_timestamp(entry.labels)
            if last is not None:
                entry.timestamp = last + 1
                self._remember(entry.labels, last + 1)
        return entry

    # Fudge bookkeeping. The last timestamp of the stream being read is kept aside ("pending") and written
    # to the LRU map only when another stream comes along: entries of one target share one label dict (never
    # mutated once shared), so a run of lines costs an identity check each. The key is computed when the dict
    # first shows up, before any later stage could change a dict the pipeline copied for the entry, and kept
    # by the dict's identity: streams interleave (syslog's programs), and a frozenset per switch cost 16 % of
    # the regex+labels+timestamp pipeline. A dict the pipeline copied for one entry is never seen again, and
    # the cache holds a reference to each dict, so no other dict can take its id.

    def _remember(self, labels: dict[str, str], timestamp: int) -> None:
        if labels is self._pending_labels:
            self._pending_timestamp = timestamp
            return
        # Another stream: write the pending one back, most recently used last. One call instead of three per
        # switch (syslog's programs switch on 70 % of lines): 23.3k -> 22.7k instructions per line in all.
        if self._pending_labels is not None:
            key = self._pending_key
            last_known = self._last_known
            if last_known.pop(key, None) is None and len(last_known) >= _LAST_KNOWN_LIMIT:
                del last_known[next(iter(last_known))]  # least recently used
            last_known[key] = self._pending_timestamp
        hit = self._keys.get(id(labels))
        self._pending_labels = labels
        self._pending_key = self._key(labels) if hit is None else hit[1]
        self._pending_timestamp = timestamp

    def _key(self, labels: dict[str, str]) -> frozenset[tuple[str, str]]:
        hit = self._keys.get(id(labels))
        if hit is not None:
            return hit[1]
        key = frozenset(labels.items())
        if len(self._keys) >= _KEYS_LIMIT:
            self._keys.clear()
        self._keys[id(labels)] = (labels, key)
        return key

    def _last_timestamp(self, labels: dict[str, str]) -> int | None:
        if labels is self._pending_labels:
            return self._pending_timestamp
        key = self._key(labels)
        if self._pending_labels is not None and key == self._pending_key:
            return self._pending_timestamp
        return self._last_known.get(key)


def _first_success(parsers: list[Parse]) -> Parse:
    first, rest = parsers[0], parsers[1:]

    def parse(text: str) -> int:
        try:
            return first(text)
        except ValueError as error:
            for parser in rest:
                try:
                    return parser(text)
                except ValueError:
                    continue
            raise error

    return parse
