"""Label stages: labels, static_labels, labelallow, labeldrop, structured_metadata, tenant, pack.

Expected values come from Promtail's stage documentation and, where it is silent, from Promtail's behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from agent.model import LogEntry, untracked_checkpoint

from .conftest import NOW_NS

if TYPE_CHECKING:
    from .conftest import Stages

    Build = Callable[..., Stages]
    Problems = Callable[[str], list[str]]

DOCKER_LINE = '{"log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'


def _out(stages: Stages, line: str, **kwargs: Any) -> LogEntry:
    entry = stages.run(line, **kwargs)
    assert entry is not None
    return entry


class TestLabelsStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: the extracted `stream` becomes a label."""
        stages = build(
            """
            - json:
                expressions:
                  stream: stream
            - labels:
                stream:
            """
        )
        assert _out(stages, DOCKER_LINE).labels == {"stream": "stderr"}

    def test_source_with_another_name(self, build: Build) -> None:
        """A label can take its value from an extracted key of another name."""
        stages = build("- labels: {app: service}")
        assert _out(stages, "x", extracted={"service": "api"}).labels == {"app": "api"}

    def test_existing_labels_are_extracted_values(self, build: Build) -> None:
        """Labels are in the extracted map from the start, so a label can be copied under another name."""
        stages = build("- labels: {copy: job}")
        assert _out(stages, "x", labels={"job": "varlogs"}).labels == {"job": "varlogs", "copy": "varlogs"}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("error", {"v": "error"}, id="string"),
            pytest.param("", {"v": ""}, id="empty-string-is-set"),
            pytest.param("日本", {"v": "日本"}, id="unicode"),
            pytest.param(125.0, {"v": "125"}, id="float-in-go-form"),
            pytest.param(0.5, {"v": "0.5"}, id="fraction"),
            pytest.param(False, {"v": "false"}, id="bool"),
            pytest.param(None, {}, id="null-skipped"),
            pytest.param("bad\udcff", {}, id="invalid-utf8-skipped"),
            pytest.param(["x"], {}, id="unconvertible-skipped"),
        ],
    )
    def test_values(self, build: Build, value: Any, expected: dict[str, str]) -> None:
        """Values become label values in their Go string form; those without one are skipped."""
        stages = build("- labels: {v:}")
        assert _out(stages, "x", extracted={"v": value}).labels == expected

    def test_missing_value_leaves_label(self, build: Build) -> None:
        """A key missing from the extracted map leaves any existing label alone."""
        stages = build("- labels: {level:}")
        entry = LogEntry(0, "x", {"level": "info"}, untracked_checkpoint(), extracted={})
        assert stages.stages[0].process(entry) is entry
        assert entry.labels == {"level": "info"}

    def test_overwrites_label(self, build: Build) -> None:
        """An extracted value replaces a label of the same name."""
        stages = build("- labels: {level:}")
        assert _out(stages, "x", labels={"level": "a"}, extracted={"level": "b"}).labels == {"level": "b"}

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- labels: {bad-name:}", ["pipeline_stages[0].labels: invalid label name: bad-name"], id="dash"
            ),
            pytest.param("- labels: {1x:}", ["pipeline_stages[0].labels: invalid label name: 1x"], id="digit"),
            pytest.param("- labels:", [], id="empty-is-a-no-op"),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Label names are checked at startup."""
        assert problems(snippet) == expected


class TestStaticLabelsStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: the extracted stream label and the static label are both set."""
        stages = build(
            """
            - json:
                expressions:
                  stream: stream
            - labels:
                stream:
            - static_labels:
                custom_key: custom_val
            """
        )
        assert _out(stages, DOCKER_LINE).labels == {"stream": "stderr", "custom_key": "custom_val"}

    def test_replaces_existing_label(self, build: Build) -> None:
        """A static label wins over a label of the same name."""
        stages = build("- static_labels: {env: prod}")
        assert _out(stages, "x", labels={"env": "dev"}).labels == {"env": "prod"}

    def test_empty_value_ignored(self, build: Build) -> None:
        """A static label without a value is ignored, as in Promtail."""
        stages = build("- static_labels: {a:, b: ''}")
        assert _out(stages, "x", labels={"a": "1"}).labels == {"a": "1"}

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- static_labels: {a.b: x}", ["pipeline_stages[0].static_labels: invalid label name: a.b"], id="name"
            ),
            pytest.param(
                "- static_labels: {port: 8080}",
                ["pipeline_stages[0].static_labels.port: expected a string, got 8080"],
                id="number-value",
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Names and values are checked at startup (Promtail rejects non-string values too)."""
        assert problems(snippet) == expected


class TestLabelAllowStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: only the listed labels are kept."""
        stages = build(
            """
            - labelallow:
                - kubernetes_pod_name
                - kubernetes_container_name
            """
        )
        labels = {
            "kubernetes_pod_name": "loki-pqrs",
            "kubernetes_container_name": "loki",
            "kubernetes_pod_template_hash": "79f5db67b",
            "kubernetes_controller_revision_hash": "774858987d",
        }
        assert _out(stages, "x", labels=labels).labels == {
            "kubernetes_pod_name": "loki-pqrs",
            "kubernetes_container_name": "loki",
        }

    def test_tenant_label_not_allowed_is_removed(self, build: Build) -> None:
        """The tenant's reserved label is a label like any other: labelallow removes it unless listed."""
        stages = build("- tenant: {value: t1}\n- labelallow: [app]")
        assert _out(stages, "x", labels={"app": "a"}).labels == {"app": "a"}

    def test_nothing_to_remove(self, build: Build) -> None:
        """When every label is allowed the label set is unchanged."""
        stages = build("- labelallow: [a, b]")
        assert _out(stages, "x", labels={"a": "1"}).labels == {"a": "1"}


class TestLabelDropStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: the pod name moves from the labels into the line."""
        stages = build(
            """
            - replace:
                expression: "(.*)"
                replace: "pod_name:{{ .kubernetes_pod_name }} {{ .Value }}"
            - labeldrop:
                - kubernetes_pod_name
            """
        )
        entry = _out(stages, "log message", labels={"kubernetes_pod_name": "loki-0", "app": "loki"})
        assert entry.line == "pod_name:loki-0 log message"
        assert entry.labels == {"app": "loki"}

    def test_absent_label_ignored(self, build: Build) -> None:
        """Dropping a label the entry does not have is fine."""
        stages = build("- labeldrop: [nope]")
        assert _out(stages, "x", labels={"a": "1"}).labels == {"a": "1"}

    def test_list_required(self, problems: Problems) -> None:
        """The stage takes a list of names."""
        assert problems("- labeldrop: {a: b}") == ["pipeline_stages[0].labeldrop: expected a list, got a mapping"]


class TestStructuredMetadataStage:
    @pytest.mark.parametrize(
        ("snippet", "line", "expected"),
        [
            pytest.param(
                "- logfmt: {mapping: {app:}}\n- structured_metadata: {app:}",
                "app=loki component=ingester",
                {"app": "loki"},
                id="from-logfmt",
            ),
            pytest.param(
                "- json: {expressions: {app:}}\n- structured_metadata: {app:}",
                '{"app":"loki" ,"component":"ingester"}',
                {"app": "loki"},
                id="from-json",
            ),
            pytest.param(
                "- json: {expressions: {app:}}\n- non_indexed_labels: {app:}",
                '{"app":"loki" ,"component":"ingester"}',
                {"app": "loki"},
                id="deprecated-name",
            ),
            pytest.param(
                r"""
                - regex:
                    expression: "^(?s)(?P<time>\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\S+?) (?P<content>.*)$"
                - structured_metadata: {stream:}
                """,
                "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!",
                {"stream": "stderr"},
                id="from-regex",
            ),
        ],
    )
    def test_from_extracted(self, build: Build, snippet: str, line: str, expected: dict[str, str]) -> None:
        """Promtail's cases: extracted values become structured metadata, not labels."""
        entry = _out(build(snippet), line)
        assert (entry.metadata, entry.labels) == (expected, {})

    def test_doc_example_parse_from_log_entry(self, build: Build) -> None:
        """Promtail's first example: `stream` becomes a label and `traceID` structured metadata."""
        stages = build(
            """
            - json:
                expressions:
                  stream: stream
                  traceID: traceID
            - labels:
                stream:
            - structured_metadata:
                traceID:
            """
        )
        line = (
            '{"log":"log message\\n","stream":"stderr","traceID":"0242ac120002",'
            '"time":"2019-04-30T02:12:41.8443515Z"}'
        )
        entry = _out(stages, line)
        assert (entry.labels, entry.metadata) == ({"stream": "stderr"}, {"traceID": "0242ac120002"})

    def test_doc_example_labels_move_to_metadata(self, build: Build) -> None:
        """Promtail's second example: labels set by relabeling move out of the stream into the metadata."""
        stages = build("- structured_metadata: {pod_uid:, pod_host_ip:}")
        labels = {"job": "k", "pod_uid": "b3937321-fe90-4e15-ac94-495c8fdb9202", "pod_host_ip": "127.0.0.1"}
        entry = _out(stages, "sample log", labels=labels)
        assert entry.labels == {"job": "k"}
        assert entry.metadata == {"pod_uid": "b3937321-fe90-4e15-ac94-495c8fdb9202", "pod_host_ip": "127.0.0.1"}

    def test_with_regular_labels(self, build: Build) -> None:
        """Promtail's case: one value to metadata, another to labels."""
        stages = build(
            """
            - json: {expressions: {app:, component:}}
            - structured_metadata: {app:}
            - labels: {component:}
            """
        )
        entry = _out(stages, '{"app":"loki" ,"component":"ingester"}')
        assert (entry.metadata, entry.labels) == ({"app": "loki"}, {"component": "ingester"})

    def test_existing_metadata_kept(self, build: Build) -> None:
        """Metadata set earlier stays; new names are added."""
        stages = build("- structured_metadata: {b:}")
        entry = _out(stages, "x", extracted={"b": 2.0}, metadata={"a": "1"})
        assert entry.metadata == {"a": "1", "b": "2"}

    def test_nothing_found_leaves_metadata_empty(self, build: Build) -> None:
        """Without any value the entry keeps no metadata."""
        stages = build("- structured_metadata: {b:}")
        assert _out(stages, "x", extracted={"b": None}).metadata is None


class TestTenantStage:
    def test_doc_example_from_extracted(self, build: Build) -> None:
        """Promtail's first example: the tenant comes from an extracted value."""
        stages = build(
            """
            - json:
                expressions:
                  customer_id: customer_id
            - tenant:
                source: customer_id
            """
        )
        line = '{"customer_id":"1","log":"log message\\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}'
        assert _out(stages, line).labels == {"__tenant_id__": "1"}

    def test_doc_example_value_in_match(self, build: Build) -> None:
        """Promtail's second example: a fixed value (usually inside `match`) sets the tenant."""
        stages = build("- tenant: {value: team-api}")
        assert _out(stages, "x", labels={"app": "api"}).labels == {"app": "api", "__tenant_id__": "team-api"}

    def test_doc_example_from_label(self, build: Build) -> None:
        """Promtail's third example: the tenant comes from a label."""
        stages = build("- tenant: {label: namespace}")
        assert _out(stages, "x", labels={"namespace": "prod"}).labels["__tenant_id__"] == "prod"

    @pytest.mark.parametrize(
        ("snippet", "extracted", "expected"),
        [
            pytest.param(
                "- tenant: {value: a}\n- tenant: {value: b}", {}, "b", id="later-stage-wins"
            ),
            pytest.param(
                "- tenant: {value: a}\n- tenant: {source: id}", {}, "a", id="missing-source-keeps-earlier"
            ),
            pytest.param(
                "- tenant: {value: a}\n- tenant: {source: id}", {"id": ""}, "a", id="empty-source-keeps-earlier"
            ),
            pytest.param(
                "- tenant: {value: a}\n- tenant: {source: id}", {"id": None}, "a", id="null-source-keeps-earlier"
            ),
            pytest.param(
                "- tenant: {value: a}\n- tenant: {label: ns}", {}, "a", id="missing-label-keeps-earlier"
            ),
            pytest.param("- tenant: {source: id}", {"id": 42.0}, "42", id="number-in-go-form"),
        ],
    )
    def test_precedence(self, build: Build, snippet: str, extracted: dict[str, Any], expected: str) -> None:
        """The last tenant stage that finds a non-empty tenant decides; the others leave it alone."""
        entry = _out(build(snippet), "x", extracted=extracted)
        assert entry.labels["__tenant_id__"] == expected

    def test_no_tenant_no_label(self, build: Build) -> None:
        """Without a tenant the reserved label is not set (the client's tenant_id applies)."""
        assert _out(build("- tenant: {source: id}"), "x").labels == {}

    @pytest.mark.parametrize(
        ("snippet", "expected"),
        [
            pytest.param(
                "- tenant: {}", ["pipeline_stages[0].tenant: label, source or value config are required"], id="none"
            ),
            pytest.param(
                "- tenant: {source: a, value: b}",
                [
                    "pipeline_stages[0].tenant: label, source and value are mutually exclusive: "
                    "set only one of them"
                ],
                id="two",
            ),
            pytest.param(
                "- tenant: {source: a, label: ''}", [], id="empty-counts-as-unset"
            ),
        ],
    )
    def test_config_problems(self, problems: Problems, snippet: str, expected: list[str]) -> None:
        """Exactly one of label, source and value must be set."""
        assert problems(snippet) == expected


class TestPackStage:
    def test_doc_example(self, build: Build) -> None:
        """Promtail's example: the container label moves into the line, the line under `_entry`."""
        stages = build("- pack: {labels: [container]}")
        entry = _out(stages, "original log message", labels={"container": "myapp", "job": "k"}, timestamp=5)
        assert entry.line == '{"container":"myapp","_entry":"original log message"}'
        assert entry.labels == {"job": "k"}
        assert entry.timestamp == NOW_NS  # ingest_timestamp defaults to true

    def test_keys_sorted_entry_last(self, build: Build) -> None:
        """Packed keys are sorted; `_entry` always comes last."""
        stages = build("- pack: {labels: [pod, container, app]}")
        entry = _out(stages, "m", labels={"pod": "p", "container": "c", "app": "a"})
        assert entry.line == '{"app":"a","container":"c","pod":"p","_entry":"m"}'

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param('say "hi"\n', '{"_entry":"say \\"hi\\"\\n"}', id="quotes-newline"),
            pytest.param("a<b>&c", '{"_entry":"a\\u003cb\\u003e\\u0026c"}', id="html-characters"),
            pytest.param("tab\there\x01", '{"_entry":"tab\\there\\u0001"}', id="control-characters"),
            pytest.param("日本 é", '{"_entry":"日本 é"}', id="unicode-unescaped"),
            pytest.param("", '{"_entry":""}', id="empty-line"),
            pytest.param('{"a":1}', '{"_entry":"{\\"a\\":1}"}', id="json-line"),
        ],
    )
    def test_json_exactness(self, build: Build, line: str, expected: str) -> None:
        """The packed line is escaped byte for byte as Go's encoder escapes it, and decodes back to the line."""
        entry = _out(build("- pack: {labels: [nope]}"), line)
        assert entry.line == expected
        assert json.loads(entry.line) == {"_entry": line}

    def test_extracted_values_packed(self, build: Build) -> None:
        """Extracted values are packed in their Go string form; those without one are skipped."""
        stages = build("- pack: {labels: [n, b, z]}")
        entry = _out(stages, "m", extracted={"n": 5.0, "b": True, "z": None})
        assert entry.line == '{"b":"true","n":"5","_entry":"m"}'

    def test_label_added_mid_pipeline_not_packed(self, build: Build) -> None:
        """Only extracted values are packed: a label set by static_labels stays a label, as in Promtail."""
        stages = build("- static_labels: {env: prod}\n- pack: {labels: [env]}")
        entry = _out(stages, "m")
        assert (entry.line, entry.labels) == ('{"_entry":"m"}', {"env": "prod"})

    def test_keep_timestamp(self, build: Build) -> None:
        """With ingest_timestamp false the entry keeps its timestamp."""
        entry = _out(build("- pack: {labels: [a], ingest_timestamp: false}"), "m", timestamp=5)
        assert entry.timestamp == 5

    def test_special_characters_in_names(self, build: Build) -> None:
        """Packed key names are escaped too."""
        entry = _out(build("- pack: {labels: ['a<b']}"), "m", extracted={"a<b": "v"})
        assert entry.line == '{"a\\u003cb":"v","_entry":"m"}'
