"""The Go value conventions every stage family shares: string forms, JSON text, RFC 3339 timestamps.

Expected values come from Go's strconv, encoding/json and time packages, as Promtail's stages use them.
"""

from __future__ import annotations

import calendar
from typing import Any

import pytest

from agent.stages.values import format_go_float, go_json_marshal, go_string, parse_rfc3339_nano


def _ns(year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second)) * 1_000_000_000 + nanos


class TestGoValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(125.0, "125", id="integral-float"),
            pytest.param(1.5, "1.5", id="fraction"),
            pytest.param(-0.0, "-0", id="negative-zero"),
            pytest.param(1e21, "1000000000000000000000", id="large-no-exponent"),
            pytest.param(1e-7, "0.0000001", id="small-no-exponent"),
            pytest.param(12345678901234567890.0, "12345678901234567000", id="beyond-float-precision"),
            pytest.param(float("inf"), "+Inf", id="infinity"),
        ],
    )
    def test_format_go_float(self, value: float, expected: str) -> None:
        """Floats print as Go's strconv.FormatFloat(v, 'f', -1, 64)."""
        assert format_go_float(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("x", "x", id="string"),
            pytest.param(True, "true", id="bool"),
            pytest.param(3, "3", id="int"),
            pytest.param(2.5, "2.5", id="float"),
            pytest.param(None, None, id="null-has-no-string"),
            pytest.param({"a": 1}, None, id="map-has-no-string"),
        ],
    )
    def test_go_string(self, value: Any, expected: str | None) -> None:
        """Extracted values convert to strings as Promtail's getString does."""
        assert go_string(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param({"b": 1.0, "a": [True, None]}, '{"b":1,"a":[true,null]}', id="compact"),
            pytest.param({"h": "<a&b>"}, '{"h":"\\u003ca\\u0026b\\u003e"}', id="html-escaped"),
            pytest.param(["\b\f\n"], '["\\u0008\\u000c\\n"]', id="control-characters"),
            pytest.param(["é\u2028"], '["é\\u2028"]', id="unicode-kept-line-separator-escaped"),
            pytest.param([1e21, 1e-7, 0.5], "[1e+21,1e-7,0.5]", id="float-exponents"),
        ],
    )
    def test_go_json_marshal(self, value: Any, expected: str) -> None:
        """Objects and arrays go back to JSON text as Go's encoder writes it."""
        assert go_json_marshal(value) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("2019-04-30T02:12:41.8443515Z", _ns(2019, 4, 30, 2, 12, 41, 844351500), id="nanos"),
            pytest.param("2019-04-30T02:12:41Z", _ns(2019, 4, 30, 2, 12, 41), id="no-fraction"),
            pytest.param("2019-04-30T04:12:41+02:00", _ns(2019, 4, 30, 2, 12, 41), id="offset"),
            pytest.param("2019-04-30T02:12:41.1234567891Z", _ns(2019, 4, 30, 2, 12, 41, 123456789), id="10-digits"),
            pytest.param("2019-02-30T02:12:41Z", None, id="no-such-day"),
            pytest.param("2019-04-30 02:12:41Z", None, id="space-not-t"),
            pytest.param("2019-04-30T24:00:00Z", None, id="hour-24"),
            pytest.param("", None, id="empty"),
        ],
    )
    def test_parse_rfc3339_nano(self, text: str, expected: int | None) -> None:
        """Timestamps parse as Go's time.Parse(time.RFC3339Nano) does."""
        assert parse_rfc3339_nano(text) == expected
