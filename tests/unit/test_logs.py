"""The agent's log lines: logfmt and JSON with context fields, level names, and rate-limited warnings."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from agent.logs import RateLimitedLogger, log_fields, parse_level, setup_logging

_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """Read a logfmt line back into a dict, unquoting quoted values."""
    assert "\n" not in line.rstrip("\n"), "a log event must be one line"
    pairs = {}
    for key, value in _PAIR.findall(line):
        pairs[key] = json.loads(value) if value.startswith('"') else value
    return pairs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream to log into; the root logger's handlers and level are restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield io.StringIO()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


log = logging.getLogger("agent.test")


class TestLogfmt:
    def test_message_and_fields(self, stream: io.StringIO) -> None:
        """A warning with extra fields reads back as ts, level, caller, msg and each field."""
        setup_logging("info", "logfmt", stream)
        log.warning("Push failed, will retry.", extra={"status": 503, "attempt": 2})
        (line,) = lines(stream)
        assert line.startswith("ts=")
        fields = parse_logfmt(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["ts"])
        assert fields["level"] == "warn"
        assert fields["caller"].startswith("test_logs.py:")
        assert fields["msg"] == "Push failed, will retry."
        assert (fields["status"], fields["attempt"]) == ("503", "2")
        assert 'msg="Push failed, will retry." status=503 attempt=2' in line

    def test_values_needing_quotes(self, stream: io.StringIO) -> None:
        """Spaces, quotes, equals signs, newlines and empty values are quoted and round-trip exactly."""
        setup_logging("info", "logfmt", stream)
        odd = 'a "quoted" = value\nsecond line'
        log.info("Odd.", extra={"odd": odd, "empty": "", "none": None, "flag": True})
        fields = parse_logfmt(lines(stream)[0])
        assert fields["odd"] == odd
        assert (fields["empty"], fields["none"], fields["flag"]) == ("", "null", "true")

    def test_traceback_on_one_line(self, stream: io.StringIO) -> None:
        """An unexpected error's traceback stays on the event's line, escaped."""
        setup_logging("info", "logfmt", stream)
        try:
            raise ValueError("bad value")
        except ValueError:
            log.exception("Unexpected failure.")
        (line,) = lines(stream)
        fields = parse_logfmt(line)
        assert fields["level"] == "error"
        assert fields["traceback"].startswith("Traceback (most recent call last):")
        assert fields["traceback"].endswith("ValueError: bad value")

    def test_no_traceback_without_exc_info(self, stream: io.StringIO) -> None:
        """An expected error logged without exc_info has no traceback field."""
        setup_logging("info", "logfmt", stream)
        log.error("Loki refused the batch.", extra={"status": 400})
        assert "traceback" not in parse_logfmt(lines(stream)[0])

    def test_log_fields_allows_record_attribute_names(self, stream: io.StringIO) -> None:
        """log_fields carries names a LogRecord reserves (name, filename) without crashing the log call."""
        setup_logging("info", "logfmt", stream)
        log.info("File opened.", extra=log_fields(name="syslog", filename="/var/log/syslog"))
        fields = parse_logfmt(lines(stream)[0])
        assert (fields["name"], fields["filename"]) == ("syslog", "/var/log/syslog")

    def test_fields_cannot_hide_ours(self, stream: io.StringIO) -> None:
        """A field named like a built-in key is renamed, so level and ts stay the real ones."""
        setup_logging("info", "logfmt", stream)
        log.info("Shadow.", extra=log_fields(level="custom", ts="x"))
        fields = parse_logfmt(lines(stream)[0])
        assert (fields["level"], fields["level_"], fields["ts_"]) == ("info", "custom", "x")


class TestJson:
    def test_same_keys_as_logfmt(self, stream: io.StringIO) -> None:
        """The JSON format carries the same keys, with numbers kept as numbers."""
        setup_logging("debug", "json", stream)
        log.warning("Push failed, will retry.", extra={"status": 503, "attempt": 2, "ratio": 0.5})
        event = json.loads(lines(stream)[0])
        assert list(event)[:4] == ["ts", "level", "caller", "msg"]
        assert event["level"] == "warn"
        assert event["msg"] == "Push failed, will retry."
        assert (event["status"], event["attempt"], event["ratio"]) == (503, 2, 0.5)

    def test_traceback_and_odd_values(self, stream: io.StringIO) -> None:
        """Tracebacks and values JSON cannot encode still give one valid JSON object per line."""
        setup_logging("info", "json", stream)
        try:
            raise KeyError("k")
        except KeyError:
            log.exception("Unexpected.", extra={"where": frozenset(), "nan": float("nan")})
        (line,) = lines(stream)
        event = json.loads(line)
        assert "KeyError: 'k'" in event["traceback"]
        assert (event["where"], event["nan"]) == ("frozenset()", "nan")


class TestLevels:
    @pytest.mark.parametrize(
        ("name", "number"),
        [
            pytest.param("debug", logging.DEBUG, id="debug"),
            pytest.param("info", logging.INFO, id="info"),
            pytest.param("warn", logging.WARNING, id="warn"),
            pytest.param("warning", logging.WARNING, id="warning-alias"),
            pytest.param("ERROR", logging.ERROR, id="upper-case"),
        ],
    )
    def test_level_names(self, name: str, number: int) -> None:
        """Promtail's level names, plus `warning`, map to the stdlib levels."""
        assert parse_level(name) == number

    def test_unknown_level_lists_allowed(self) -> None:
        """An unknown level raises ValueError naming the allowed values."""
        expected = r"unknown log level 'verbose': use one of debug, info, warn, error"
        with pytest.raises(ValueError, match=expected):
            setup_logging("verbose", "logfmt")

    def test_unknown_format_lists_allowed(self) -> None:
        """An unknown format raises ValueError naming logfmt and json."""
        with pytest.raises(ValueError, match=r"unknown log format 'text': use one of logfmt, json"):
            setup_logging("info", "text")

    def test_level_filters(self, stream: io.StringIO) -> None:
        """At warn, info and debug events are not written."""
        setup_logging("warn", "logfmt", stream)
        log.debug("Hidden.")
        log.info("Hidden.")
        log.warning("Shown.")
        assert [parse_logfmt(line)["msg"] for line in lines(stream)] == ["Shown."]

    def test_setup_twice_replaces(self, stream: io.StringIO) -> None:
        """Calling setup_logging again switches format without doubling lines."""
        setup_logging("info", "logfmt", stream)
        setup_logging("info", "json", stream)
        log.info("Once.")
        (line,) = lines(stream)
        assert json.loads(line)["msg"] == "Once."

    def test_httpx_request_lines_are_quiet(self, stream: io.StringIO) -> None:
        """httpx's per-request info lines are not written at info level (one per push otherwise)."""
        setup_logging("info", "logfmt", stream)
        logging.getLogger("httpx").info("HTTP Request: POST http://loki/push 204")
        assert lines(stream) == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestRateLimitedLogger:
    def test_repeats_within_interval_are_suppressed_and_counted(self, stream: io.StringIO) -> None:
        """The same problem logs once per interval; the next line says how many were held back."""
        setup_logging("info", "logfmt", stream)
        clock = FakeClock()
        limited = RateLimitedLogger(log, interval=30.0, clock=clock)
        assert limited.warning("push:loki", "Push failed, will retry.", extra={"status": 503})
        for _ in range(4):
            clock.now += 5
            assert not limited.warning("push:loki", "Push failed, will retry.", extra={"status": 503})
        clock.now += 10  # 30 s after the first line
        assert limited.warning("push:loki", "Push failed, will retry.", extra={"status": 503})
        first, second = (parse_logfmt(line) for line in lines(stream))
        assert "suppressed" not in first
        assert (second["suppressed"], second["status"]) == ("4", "503")

    def test_keys_are_independent(self, stream: io.StringIO) -> None:
        """A different key is logged even while another is being suppressed."""
        setup_logging("info", "logfmt", stream)
        limited = RateLimitedLogger(log, interval=30.0, clock=FakeClock())
        limited.warning("a", "Problem A.")
        limited.warning("a", "Problem A.")
        limited.warning("b", "Problem B.")
        assert [parse_logfmt(line)["msg"] for line in lines(stream)] == ["Problem A.", "Problem B."]

    def test_caller_is_the_call_site(self, stream: io.StringIO) -> None:
        """The caller field names the code that called the limiter, not the limiter itself."""
        setup_logging("info", "logfmt", stream)
        RateLimitedLogger(log, interval=1.0, clock=FakeClock()).error("k", "Failed.")
        assert parse_logfmt(lines(stream)[0])["caller"].startswith("test_logs.py:")

    def test_disabled_level_does_not_use_up_the_interval(self, stream: io.StringIO) -> None:
        """A debug call at info level neither logs nor silences a later warning for the same key."""
        setup_logging("info", "logfmt", stream)
        limited = RateLimitedLogger(log, interval=30.0, clock=FakeClock())
        assert not limited.debug("k", "Detail.")
        assert limited.warning("k", "Problem.")

    def test_key_table_is_bounded(self) -> None:
        """Past max_keys the oldest key is forgotten, so per-file keys cannot grow without bound."""
        limited = RateLimitedLogger(log, interval=30.0, clock=FakeClock(), max_keys=2)
        for key in ("a", "b", "c"):
            assert limited.allow(key) == 0
        assert limited.allow("a") == 0  # forgotten, so allowed again
        assert limited.allow("c") is None
