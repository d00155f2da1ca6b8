"""The `geoip` stage: City and ASN lookups from a MaxMind database written by the test itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.geoip import GeoIPConfig, GeoIPStage
from agent.stages.registry import build_stages, validate_stages
from support.mmdb_writer import Uint32, write_mmdb

KANSAS_CITY = {
    "city": {"geoname_id": Uint32(4393217), "names": {"en": "Kansas City", "de": "Kansas City"}},
    "continent": {"code": "NA", "geoname_id": Uint32(6255149), "names": {"en": "North America"}},
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "location": {"latitude": 39.1027, "longitude": -94.5778, "time_zone": "America/Chicago", "accuracy_radius": 1000},
    "postal": {"code": "64184"},
    "subdivisions": [{"iso_code": "MO", "names": {"en": "Missouri"}}],
}

DOCUMENTED_CITY_LABELS = {
    "geoip_city_name": "Kansas City",
    "geoip_country_name": "United States",
    "geoip_continent_name": "North America",
    "geoip_continent_code": "NA",
    "geoip_location_latitude": "39.1027",
    "geoip_location_longitude": "-94.5778",
    "geoip_postal_code": "64184",
    "geoip_timezone": "America/Chicago",
    "geoip_subdivision_name": "Missouri",
    "geoip_subdivision_code": "MO",
}


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "GeoIP2-City.mmdb",
        {
            "34.120.0.0/16": KANSAS_CITY,
            "81.2.69.0/24": {
                "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                "subdivisions": [
                    {"iso_code": "ENG", "names": {"en": "England"}},
                    {"iso_code": "WBK", "names": {"en": "West Berkshire"}},
                ],
            },
        },
        database_type="GeoIP2-City",
    )


@pytest.fixture
def asn_db(tmp_path: Path) -> Path:
    return write_mmdb(
        tmp_path / "GeoIP2-ASN.mmdb",
        {
            "34.120.0.0/16": {
                "autonomous_system_number": Uint32(396982),
                "autonomous_system_organization": "GOOGLE-CLOUD-PLATFORM",
            }
        },
        database_type="GeoLite2-ASN",
    )


def _stage(db: Path, db_type: str = "city", ctx: StageContext | None = None) -> GeoIPStage:
    config = GeoIPConfig.model_validate({"db": str(db), "source": "ip", "db_type": db_type})
    return GeoIPStage(config, ctx or StageContext(job_name="test", metrics=Metrics()))


def _entry(ip: Any) -> LogEntry:
    entry = LogEntry(0, f"{ip} - POST /loki/api/push/", {"job": "test"}, untracked_checkpoint())
    entry.extracted = {"job": "test", "ip": ip}
    return entry


def _geo(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k.startswith("geoip_")}


class TestCity:
    def test_documented_city_labels(self, city_db: Path) -> None:
        """34.120.177.193 gets the ten documented Kansas City labels."""
        entry = _stage(city_db).process(_entry("34.120.177.193"))
        assert entry is not None
        assert _geo(entry.labels) == DOCUMENTED_CITY_LABELS

    def test_fields_are_also_extracted(self, city_db: Path) -> None:
        """The same fields are put in the extracted map for later stages."""
        entry = _stage(city_db).process(_entry("34.120.177.193"))
        assert entry is not None
        assert entry.extracted is not None
        assert entry.extracted["geoip_city_name"] == "Kansas City"

    def test_missing_fields_are_left_out(self, city_db: Path) -> None:
        """A record without city or location adds only what it has; the most specific subdivision wins."""
        entry = _stage(city_db).process(_entry("81.2.69.160"))
        assert entry is not None
        assert _geo(entry.labels) == {
            "geoip_country_name": "United Kingdom",
            "geoip_subdivision_name": "West Berkshire",
            "geoip_subdivision_code": "WBK",
        }

    @pytest.mark.parametrize(
        "ip",
        [
            pytest.param("8.8.8.8", id="unknown-address"),
            pytest.param("not an ip", id="not-an-address"),
            pytest.param("2001:db8::1", id="ipv6-in-ipv4-database"),
            pytest.param({"a": 1}, id="not-text"),
        ],
    )
    def test_no_record_leaves_entry_alone(self, city_db: Path, ip: Any) -> None:
        """Addresses the database lacks, and values that are not addresses, change nothing."""
        entry = _stage(city_db).process(_entry(ip))
        assert entry is not None
        assert _geo(entry.labels) == {}

    def test_missing_source_leaves_entry_alone(self, city_db: Path) -> None:
        """Without the source in the extracted map nothing is looked up."""
        entry = _entry("34.120.177.193")
        assert entry.extracted is not None
        del entry.extracted["ip"]
        result = _stage(city_db).process(entry)
        assert result is entry
        assert _geo(entry.labels) == {}

    def test_ipv4_mapped_address(self, city_db: Path) -> None:
        """An IPv4-mapped IPv6 address is looked up as the IPv4 address."""
        entry = _stage(city_db).process(_entry("::ffff:34.120.177.193"))
        assert entry is not None
        assert entry.labels["geoip_city_name"] == "Kansas City"

    def test_bad_addresses_are_counted(self, city_db: Path) -> None:
        """A value that is not an IP address is counted as an error."""
        ctx = StageContext(job_name="test", metrics=Metrics())
        _stage(city_db, ctx=ctx).process(_entry("not an ip"))
        labels = {"component": "stage", "reason": "geoip_not_an_ip_address"}
        assert ctx.metrics.registry.get_sample_value("agent_errors_total", labels) == 1.0


class TestAsn:
    def test_documented_asn_labels(self, asn_db: Path) -> None:
        """34.120.177.193 gets its autonomous system number and organization."""
        entry = _stage(asn_db, "asn").process(_entry("34.120.177.193"))
        assert entry is not None
        assert _geo(entry.labels) == {
            "geoip_autonomous_system_number": "396982",
            "geoip_autonomous_system_organization": "GOOGLE-CLOUD-PLATFORM",
        }


class TestCountry:
    def test_country_database(self, city_db: Path) -> None:
        """db_type country adds the country and continent fields only."""
        entry = _stage(city_db, "country").process(_entry("34.120.177.193"))
        assert entry is not None
        assert _geo(entry.labels) == {
            "geoip_country_name": "United States",
            "geoip_continent_name": "North America",
            "geoip_continent_code": "NA",
        }


class TestConfig:
    def test_stage_changes_labels(self, city_db: Path) -> None:
        """The pipeline must give entries their own labels before this stage."""
        assert _stage(city_db).mutates_labels is True

    @pytest.mark.parametrize(
        ("body", "path", "message"),
        [
            pytest.param(
                {"db": "", "source": "ip", "db_type": "city"},
                "pipeline_stages[0].geoip.db",
                "db path cannot be empty",
                id="empty-db",
            ),
            pytest.param(
                {"db": "/nonexistent/GeoIP2-City.mmdb", "source": "ip", "db_type": "city"},
                "pipeline_stages[0].geoip.db",
                "cannot open GeoIP database '/nonexistent/GeoIP2-City.mmdb': No such file or directory",
                id="missing-db",
            ),
            pytest.param(
                {"db": "DB", "source": "", "db_type": "city"},
                "pipeline_stages[0].geoip.source",
                "source cannot be empty",
                id="empty-source",
            ),
        ],
    )
    def test_errors(self, city_db: Path, body: dict[str, Any], path: str, message: str) -> None:
        """Invalid geoip configs are rejected with their path."""
        body = {**body, "db": str(city_db) if body["db"] == "DB" else body["db"]}
        _, problems = validate_stages([{"geoip": body}], "pipeline_stages")
        assert [(p.path, p.message) for p in problems] == [(path, message)]

    def test_unknown_db_type(self, city_db: Path) -> None:
        """db_type must be city, asn or country."""
        _, problems = validate_stages([{"geoip": {"db": str(city_db), "source": "ip", "db_type": "isp"}}], "p")
        assert [(p.path, p.message) for p in problems] == [
            ("p[0].geoip.db_type", "expected 'city', 'asn' or 'country', got 'isp'")
        ]

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not a MaxMind database is a config error."""
        path = tmp_path / "x.mmdb"
        path.write_bytes(b"not a database" * 10)
        _, problems = validate_stages([{"geoip": {"db": str(path), "source": "ip", "db_type": "city"}}], "p")
        assert [(p.path, p.message) for p in problems] == [
            ("p[0].geoip.db", f"{str(path)!r} is not a MaxMind database (.mmdb)")
        ]


