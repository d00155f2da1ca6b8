"""Durations and sizes as Promtail configs write them, and the duration strings the agent prints."""

from __future__ import annotations

import re

import pytest

from agent.config.loader import format_duration
from agent.config.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("1m30s", 90.0, id="minutes-seconds"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("1d", 86400.0, id="day"),
        pytest.param("1w", 7 * 86400.0, id="week"),
        pytest.param("1h0m0s", 3600.0, id="go-string-form"),
        pytest.param("1.5h", 5400.0, id="fraction"),
        pytest.param("250us", 0.00025, id="microseconds"),
        pytest.param("-5s", -5.0, id="negative"),
        pytest.param("0", 0.0, id="zero-text"),
        pytest.param(0, 0.0, id="zero-int"),
        pytest.param(1_000_000_000, 1.0, id="bare-int-is-nanoseconds"),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    """Go durations plus Prometheus' d/w/y units parse into seconds."""
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("10", "invalid duration '10': use a number with a unit such as 10s, 500ms or 1m30s", id="no-unit"),
        pytest.param("1 m", "invalid duration '1 m': use a number with a unit such as 10s, 500ms or 1m30s", id="space"),
        pytest.param(
            "5sec", "invalid duration '5sec': use a number with a unit such as 10s, 500ms or 1m30s", id="word"
        ),
        pytest.param("", "invalid duration '': use a number with a unit such as 10s, 500ms or 1m30s", id="empty"),
        pytest.param(1.5, "a duration needs a unit (such as 10s or 500ms), got 1.5", id="float"),
        pytest.param(True, "expected a duration such as 10s or 500ms, got True", id="bool"),
    ],
)
def test_parse_duration_invalid(value: object, message: str) -> None:
    """An invalid duration raises a message fit for a config error."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param("256KB", 256_000, id="kilobytes-decimal"),
        pytest.param("1MiB", 1_048_576, id="mebibyte"),
        pytest.param("1MB", 1_000_000, id="megabyte"),
        pytest.param("2Ki", 2048, id="short-binary"),
        pytest.param("1.5GB", 1_500_000_000, id="fraction"),
        pytest.param("1048576", 1_048_576, id="bytes-text"),
        pytest.param(1048576, 1_048_576, id="bytes-int"),
        pytest.param("512 B", 512, id="space-and-b"),
    ],
)
def test_parse_size(value: object, size: int) -> None:
    """Sizes are bytes or humanized units (KB = 1000, KiB = 1024)."""
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("1XB", "invalid size '1XB': use bytes (1048576) or a unit (256KB, 1MiB)", id="unknown-unit"),
        pytest.param("MB", "invalid size 'MB': use bytes (1048576) or a unit (256KB, 1MiB)", id="no-number"),
        pytest.param(-1, "a size cannot be negative, got -1", id="negative"),
        pytest.param(True, "expected a size such as 1048576, 256KB or 1MiB, got True", id="bool"),
    ],
)
def test_parse_size_invalid(value: object, message: str) -> None:
    """An invalid size raises a message fit for a config error."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_size(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0.0, "0s", id="zero"),
        pytest.param(0.25, "250ms", id="milliseconds"),
        pytest.param(0.00025, "250us", id="microseconds"),
        pytest.param(10.0, "10s", id="seconds"),
        pytest.param(90.0, "1m30s", id="minutes"),
        pytest.param(7 * 3600.0, "7h", id="hours"),
        pytest.param(3661.5, "1h1m1.5s", id="mixed"),
        pytest.param(-2.0, "-2s", id="negative"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Printed durations read like Promtail's and parse back to the same value."""
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
