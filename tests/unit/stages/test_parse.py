"""Parsing stages: regex, json, logfmt, eventlogmessage.

Expected values come from Promtail's stage documentation (the examples are reproduced as written, with the
documented typos noted) and from Go's behaviour where the documentation is silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import LogEntry
from agent.stages.parse import scan_logfmt

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]


def _out(stages: Stages, line: str, **kwargs: Any) -> LogEntry:
    entry = stages.run(line, **kwargs)
    assert entry is not None
    return entry


def _extracted(stages: Stages, line: str, **kwargs: Any) -> dict[str, Any]:
    extracted = _out(stages, line, **kwargs).extracted
    assert extracted is not None
    return extracted


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
