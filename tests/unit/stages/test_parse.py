"""Parsing stages: regex, json, logfmt, docker, cri, eventlogmessage, and the Go value conventions they share.

Expected values come from Promtail's stage documentation (the examples are reproduced as written, with the
documented typos noted) and from Go's behaviour where the documentation is silent.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import Checkpoint, LogEntry
from agent.pipeline import Pipeline
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.parse import (
    CriStage,
    format_go_float,
    go_json_marshal,
    go_string,
    parse_rfc3339_nano,
    scan_logfmt,
)
from agent.stages.rewrite import DecolorizeStage

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]


def _ns(year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second)) * 1_000_000_000 + nanos


def _out(stages: Stages, line: str, **kwargs: Any) -> LogEntry:
    entry = stages.run(line, **kwargs)
    assert entry is not None
    return entry


def _extracted(stages: Stages, line: str, **kwargs: Any) -> dict[str, Any]:
    extracted = _out(stages, line, **kwargs).extracted
    assert extracted is not None
    return extracted


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


class TestRegexStage:
    def test_doc_example_without_source(self, build: Build) -> None:
        """Promtail's example: named groups of the line become extracted values."""
        stages = build(
            r"""
            - regex:
                expression: "^(?s)(?P<time>\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\S+?) (?P<content>.*)$"
            """
        )
        extracted = _extracted(stages, "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!")
        # The documentation drops the "!" from `content`; the expression keeps it.
        assert extracted == {
            "time": "2019-01-01T01:00:00.000000001Z",
            "stream": "stderr",
            "flags": "P",
            "content": "i'm a log message!",
        }

    def test_doc_example_with_source(self, build: Build) -> None:
        """Promtail's example: the regex reads the extracted `time` the json stage set."""
        stages = build(
            r"""
            - json:
                expressions:
                  time:
            - regex:
                expression: "^(?P<year>\\d+)"
                source: "time"
            """
        )
        extracted = _extracted(stages, '{"time":"2019-01-01T01:00:00.000000001Z"}')
        assert extracted == {"time": "2019-01-01T01:00:00.000000001Z", "year": "2019"}

    def test_no_match_changes_nothing(self, build: Build) -> None:
        """A line the expression does not match leaves the extracted map as it was."""
        stages = build("- regex: {expression: '^(?P<level>[A-Z]+) '}")
        assert _extracted(stages, "no level here", labels={"job": "a"}) == {"job": "a"}

    def test_group_that_did_not_take_part_is_empty(self, build: Build) -> None:
        """As in Go, an optional named group that did not match is set to the empty string."""
        stages = build("- regex: {expression: '^(?P<a>x)?(?P<b>y)'}")
        assert _extracted(stages, "y", extracted={"a": "old"}) == {"a": "", "b": "y"}

    def test_unnamed_groups_are_not_extracted(self, build: Build) -> None:
        """Only named groups are set."""
        stages = build("- regex: {expression: '(\\w+) (?P<b>\\w+)'}")
        assert _extracted(stages, "x y") == {"b": "y"}

    def test_missing_source_is_skipped(self, build: Build) -> None:
        """A source absent from the extracted map is no error and changes nothing."""
        stages = build("- regex: {expression: '(?P<a>.+)', source: nope}")
        assert _extracted(stages, "line") == {}
        assert stages.errors("regex_source_not_string") == 0

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(2019.0, {"v": 2019.0, "a": "2019"}, id="float-as-go-string"),
            pytest.param(True, {"v": True, "a": "true"}, id="bool"),
            pytest.param(None, {"v": None}, id="null-skipped"),
        ],
    )
    def test_non_string_source(self, build: Build, value: Any, expected: dict[str, Any]) -> None:
        """A non-string source value is matched in its Go string form, or skipped when it has none."""
        stages = build("- regex: {expression: '(?P<a>.+)', source: v}")
        assert _extracted(stages, "line", extracted={"v": value}) == expected

    def test_unconvertible_source_is_counted(self, build: Build) -> None:
        """A source value without a string form (never produced by Promtail's stages) is counted."""
        stages = build("- regex: {expression: '(?P<a>.+)', source: v}")
        assert _extracted(stages, "line", extracted={"v": ["x"]}) == {"v": ["x"]}
        assert stages.errors("regex_source_not_string") == 1

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param("", {"a": ""}, id="empty-line"),
            pytest.param("ошибка: диск", {"a": "ошибка"}, id="unicode"),
        ],
    )
    def test_edge_lines(self, build: Build, line: str, expected: dict[str, str]) -> None:
        """Empty and non-ASCII lines match like any other."""
        stages = build("- regex: {expression: '^(?P<a>[^:]*)'}")
        assert _extracted(stages, line) == expected

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- regex: {source: x}",
                ["pipeline_stages[0].regex.expression: required key is missing"],
                id="missing-expression",
            ),
            pytest.param(
                "- regex: {expression: ''}",
                ["pipeline_stages[0].regex.expression: expression is required"],
                id="empty-expression",
            ),
            pytest.param(
                "- regex: {expression: '(?P<a>x'}",
                ["pipeline_stages[0].regex.expression: invalid regular expression '(?P<a>x': missing closing )"],
                id="invalid-expression",
            ),
            pytest.param(
                "- regex: {expression: x, source: ''}",
                ["pipeline_stages[0].regex.source: empty source"],
                id="empty-source",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        assert problems(snippet) == expected


class TestJsonStage:
    def test_doc_example_using_log_line(self, build: Build) -> None:
        """Promtail's first example: JMESPath field names pick values out of the line."""
        stages = build(
            """
            - json:
                expressions:
                  output: log
                  stream: stream
                  timestamp: time
            """
        )
        extracted = _extracted(
            stages, '{"log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'
        )
        # The documentation shows the timestamp without its "Z"; the value is copied as it is.
        assert extracted == {
            "output": "log message\n",
            "stream": "stderr",
            "timestamp": "2019-04-30T02:12:41.8443515Z",
        }

    def test_doc_example_using_extracted_data(self, build: Build) -> None:
        """Promtail's second example: a second json stage parses an extracted JSON string."""
        stages = build(
            """
            - json:
                expressions:
                  output:    log
                  stream:    stream
                  timestamp: time
                  extra:
            - json:
                expressions:
                  user:
                source: extra
            """
        )
        extracted = _extracted(
            stages,
            '{"log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z",'
            '"extra":"{\\"user\\":\\"marco\\"}"}',
        )
        assert extracted["extra"] == '{"user":"marco"}'
        assert extracted["user"] == "marco"

    def test_doc_example_jmespath_literal(self, build: Build) -> None:
        """Promtail's third example: a quoted identifier reads a key that contains a dot."""
        stages = build(
            """
            - json:
                expressions:
                  output: log
                  stream: '"grpc.stream"'
                  timestamp: time
            """
        )
        extracted = _extracted(
            stages, '{"log":"log message\\n","grpc.stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'
        )
        assert extracted["stream"] == "stderr"

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            pytest.param("n", 125.0, id="integer-is-float"),
            pytest.param("f", 1.5, id="float"),
            pytest.param("b", True, id="bool"),
            pytest.param("z", None, id="null"),
            pytest.param("absent", None, id="missing-key-is-null"),
            pytest.param("o", '{"k":"<v>","n":1}'.replace("<", "\\u003c").replace(">", "\\u003e"), id="object"),
            pytest.param("a", '[1,"x",null]', id="array"),
            pytest.param("o.k", "<v>", id="nested-path"),
            pytest.param("a[1]", "x", id="jmespath-index"),
            pytest.param("length(a)", 3.0, id="jmespath-function-number-is-float"),
            pytest.param("u", "日本", id="unicode"),
        ],
    )
    def test_values_keep_go_types(self, build: Build, expression: str, expected: Any) -> None:
        """Values keep the types Go's decoder gives them; objects and arrays become JSON text."""
        stages = build(f"- json: {{expressions: {{v: '{expression}'}}}}")
        line = '{"n":125,"f":1.5,"b":true,"z":null,"o":{"k":"<v>","n":1},"a":[1,"x",null],"u":"日本"}'
        assert _extracted(stages, line)["v"] == expected

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("not json", id="text"),
            pytest.param('{"a":', id="truncated"),
            pytest.param("[1,2]", id="array"),
            pytest.param('"a"', id="string"),
            pytest.param("", id="empty"),
            pytest.param('{"a":1} x', id="trailing-garbage"),
            pytest.param('{"a":NaN}', id="nan"),
        ],
    )
    def test_malformed_kept_and_counted(self, build: Build, line: str) -> None:
        """Without drop_malformed a line that is not a JSON object passes unchanged and is counted."""
        stages = build("- json: {expressions: {a:}}")
        assert _extracted(stages, line) == {}
        assert stages.errors("json_malformed") == 1

    def test_malformed_dropped_when_asked(self, build: Build) -> None:
        """With drop_malformed a line that is not a JSON object is dropped and counted as a drop."""
        stages = build("- json: {expressions: {a:}, drop_malformed: true}")
        assert stages.run("not json") is None
        assert stages.drops("malformed_json") == 1
        assert stages.run('{"a":"x"}') is not None

    def test_null_document_sets_every_key_to_null(self, build: Build) -> None:
        """The JSON text `null` is an empty object to Go: every expression yields null."""
        stages = build("- json: {expressions: {a:, b: x.y}}")
        assert _extracted(stages, "null") == {"a": None, "b": None}

    def test_missing_source_is_skipped(self, build: Build) -> None:
        """A source absent from the extracted map is neither parsed nor dropped."""
        stages = build("- json: {expressions: {a:}, source: nope, drop_malformed: true}")
        assert _extracted(stages, "not json") == {}

    def test_number_source_is_parsed_as_its_text(self, build: Build) -> None:
        """A number in `source` is parsed in its Go string form, which is not an object: malformed."""
        stages = build("- json: {expressions: {a:}, source: n, drop_malformed: true}")
        assert stages.run("x", extracted={"n": 5.0}) is None

    def test_lone_surrogate_escape_becomes_replacement_character(self, build: Build) -> None:
        """An escaped lone surrogate decodes to U+FFFD, as in Go, never to an unencodable character."""
        stages = build("- json: {expressions: {a:}}")
        assert _extracted(stages, '{"a":"x\\ud800y"}')["a"] == "x\ufffdy"

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- json: {expressions: {}}",
                ["pipeline_stages[0].json.expressions: JMES expression is required"],
                id="no-expressions",
            ),
            pytest.param(
                "- json: {expressions: {a: 'b['}}",
                ["pipeline_stages[0].json.expressions: could not compile JMES expression 'b[': "],
                id="invalid-jmespath",
            ),
            pytest.param(
                "- json: {expressions: {a:}, source: ''}",
                ["pipeline_stages[0].json.source: empty source"],
                id="empty-source",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        found = problems(snippet)
        assert len(found) == len(expected)
        for message, prefix in zip(found, expected, strict=True):
            assert message.startswith(prefix)


class TestLogfmtStage:
    def test_doc_example_using_log_line(self, build: Build) -> None:
        """Promtail's first example: mapped fields are extracted up to the stray quote that ends parsing."""
        stages = build(
            """
            - logfmt:
                mapping:
                  timestamp: time
                  app:
                  duration:
                  unknown:
            """
        )
        line = (
            'time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a log line" '
            'extra="user=foo""'
        )
        assert _extracted(stages, line) == {
            "timestamp": "2012-11-01T22:08:41+00:00",
            "app": "loki",
            "duration": "125",
        }
        assert stages.errors("logfmt_malformed") == 1

    def test_doc_example_using_extracted_data(self, build: Build) -> None:
        """Promtail's second example: a second logfmt stage parses an extracted value."""
        stages = build(
            """
            - logfmt:
                mapping:
                  extra:
            - logfmt:
                mapping:
                  user:
                source: extra
            """
        )
        line = (
            'time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a log line" '
            'extra="user=foo"'
        )
        assert _extracted(stages, line) == {"extra": "user=foo", "user": "foo"}

    @pytest.mark.parametrize(
        ("text", "pairs", "well_formed"),
        [
            pytest.param("a=1 b=2", [("a", "1"), ("b", "2")], True, id="bare"),
            pytest.param('a="x y" b=2', [("a", "x y"), ("b", "2")], True, id="quoted"),
            pytest.param(r'a="say \"hi\" \\ \u00e9"', [("a", 'say "hi" \\ é')], True, id="escapes"),
            pytest.param("flag a= b", [("flag", ""), ("a", ""), ("b", "")], True, id="key-without-value"),
            pytest.param('a="x"b=1', [("a", "x"), ("b", "1")], True, id="no-space-after-quote"),
            pytest.param("a=1\nb=2\r", [("a", "1"), ("b", "2")], True, id="records"),
            pytest.param("  \t ", [], True, id="blank"),
            pytest.param("a=1 b=x=y c=3", [("a", "1")], False, id="equals-in-bare-value"),
            pytest.param('a=1 b="open', [("a", "1")], False, id="unterminated-quote"),
            pytest.param("a=1 =x", [("a", "1")], False, id="missing-key"),
            pytest.param(r'a="\q"', [], False, id="unknown-escape"),
            pytest.param("ключ=значение", [("ключ", "значение")], True, id="unicode"),
        ],
    )
    def test_scan(self, text: str, pairs: list[tuple[str, str]], well_formed: bool) -> None:
        """Lines are scanned as go-logfmt scans them; a syntax error stops the scan."""
        assert scan_logfmt(text) == (pairs, well_formed)

    def test_two_names_for_one_key(self, build: Build) -> None:
        """Two extracted names mapped to the same logfmt key both get its value."""
        stages = build("- logfmt: {mapping: {a: level, b: level}}")
        assert _extracted(stages, "level=info") == {"a": "info", "b": "info"}

    def test_values_are_strings(self, build: Build) -> None:
        """Values stay strings: go-logfmt does not convert numbers."""
        stages = build("- logfmt: {mapping: {duration:}}")
        assert _extracted(stages, "duration=125")["duration"] == "125"

    def test_missing_source_is_skipped(self, build: Build) -> None:
        """A source absent from the extracted map changes nothing."""
        stages = build("- logfmt: {mapping: {a:}, source: nope}")
        assert _extracted(stages, "a=1") == {}

    def test_mapping_required(self, problems: Problems) -> None:
        """An empty mapping is a config error."""
        assert problems("- logfmt: {mapping: {}}") == [
            "pipeline_stages[0].logfmt.mapping: logfmt mapping is required"
        ]


class TestDockerStage:
    LINE = '{"log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'

    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: output, stream and timestamp are extracted; line, label and time are set."""
        stages = build("- docker: {}")
        entry = _out(stages, self.LINE, labels={"job": "d"})
        assert entry.extracted == {
            "job": "d",
            "output": "log message\n",
            "stream": "stderr",
            "timestamp": "2019-04-30T02:12:41.8443515Z",
        }
        assert entry.line == "log message\n"  # Promtail keeps the newline Docker wrote
        assert entry.labels == {"job": "d", "stream": "stderr"}
        assert entry.timestamp == _ns(2019, 4, 30, 2, 12, 41, 844351500)

    def test_malformed_line_passes_unchanged(self, build: Build) -> None:
        """A line that is not Docker JSON is sent as it is and counted."""
        stages = build("- docker: {}")
        entry = _out(stages, "plain text", timestamp=7)
        assert (entry.line, entry.labels, entry.timestamp) == ("plain text", {}, 7)
        assert stages.errors("docker_malformed") == 1

    def test_invalid_time_keeps_timestamp(self, build: Build) -> None:
        """An unparsable `time` leaves the entry's timestamp and is counted."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"log":"x","stream":"stdout","time":"yesterday"}', timestamp=7)
        assert (entry.line, entry.timestamp) == ("x", 7)
        assert stages.errors("docker_invalid_timestamp") == 1

    def test_missing_log_keeps_line(self, build: Build) -> None:
        """Without a `log` key, `output` is null and the line is left alone."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"stream":"stdout","time":"2019-04-30T02:12:41Z"}')
        assert entry.line == '{"stream":"stdout","time":"2019-04-30T02:12:41Z"}'
        assert entry.labels == {"stream": "stdout"}

    def test_unicode_log(self, build: Build) -> None:
        """Escaped and raw non-ASCII text in `log` arrives decoded."""
        stages = build("- docker: {}")
        entry = _out(stages, '{"log":"\\u00e9t\u00e9\\n","stream":"stdout","time":"2019-04-30T02:12:41Z"}')
        assert entry.line == "été\n"


def _counting(pending: int) -> Checkpoint:
    return Checkpoint(0, pending, lambda checkpoint: None)


class TestCriStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: content, stream, flags and time are extracted; line, label and time are set."""
        stages = build("- cri: {}")
        entry = _out(stages, "2019-04-30T02:12:41.8443515Z stdout F message", labels={"job": "k"})
        assert entry.extracted == {
            "job": "k",
            "time": "2019-04-30T02:12:41.8443515Z",
            "stream": "stdout",
            "flags": "F",  # the documentation says "xx"
            "content": "message",
        }
        assert entry.line == "message"
        assert entry.labels == {"job": "k", "stream": "stdout"}
        assert entry.timestamp == _ns(2019, 4, 30, 2, 12, 41, 844351500)

    def test_doc_well_formed_line(self, build: Build) -> None:
        """Promtail's first format example parses; its content keeps the newline and, flagged P, is held."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T01:00:00.000000001Z stderr P test\ngood") is None
        assert _out(stages, "2019-01-01T01:00:00.000000001Z stderr F !").line == "test\ngood!"

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("2019-01-01 T01:00:00.000000001Z stderr testgood", id="doc-space-in-time"),
            pytest.param("2019-01-01T01:00:00.000000001Z testgood", id="doc-no-stream"),
            pytest.param("2019-01-01T01:00:00Z stdin F x", id="unknown-stream"),
            pytest.param("", id="empty"),
        ],
    )
    def test_malformed_lines_pass_unchanged(self, build: Build, line: str) -> None:
        """Lines not in CRI format are sent as they are, with their labels and timestamp."""
        entry = _out(build("- cri: {}"), line, timestamp=3)
        assert (entry.line, entry.timestamp, entry.labels) == (line, 3, {})

    @pytest.mark.parametrize(
        ("line", "content"),
        [
            pytest.param("2019-01-01T00:00:00Z stdout F ", "", id="empty-content"),
            pytest.param("2019-01-01T00:00:00Z stdout F  two  spaces", " two  spaces", id="spaces-kept"),
            pytest.param("2019-01-01T00:00:00Z stdout F ünï", "ünï", id="unicode"),
        ],
    )
    def test_content(self, build: Build, line: str, content: str) -> None:
        """The content is everything after the flags and one space."""
        assert _out(build("- cri: {}"), line).line == content

    def test_partial_lines_joined_until_full_line(self, build: Build) -> None:
        """P lines are held and joined without separator to the next F line of the stream."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T00:00:01Z stdout P abc") is None
        assert stages.run("2019-01-01T00:00:02Z stdout P def") is None
        entry = _out(stages, "2019-01-01T00:00:03Z stdout F ghi")
        assert entry.line == "abcdefghi"
        assert entry.timestamp == _ns(2019, 1, 1, 0, 0, 3)  # the full line's time, as in Promtail

    def test_merged_entries_are_acknowledged(self, build: Build) -> None:
        """Entries merged into a later one are acknowledged once per client; the result carries on."""
        stages = build("- cri: {}", fanout=2)
        first, second, last = _counting(2), _counting(2), _counting(2)
        assert stages.run("2019-01-01T00:00:01Z stdout P a", checkpoint=first) is None
        assert first.pending == 2  # held, not acknowledged
        assert stages.run("2019-01-01T00:00:02Z stdout P b", checkpoint=second) is None
        assert (first.pending, second.pending) == (0, 2)
        entry = _out(stages, "2019-01-01T00:00:03Z stdout F c", checkpoint=last)
        assert (second.pending, last.pending) == (0, 2)
        assert entry.checkpoint is last

    def test_streams_are_joined_separately(self, build: Build) -> None:
        """stdout and stderr (and different label sets) keep separate partial lines."""
        stages = build("- cri: {}")
        assert stages.run("2019-01-01T00:00:01Z stdout P out-", labels={"f": "1"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P other-", labels={"f": "2"}) is None
        assert _out(stages, "2019-01-01T00:00:02Z stderr F err", labels={"f": "1"}).line == "err"
        assert _out(stages, "2019-01-01T00:00:03Z stdout F end", labels={"f": "1"}).line == "out-end"
        assert _out(stages, "2019-01-01T00:00:03Z stdout F end", labels={"f": "2"}).line == "other-end"

    def test_stream_cap_releases_least_recent(self, build: Build) -> None:
        """Past max_partial_lines streams, the least recently extended partial line is released as it is."""
        stages = build("- cri: {max_partial_lines: 2}")
        assert stages.run("2019-01-01T00:00:01Z stdout P a", labels={"f": "1"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P b", labels={"f": "2"}) is None
        assert stages.run("2019-01-01T00:00:01Z stdout P a", labels={"f": "1"}) is None
        released = _out(stages, "2019-01-01T00:00:01Z stdout P c", labels={"f": "3"})
        assert (released.line, released.labels["f"]) == ("b", "2")

    @pytest.mark.parametrize(
        ("parts", "expected"),
        [
            pytest.param(["abc", "def", "gh"], "abcde", id="ascii"),
            # "abéé" is 6 bytes: cut to 5, the half "é" is dropped (Promtail would keep half a character).
            pytest.param(["ab", "éé", "x"], "abéx", id="cut-inside-character-drops-it"),
        ],
    )
    def test_partial_line_size_cap(self, build: Build, parts: list[str], expected: str) -> None:
        """With truncation on, a joined line is cut to max_partial_line_size bytes."""
        stages = build("- cri: {max_partial_line_size: 5, max_partial_line_size_truncate: true}")
        for part in parts[:-1]:
            assert stages.run(f"2019-01-01T00:00:01Z stdout P {part}") is None
        assert _out(stages, f"2019-01-01T00:00:01Z stdout F {parts[-1]}").line == expected

    def test_full_line_alone_is_not_truncated(self, build: Build) -> None:
        """The size cap applies to joined partial lines only, as in Promtail."""
        stages = build("- cri: {max_partial_line_size: 2, max_partial_line_size_truncate: true}")
        assert _out(stages, "2019-01-01T00:00:01Z stdout F abcdef").line == "abcdef"

    def test_size_without_truncate_does_nothing(self, build: Build) -> None:
        """max_partial_line_size alone does not cut anything."""
        stages = build("- cri: {max_partial_line_size: 2}")
        assert stages.run("2019-01-01T00:00:01Z stdout P abc") is None
        assert _out(stages, "2019-01-01T00:00:01Z stdout F def").line == "abcdef"

    def test_held_lines_released_at_shutdown(self) -> None:
        """The pipeline's final flush releases a partial line still held, through the later stages."""
        ctx = StageContext(job_name="t", metrics=Metrics())
        stages = [CriStage(CriStage.Config(), ctx), DecolorizeStage(DecolorizeStage.Config(), ctx)]
        pipeline = Pipeline(stages, fanout=1, name="t", metrics=ctx.metrics)
        checkpoint = _counting(1)
        held = [LogEntry(0, "2019-01-01T00:00:01Z stdout P \x1b[1mbold", {"job": "x"}, checkpoint)]
        assert pipeline.process(held) == []
        assert checkpoint.pending == 1
        assert [entry.line for entry in pipeline.flush_due(final=True)] == ["bold"]

    def test_invalid_time_keeps_timestamp(self, build: Build) -> None:
        """An unparsable time leaves the entry's timestamp and is counted."""
        stages = build("- cri: {}")
        entry = _out(stages, "yesterday stdout F x", timestamp=5)
        assert (entry.line, entry.timestamp) == ("x", 5)
        assert stages.errors("cri_invalid_timestamp") == 1

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- cri: {max_partial_line_size_truncate: true}",
                [
                    "pipeline_stages[0].cri.max_partial_line_size_truncate: max_partial_line_size must be set "
                    "(> 0) when truncating partial lines"
                ],
                id="truncate-without-size",
            ),
            pytest.param(
                "- cri: {max_partial_lines: -1}",
                ["pipeline_stages[0].cri.max_partial_lines: input should be greater than or equal to 0, got -1"],
                id="negative-lines",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        assert problems(snippet) == expected

    def test_size_accepts_units(self, build: Build) -> None:
        """max_partial_line_size takes Promtail's byte sizes such as 256KiB."""
        stages = build("- cri: {max_partial_line_size: 1KiB, max_partial_line_size_truncate: true}")
        assert stages.run("2019-01-01T00:00:01Z stdout P " + "a" * 2000) is None
        assert len(_out(stages, "2019-01-01T00:00:01Z stdout F b").line) == 1024


class TestEventLogMessageStage:
    SIMPLE = "Key1: Value 1\r\nKey2: Value 2\r\nKey3: Value: 3"

    def test_doc_example_with_json(self, build: Build) -> None:
        """Promtail's example: keys of the Message are extracted, overwriting with overwrite_existing."""
        stages = build(
            """
            - json:
                expressions:
                  message:
                  Overwritten:
            - eventlogmessage:
                source: message
                overwrite_existing: true
            """
        )
        line = (
            '{"event_id": 1, "Overwritten": "old", "message": '
            '"Message type:\\r\\nOverwritten: new\\r\\nImage: C:\\\\Users\\\\User\\\\promtail.exe"}'
        )
        extracted = _extracted(stages, line)
        assert extracted["Message_type"] == ""
        assert extracted["Overwritten"] == "new"
        assert extracted["Image"] == "C:\\Users\\User\\promtail.exe"

    def test_simple_message(self, build: Build) -> None:
        """Each `Key: Value` line becomes an extracted value; only the first colon splits."""
        stages = build("- eventlogmessage: {}")
        extracted = _extracted(stages, "", extracted={"message": self.SIMPLE})
        assert extracted == {"message": self.SIMPLE, "Key1": "Value 1", "Key2": "Value 2", "Key3": "Value: 3"}

    @pytest.mark.parametrize(
        ("drop_invalid", "expected"),
        [
            pytest.param(
                False, {"Key_1": "Value 1", "_Key2": "Value 2", "Key_3": "Value 3", "_": "Value 4"}, id="sanitized"
            ),
            pytest.param(True, {}, id="dropped"),
        ],
    )
    def test_invalid_keys(self, build: Build, drop_invalid: bool, expected: dict[str, str]) -> None:
        """Keys that are not label names are sanitized, or skipped with drop_invalid_labels."""
        stages = build(f"- eventlogmessage: {{drop_invalid_labels: {str(drop_invalid).lower()}}}")
        message = "Key 1: Value 1\r\n0Key2: Value 2\r\nKey@3: Value 3\r\n: Value 4"
        extracted = _extracted(stages, "", extracted={"message": message})
        del extracted["message"]
        assert extracted == expected

    @pytest.mark.parametrize(
        ("overwrite", "expected"),
        [
            pytest.param(False, "existing value", id="kept"),
            pytest.param(True, "new value", id="overwritten"),
        ],
    )
    def test_existing_keys(self, build: Build, overwrite: bool, expected: str) -> None:
        """An already extracted key keeps its value unless overwrite_existing (Promtail ignores the new one)."""
        stages = build(f"- eventlogmessage: {{overwrite_existing: {str(overwrite).lower()}}}")
        extracted = _extracted(stages, "", extracted={"message": "test: new value", "test": "existing value"})
        assert extracted["test"] == expected

    @pytest.mark.parametrize(
        "message",
        [
            pytest.param("\n\rwhat; is this?\n\r", id="no-key-value-lines"),
            pytest.param("Key1: \udcff\udcfe", id="value-not-utf8"),
        ],
    )
    def test_nothing_extracted(self, build: Build, message: str) -> None:
        """Lines without a colon, and values that are not valid UTF-8, are skipped."""
        stages = build("- eventlogmessage: {}")
        assert _extracted(stages, "", extracted={"message": message}) == {"message": message}

    def test_missing_source_passes(self, build: Build) -> None:
        """An entry without the source value passes unchanged."""
        stages = build("- eventlogmessage: {}")
        assert _extracted(stages, "x", extracted={"notmessage": self.SIMPLE}) == {"notmessage": self.SIMPLE}

    def test_null_source_drops_entry(self, build: Build) -> None:
        """A source value without a string form drops the entry, as Promtail does."""
        stages = build("- eventlogmessage: {}")
        assert stages.run("x", extracted={"message": None}) is None
        assert stages.drops("eventlogmessage_invalid_source") == 1

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- eventlogmessage: {source: 'The Message!'}",
                ["pipeline_stages[0].eventlogmessage.source: invalid label name: The Message!"],
                id="invalid-source",
            ),
            pytest.param(
                "- eventlogmessage: {source: ''}",
                ["pipeline_stages[0].eventlogmessage.source: invalid label name: "],
                id="empty-source",
            ),
            pytest.param(
                "- eventlogmessage: {source: 1}",
                ["pipeline_stages[0].eventlogmessage.source: expected a string, got 1"],
                id="not-a-string",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        assert problems(snippet) == expected