class TestDocumentedPipelines:
    # The documented log line starts with a stray double quote, which `^(?P<ip>\S+)` would take into the
    # address; the line below is the documented one without it.
    LINE = '34.120.177.193 - "POST /loki/api/push/ HTTP/1.1" 200 932 "-" "Mozilla/5.0 (Windows; U; Windows NT 5.1)"'

    def _run(self, snippet: str, db: Path) -> LogEntry | None:
        specs, problems = validate_stages(yaml.safe_load(snippet.replace("DB", str(db))), "pipeline_stages")
        assert problems == []
        entry: LogEntry | None = LogEntry(0, self.LINE, {"job": "test"}, untracked_checkpoint(), {"job": "test"})
        for stage in build_stages(specs, StageContext(job_name="test", metrics=Metrics())):
            assert entry is not None
            entry = stage.process(entry)
        return entry

    def test_labelallow_keeps_four_labels(self, city_db: Path) -> None:
        """After labelallow only the four listed geoip labels are left."""
        entry = self._run(
            r"""
            - regex:
                expression: '^(?P<ip>\S+) .*'
            - geoip:
                db: "DB"
                source: "ip"
                db_type: "city"
            - labelallow:
              - geoip_city_name
              - geoip_country_name
              - geoip_location_latitude
              - geoip_location_longitude
            """,
            city_db,
        )
        assert entry is not None
        assert entry.labels == {
            "geoip_city_name": "Kansas City",
            "geoip_country_name": "United States",
            "geoip_location_latitude": "39.1027",
            "geoip_location_longitude": "-94.5778",
        }

    def test_labeldrop_removes_two_labels(self, city_db: Path) -> None:
        """After labeldrop the postal and subdivision codes are gone, the rest stays."""
        entry = self._run(
            r"""
            - regex:
                expression: '^(?P<ip>\S+) .*'
            - geoip:
                db: "DB"
                source: "ip"
                db_type: "city"
            - labeldrop:
              - geoip_postal_code
              - geoip_subdivision_code
            """,
            city_db,
        )
        assert entry is not None
        expected = {
            k: v for k, v in DOCUMENTED_CITY_LABELS.items() if k not in ("geoip_postal_code", "geoip_subdivision_code")
        }
        assert _geo(entry.labels) == expected

    def test_asn_pipeline(self, asn_db: Path) -> None:
        """The documented ASN pipeline adds the Google Cloud autonomous system."""
        entry = self._run(
            r"""
            - regex:
                expression: '^(?P<ip>\S+) .*'
            - geoip:
                db: "DB"
                source: "ip"
                db_type: "asn"
            """,
            asn_db,
        )
        assert entry is not None
        assert entry.labels["geoip_autonomous_system_number"] == "396982"
