"""The template stage, against every example of Promtail's template stage documentation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from agent.stages import registry

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]

# Promtail's multi-line example, verbatim from its documentation (YAML's backslash-newline joins the lines).
DOC_TIME_EXAMPLE = r"""
- template:
    source: time
    template: "\
      {{ .date_local | substr 6 10 }}-{{ .date_local | substr 0 2 }}-{{ .date_local | substr 3 5 }}T\
      {{ if eq (.time_local | substr 0 2) \"12\" }}\
          {{ if eq .hour_period \"AM\" }}00{{ else }}12{{ end }}{{ .time_local | substr 2 10}}Z\
      {{ else }}\
          {{ if eq .hour_period \"AM\" }}\
              {{ if or (eq (.time_local | substr 0 2) \"11\") (eq (.time_local | substr 0 2) \"10\") }}{{ .time_local }}Z\
                  {{ else }}0{{ .time_local }}Z\
              {{ end }}\
          {{ else }}\
              {{ if eq (.time_local | substr 0 2) \"11\" }}23{{ .time_local | substr 2 10 }}Z{{ end }}\
              {{ if eq (.time_local | substr 0 2) \"10\" }}22{{ .time_local | substr 2 10 }}Z{{ end }}\
              {{ if eq (.time_local | substr 0 2) \"9:\" }}21{{ .time_local | substr 1 10 }}Z{{ end }}\
              {{ if eq (.time_local | substr 0 2) \"8:\" }}20{{ .time_local | substr 1 10 }}Z{{ end }}\
              {{ if and (le (.time_local | substr 0 1) \"7\") (eq (.time_local | substr 1 2) \":\") }}1{{ add (.time_local | substr 0 1) 2 }}{{ .time_local | substr 1 10 }}Z{{ end }}\
          {{ end }}\
      {{ end }}"
- timestamp:
    source: time
    format: RFC3339
