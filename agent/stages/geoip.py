"""The `geoip` stage: look an extracted IP address up in a MaxMind database and add what it finds as labels.

The database (``.mmdb``, GeoIP2/GeoLite2 City or ASN, or Country) is opened once, memory-mapped, with the
`maxminddb` reader. Found fields become labels named as Promtail names them (``geoip_city_name``, ...) and
are also put in the extracted map, as Promtail 2.8 documented. Fields the record lacks are left out. A value
that is not an IP address, or an address the database does not know, leaves the entry as it is (the former
is counted in ``agent_errors_total{component="stage", reason="geoip_not_an_ip_address"}``).
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar, Literal

import maxminddb
from pydantic import field_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import StageContext
from agent.stages.metrics import format_go_float_g
from agent.stages.values import go_string


def _open(path: str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(path)
    except OSError as exc:
        raise ValueError(f"cannot open GeoIP database {path!r}: {exc.strerror or exc}") from None
    except (maxminddb.InvalidDatabaseError, ValueError):
        raise ValueError(f"{path!r} is not a MaxMind database (.mmdb)") from None


class GeoIPConfig(ConfigModel):
    """Promtail's `geoip` keys, plus ``db_type: country`` for GeoIP2/GeoLite2 Country databases."""

    db: str
    source: str
    db_type: Literal["city", "asn", "country"]

    @field_validator("db")
    @classmethod
    def _readable(cls, value: str) -> str:
        if not value:
            raise ValueError("db path cannot be empty")
        _open(value).close()  # a missing or broken database is a config error, with its path
        return value

    @field_validator("source")
    @classmethod
    def _source_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("source cannot be empty")
        return value


class GeoIPStage:
    """`geoip`: add location (city, country databases) or network owner (ASN database) labels for an IP.

    ```yaml
    - regex:
        expression: '^(?P<ip>\\S+) .*'
    - geoip:
        db: /etc/agent/GeoLite2-City.mmdb
        source: ip
        db_type: city
    ```
    """

    name: ClassVar[str] = "geoip"
    Config: ClassVar[type[GeoIPConfig]] = GeoIPConfig
    mutates_labels: ClassVar[bool] = True

    __slots__ = ("_errors", "_fields", "_reader", "_source")

    def __init__(self, config: GeoIPConfig, ctx: StageContext) -> None:
        self._reader = _open(config.db)
        self._source = config.source
        self._fields = {"city": _city_fields, "asn": _asn_fields, "country": _country_fields}[config.db_type]
        self._errors = ctx.error_counter("geoip_not_an_ip_address")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = entry.extracted
        if extracted is None or self._source not in extracted:
            return entry
        text = go_string(extracted[self._source])
        try:
            address = ipaddress.ip_address(text or "")
        except ValueError:
            self._errors.inc()
            return entry
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # Go reads ::ffff:a.b.c.d as the IPv4 address
        try:
            record = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return entry
        if isinstance(record, dict):
            for name, value in self._fields(record):
                entry.labels[name] = value
                extracted[name] = value
        return entry

    def close(self) -> None:
        """Unmap the database (at shutdown)."""
        self._reader.close()


def _get(record: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _country_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    found = [
        ("geoip_country_name", _text(_get(record, "country", "names", "en"))),
        ("geoip_continent_name", _text(_get(record, "continent", "names", "en"))),
        ("geoip_continent_code", _text(_get(record, "continent", "code"))),
    ]
    return [(name, value) for name, value in found if value is not None]


def _city_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    subdivisions = record.get("subdivisions")
    # The most specific subdivision is the last one.
    subdivision = subdivisions[-1] if isinstance(subdivisions, list) and subdivisions else {}
    found = [
        ("geoip_city_name", _text(_get(record, "city", "names", "en"))),
        ("geoip_postal_code", _text(_get(record, "postal", "code"))),
        ("geoip_timezone", _text(_get(record, "location", "time_zone"))),
        ("geoip_subdivision_name", _text(_get(subdivision, "names", "en"))),
        ("geoip_subdivision_code", _text(_get(subdivision, "iso_code"))),
    ]
    fields = _country_fields(record) + [(name, value) for name, value in found if value is not None]
    latitude = _get(record, "location", "latitude")
    longitude = _get(record, "location", "longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        fields.append(("geoip_location_latitude", format_go_float_g(float(latitude))))
        fields.append(("geoip_location_longitude", format_go_float_g(float(longitude))))
    return fields


def _asn_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    fields = []
    number = record.get("autonomous_system_number")
    if isinstance(number, int) and number:
        fields.append(("geoip_autonomous_system_number", str(number)))
    organization = _text(record.get("autonomous_system_organization"))
    if organization is not None:
        fields.append(("geoip_autonomous_system_organization", organization))
    return fields
