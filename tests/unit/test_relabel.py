"""Prometheus relabel_configs: every action, Prometheus' defaults, anchoring, Go's `$` expansion, validation.

Expected values follow Prometheus' `model/relabel` semantics (prometheus/prometheus, relabel.go and
relabel_test.go): anchored regexes, empty results delete the label, hashmod is the MD5's last 8 bytes
(big-endian) modulo N.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from agent.config.problems import problems_from
from agent.errors import ConfigProblem
from agent.regex import compile_re2
from agent.relabel import RelabelConfig, relabel


def rule(**fields: Any) -> RelabelConfig:
    """A rule from YAML-shaped keys."""
    return RelabelConfig.model_validate(fields)


def hashmod(value: str, modulus: int) -> str:
    """Prometheus' hashmod: the MD5 digest's last 8 bytes, big-endian, modulo `modulus`."""
    return str(int.from_bytes(hashlib.md5(value.encode(), usedforsecurity=False).digest()[8:], "big") % modulus)


class TestDefaults:
    def test_defaults(self) -> None:
        """Unset keys take Prometheus' defaults: replace, `;`, `(.*)`, `$1`, modulus 0."""
        default = rule(target_label="t")
        assert (default.action, default.separator, default.replacement, default.modulus) == ("replace", ";", "$1", 0)
        assert default.regex.fullmatch("anything")
        assert default.source_labels == []

    def test_default_replace_copies(self) -> None:
        """With defaults, replace copies the source label to the target."""
        assert relabel({"a": "foo"}, [rule(source_labels=["a"], target_label="b")]) == {"a": "foo", "b": "foo"}

    def test_action_is_case_insensitive(self) -> None:
        """`action: Replace` is read as replace, as Prometheus lowercases it."""
        assert rule(action="LabelDrop", regex="x").action == "labeldrop"

    def test_single_source_label_string(self) -> None:
        """`source_labels: a` (a bare string) is one label."""
        assert rule(source_labels="a", target_label="b").source_labels == ["a"]

    def test_input_not_modified(self) -> None:
        """relabel works on a copy of the labels."""
        labels = {"a": "foo"}
        relabel(labels, [rule(source_labels=["a"], target_label="b")])
        assert labels == {"a": "foo"}


class TestAnchoring:
    @pytest.mark.parametrize(
        ("value", "kept"),
        [
            pytest.param("foo", True, id="exact"),
            pytest.param("foobar", False, id="prefix-only"),
            pytest.param("barfoo", False, id="suffix-only"),
            pytest.param("foo\n", False, id="trailing-newline"),
        ],
    )
    def test_regex_is_anchored(self, value: str, kept: bool) -> None:
        """`regex: foo` matches the whole value only, as Prometheus wraps it in ^(?:...)$."""
        result = relabel({"a": value}, [rule(source_labels=["a"], regex="foo", action="keep")])
        assert (result is not None) == kept

    def test_alternation_is_anchored_as_a_whole(self) -> None:
        """`a|b` matches "a" or "b", not "ab" or "xa"."""
        keep = [rule(source_labels=["x"], regex="a|b", action="keep")]
        assert [relabel({"x": v}, keep) is not None for v in ("a", "b", "ab", "xa")] == [True, True, False, False]


