"""The `match` selector: LogQL stream selectors and line filters, parsed once, matched per entry."""

from __future__ import annotations

import pytest

from agent.stages.selector import LabelMatcher, LineFilter, SelectorError, parse_selector


class TestParse:
    @pytest.mark.parametrize(
        ("text", "matchers", "filters"),
        [
            pytest.param('{app="loki"}', [("app", "=", "loki")], [], id="equality"),
            pytest.param(
                '{ foo = "bar", bar != "baz" }',
                [("foo", "=", "bar"), ("bar", "!=", "baz")],
                [],
                id="spaces-and-two-matchers",
            ),
            pytest.param('{foo=~"ba.*", n!~"x|y"}', [("foo", "=~", "ba.*"), ("n", "!~", "x|y")], [], id="regex"),
            pytest.param(
                '{app="promtail"} |~ ".*noisy error.*"',
                [("app", "=", "promtail")],
                [("|~", ".*noisy error.*")],
                id="documented-drop-example",
            ),
            pytest.param(
                '{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap"',
                [("foo", "=", "bar")],
                [("|=", "baz"), ("|~", "blip"), ("!=", "flip"), ("!~", "flap")],
                id="all-line-filters",
            ),
            pytest.param('{a="x"} |~ `\\d+`', [("a", "=", "x")], [("|~", "\\d+")], id="backquoted-raw-string"),
        ],
    )
    def test_parses(self, text: str, matchers: list[tuple[str, str, str]], filters: list[tuple[str, str]]) -> None:
        """Matchers and filters come out in the order written."""
        selector = parse_selector(text)
        assert selector.label_matchers == tuple(LabelMatcher(*m) for m in matchers)
        assert selector.line_filters == tuple(LineFilter(*f) for f in filters)

    @pytest.mark.parametrize(
        ("literal", "value"),
        [
            pytest.param('"ba\\"r"', 'ba"r', id="escaped-quote"),
            pytest.param('"a\\\\d"', "a\\d", id="escaped-backslash"),
            pytest.param('"tab\\there"', "tab\there", id="tab"),
            pytest.param('"\\u00e9\\x41\\101"', "éAA", id="unicode-hex-octal"),
        ],
    )
    def test_go_string_escapes(self, literal: str, value: str) -> None:
        """Strings are Go literals, with Go's escapes."""
        assert parse_selector(f"{{a={literal}}}").label_matchers[0].value == value

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param('{foo="bar}', "invalid selector: string not terminated at position 5", id="unterminated"),
            pytest.param('{foo="bar"', "invalid selector: expected ',' or '}' at position 10", id="unclosed"),
            pytest.param(
                '{foo="bar"} |~', "invalid selector: expected a quoted string at position 14", id="filter-no-string"
            ),
            pytest.param(
                '{foo="bar"} "foo"',
                "invalid selector: expected a line filter (|=, !=, |~ or !~) at position 12",
                id="string-without-filter",
            ),
            pytest.param("{}", "invalid selector: expected a label name at position 1", id="empty-selector"),
            pytest.param(
                'app="x"', "invalid selector: expected '{' to open the stream selector at position 0", id="no-brace"
            ),
            pytest.param(
                '{app>"x"}', "invalid selector: expected one of =, !=, =~ or !~ at position 4", id="bad-operator"
            ),
            pytest.param(
                '{a="\\d"}',
                "invalid selector: unknown escape \\d in string (write \\\\ for a backslash) at position 4",
                id="go-escape",
            ),
            pytest.param(
                '{a="x"} | level="x"',
                "invalid selector: expected a line filter (|=, !=, |~ or !~) at position 8",
                id="label-filter",
            ),
        ],
    )
    def test_syntax_errors_name_the_position(self, text: str, message: str) -> None:
        """A selector that does not parse is rejected with where the problem is."""
        with pytest.raises(SelectorError) as raised:
            parse_selector(text)
        assert str(raised.value) == message

    def test_invalid_regex_is_rejected(self) -> None:
        """A label regex that does not compile is a config error naming the label."""
        with pytest.raises(ValueError, match="label 'app': invalid regular expression"):
            parse_selector('{app=~"(unclosed"}')


class TestMatches:
    @pytest.mark.parametrize(
        ("text", "labels", "line", "expected"),
        [
            pytest.param('{app="loki"}', {"app": "loki"}, "", True, id="equal"),
            pytest.param('{app="loki"}', {"app": "pokey"}, "", False, id="not-equal"),
            pytest.param('{app!="loki"}', {}, "", True, id="missing-label-is-empty-for-not-equal"),
            pytest.param('{app=""}', {}, "", True, id="missing-label-equals-empty"),
            pytest.param('{app=~"lo.*"}', {"app": "loki"}, "", True, id="regex-full-match"),
            pytest.param('{app=~"ok"}', {"app": "loki"}, "", False, id="regex-is-anchored"),
            pytest.param('{app=~"a|loki"}', {"app": "loki"}, "", True, id="anchored-alternation"),
            pytest.param('{app!~"lo.*"}', {"app": "loki"}, "", False, id="negative-regex"),
            pytest.param('{app=~".*"}', {}, "", True, id="regex-matches-missing-as-empty"),
            pytest.param('{a="x", b="y"}', {"a": "x", "b": "z"}, "", False, id="all-matchers-must-hold"),
            pytest.param('{a="x"} |= "err"', {"a": "x"}, "an error", True, id="contains"),
            pytest.param('{a="x"} != "err"', {"a": "x"}, "an error", False, id="not-contains"),
            pytest.param('{a="x"} |~ "e[r]+"', {"a": "x"}, "an error", True, id="regex-filter-unanchored"),
            pytest.param('{a="x"} !~ "^an"', {"a": "x"}, "an error", False, id="negative-regex-filter"),
            pytest.param('{a="x"} |= "an" |= "zzz"', {"a": "x"}, "an error", False, id="all-filters-must-hold"),
            pytest.param(
                '{app="promtail"} |~ ".*noisy error.*"', {"app": "promtail"}, "foo noisy error", True, id="doc-example"
            ),
        ],
    )
    def test_matches(self, text: str, labels: dict[str, str], line: str, expected: bool) -> None:
        """Labels are matched by the stream selector, the line by the filters."""
        assert parse_selector(text).matches(labels, line) is expected
