"""Line-rewriting stages: output, replace, decolorize, luhn.

Expected values come from Promtail's stage documentation (documented typos noted where they occur).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from agent.model import LogEntry, untracked_checkpoint
from agent.server.metrics import Metrics
from agent.stages.base import StageContext
from agent.stages.rewrite import LuhnStage

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]

APACHE_LINE = (
    '11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" '
    '"Mozilla/5.0 (Windows; U; Windows NT 5.1; de; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7 GTB6"'
)

# The documented expression of the `replace` examples (the YAML escapes removed).
NAMED_APACHE_EXPRESSION = (
    r"^(?P<ip>\S+) (?P<identd>\S+) (?P<user>\S+) \[(?P<timestamp>[\w:/]+\s[+\-]\d{4})\] "
    r'"(?P<action>\S+)\s?(?P<path>\S+)?\s?(?P<protocol>\S+)?" (?P<status>\d{3}|-) (?P<size>\d+|-)\s?'
    r'"?(?P<referer>[^"]*)"?\s?"?(?P<useragent>[^"]*)?"?$'
)


def _replace_yaml(expression: str, template: str) -> str:
    return yaml.safe_dump([{"replace": {"expression": expression, "replace": template}}])


def _out(stages: Stages, line: str, **kwargs: Any) -> LogEntry:
    entry = stages.run(line, **kwargs)
    assert entry is not None
    return entry


class TestOutputStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: the line becomes the extracted message, the user a label."""
        stages = build(
            """
            - json:
                expressions:
                  user: user
                  message: message
            - labels:
                user:
            - output:
                source: message
            """
        )
        entry = _out(stages, '{"user": "alexis", "message": "hello, world!"}')
        assert (entry.line, entry.labels) == ("hello, world!", {"user": "alexis"})

    @pytest.mark.parametrize(
        ("extracted", "expected"),
        [
            pytest.param({}, "original", id="missing-keeps-line"),
            pytest.param({"m": None}, "original", id="null-keeps-line"),
            pytest.param({"m": ""}, "", id="empty-string-empties-line"),
            pytest.param({"m": 1.5}, "1.5", id="number-in-go-form"),
            pytest.param({"m": "ünïcode"}, "ünïcode", id="unicode"),
        ],
    )
    def test_values(self, build: Build, extracted: dict[str, Any], expected: str) -> None:
        """The line takes the value's Go string form; a missing or null value leaves it."""
        assert _out(build("- output: {source: m}"), "original", extracted=extracted).line == expected

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param("- output: {}", ["pipeline_stages[0].output.source: required key is missing"], id="missing"),
            pytest.param(
                "- output: {source: ''}",
                ["pipeline_stages[0].output.source: output source value is required if output is specified"],
                id="empty",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """A source is required."""
        assert problems(snippet) == expected


class TestReplaceStage:
    def test_doc_example_without_source(self, build: Build) -> None:
        """Promtail's example: the captured password is masked in the line."""
        stages = build(
            r"""
            - replace:
                expression: "password (\\S+)"
                replace: "****"
            """
        )
        line = (
            "2019-01-01T01:00:00.000000001Z stderr P i'm a log message who has sensitive information with password xyz!"
        )
        assert _out(stages, line).line == line.replace("xyz!", "****")

    def test_doc_example_with_source(self, build: Build) -> None:
        """Promtail's example: the extracted `msg` is rewritten, the line is not."""
        stages = build(
            r"""
            - json:
                expressions:
                 level:
                 msg:
            - replace:
                expression: "\\S+ - \"POST (\\S+) .*"
                source:     "msg"
                replace: "/loki/api/v1/push"
            """
        )
        msg = (
            '11.11.11.11 - "POST /loki/api/push/ HTTP/1.1" 200 932 "-" "Mozilla/5.0 (Windows; U; Windows NT 5.1; '
            'de; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7 GTB6"'
        )
        line = '{"time":"2019-01-01T01:00:00.000000001Z", "level": "info", "msg":' + f"{json.dumps(msg)}}}"
        entry = _out(stages, line)
        assert entry.line == line
        # The documentation shows "/loki/api/v1/push/": the whole captured path, its slash included, is replaced.
        assert entry.extracted is not None
        assert entry.extracted["msg"] == msg.replace("/loki/api/push/", "/loki/api/v1/push")

    def test_doc_example_empty_replace(self, build: Build) -> None:
        """Promtail's example: an empty replace removes the captured text."""
        stages = build(
            r"""
            - replace:
                expression: "11.11.11.11 - (\\S+\\s)"
                replace: ""
            """
        )
        assert _out(stages, APACHE_LINE).line == APACHE_LINE.replace("frank ", "")

    def test_doc_example_named_groups_to_upper(self, build: Build) -> None:
        """Promtail's example: every named group is upper-cased in the line and extracted."""
        stages = build(_replace_yaml(NAMED_APACHE_EXPRESSION, "{{ .Value | ToUpper }}"))
        entry = _out(stages, APACHE_LINE)
        assert entry.line == APACHE_LINE.upper()
        # The documentation lists `user: FRANK` and a useragent with a stray trailing quote; the values are:
        assert entry.extracted == {
            "ip": "11.11.11.11",
            "identd": "-",
            "user": "FRANK",
            "timestamp": "25/JAN/2000:14:00:01 -0500",
            "action": "GET",
            "path": "/1986.JS",
            "protocol": "HTTP/1.1",
            "status": "200",
            "size": "932",
            "referer": "-",
            "useragent": "MOZILLA/5.0 (WINDOWS; U; WINDOWS NT 5.1; DE; RV:1.9.1.7) GECKO/20091221 FIREFOX/3.5.7 GTB6",
        }

    def test_doc_example_named_and_unnamed_groups(self, build: Build) -> None:
        """Promtail's example: an unnamed group is replaced in the line but not extracted."""
        expression = NAMED_APACHE_EXPRESSION.replace("(?P<user>", "(")
        stages = build(_replace_yaml(expression, "{{ .Value | ToUpper }}"))
        entry = _out(stages, APACHE_LINE)
        assert entry.line == APACHE_LINE.upper()
        assert entry.extracted is not None
        assert "user" not in entry.extracted
        assert entry.extracted["path"] == "/1986.JS"

    def test_doc_example_hash(self, build: Build) -> None:
        """Promtail's example: an SSN is replaced by a salted hash."""
        stages = build(
            """
            - replace:
                expression: '([0-9]{3}-[0-9]{2}-[0-9]{4})'
                replace: '*SSN*{{ .Value | Hash "salt" }}*'
            """
        )
        assert re.fullmatch(r"ssn=\*SSN\*[0-9a-f]{64}\* ok", _out(stages, "ssn=123-45-6789 ok").line)

    def test_doc_example_template_condition(self, build: Build) -> None:
        """Promtail's example: a captured status 200 becomes HttpStatusOk, other groups are upper-cased."""
        template = (
            '{{ if eq .Value "200" }}{{ Replace .Value "200" "HttpStatusOk" -1 }}'
            "{{ else }}{{ .Value | ToUpper }}{{ end }}"
        )
        unnamed = re.sub(r"\?P<\w+>", "", NAMED_APACHE_EXPRESSION)
        stages = build(_replace_yaml(unnamed, template))
        assert _out(stages, APACHE_LINE).line == APACHE_LINE.upper().replace(" 200 ", " HttpStatusOk ")

    def test_template_failing_at_run_time_leaves_entry(self, build: Build) -> None:
        """A template Go fails to execute leaves the entry as it was, as in Promtail, and is counted."""
        stages = build("""- replace: {expression: '(\\w+)', replace: '{{ fail "no" }}'}""")
        assert _out(stages, "abc").line == "abc"
        assert stages.errors("replace_template_failed") == 1

    @pytest.mark.parametrize(
        ("expression", "template", "line", "expected"),
        [
            pytest.param(r"(\d)", "*", "card 4111", "card ****", id="adjacent-matches-all-replaced"),
            pytest.param(r"(a)(b)", "_", "ab", "__", id="adjacent-groups-all-replaced"),
            pytest.param(r"((a)b)", "X", "abab", "XX", id="nested-group-inside-replaced-one"),
            pytest.param(r"(x)?(y)", "Z", "y", "Z", id="group-that-did-not-match"),
            pytest.param(r"(a*)", "X", "baaa", "XbX", id="empty-match-after-match-skipped-as-go"),
            pytest.param(r"(\w+)", "[{{ .Value }}]", "a b", "[a] [b]", id="value"),
            pytest.param(r"(\w+)", "{{- .Value -}}", "a b", "a b", id="trim-markers"),
            pytest.param(r"(\w+)", "{{/* hidden */}}<{{ .Value }}>", "a", "<a>", id="comment"),
            pytest.param(r"(\w+)", "{{ .level }}", "a", "warn", id="extracted-value"),
            pytest.param(r"(\w+)", "{{ .nope }}", "a", "<no value>", id="missing-value-as-go"),
            pytest.param(r"(\w+)", "{{ .n }}", "a", "3", id="number-in-go-form"),
            pytest.param(r"(é+)", "e", "café", "cafe", id="unicode"),
            pytest.param(r"(nothing)", "X", "", "", id="empty-line"),
        ],
    )
    def test_replacement(self, build: Build, expression: str, template: str, line: str, expected: str) -> None:
        """Every captured group of every match is replaced by the rendered template (as documented)."""
        stages = build(f"- replace: {{expression: '{expression}', replace: '{template}'}}")
        assert _out(stages, line, extracted={"level": "warn", "n": 3.0}).line == expected

    def test_named_groups_extracted_with_replacement(self, build: Build) -> None:
        """Named groups are set as extracted values, holding their replaced text (from the first match)."""
        stages = build(r"- replace: {expression: 'user=(?P<user>\w+) (\w+)', replace: '<{{ .Value }}>'}")
        entry = _out(stages, "user=bob x user=eve y")
        assert entry.line == "user=<bob> <x> user=<eve> <y>"
        assert entry.extracted == {"user": "<bob>"}

    def test_no_match_changes_nothing(self, build: Build) -> None:
        """Without a match neither the line nor the extracted map change."""
        stages = build(r"- replace: {expression: '(?P<a>\d+)', replace: 'x'}")
        entry = _out(stages, "no digits", extracted={"a": "old"})
        assert (entry.line, entry.extracted) == ("no digits", {"a": "old"})

    @pytest.mark.parametrize(
        ("extracted", "expected"),
        [
            pytest.param({}, {}, id="missing-source-skipped"),
            pytest.param({"v": None}, {"v": None}, id="null-source-skipped"),
            pytest.param({"v": 1234.0}, {"v": "12**"}, id="number-source-as-go-string"),
        ],
    )
    def test_source_values(self, build: Build, extracted: dict[str, Any], expected: dict[str, Any]) -> None:
        """A source value is replaced in its Go string form; a missing or null one is left alone."""
        stages = build(r"- replace: {expression: '\d\d(\d\d)', replace: '**', source: v}")
        entry = _out(stages, "line 1234", extracted=extracted)
        assert (entry.line, entry.extracted) == ("line 1234", expected)

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- replace: {expression: ''}",
                ["pipeline_stages[0].replace.expression: expression is required"],
                id="empty-expression",
            ),
            pytest.param(
                "- replace: {expression: '(a', replace: x}",
                ["pipeline_stages[0].replace.expression: invalid regular expression '(a': missing closing )"],
                id="invalid-expression",
            ),
            pytest.param(
                "- replace: {expression: '(a)', replace: '{{ .Value '}",
                ["pipeline_stages[0].replace.replace: unclosed action at line 1, column 11"],
                id="unclosed-action",
            ),
            pytest.param(
                "- replace: {expression: '(a)', replace: '{{ Nope .Value }}'}",
                ['pipeline_stages[0].replace.replace: function "Nope" not defined at line 1, column 4'],
                id="unknown-function",
            ),
            pytest.param(
                "- replace: {expression: '(a)', source: ''}",
                ["pipeline_stages[0].replace.source: empty source"],
                id="empty-source",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Config mistakes are reported with their YAML path."""
        assert problems(snippet) == expected


class TestDecolorizeStage:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param(
                "[2022-11-04 22:17:57.811] \x1b[0;32mhttp\x1b[0m: GET /_health (0 ms) 204",
                "[2022-11-04 22:17:57.811] http: GET /_health (0 ms) 204",
                id="doc-example",
            ),
            # The documentation's example lacks the "m" of the first sequence; the pattern then eats the "h".
            pytest.param(
                "[2022-11-04 22:17:57.811] \x1b[0;32http\x1b[0m: GET /_health (0 ms) 204",
                "[2022-11-04 22:17:57.811] ttp: GET /_health (0 ms) 204",
                id="doc-example-as-written",
            ),
            pytest.param("\x1b[1;31mERROR\x1b[0m", "ERROR", id="bold-red"),
            pytest.param("\x1b[2Kcleared", "cleared", id="erase-line"),
            pytest.param("\x1b]0;title\x07text", "text", id="osc-title"),
            pytest.param("\x9b31mred", "red", id="8-bit-csi"),
            pytest.param("plain [0;32m text", "plain [0;32m text", id="no-escape"),
            pytest.param("日本\x1b[33m語", "日本語", id="unicode"),
            pytest.param("", "", id="empty"),
        ],
    )
    def test_strips_escape_sequences(self, build: Build, line: str, expected: str) -> None:
        """ANSI color and cursor sequences are removed from the line; the rest is untouched."""
        assert _out(build("- decolorize:"), line).line == expected


class TestLuhn:
    """`luhn` redacts card numbers (numbers passing the Luhn checksum) and leaves other numbers alone."""

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param("paid with 4111111111111111 ok", "paid with **REDACTED** ok", id="visa-test-card"),
            pytest.param("order 4111111111111112 ok", "order 4111111111111112 ok", id="fails-checksum"),
            pytest.param("id 4242424242 short", "id 4242424242 short", id="shorter-than-min-length"),
            pytest.param("no digits here", "no digits here", id="no-digits"),
        ],
    )
    def test_line(self, line: str, expected: str) -> None:
        """Only numbers of at least min_length digits that pass the checksum are replaced."""
        stage = LuhnStage(LuhnStage.Config.model_validate({}), StageContext("test", Metrics()))
        entry = LogEntry(1, line, {}, untracked_checkpoint(), extracted={})
        assert stage.process(entry) is entry
        assert entry.line == expected

    def test_source_and_replacement(self) -> None:
        """With a source, the extracted value is redacted with the configured replacement; the line is kept."""
        config = LuhnStage.Config.model_validate({"source": "card", "replacement": "<card>", "min_length": 15})
        stage = LuhnStage(config, StageContext("test", Metrics()))
        entry = LogEntry(1, "line 4111111111111111", {}, untracked_checkpoint(), extracted={"card": "4111111111111111"})
        stage.process(entry)
        assert entry.extracted == {"card": "<card>"}
        assert entry.line == "line 4111111111111111"
