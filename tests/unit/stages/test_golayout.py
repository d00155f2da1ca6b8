"""Go reference layouts: tokenizing, parsing (Go's time.Parse rules) and formatting (Time.Format).

Expected instants are worked out from Go's time package documentation; `_ns` turns an ISO 8601 text with an
explicit offset into nanoseconds, so each case states its answer in a readable form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.stages.golayout import Chunk, LayoutParser, Std, format_time, load_location, tokenize

DENVER = ZoneInfo("America/Denver")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def _ns(iso: str, nanos: int = 0) -> int:
    """Nanoseconds since the epoch of an ISO 8601 date-time with an offset (plus extra nanoseconds)."""
    return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000_000 + nanos


def _stds(layout: str) -> list[str]:
    return [item.std.name if isinstance(item, Chunk) else item for item in tokenize(layout)]


class TestTokenize:
    @pytest.mark.parametrize(
        ("layout", "expected"),
        [
            pytest.param(
                "2006-01-02T15:04:05Z07:00",
                [
                    "LONG_YEAR",
                    "-",
                    "ZERO_MONTH",
                    "-",
                    "ZERO_DAY",
                    "T",
                    "HOUR",
                    ":",
                    "ZERO_MINUTE",
                    ":",
                    "ZERO_SECOND",
                    "ISO_COLON_TZ",
                ],
                id="rfc3339",
            ),
            pytest.param(
                "Jan _2 15:04:05",
                ["MONTH", " ", "UNDER_DAY", " ", "HOUR", ":", "ZERO_MINUTE", ":", "ZERO_SECOND"],
                id="stamp",
            ),
            pytest.param(
                "Monday January 2 3PM",
                ["LONG_WEEKDAY", " ", "LONG_MONTH", " ", "DAY", " ", "HOUR12", "PM"],
                id="long-names",
            ),
            pytest.param("_2006", ["_", "LONG_YEAR"], id="underscore-before-year-is-literal"),
            pytest.param("Month", ["Month"], id="mon-followed-by-lowercase-is-literal"),
            pytest.param(
                "-0700 -07:00 -07 MST", ["NUM_TZ", " ", "NUM_COLON_TZ", " ", "NUM_SHORT_TZ", " ", "TZ"], id="zones"
            ),
            pytest.param("002 __2", ["ZERO_YEAR_DAY", " ", "UNDER_YEAR_DAY"], id="year-days"),
            pytest.param(
                "2006.01.02",
                ["LONG_YEAR", ".", "ZERO_MONTH", ".", "ZERO_DAY"],
                id="dot-before-digits-is-not-a-fraction",
            ),
        ],
    )
    def test_chunks(self, layout: str, expected: list[str]) -> None:
        """A layout splits into Go's std chunks and literal text."""
        assert _stds(layout) == expected

    @pytest.mark.parametrize(
        ("layout", "std", "digits", "sep"),
        [
            pytest.param("05.000", Std.FRAC0, 3, ".", id="zeros"),
            pytest.param("05.999999", Std.FRAC9, 6, ".", id="nines"),
            pytest.param("05,000", Std.FRAC0, 3, ",", id="comma"),
        ],
    )
    def test_fraction(self, layout: str, std: Std, digits: int, sep: str) -> None:
        """A run of 0s or 9s after a period or comma is a fractional second with its digit count."""
        chunk = tokenize(layout)[1]
        assert isinstance(chunk, Chunk)
        assert (chunk.std, chunk.digits, chunk.sep) == (std, digits, sep)