class TestReplace:
    @pytest.mark.parametrize(
        ("replacement", "expected"),
        [
            pytest.param("ch$1-ch$1", "choo-choo", id="dollar-number"),
            pytest.param("ch${1}-ch${1}", "choo-choo", id="braced-number"),
            pytest.param("$name", "oo", id="named-group"),
            pytest.param("${name}!", "oo!", id="braced-named-group"),
            pytest.param("$1x", "", id="go-quirk-1x-is-a-group-name"),
            pytest.param("${1}x", "oox", id="braces-end-the-name"),
            pytest.param("$$1", "$1", id="escaped-dollar"),
            pytest.param("$2", "", id="missing-group-is-empty-so-deleted"),
            pytest.param("${}", "${}", id="empty-braces-stay-literal"),
            pytest.param("$01", "", id="leading-zero-is-a-name"),
            pytest.param("static", "static", id="no-reference"),
        ],
    )
    def test_expansion(self, replacement: str, expected: str) -> None:
        """`replacement` expands as Go's Regexp.Expand does."""
        rules = [rule(source_labels=["a"], regex="f(?P<name>.*)", target_label="d", replacement=replacement)]
        result = relabel({"a": "foo"}, rules)
        assert result is not None
        assert result.get("d", "") == expected

    def test_prometheus_example(self) -> None:
        """Prometheus' two-step example: "boobam" then "boooom"."""
        rules = [
            rule(source_labels=["a", "b"], regex="f(.*);(.*)r", target_label="a", replacement="b${1}${2}m"),
            rule(source_labels=["c", "a"], regex="(b).*b(.*)ba(.*)", target_label="d", replacement="$1$2$2$3"),
        ]
        assert relabel({"a": "foo", "b": "bar", "c": "baz"}, rules) == {
            "a": "boobam",
            "b": "bar",
            "c": "baz",
            "d": "boooom",
        }

    def test_custom_separator(self) -> None:
        """Source values are joined with `separator`."""
        rules = [rule(source_labels=["a", "b"], separator="/", target_label="c")]
        assert relabel({"a": "x", "b": "y"}, rules) == {"a": "x", "b": "y", "c": "x/y"}

    def test_missing_source_is_empty(self) -> None:
        """A missing source label reads as the empty string."""
        rules = [rule(source_labels=["a", "missing"], regex="(.*);", target_label="c")]
        assert relabel({"a": "x"}, rules) == {"a": "x", "c": "x"}

    def test_empty_result_deletes(self) -> None:
        """An empty replacement removes the target label."""
        rules = [rule(source_labels=["a"], regex="(f).*", target_label="b", replacement="$2")]
        assert relabel({"a": "foo", "b": "old"}, rules) == {"a": "foo"}

    def test_no_match_leaves_labels(self) -> None:
        """No match: no replacement takes place."""
        rules = [rule(source_labels=["a"], regex="f", target_label="b", replacement="bar")]
        assert relabel({"a": "boo"}, rules) == {"a": "boo"}

    def test_target_from_groups(self) -> None:
        """The target label name may come from groups too."""
        rules = [rule(source_labels=["a"], regex="some-([^-]+)-([^,]+)", target_label="${1}", replacement="${2}")]
        assert relabel({"a": "some-name-value"}, rules) == {"a": "some-name-value", "name": "value"}

    def test_invalid_target_is_skipped(self) -> None:
        """A target that expands to an invalid label name is skipped."""
        rules = [rule(source_labels=["a"], regex="some-([^-]+)-([^,]+)", target_label="0${3}", replacement="${1}")]
        assert relabel({"a": "some-name-value"}, rules) == {"a": "some-name-value"}

    def test_constant_without_source(self) -> None:
        """No source labels and a constant replacement sets a static label."""
        assert relabel({}, [rule(target_label="env", replacement="prod")]) == {"env": "prod"}


class TestKeepDrop:
    def test_keep_non_matching_drops_target(self) -> None:
        """keep drops a target whose value does not match."""
        assert relabel({"a": "foo"}, [rule(source_labels=["a"], regex="no-match", action="keep")]) is None

    def test_keep_matching(self) -> None:
        """keep passes a matching target through."""
        assert relabel({"a": "foo"}, [rule(source_labels=["a"], regex="f.*", action="keep")]) == {"a": "foo"}

    def test_drop_matching(self) -> None:
        """drop drops a matching target, and later rules do not run."""
        rules = [rule(source_labels=["a"], regex=".*o.*", action="drop"), rule(source_labels=["a"], target_label="d")]
        assert relabel({"a": "foo"}, rules) is None

    def test_drop_non_matching(self) -> None:
        """drop passes a non-matching target (partial matches do not count)."""
        assert relabel({"a": "foo"}, [rule(source_labels=["a"], regex="f|o", action="drop")]) == {"a": "foo"}

    def test_keep_missing_label(self) -> None:
        """A missing label is "" for keep: `.+` drops the target."""
        assert relabel({}, [rule(source_labels=["a"], regex=".+", action="keep")]) is None


class TestEqual:
    def test_keepequal(self) -> None:
        """keepequal keeps the target only when source and target label values are equal."""
        keep = [rule(source_labels=["a"], target_label="b", action="keepequal")]
        assert relabel({"a": "1", "b": "1"}, keep) == {"a": "1", "b": "1"}
        assert relabel({"a": "1", "b": "2"}, keep) is None

    def test_dropequal(self) -> None:
        """dropequal drops the target when source and target label values are equal."""
        drop = [rule(source_labels=["a"], target_label="b", action="dropequal")]
        assert relabel({"a": "1", "b": "1"}, drop) is None
        assert relabel({"a": "1", "b": "2"}, drop) == {"a": "1", "b": "2"}


class TestHashmod:
    @pytest.mark.parametrize(
        ("value", "modulus"),
        [
            pytest.param("baz", 1000, id="baz"),
            pytest.param("foo\nbar", 1000, id="newline"),
            pytest.param("x", 7, id="x"),
        ],
    )
    def test_matches_md5_rule(self, value: str, modulus: int) -> None:
        """hashmod is MD5's last 8 bytes, big-endian, modulo N."""
        result = relabel({"a": value}, [rule(source_labels=["a"], target_label="h", action="hashmod", modulus=modulus)])
        assert result is not None
        assert result["h"] == hashmod(value, modulus)

    def test_prometheus_known_values(self) -> None:
        """Prometheus' own test values: "baz" -> 976 and "foo\\nbar" -> 734 (modulus 1000)."""
        assert (hashmod("baz", 1000), hashmod("foo\nbar", 1000)) == ("976", "734")
        rules = [rule(source_labels=["c"], target_label="d", action="hashmod", modulus=1000)]
        assert relabel({"c": "baz"}, rules) == {"c": "baz", "d": "976"}