"""  # noqa: E501 - verbatim from the documentation


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Until `template` is in the registry's family list, add it for these tests (harmless once it is).
    if "template" not in registry._FAMILIES:
        monkeypatch.setattr(registry, "_FAMILIES", (*registry._FAMILIES, "template"))
    monkeypatch.setattr(registry, "_CLASSES", None)
    yield
    registry._CLASSES = None


def _extracted(stages: Stages, extracted: dict[str, Any], line: str = "line") -> dict[str, Any]:
    entry = stages.run(line, extracted=extracted)
    assert entry is not None
    assert entry.extracted is not None
    return entry.extracted


class TestTemplateStage:
    def test_constant_creates_key(self, build: Build) -> None:
        """Promtail's first example: a missing source key is created with the template's text."""
        stages = build("- template: {source: new_key, template: 'hello world!'}")
        assert _extracted(stages, {})["new_key"] == "hello world!"

    def test_value_suffix(self, build: Build) -> None:
        """`{{ .Value }}_some_suffix` appends to the source value."""
        stages = build("- template: {source: app, template: '{{ .Value }}_some_suffix'}")
        assert _extracted(stages, {"app": "loki"})["app"] == "loki_some_suffix"

    def test_to_lower(self, build: Build) -> None:
        """`{{ ToLower .Value }}` lower-cases the source value."""
        stages = build("- template: {source: app, template: '{{ ToLower .Value }}'}")
        assert _extracted(stages, {"app": "LOKI"})["app"] == "loki"

    def test_new_key_from_others(self, build: Build) -> None:
        """A template may build a new key from other extracted values."""
        stages = build("- template: {source: output_msg, template: '{{ .level }} for app {{ ToUpper .app }}'}")
        result = _extracted(stages, {"app": "loki", "level": "warn"})
        assert (result["output_msg"], result["app"]) == ("warn for app LOKI", "loki")

    def test_value_and_other_keys(self, build: Build) -> None:
        """`.Value` and other keys mix in one template."""
        stages = build(
            "- template: {source: app, template: '{{ .level }} for app {{ ToUpper .Value }} in module {{.module}}'}"
        )
        assert _extracted(stages, {"app": "loki", "level": "warn", "module": "test"})["app"] == (
            "warn for app LOKI in module test"
        )

    def test_replace_once(self, build: Build) -> None:
        """`Replace .Value "loki" "blokey" 1` replaces at most one occurrence."""
        stages = build("""- template: {source: app, template: '{{ Replace .Value "loki" "blokey" 1 }}'}""")
        assert _extracted(stages, {"app": "loki loki"})["app"] == "blokey loki"

    def test_entry_is_the_line(self, build: Build) -> None:
        """`.Entry` is the log line, here prepended with the app name."""
        stages = build("- template: {source: message, template: '{{.app }}: {{ .Entry }}'}")
        assert _extracted(stages, {"app": "loki"}, line="started")["message"] == "loki: started"

    @pytest.mark.parametrize(
        ("date", "time", "period", "expected"),
        [
            pytest.param("11/08/2022", "12:53:24", "PM", "2022-11-08T12:53:24Z", id="noon-hour"),
            pytest.param("11/08/2022", "12:53:24", "AM", "2022-11-08T00:53:24Z", id="midnight-hour"),
            pytest.param("11/08/2022", "10:53:24", "AM", "2022-11-08T10:53:24Z", id="two-digit-morning"),
            pytest.param("11/08/2022", "9:53:24", "AM", "2022-11-08T09:53:24Z", id="one-digit-morning"),
            pytest.param("11/08/2022", "11:53:24", "PM", "2022-11-08T23:53:24Z", id="eleven-pm"),
            pytest.param("11/08/2022", "9:53:24", "PM", "2022-11-08T21:53:24Z", id="nine-pm"),
            pytest.param("11/08/2022", "3:53:24", "PM", "2022-11-08T15:53:24Z", id="three-pm"),
        ],
    )
    def test_multiline_time_example(self, build: Build, date: str, time: str, period: str, expected: str) -> None:
        """Promtail's multi-line example turns a 12-hour date and time into RFC 3339."""
        extracted = {"date_local": date, "time_local": time, "hour_period": period}
        assert _extracted(build(DOC_TIME_EXAMPLE), extracted)["time"] == expected

    def test_multiline_example_feeds_timestamp(self, build: Build) -> None:
        """The documented pair of stages sets the entry's timestamp from the rebuilt time."""
        entry = build(DOC_TIME_EXAMPLE).run(
            "x", extracted={"date_local": "11/08/2022", "time_local": "12:53:24", "hour_period": "PM"}
        )
        expected = datetime(2022, 11, 8, 12, 53, 24, tzinfo=UTC).timestamp()
        assert entry is not None
        assert entry.timestamp == int(expected) * 1_000_000_000

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            pytest.param("{{ ToLower .app }}", "loki", id="to-lower"),
            pytest.param("{{ .app | ToUpper }}", "LOKI", id="to-upper-piped"),
            pytest.param('{{ Replace .Value "loki" "Loki" 2 }}', " ,. Loki Loki loki ., ", id="replace-two"),
            pytest.param('{{ Trim .Value ",. " }}', "loki loki loki", id="trim"),
            pytest.param("{{ TrimSpace .Value }}", ",. loki loki loki .,", id="trim-space"),
            pytest.param('{{ TrimPrefix .Value " ,. " }}', "loki loki loki ., ", id="trim-prefix"),
            pytest.param('{{ TrimPrefix .Value ",. " }}', " ,. loki loki loki ., ", id="trim-prefix-no-match"),
            pytest.param('{{ regexReplaceAll "(l)oki" .Value "${1}a" }}', " ,. la la la ., ", id="regex-replace"),
            pytest.param(
                '{{ regexReplaceAllLiteral "(loki)" .Value "$1" }}', " ,. $1 $1 $1 ., ", id="regex-replace-literal"
            ),
        ],
    )
    def test_documented_functions(self, build: Build, template: str, expected: str) -> None:
        """Each function example of the documentation renders what Go would."""
        stages = build(yaml.safe_dump([{"template": {"source": "out", "template": template}}]))
        result = _extracted(stages, {"out": " ,. loki loki loki ., ", "app": "LoKi"})
        assert result["out"] == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(1.5, "1.5", id="float"),
            pytest.param(2.0, "2", id="whole-float"),
            pytest.param(True, "true", id="bool"),
            pytest.param(None, "<no value>", id="null-left-out"),
        ],
    )
    def test_values_as_go_strings(self, build: Build, value: Any, expected: str) -> None:
        """Extracted values reach the template in Go's string form; those without one are missing."""
        stages = build("- template: {source: out, template: '{{ .v }}'}")
        assert _extracted(stages, {"v": value})["out"] == expected

    def test_empty_result_removes_key(self, build: Build) -> None:
        """A template that renders empty removes the source key."""
        stages = build("- template: {source: app, template: '{{ if eq .Value \"x\" }}y{{ end }}'}")
        assert "app" not in _extracted(stages, {"app": "loki"})

    def test_failure_keeps_value(self, build: Build) -> None:
        """A template that fails while running leaves the source value as it was."""
        stages = build("- template: {source: app, template: '{{ ToUpper .missing }}'}")
        assert _extracted(stages, {"app": "loki"})["app"] == "loki"

    def test_failure_counted(self, build: Build) -> None:
        """A failed render is counted in agent_errors_total."""
        stages = build("- template: {source: app, template: '{{ ToUpper .missing }}'}")
        _extracted(stages, {"app": "loki"})
        assert stages.errors("template_failed") == 1

    def test_whole_map_readable(self, build: Build) -> None:
        """A template that reads dot itself sees every extracted value plus Value and Entry."""
        stages = build("- template: {source: a, template: '{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}'}")
        assert _extracted(stages, {"a": "1", "b": 2.5}, line="L")["a"] == "Entry=L;Value=1;a=1;b=2.5;"

    def test_labels_are_extracted(self, build: Build) -> None:
        """The entry's labels are in the extracted map the pipeline starts with."""
        stages = build("- template: {source: out, template: '{{ .job }}'}")
        entry = stages.run("line", {"job": "varlog"})
        assert entry is not None
        assert entry.extracted == {"job": "varlog", "out": "varlog"}

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- template: {template: x}",
                "pipeline_stages[0].template.source: required key is missing",
                id="no-source",
            ),
            pytest.param(
                "- template: {source: '', template: x}",
                "pipeline_stages[0].template.source: template source value is required",
                id="empty-source",
            ),
            pytest.param(
                "- template: {source: a, template: '{{ nope }}'}",
                'pipeline_stages[0].template.template: function "nope" not defined at line 1, column 4',
                id="undefined-function",
            ),
            pytest.param(
                "- template: {source: a, template: '{{ if .a }}'}",
                "pipeline_stages[0].template.template: unexpected EOF at line 1, column 12",
                id="unclosed-if",
            ),
        ],
    )
    def test_config_errors(self, problems: Problems, snippet: str, expected: str) -> None:
        """A missing source or a template Go cannot parse is a config error at its YAML path."""
        assert problems(snippet) == [expected]