class TestLayoutParser:
    @pytest.mark.parametrize(
        ("layout", "value", "expected"),
        [
            pytest.param(
                "2006-01-02T15:04:05Z07:00",
                "2019-07-09T21:48:36+02:00",
                _ns("2019-07-09T21:48:36+02:00"),
                id="rfc3339-offset",
            ),
            pytest.param(
                "2006-01-02T15:04:05Z07:00", "2019-07-09T21:48:36Z", _ns("2019-07-09T21:48:36+00:00"), id="rfc3339-z"
            ),
            pytest.param(
                "2006-01-02T15:04:05.999999999Z07:00",
                "2019-07-09T21:48:36.414123456-07:00",
                _ns("2019-07-09T21:48:36-07:00", 414123456),
                id="nano-all-digits",
            ),
            pytest.param(
                "2006-01-02T15:04:05.999999999Z07:00",
                "2019-07-09T21:48:36.5Z",
                _ns("2019-07-09T21:48:36+00:00", 500000000),
                id="nano-few-digits",
            ),
            pytest.param(
                "2006-01-02T15:04:05.999999999Z07:00",
                "2019-07-09T21:48:36Z",
                _ns("2019-07-09T21:48:36+00:00"),
                id="nano-no-fraction",
            ),
            pytest.param(
                "2006-01-02T15:04:05Z07:00",
                "2019-07-09T21:48:36.123Z",
                _ns("2019-07-09T21:48:36+00:00", 123000000),
                id="fraction-not-in-layout",
            ),
            pytest.param(
                "2006-01-02T15:04:05Z07:00",
                "2019-07-09T21:48:36,25Z",
                _ns("2019-07-09T21:48:36+00:00", 250000000),
                id="comma-fraction-not-in-layout",
            ),
            pytest.param(
                "2006-01-02T15:04:05.999Z07:00",
                "2019-07-09T21:48:36.1234567891Z",
                _ns("2019-07-09T21:48:36+00:00", 123456789),
                id="more-than-nine-digits-truncated",
            ),
            pytest.param(
                "2006-01-02 15:04:05.000",
                "2023-01-02 03:04:05.007",
                _ns("2023-01-02T03:04:05+00:00", 7000000),
                id="millis",
            ),
            pytest.param(
                "2006-01-02 15:04:05,000",
                "2023-01-02 03:04:05,120",
                _ns("2023-01-02T03:04:05+00:00", 120000000),
                id="comma-millis",
            ),
            pytest.param(
                "2006-01-02 15:04:05,000",
                "2023-01-02 03:04:05.120",
                _ns("2023-01-02T03:04:05+00:00", 120000000),
                id="either-separator",
            ),
            pytest.param(
                "02/Jan/2006:15:04:05 -0700",
                "10/Oct/2000:13:55:36 -0700",
                _ns("2000-10-10T13:55:36-07:00"),
                id="apache-common-log",
            ),
            pytest.param(
                "02/Jan/2006:15:04:05 -0700",
                "10/OCT/2000:13:55:36 +0530",
                _ns("2000-10-10T13:55:36+05:30"),
                id="month-name-any-case",
            ),
            pytest.param(
                "2006-01-02 15:04:05 -07", "2023-05-06 07:08:09 +03", _ns("2023-05-06T07:08:09+03:00"), id="hour-offset"
            ),
            pytest.param(
                "2006-01-02 15:04:05 -07:00:00",
                "2023-05-06 07:08:09 -01:02:03",
                _ns("2023-05-06T07:08:09-01:02:03"),
                id="offset-seconds",
            ),
            pytest.param(
                "2006-01-02 15:04:05 Z0700", "2023-05-06 07:08:09 Z", _ns("2023-05-06T07:08:09+00:00"), id="iso-z"
            ),
            pytest.param(
                "Mon Jan _2 15:04:05 2006",
                "Tue Feb  7 01:02:03 2023",
                _ns("2023-02-07T01:02:03+00:00"),
                id="ansic-padded-day",
            ),
            pytest.param(
                "Mon Jan _2 15:04:05 2006",
                "Tue Feb 17 01:02:03 2023",
                _ns("2023-02-17T01:02:03+00:00"),
                id="ansic-two-digit-day",
            ),
            pytest.param(
                "Mon Jan _2 15:04:05 2006",
                "Wed Feb 17 01:02:03 2023",
                _ns("2023-02-17T01:02:03+00:00"),
                id="weekday-not-checked",
            ),
            pytest.param(
                "Monday, 02-Jan-06 15:04:05 MST",
                "Friday, 03-Mar-23 10:11:12 UTC",
                _ns("2023-03-03T10:11:12+00:00"),
                id="rfc850-utc",
            ),
            pytest.param(
                "January 2, 2006 3:04 PM",
                "March 9, 2021 12:05 AM",
                _ns("2021-03-09T00:05:00+00:00"),
                id="twelve-am-is-midnight",
            ),
            pytest.param(
                "January 2, 2006 3:04 PM",
                "March 9, 2021 12:05 PM",
                _ns("2021-03-09T12:05:00+00:00"),
                id="twelve-pm-is-noon",
            ),
            pytest.param(
                "January 2, 2006 03:04 pm",
                "March 9, 2021 01:05 pm",
                _ns("2021-03-09T13:05:00+00:00"),
                id="lowercase-pm",
            ),
            pytest.param(
                "02 Jan 06 15:04", "01 Jan 68 00:00", _ns("2068-01-01T00:00:00+00:00"), id="two-digit-year-68"
            ),
            pytest.param(
                "02 Jan 06 15:04", "01 Jan 69 00:00", _ns("1969-01-01T00:00:00+00:00"), id="two-digit-year-69"
            ),
            pytest.param("2006-1-2 3:4:5", "2023-4-5 6:7:8", _ns("2023-04-05T06:07:08+00:00"), id="unpadded-numbers"),
            pytest.param("2006 002", "2024 060", _ns("2024-02-29T00:00:00+00:00"), id="day-of-year-leap"),
            pytest.param("2006 __2", "2023  60", _ns("2023-03-01T00:00:00+00:00"), id="day-of-year-padded"),
            pytest.param(
                "2006-01-02  15:04",
                "2023-01-02 15:04",
                _ns("2023-01-02T15:04:00+00:00"),
                id="layout-spaces-match-one-space",
            ),
            pytest.param(
                "2006-01-02 15:04",
                "2023-01-02     15:04",
                _ns("2023-01-02T15:04:00+00:00"),
                id="layout-space-matches-many",
            ),
            pytest.param("2006-01-02", "2023-01-02", _ns("2023-01-02T00:00:00+00:00"), id="date-only-is-midnight-utc"),
        ],
    )
    def test_parse(self, layout: str, value: str, expected: int) -> None:
        """The value parses to the instant Go's time.Parse gives."""
        assert LayoutParser(layout).parse(value) == expected

    @pytest.mark.parametrize(
        ("layout", "value"),
        [
            pytest.param("2006-01-02", "2023-13-02", id="month-13"),
            pytest.param("2006-01-02", "2023-04-31", id="april-31"),
            pytest.param("2006-01-02", "2023-02-29", id="february-29-common-year"),
            pytest.param("15:04", "24:00", id="hour-24"),
            pytest.param("15:04", "12:60", id="minute-60"),
            pytest.param("3:04 PM", "13:00 PM", id="twelve-hour-13"),
            pytest.param("2006-01-02", "2023-1-02", id="zero-month-needs-two-digits"),
            pytest.param("2006-01-02", "2023-01-02x", id="extra-text"),
            pytest.param("2006-01-02 15:04:05.000", "2023-01-02 03:04:05.12", id="too-few-millis"),
            pytest.param("2006-01-02 15:04:05.000", "2023-01-02 03:04:05.1234", id="too-many-millis"),
            pytest.param("3:04 PM", "1:00 pm", id="pm-case-matters"),
            pytest.param("2006-01-02T15:04:05Z07:00", "2023-01-02T03:04:05", id="zone-missing"),
            pytest.param("2006-01-02 15:04:05 -0700", "2023-01-02 03:04:05 Z", id="numeric-zone-takes-no-z"),
            pytest.param("2006-01-02 15:04:05 MST", "2023-01-02 03:04:05 PDTX", id="not-a-zone-abbreviation"),
            pytest.param("Jan _2", "Jan", id="value-ends-early"),
            pytest.param("2006 002", "2023 366", id="day-of-year-366-common-year"),
        ],
    )
    def test_rejects(self, layout: str, value: str) -> None:
        """Values Go's time.Parse rejects raise ValueError."""
        with pytest.raises(ValueError, match=r"."):
            LayoutParser(layout).parse(value)

    def test_location_applies_without_zone(self) -> None:
        """ParseInLocation reads a zone-less value as wall time in the location."""
        parser = LayoutParser("2006-01-02 15:04:05", BERLIN)
        assert parser.parse("2023-07-01 12:00:00") == _ns("2023-07-01T12:00:00+02:00")

    def test_offset_wins_over_location(self) -> None:
        """A numeric offset in the value decides the instant even with a location."""
        parser = LayoutParser("2006-01-02 15:04:05 -0700", BERLIN)
        assert parser.parse("2023-07-01 12:00:00 -0100") == _ns("2023-07-01T12:00:00-01:00")

    def test_abbreviation_known_in_location(self) -> None:
        """An abbreviation the location uses (MST in Denver) takes its offset."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", DENVER)
        assert parser.parse("2023-01-10 08:00:00 MST") == _ns("2023-01-10T08:00:00-07:00")

    def test_daylight_abbreviation_known_in_location(self) -> None:
        """The daylight-saving abbreviation (MDT) takes its own offset."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", DENVER)
        assert parser.parse("2023-07-10 08:00:00 MDT") == _ns("2023-07-10T08:00:00-06:00")

    def test_unknown_abbreviation_is_offset_zero(self) -> None:
        """An abbreviation the local zone does not know gets offset zero, as Go documents."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", None, local=UTC)
        assert parser.parse("2023-01-10 08:00:00 PST") == _ns("2023-01-10T08:00:00+00:00")

    def test_abbreviation_uses_local_zone_without_location(self) -> None:
        """time.Parse resolves abbreviations against the local zone (here Denver)."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", None, local=DENVER)
        assert parser.parse("2023-01-10 08:00:00 MST") == _ns("2023-01-10T08:00:00-07:00")

    def test_gmt_with_hours(self) -> None:
        """An unknown GMT+N abbreviation keeps its hours as the offset."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", None, local=UTC)
        assert parser.parse("2023-01-10 08:00:00 GMT+3") == _ns("2023-01-10T08:00:00+03:00")

    def test_utc_abbreviation_regardless_of_location(self) -> None:
        """UTC is recognized as UTC whatever the location."""
        parser = LayoutParser("2006-01-02 15:04:05 MST", DENVER)
        assert parser.parse("2023-01-10 08:00:00 UTC") == _ns("2023-01-10T08:00:00+00:00")

    def test_gap_resolves_as_go_date(self) -> None:
        """A wall time skipped by a DST change normalizes as Go's Date does (02:30 EST-to-EDT is 06:30Z)."""
        parser = LayoutParser("2006-01-02 15:04", NEW_YORK)
        assert parser.parse("2023-03-12 02:30") == _ns("2023-03-12T06:30:00+00:00")

    def test_overlap_takes_the_first_offset(self) -> None:
        """A wall time repeated by a DST change takes daylight time, the first occurrence."""
        parser = LayoutParser("2006-01-02 15:04", NEW_YORK)
        assert parser.parse("2023-11-05 01:30") == _ns("2023-11-05T01:30:00-04:00")

    def test_year_from_callback(self) -> None:
        """A year-less layout takes its year from `year_for_month`, given the parsed month."""
        parser = LayoutParser("Jan _2 15:04:05", year_for_month=lambda month: 2022 if month == 12 else 2023)
        assert (parser.parse("Dec 31 23:59:59"), parser.parse("Jan  1 00:00:01")) == (
            _ns("2022-12-31T23:59:59+00:00"),
            _ns("2023-01-01T00:00:01+00:00"),
        )

    def test_leap_day_without_year_rolls_over(self) -> None:
        """Feb 29 is valid without a year (year 0 is leap) and becomes Mar 1 in a common year, as AddDate."""
        parser = LayoutParser("Jan _2 15:04:05", year_for_month=lambda month: 2023)
        assert parser.parse("Feb 29 10:00:00") == _ns("2023-03-01T10:00:00+00:00")

    def test_cache_keeps_fractions_apart(self) -> None:
        """Values that share their seconds but not their fraction parse to different instants."""
        parser = LayoutParser("2006-01-02T15:04:05.999999999Z07:00")
        first = parser.parse("2023-01-02T03:04:05.1Z")
        assert parser.parse("2023-01-02T03:04:05.2Z") - first == 100_000_000


