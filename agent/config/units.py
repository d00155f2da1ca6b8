"""Durations and byte sizes as Promtail's YAML spells them, parsed once into seconds and bytes.

Durations follow Go's `time.ParseDuration` plus Prometheus' `d`, `w`, `y` units (``1m30s``, ``500ms``,
``1d``); a bare integer is read as nanoseconds, as Go's YAML decoder does for `time.Duration`, except 0.
Sizes accept integers (bytes) and humanized strings (``256KB`` is 256,000 bytes, ``1MiB`` 1,048,576),
as Promtail's `flagext.ByteSize` does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: Any) -> float:
    """Return `value` in seconds. Raises ValueError with a message fit for a config error."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 10s or 500ms, got {value!r}")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        if isinstance(value, int):
            return value / 1e9  # Go's YAML reads a bare integer duration as nanoseconds
        raise ValueError(f"a duration needs a unit (such as 10s or 500ms), got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 10s or 500ms, got {value!r}")
    text = value.strip()
    sign = 1.0
    if text.startswith(("-", "+")):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use a number with a unit such as 10s, 500ms or 1m30s")
    return sign * total


def parse_size(value: Any) -> int:
    """Return `value` in bytes. Raises ValueError with a message fit for a config error."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 1048576, 256KB or 1MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).lower() in _SIZE_UNITS:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    raise ValueError(f"invalid size {value!r}: use bytes (1048576) or a unit (256KB, 1MiB)")


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A config field holding a duration, in seconds."""

Size = Annotated[int, BeforeValidator(parse_size)]
"""A config field holding a size, in bytes."""
