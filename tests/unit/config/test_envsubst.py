"""`-config.expand-env`: the `${VAR}` forms real configs use, escapes, unset variables and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.config.envsubst import Reference, SubstitutionError, expand, references
from agent.config.loader import load_config
from agent.errors import ConfigError, ConfigProblem

ENV = {"HOST": "loki", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("url: http://${HOST}:3100", "url: http://loki:3100", id="plain"),
        pytest.param("${HOST:-other}", "loki", id="colon-dash-set"),
        pytest.param("${MISSING:-other}", "other", id="colon-dash-unset"),
        pytest.param("${EMPTY:-other}", "other", id="colon-dash-empty"),
        pytest.param("${HOST-other}", "loki", id="dash-set"),
        pytest.param("${MISSING-other}", "other", id="dash-unset"),
        pytest.param("${EMPTY-other}", "", id="dash-empty-stays-empty"),
        pytest.param("${MISSING:http://localhost:3100/push}", "http://localhost:3100/push", id="colon-default"),
        pytest.param("${HOST:http://localhost:3100/push}", "loki", id="colon-default-set"),
        pytest.param("${MISSING:=other}", "other", id="colon-equals"),
        pytest.param("${MISSING:-}", "", id="empty-default"),
        pytest.param("${MISSING:-${HOST}}", "loki", id="nested-default"),
        pytest.param("${MISSING}", "", id="unset-is-empty"),
        pytest.param("$${HOST}", "${HOST}", id="escaped-brace"),
        pytest.param("price: $$5", "price: $5", id="escaped-dollar"),
        pytest.param("$HOST $1 {x} $", "$HOST $1 {x} $", id="no-braces-untouched"),
        pytest.param("replacement: $${1}", "replacement: ${1}", id="group-reference-kept"),
        pytest.param(
            'regex: "(?P<n>\\\\d+)\\\\s" # ${HOST}', 'regex: "(?P<n>\\\\d+)\\\\s" # loki', id="backslashes-kept"
        ),
    ],
)
def test_expand(text: str, expected: str) -> None:
    """Each supported form expands as documented."""
    result = expand(text, ENV)
    assert result.errors == []
    assert result.text == expected


def test_backslashes_are_not_eaten() -> None:
    """Unlike Promtail's envsubst, `\\\\` stays `\\\\`, so double-quoted YAML regexes still parse."""
    text = 'expression: "^(?P<ts>\\\\S+) \\\\d+ \\\\/ ${HOST}"\n'
    assert expand(text, ENV).text == 'expression: "^(?P<ts>\\\\S+) \\\\d+ \\\\/ loki"\n'


def test_references_report_line_and_span() -> None:
    """Each reference carries its line, its span in the output, and whether it was set or defaulted."""
    result = expand("a: 1\nb: ${HOST}-${MISSING}\nc: ${GONE:-x}\n", ENV)
    assert result.references == [
        Reference("HOST", 2, 8, 12, is_set=True, has_default=False),
        Reference("MISSING", 2, 13, 13, is_set=False, has_default=False),
        Reference("GONE", 3, 17, 18, is_set=False, has_default=True),
    ]
    assert [r.is_silently_empty for r in result.references] == [False, True, False]


def test_nested_reference_only_counts_when_used() -> None:
    """A reference inside a default that is not used is not reported."""
    assert [r.name for r in expand("${HOST:-${MISSING}}", ENV).references] == ["HOST"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param(
            "a: 1\nb: ${HOST\n",
            SubstitutionError(2, 4, "unclosed '${HOST': add the closing '}' (or write $${ for a literal ${)"),
            id="unclosed",
        ),
        pytest.param(
            "b: ${HOST^^}",
            SubstitutionError(
                1,
                4,
                "unsupported substitution '${HOST^^}': use ${VAR}, ${VAR:-default}, ${VAR-default} or "
                "${VAR:default}, and $${ for a literal ${",
            ),
            id="bash-function",
        ),
        pytest.param(
            "b: ${HOST:?required}",
            SubstitutionError(
                1,
                4,
                "unsupported substitution '${HOST:?required}': use ${VAR}, ${VAR:-default}, ${VAR-default} or "
                "${VAR:default}, and $${ for a literal ${",
            ),
            id="required-form",
        ),
        pytest.param(
            "b: ${}",
            SubstitutionError(1, 4, "bad substitution '${}': expected a variable name after '${'"),
            id="no-name",
        ),
    ],
)
def test_errors(text: str, error: SubstitutionError) -> None:
    """A `${` that cannot be expanded is an error with its line and column, as Promtail refuses it too."""
    assert expand(text, ENV).errors == [error]