class TestLoadLocation:
    @pytest.mark.parametrize("name", [pytest.param("", id="empty"), pytest.param("UTC", id="utc")])
    def test_utc_names(self, name: str) -> None:
        """ "" and "UTC" load UTC, as Go's LoadLocation."""
        assert load_location(name) is UTC

    def test_iana_name(self) -> None:
        """An IANA name loads that zone."""
        assert load_location("Europe/Berlin") == BERLIN

    def test_unknown_name(self) -> None:
        """An unknown name fails with Go's wording."""
        with pytest.raises(ValueError, match="unknown time zone Mars/Olympus"):
            load_location("Mars/Olympus")


class TestFormatTime:
    @pytest.mark.parametrize(
        ("layout", "expected"),
        [
            pytest.param("2006-01-02T15:04:05Z07:00", "2023-02-03T04:05:06Z", id="rfc3339-utc"),
            pytest.param("2006-01-02T15:04:05.999999999Z07:00", "2023-02-03T04:05:06.0705Z", id="nano-trims-zeros"),
            pytest.param("2006-01-02 15:04:05.000", "2023-02-03 04:05:06.070", id="millis-keep-zeros"),
            pytest.param("Mon Jan _2 3:04PM", "Fri Feb  3 4:05AM", id="kitchen-parts"),
            pytest.param("Monday January 2 06 -0700 MST", "Friday February 3 23 +0000 UTC", id="names-and-zones"),
            pytest.param("002 __2", "034  34", id="year-day"),
        ],
    )
    def test_utc(self, layout: str, expected: str) -> None:
        """An instant formats in UTC as Go's Time.Format writes it."""
        assert format_time(layout, _ns("2023-02-03T04:05:06+00:00", 70_500_000), UTC) == expected

    def test_zone_name_and_offset(self) -> None:
        """In a named zone, MST is the abbreviation and Z07:00 the offset."""
        text = format_time("15:04 MST Z07:00", _ns("2023-07-01T12:00:00+00:00"), BERLIN)
        assert text == "14:00 CEST +02:00"
