"""Prometheus `relabel_configs`, run once per discovered target (a glob, a container), never per line.

Every Prometheus action is supported: `replace`, `keep`, `drop`, `keepequal`, `dropequal`, `hashmod`,
`labelmap`, `labeldrop`, `labelkeep`, `lowercase`, `uppercase`, with Prometheus' defaults (`separator: ;`,
`regex: (.*)` fully anchored, `replacement: $1`) and Go's `$1` / `${1}` / `$name` expansion rules (so ``$1x``
names a group called ``1x`` and expands to nothing, exactly as in Prometheus).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from agent.config.base import ConfigModel
from agent.regex import compile_re2

Action = Literal[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
]

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXPAND = re.compile(r"\$(?:(\$)|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")  # `${}` is not a reference: Go keeps it


class RelabelConfig(ConfigModel):
    """One relabel rule.

    ```yaml
    relabel_configs:
      - source_labels: [__meta_docker_container_name]
        regex: /(.*)
        target_label: container
    ```
    """

    source_labels: list[str] = Field(default_factory=list)
    separator: str = ";"
    target_label: str = ""
    regex: re.Pattern[str] = Field(default_factory=lambda: compile_re2("(.*)", anchored=True))
    modulus: int = 0
    replacement: str = "$1"
    action: Action = "replace"

    @field_validator("action", mode="before")
    @classmethod
    def _lowercase_action(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("regex", mode="before")
    @classmethod
    def _compile(cls, value: object) -> re.Pattern[str]:
        if isinstance(value, re.Pattern):
            return value
        if not isinstance(value, str | int | float):
            raise ValueError(f"expected a regular expression string, got {value!r}")
        return compile_re2(str(value), anchored=True)

    @field_validator("source_labels", mode="before")
    @classmethod
    def _string_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _required_fields(self) -> RelabelConfig:
        if (
            self.action in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
            and not self.target_label
        ):
            raise ValueError(f"relabel action {self.action!r} needs a target_label")
        if self.action == "hashmod" and self.modulus <= 0:
            raise ValueError("relabel action 'hashmod' needs a positive modulus")
        if self.action in ("labeldrop", "labelkeep") and (self.source_labels or self.target_label):
            raise ValueError(
                f"relabel action {self.action!r} takes only regex, not source_labels/target_label"
            )
        return self


def expand(template: str, match: re.Match[str]) -> str:
    """Expand `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` as Go's `Regexp.Expand` does."""

    def substitute(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) if m.group(2) is not None else m.group(3)
        if name.isdigit() and (name == "0" or not name.startswith("0")):  # Go reads `$01` as a group *named* 01
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups) else ""
        try:
            return match.group(name) or ""
        except IndexError:  # no group of that name
            return ""

    return _EXPAND.sub(substitute, template)


def _set(labels: dict[str, str], name: str, value: str) -> None:
    # As in Prometheus, a label set to the empty string is removed.
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def relabel(labels: dict[str, str], rules: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """Apply `rules` to a copy of `labels`; return the result, or None when a rule dropped the target."""
    result = dict(labels)
    for rule in rules:
        value = rule.separator.join(result.get(name, "") for name in rule.source_labels)
        action = rule.action
        if action == "replace":
            # fullmatch, not match: the pattern is anchored with `$`, which Python also lets match before a
            # trailing newline; Go's `$` (no multi-line flag) matches only at the very end.
            match = rule.regex.fullmatch(value)
            if match is None:
                continue
            target = expand(rule.target_label, match)
            if not _LABEL_NAME.match(target):
                continue
            _set(result, target, expand(rule.replacement, match))
        elif action == "keep":
            if rule.regex.fullmatch(value) is None:
                return None
        elif action == "drop":
            if rule.regex.fullmatch(value) is not None:
                return None
        elif action == "keepequal":
            if value != result.get(rule.target_label, ""):
                return None
        elif action == "dropequal":
            if value == result.get(rule.target_label, ""):
                return None
        elif action == "hashmod":
            digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
            _set(result, rule.target_label, str(int.from_bytes(digest[-8:], "big") % rule.modulus))
        elif action == "lowercase":
            _set(result, rule.target_label, value.lower())
        elif action == "uppercase":
            _set(result, rule.target_label, value.upper())
        elif action == "labelmap":
            for name, label_value in list(result.items()):
                match = rule.regex.fullmatch(name)
                if match is not None and _LABEL_NAME.match(target := expand(rule.replacement, match)):
                    _set(result, target, label_value)
        elif action == "labeldrop":
            for name in [n for n in result if rule.regex.fullmatch(n)]:
                del result[name]
        elif action == "labelkeep":
            for name in [n for n in result if not rule.regex.fullmatch(n)]:
                del result[name]
    return result