def test_all_errors_at_once() -> None:
    """Every bad reference in the file is reported."""
    assert [e.line for e in expand("a: ${}\nb: ${X^}\nc: ${Y}\n", ENV).errors] == [1, 2]


def test_references_in_unexpanded_text() -> None:
    """references() finds `${...}` in plain text, skipping `$${` escapes."""
    assert references("a: ${X} $${Y} $$$${Z} $$${W}") == [("${X}", 3), ("${W}", 24)]


class TestLoader:
    def write(self, tmp_path: Path, text: str) -> str:
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    def test_without_flag_stays_literal(self, tmp_path: Path) -> None:
        """Without -config.expand-env, `${...}` is text."""
        path = self.write(tmp_path, "positions:\n  filename: ${DIR}/positions.yaml\n")
        assert load_config(path, environ={"DIR": "/x"}).config.positions.filename == "${DIR}/positions.yaml"

    def test_with_flag_expands(self, tmp_path: Path) -> None:
        """With -config.expand-env, `${...}` is replaced before YAML parsing."""
        path = self.write(tmp_path, "positions:\n  filename: ${DIR}/positions.yaml\n")
        config = load_config(path, expand_env=True, environ={"DIR": "/x"}).config
        assert config.positions.filename == "/x/positions.yaml"

    def test_unset_variable_warns_with_path_and_line(self, tmp_path: Path) -> None:
        """An unset variable without default becomes "" (as in Promtail) and a warning names path and line."""
        path = self.write(tmp_path, "server:\n  log_level: info\npositions:\n  filename: ${DIR}/positions.yaml\n")
        loaded = load_config(path, expand_env=True, environ={})
        assert loaded.config.positions.filename == "/positions.yaml"
        assert loaded.warnings == [
            ConfigProblem("positions.filename", "${DIR} on line 4 expanded to an empty string because DIR is not set")
        ]

    def test_unset_variable_in_comment_is_silent(self, tmp_path: Path) -> None:
        """A reference inside a comment expands to nothing harmful and is not warned about."""
        path = self.write(tmp_path, "server:  # runs as ${USERNAME}\n  log_level: info\n")
        assert load_config(path, expand_env=True, environ={}).warnings == []

    def test_unset_variable_explains_the_error(self, tmp_path: Path) -> None:
        """When the emptied value is invalid, the error says which variable was missing."""
        path = self.write(tmp_path, "scrape_configs:\n  - job_name: ${JOB}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, expand_env=True, environ={})
        assert caught.value.problems == [
            ConfigProblem(
                "scrape_configs[0].job_name",
                "required key is missing; ${JOB} on line 2 expanded to an empty string because JOB is not set",
            )
        ]

    def test_substitution_errors_fail_the_load(self, tmp_path: Path) -> None:
        """A bad substitution fails the load with its position."""
        path = self.write(tmp_path, "server:\n  log_level: ${LEVEL\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, expand_env=True, environ={})
        assert caught.value.problems == [
            ConfigProblem(
                "", "line 2, column 14: unclosed '${LEVEL': add the closing '}' (or write $${ for a literal ${)"
            )
        ]

    def test_double_quoted_regex_same_with_and_without(self, tmp_path: Path) -> None:
        """A double-quoted regex with `\\\\d` loads identically with expansion on (Promtail's envsubst breaks it)."""
        path = self.write(
            tmp_path,
            """\
            scrape_configs:
              - job_name: a
                relabel_configs:
                  - source_labels: [__path__]
                    regex: "/var/log/(\\\\w+)\\\\.log"
                    target_label: app
            """,
        )
        plain = load_config(path).config.scrape_configs[0].relabel_configs[0].regex
        expanded = load_config(path, expand_env=True, environ={}).config.scrape_configs[0].relabel_configs[0].regex
        assert plain.pattern == expanded.pattern
        assert expanded.fullmatch("/var/log/nginx.log")
