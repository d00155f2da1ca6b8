"""The fast paths of Go layout parsing give exactly what the generic parser gives.

`RFC3339Parser` reads the common shape of RFC 3339 without the generic layout regex; `LayoutParser` looks a
value without a fraction up before matching it. Both must agree with a fresh generic parser (no cache) on
every input, errors included.
"""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.stages.golayout import NAMED_LAYOUTS, LayoutParser, RFC3339Parser, layout_parser

RFC3339 = NAMED_LAYOUTS["RFC3339"]
RFC3339_NANO = NAMED_LAYOUTS["RFC3339Nano"]


def _generic(layout: str, value: str) -> int | str:
    """The generic parser's answer, from a parser that has seen nothing before."""
    try:
        return LayoutParser(layout).parse(value)
    except ValueError:
        return "error"


def _answer(parser: LayoutParser, value: str) -> int | str:
    try:
        return parser.parse(value)
    except ValueError:
        return "error"


_digits = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
_rfc3339_like = st.builds(
    lambda year, month, day, hour, minute, second, sep, fraction, zone: (
        f"{year:04d}-{month}-{day}T{hour}:{minute}:{second}{sep + fraction if fraction else ''}{zone}"
    ),
    st.integers(min_value=0, max_value=9999),
    _digits,
    _digits,
    _digits | st.sampled_from(["0", "7"]),  # Go's layout takes a one-digit hour
    _digits,
    _digits,
    st.sampled_from([".", ","]),
    st.text(alphabet="0123456789", max_size=12),
    st.sampled_from(["Z", "z", "+00:00", "-07:00", "+05:30", "+24:00", "+23:60", "+25:00", "-0700", "", "+1:00"]),
)

TRICKY = [
    pytest.param("2024-11-26T00:00:00.005Z", id="milliseconds"),
    pytest.param("2024-11-26T00:00:00Z", id="no-fraction"),
    pytest.param("2024-11-26T00:00:00.123456789+02:00", id="nanoseconds-offset"),
    pytest.param("2024-11-26T00:00:00.1234567891Z", id="ten-digits-truncated"),
    pytest.param("2024-11-26T00:00:00,5Z", id="comma"),
    pytest.param("2024-02-30T00:00:00.5Z", id="day-out-of-range"),
    pytest.param("2024-02-29T23:59:59.5Z", id="leap-day"),
    pytest.param("2023-02-29T23:59:59.5Z", id="not-a-leap-year"),
    pytest.param("2024-11-26T24:00:00.5Z", id="hour-out-of-range"),
    pytest.param("2024-11-26T00:60:00Z", id="minute-out-of-range"),
    pytest.param("2024-11-26T00:00:60.1Z", id="second-out-of-range"),
    pytest.param("2024-13-26T00:00:00Z", id="month-out-of-range"),
    pytest.param("2024-11-26T00:00:00.5+24:00", id="offset-of-24-hours"),
    pytest.param("2024-11-26T00:00:00.5+25:00", id="offset-out-of-range"),
    pytest.param("2024-11-26T00:00:00.Z", id="point-without-digits"),
    pytest.param("2024-11-26T0:00:00.5Z", id="one-digit-hour"),
    pytest.param("0000-01-01T00:00:00.5Z", id="year-zero"),
    pytest.param("2024-11-26t00:00:00Z", id="lower-case-t"),
    pytest.param("2024-11-26T00:00:00.5", id="no-zone"),
]


