"""sprig's date functions: now, date, dateInZone, htmlDate, htmlDateInZone, unixEpoch and toDate, on `GoTime`
values with Go's layouts (`agent.stages.golayout`); a number is taken as Unix seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, tzinfo
from typing import Any

from agent.stages.golayout import LayoutParser, format_time, load_location, system_local_zone
from agent.stages.template_engine.signature import TWO_STRINGS, Func
from agent.stages.template_engine.values import GoTime, Int64


def _local_zone() -> tzinfo:
    return system_local_zone()


def _now() -> GoTime:
    return GoTime(time.time_ns(), _local_zone())


def _as_time(value: Any) -> GoTime:
    if value.__class__ is GoTime:
        return value
    if value.__class__ in (int, Int64):
        return GoTime(int(value) * 1_000_000_000, UTC)
    return _now()


def _date_in_zone(layout: str, value: Any, zone: str) -> str:
    moment = _as_time(value)
    try:
        location = load_location(zone)
    except ValueError:
        location = UTC
    return format_time(layout, moment.ns, location)


def _unix_epoch(moment: GoTime) -> str:
    return str(moment.ns // 1_000_000_000)


def _to_date(layout: str, text: str) -> GoTime:
    zone = _local_zone()
    try:
        return GoTime(LayoutParser(layout, zone).parse(text), zone)
    except ValueError:
        return GoTime(-62135596800 * 1_000_000_000, UTC)  # Go's zero time


FUNCTIONS: dict[str, Func] = {
    # sprig: dates
    "now": Func(_now),
    "date": Func(lambda layout, value: _date_in_zone(layout, value, "Local"), ("string", "any")),
    "dateInZone": Func(_date_in_zone, ("string", "any", "string")),
    "htmlDate": Func(lambda value: _date_in_zone("2006-01-02", value, "Local"), ("any",)),
    "htmlDateInZone": Func(lambda value, zone: _date_in_zone("2006-01-02", value, zone), ("any", "string")),
    "unixEpoch": Func(_unix_epoch, ("time",)),
    "toDate": Func(_to_date, TWO_STRINGS),
}