class TestLabelActions:
    def test_labelmap(self) -> None:
        """labelmap copies matching labels under the replacement's name."""
        rules = [rule(regex="__meta_(my.*)", replacement="${1}", action="labelmap")]
        assert relabel({"a": "foo", "__meta_my_bar": "aaa", "__meta_other": "ccc"}, rules) == {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_other": "ccc",
            "my_bar": "aaa",
        }

    def test_labelmap_prefix(self) -> None:
        """labelmap with a prefixed replacement, as in Prometheus' example."""
        rules = [rule(regex="(b.*)", replacement="bar_${1}", action="labelmap")]
        assert relabel({"a": "foo", "b1": "bar", "b2": "baz"}, rules) == {
            "a": "foo",
            "b1": "bar",
            "b2": "baz",
            "bar_b1": "bar",
            "bar_b2": "baz",
        }

    def test_labeldrop(self) -> None:
        """labeldrop removes labels whose whole name matches."""
        assert relabel({"a": "foo", "b1": "bar", "xb": "baz"}, [rule(regex="(b.*)", action="labeldrop")]) == {
            "a": "foo",
            "xb": "baz",
        }

    def test_labelkeep(self) -> None:
        """labelkeep removes labels whose name does not match."""
        assert relabel({"a": "foo", "b1": "bar", "b2": "baz"}, [rule(regex="(b.*)", action="labelkeep")]) == {
            "b1": "bar",
            "b2": "baz",
        }

    def test_lowercase_uppercase(self) -> None:
        """lowercase and uppercase write the case-mapped source value."""
        rules = [
            rule(source_labels=["foo"], target_label="foo_uppercase", action="uppercase"),
            rule(source_labels=["foo"], target_label="foo_lowercase", action="lowercase"),
        ]
        assert relabel({"foo": "bAr123Foo"}, rules) == {
            "foo": "bAr123Foo",
            "foo_lowercase": "bar123foo",
            "foo_uppercase": "BAR123FOO",
        }


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param(
                {"source_labels": ["a"]},
                ConfigProblem("relabel_configs[0]", "relabel action 'replace' needs a target_label"),
                id="replace-without-target",
            ),
            pytest.param(
                {"action": "lowercase", "source_labels": ["a"]},
                ConfigProblem("relabel_configs[0]", "relabel action 'lowercase' needs a target_label"),
                id="lowercase-without-target",
            ),
            pytest.param(
                {"action": "keepequal", "source_labels": ["a"]},
                ConfigProblem("relabel_configs[0]", "relabel action 'keepequal' needs a target_label"),
                id="keepequal-without-target",
            ),
            pytest.param(
                {"action": "hashmod", "source_labels": ["a"], "target_label": "h"},
                ConfigProblem("relabel_configs[0]", "relabel action 'hashmod' needs a positive modulus"),
                id="hashmod-without-modulus",
            ),
            pytest.param(
                {"action": "labeldrop", "regex": "a", "source_labels": ["a"]},
                ConfigProblem(
                    "relabel_configs[0]", "relabel action 'labeldrop' takes only regex, not source_labels/target_label"
                ),
                id="labeldrop-with-source",
            ),
            pytest.param(
                {"action": "relabel"},
                ConfigProblem(
                    "relabel_configs[0].action",
                    "expected 'replace', 'keep', 'drop', 'keepequal', 'dropequal', 'hashmod', 'labelmap', "
                    "'labeldrop', 'labelkeep', 'lowercase' or 'uppercase', got 'relabel'",
                ),
                id="unknown-action",
            ),
            pytest.param(
                {"target_label": "a", "modulus": "many"},
                ConfigProblem("relabel_configs[0].modulus", "expected an integer, got 'many'"),
                id="modulus-not-a-number",
            ),
            pytest.param(
                {"target_label": "a", "sources": ["a"]},
                ConfigProblem("relabel_configs[0].sources", "unknown key (did you mean 'source_labels'?)"),
                id="unknown-key",
            ),
        ],
    )
    def test_invalid_rule(self, fields: dict[str, Any], expected: ConfigProblem) -> None:
        """An invalid rule is one problem at its YAML path, with a message saying what to change."""
        with pytest.raises(ValidationError) as caught:
            RelabelConfig.model_validate(fields)
        assert problems_from(caught.value, RelabelConfig, "relabel_configs[0]") == [expected]

    def test_invalid_regex(self) -> None:
        """An invalid regex is reported at `regex` with the RE2 translator's own message."""
        with pytest.raises(ValueError, match=r"^invalid regular expression") as reason:
            compile_re2("(", anchored=True)
        with pytest.raises(ValidationError) as caught:
            RelabelConfig.model_validate({"regex": "(", "target_label": "a"})
        assert problems_from(caught.value, RelabelConfig, "relabel_configs[0]") == [
            ConfigProblem("relabel_configs[0].regex", str(reason.value))
        ]
