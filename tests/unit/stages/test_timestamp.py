"""The timestamp stage, against Promtail's timestamp stage documentation and Go's time layouts.

The stage clock (`conftest.NOW_NS`) reads 2023-11-14T22:13:20Z; year-less layouts take their year from it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.timestamp import TimestampConfig, TimestampStage

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]

SCRAPED_AT = 1_600_000_000_000_000_000  # the timestamp entries carry before the stage runs


def _ns(iso: str, nanos: int = 0) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000_000 + nanos


def _run(stages: Stages, value: Any, labels: dict[str, str] | None = None) -> int:
    extracted = {} if value is None else {"time": value}
    entry = stages.run("line", labels, extracted=extracted, timestamp=SCRAPED_AT)
    assert entry is not None
    return entry.timestamp


def _stage_at(now_iso: str, **config: Any) -> TimestampStage:
    """A stage whose clock reads `now_iso` (for the year given to year-less layouts)."""
    context = StageContext(job_name="test", metrics=Metrics(), now_ns=lambda: _ns(now_iso))
    return TimestampStage(TimestampConfig(**config), context)


def _entry(value: str) -> LogEntry:
    entry = LogEntry(SCRAPED_AT, "line", {}, untracked_checkpoint())
    entry.extracted = {"time": value}
    return entry


class TestTimestampStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: an RFC3339Nano `time` value becomes the entry's timestamp."""
        stages = build("- timestamp: {source: time, format: RFC3339Nano}")
        assert _run(stages, "2006-01-02T15:04:05.999999999-07:00") == _ns("2006-01-02T15:04:05-07:00", 999999999)

    @pytest.mark.parametrize(
        ("form", "value", "expected"),
        [
            pytest.param("ANSIC", "Mon Jan  2 15:04:05 2006", _ns("2006-01-02T15:04:05+00:00"), id="ansic"),
            pytest.param("UnixDate", "Mon Jan  2 15:04:05 UTC 2006", _ns("2006-01-02T15:04:05+00:00"), id="unixdate"),
            pytest.param("RubyDate", "Mon Jan 02 15:04:05 -0700 2006", _ns("2006-01-02T15:04:05-07:00"), id="rubydate"),
            pytest.param("RFC822", "02 Jan 06 15:04 UTC", _ns("2006-01-02T15:04:00+00:00"), id="rfc822"),
            pytest.param("RFC822Z", "02 Jan 06 15:04 -0700", _ns("2006-01-02T15:04:00-07:00"), id="rfc822z"),
            pytest.param("RFC850", "Monday, 02-Jan-06 15:04:05 UTC", _ns("2006-01-02T15:04:05+00:00"), id="rfc850"),
            pytest.param("RFC1123", "Mon, 02 Jan 2006 15:04:05 UTC", _ns("2006-01-02T15:04:05+00:00"), id="rfc1123"),
            pytest.param(
                "RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700", _ns("2006-01-02T15:04:05-07:00"), id="rfc1123z"
            ),
            pytest.param("RFC3339", "2006-01-02T15:04:05-07:00", _ns("2006-01-02T15:04:05-07:00"), id="rfc3339"),
            pytest.param(
                "RFC3339Nano",
                "2006-01-02T15:04:05.999999999-07:00",
                _ns("2006-01-02T15:04:05-07:00", 999999999),
                id="rfc3339nano",
            ),
            pytest.param("Unix", "1562708916", 1562708916 * 10**9, id="unix"),
            pytest.param("Unix", "1562708916.000000123", 1562708916 * 10**9 + 123, id="unix-fraction"),
            pytest.param("Unix", "1562708916.414", 1562708916 * 10**9 + 414_000_000, id="unix-millis-fraction"),
            pytest.param("UnixMs", "1562708916414", 1562708916414 * 10**6, id="unixms"),
            pytest.param("UnixUs", "1562708916414123", 1562708916414123 * 10**3, id="unixus"),
            pytest.param("UnixNs", "1562708916000000123", 1562708916000000123, id="unixns"),
        ],
    )
    def test_named_formats(self, build: Build, form: str, value: str, expected: int) -> None:
        """Each documented format name parses its documented example."""
        assert _run(build(f"- timestamp: {{source: time, format: {form}}}"), value) == expected

    @pytest.mark.parametrize(
        ("layout", "value", "expected"),
        [
            pytest.param(
                "2006-01-02T15:04:05.000Z07:00",
                "2023-03-04T05:06:07.089Z",
                _ns("2023-03-04T05:06:07+00:00", 89_000_000),
                id="millis-iso",
            ),
            pytest.param(
                "2006-01-02T15:04:05.000Z07:00",
                "2023-03-04T05:06:07.089+01:00",
                _ns("2023-03-04T05:06:07+01:00", 89_000_000),
                id="millis-iso-offset",
            ),
            pytest.param(
                "02/Jan/2006:15:04:05 -0700",
                "10/Oct/2000:13:55:36 -0700",
                _ns("2000-10-10T13:55:36-07:00"),
                id="nginx-access-log",
            ),
            pytest.param(
                "2006-01-02 15:04:05,000",
                "2023-03-04 05:06:07,890",
                _ns("2023-03-04T05:06:07+00:00", 890_000_000),
                id="log4j-comma-millis",
            ),
        ],
    )
    def test_custom_layouts(self, build: Build, layout: str, value: str, expected: int) -> None:
        """A Go reference layout parses values written in it."""
        stages = build(f"- timestamp: {{source: time, format: '{layout}'}}")
        assert _run(stages, value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(1562708916.414, 1562708916 * 10**9 + 414_000_000, id="float"),
            pytest.param(1562708916, 1562708916 * 10**9, id="int"),
        ],
    )
    def test_number_values(self, build: Build, value: Any, expected: int) -> None:
        """A number (as the json stage extracts it) is read in Go's string form."""
        assert _run(build("- timestamp: {source: time, format: Unix}"), value) == expected

    def test_location_for_zoneless_layout(self, build: Build) -> None:
        """`location` gives the zone of a layout without one."""
        stages = build("- timestamp: {source: time, format: '2006-01-02 15:04:05', location: America/New_York}")
        assert _run(stages, "2023-07-01 12:00:00") == _ns("2023-07-01T12:00:00-04:00")

    def test_zoneless_layout_defaults_to_utc(self, build: Build) -> None:
        """Without `location`, a layout without a zone reads UTC (Go's time.Parse)."""
        stages = build("- timestamp: {source: time, format: '2006-01-02 15:04:05'}")
        assert _run(stages, "2023-07-01 12:00:00") == _ns("2023-07-01T12:00:00+00:00")

    def test_location_ignored_for_named_format(self, build: Build) -> None:
        """Promtail parses named formats with time.Parse, so `location` does not apply to them."""
        stages = build("- timestamp: {source: time, format: ANSIC, location: America/New_York}")
        assert _run(stages, "Sat Jul  1 12:00:00 2023") == _ns("2023-07-01T12:00:00+00:00")

    def test_fallback_format(self, build: Build) -> None:
        """A value the format rejects is tried with each fallback format in turn."""
        stages = build("- timestamp: {source: time, format: RFC3339, fallback_formats: [UnixMs, Unix]}")
        assert _run(stages, "1562708916") == 1562708916 * 10**6

    def test_first_format_wins(self, build: Build) -> None:
        """When the format parses the value, the fallbacks are not consulted."""
        stages = build("- timestamp: {source: time, format: Unix, fallback_formats: [UnixMs]}")
        assert _run(stages, "1562708916") == 1562708916 * 10**9

    @pytest.mark.parametrize(
        ("now", "value", "expected"),
        [
            pytest.param(
                "2023-11-14T22:13:20+00:00", "Nov 14 21:00:00", _ns("2023-11-14T21:00:00+00:00"), id="current-year"
            ),
            pytest.param(
                "2024-01-01T00:00:10+00:00",
                "Dec 31 23:59:59",
                _ns("2023-12-31T23:59:59+00:00"),
                id="december-read-in-january-is-last-year",
            ),
            pytest.param(
                "2023-12-31T23:59:59+00:00",
                "Jan  1 00:00:01",
                _ns("2024-01-01T00:00:01+00:00"),
                id="january-read-in-december-is-next-year",
            ),
        ],
    )
    def test_year_less_layout(self, now: str, value: str, expected: int) -> None:
        """A layout without a year takes the clock's year, or its neighbour across New Year."""
        stage = _stage_at(now, source="time", format="Jan _2 15:04:05")
        entry = stage.process(_entry(value))
        assert entry is not None
        assert entry.timestamp == expected

    def test_year_less_cache_follows_the_clock(self) -> None:
        """A value parsed (and cached) in one year gets the new year once the clock has passed New Year."""
        clock = [_ns("2023-12-31T23:59:55+00:00")]
        context = StageContext(job_name="test", metrics=Metrics(), now_ns=lambda: clock[0])
        stage = TimestampStage(TimestampConfig(source="time", format="Jan _2 15:04:05"), context)
        assert stage.process(_entry("Jun  1 00:00:00")).timestamp == _ns("2023-06-01T00:00:00+00:00")  # type: ignore[union-attr]
        clock[0] = _ns("2024-01-01T00:00:01+00:00")  # within the re-check interval: still the cached year
        assert stage.process(_entry("Jun  1 00:00:00")).timestamp == _ns("2023-06-01T00:00:00+00:00")  # type: ignore[union-attr]
        clock[0] = _ns("2024-01-01T00:01:00+00:00")
        assert stage.process(_entry("Jun  1 00:00:00")).timestamp == _ns("2024-06-01T00:00:00+00:00")  # type: ignore[union-attr]

    def test_fudge_after_last_known(self, build: Build) -> None:
        """With `fudge`, an unparsable value gets the stream's last timestamp plus 1ns, then plus 2ns."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        first = _run(stages, "2023-01-01T00:00:00Z", {"app": "a"})
        assert [_run(stages, "garbage", {"app": "a"}) - first for _ in range(2)] == [1, 2]

    def test_fudge_per_label_set(self, build: Build) -> None:
        """Fudging uses the last timestamp of the same label set only."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        _run(stages, "2023-01-01T00:00:00Z", {"app": "a"})
        assert _run(stages, "garbage", {"app": "b"}) == SCRAPED_AT

    def test_fudge_interleaved_streams(self, build: Build) -> None:
        """Each label set keeps its own last timestamp while streams interleave."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        first_a = _run(stages, "2023-01-01T00:00:00Z", {"app": "a"})
        first_b = _run(stages, "2023-06-01T00:00:00Z", {"app": "b"})
        fudged = [_run(stages, "garbage", {"app": "a"}), _run(stages, "garbage", {"app": "b"})]
        assert fudged == [first_a + 1, first_b + 1]

    def test_fudge_forgets_least_recently_used(self, build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
        """Beyond the remembered label sets, the least recently used one is forgotten."""
        monkeypatch.setattr("agent.stages.timestamp._LAST_KNOWN_LIMIT", 2)
        stages = build("- timestamp: {source: time, format: RFC3339}")
        for app in ("a", "b", "c", "d"):
            _run(stages, "2023-01-01T00:00:00Z", {"app": app})
        assert _run(stages, "garbage", {"app": "a"}) == SCRAPED_AT

    def test_fudge_missing_source(self, build: Build) -> None:
        """A missing source is a failure too, fudged like an unparsable value."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        first = _run(stages, "2023-01-01T00:00:00Z")
        assert _run(stages, None) == first + 1

    def test_fudge_without_history_keeps_timestamp(self, build: Build) -> None:
        """Before any value parsed for the label set, a failure leaves the timestamp as it was."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        assert _run(stages, "garbage") == SCRAPED_AT

    def test_skip_keeps_timestamp(self, build: Build) -> None:
        """With `skip`, a failure leaves the scrape timestamp even after a good value."""
        stages = build("- timestamp: {source: time, format: RFC3339, action_on_failure: skip}")
        _run(stages, "2023-01-01T00:00:00Z")
        assert _run(stages, "garbage") == SCRAPED_AT

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            pytest.param("garbage", "timestamp_parse_failed", id="unparsable"),
            pytest.param(None, "timestamp_source_missing", id="missing"),
            pytest.param([1], "timestamp_parse_failed", id="no-string-form"),
        ],
    )
    def test_failures_counted(self, build: Build, value: Any, reason: str) -> None:
        """Each failure is counted in agent_errors_total with its reason."""
        stages = build("- timestamp: {source: time, format: RFC3339}")
        _run(stages, value)
        assert stages.errors(reason) == 1

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- timestamp: {format: RFC3339}",
                "pipeline_stages[0].timestamp.source: required key is missing",
                id="no-source",
            ),
            pytest.param(
                "- timestamp: {source: '', format: RFC3339}",
                "pipeline_stages[0].timestamp.source: timestamp source value is required if timestamp is specified",
                id="empty-source",
            ),
            pytest.param(
                "- timestamp: {source: t, format: ''}",
                "pipeline_stages[0].timestamp.format: timestamp format is required",
                id="empty-format",
            ),
            pytest.param(
                "- timestamp: {source: t, format: Unix, location: Mars/Olympus}",
                "pipeline_stages[0].timestamp.location: invalid location specified: unknown time zone Mars/Olympus",
                id="bad-location",
            ),
            pytest.param(
                "- timestamp: {source: t, format: Unix, action_on_failure: drop}",
                "pipeline_stages[0].timestamp.action_on_failure: invalid action on failure 'drop' "
                "(supported values are [skip fudge])",
                id="bad-action",
            ),
        ],
    )
    def test_config_errors(self, problems: Problems, snippet: str, expected: str) -> None:
        """Invalid settings are config errors at their YAML path."""
        assert problems(snippet) == [expected]