class TestRFC3339Parser:
    @pytest.mark.parametrize("layout", [RFC3339, RFC3339_NANO])
    @pytest.mark.parametrize("value", TRICKY)
    def test_tricky_values(self, layout: str, value: str) -> None:
        """Each tricky value parses (or fails) as the generic parser has it, the first time and cached."""
        parser = RFC3339Parser(layout)
        assert _answer(parser, value) == _generic(layout, value)
        assert _answer(parser, value) == _generic(layout, value)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(_rfc3339_like, min_size=1, max_size=5))
    @example(["2024-11-26T00:00:00.5Z", "2024-11-26T00:00:00Z", "2024-11-26T00:00:00.25Z"])
    def test_generated_values(self, values: list[str]) -> None:
        """Any run of RFC 3339-like values parses as the generic parser has them, cache warm or cold."""
        parser = RFC3339Parser(RFC3339_NANO)
        for value in values:
            assert _answer(parser, value) == _generic(RFC3339_NANO, value), value

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.builds(
                lambda head, sep, fraction, zone: f"{head}{sep}{fraction}{zone}",
                st.sampled_from(
                    ["2024-11-26T00:00:00", "2024-02-30T00:00:00", "2024-11-26T0:00:00", "2024-11-26 00:00:00"]
                ),
                st.sampled_from([".", ",", ""]),
                st.text(alphabet="0123456789", max_size=4) | st.sampled_from(["x", "\u0665", "5.5", "-1"]),
                st.sampled_from(["Z", "z", "+00:00", "ZZ", ""]),
            ),
            min_size=2,
            max_size=8,
        )
    )
    @example(["2024-11-26T00:00:00.5Z", "2024-11-26T00:00:00.05Z", "2024-11-26T00:00:00.005Z"])
    @example(["2024-11-26T00:00:00Z", "2024-11-26T00:00:00.1234Z", "2024-11-26T00:00:00.Z"])
    def test_utc_milliseconds_share_the_seconds(self, values: list[str]) -> None:
        """Values of one second with and without short fractions (the UTC lookup path) parse as generic ones."""
        parser = RFC3339Parser(RFC3339_NANO)
        for value in values * 2:
            assert _answer(parser, value) == _generic(RFC3339_NANO, value), value

    @pytest.mark.parametrize("value", ["2024-02-30T00:00:00.5Z", "2024-11-26T00:00:00.5", "x"])
    def test_error_message_is_the_generic_one(self, value: str) -> None:
        """A value that fails gets the generic parser's error for that value."""
        with pytest.raises(ValueError, match=r"\w") as generic:
            LayoutParser(RFC3339_NANO).parse(value)
        with pytest.raises(ValueError, match=f"^{generic.value}$"):
            RFC3339Parser(RFC3339_NANO).parse(value)

    @pytest.mark.parametrize(
        ("layout", "expected"),
        [
            pytest.param(RFC3339, RFC3339Parser, id="rfc3339"),
            pytest.param(RFC3339_NANO, RFC3339Parser, id="rfc3339nano"),
            pytest.param("2006-01-02 15:04:05", LayoutParser, id="other"),
        ],
    )
    def test_layout_parser_picks_the_fast_parser(self, layout: str, expected: type) -> None:
        """`layout_parser` uses the RFC 3339 parser for Go's two RFC 3339 layouts only."""
        assert type(layout_parser(layout)) is expected


class TestExactValueCache:
    def test_value_looking_like_a_fraction_key_is_not_taken(self) -> None:
        """A value spelled as the internal key of a value with a fraction still has to match the layout."""
        parser = LayoutParser("15:04:05")
        parser.parse("10:00:00.5")
        with pytest.raises(ValueError, match="cannot parse"):
            parser.parse("10:00:00.\0")

    def test_repeated_value_gives_the_same_instant(self) -> None:
        """A value seen before gives the instant it gave then, fraction or not."""
        parser = LayoutParser("Jan _2 15:04:05", UTC)
        first = [parser.parse(value) for value in ("Nov 26 00:00:00", "Nov 26 00:00:00.5", "Nov  6 10:00:00")]
        again = [parser.parse(value) for value in ("Nov 26 00:00:00", "Nov 26 00:00:00.5", "Nov  6 10:00:00")]
        assert first == again

    def test_clear_cache_forgets_exact_values(self) -> None:
        """After `clear_cache`, a year-less value resolves to the year the clock gives now."""
        year = [2023]
        parser = LayoutParser("Jan _2 15:04:05", year_for_month=lambda month: year[0])
        before = parser.parse("Nov 26 00:00:00")
        year[0] = 2024
        assert parser.parse("Nov 26 00:00:00") == before  # cached until told
        parser.clear_cache()
        assert parser.parse("Nov 26 00:00:00") - before == 366 * 86400 * 1_000_000_000

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "Nov 26 00:00:00",
                    "Nov 26 00:00:00.5",
                    "Nov 26 00:00:0",
                    "Feb 30 00:00:00",
                    "Nov 26 00:00:00.",
                    "Nov  26 00:00:00",
                    "nov 26 00:00:00",
                ]
            ),
            max_size=8,
        )
    )
    def test_any_order_of_values(self, values: list[str]) -> None:
        """Values in any order, repeated or not, parse as a fresh parser has each of them."""
        parser = LayoutParser("Jan _2 15:04:05")
        for value in values:
            assert _answer(parser, value) == _generic("Jan _2 15:04:05", value), value
