"""Parse a config's YAML text as Promtail's Go decoder reads it, and remember where each value came from.

Go's YAML decoder types a scalar by the field it lands in: `port: 3100` is an int in an int field and the
text "3100" in a string field (a numeric password or a Grafana Cloud user id stays a string), `yes` is a
boolean only in a boolean field, `1.10` stays "1.10" in a label. So plain scalars stay strings here and
pydantic's lax mode converts them for typed fields; only `null`, `~` and empty values become None. Quoted
scalars are strings either way. Duplicate keys are errors (Go's decoder rejects them), reported with their
YAML path and both line numbers, all at once; YAML syntax errors give line and column.

This module parses only: no environment expansion, no validation, no knowledge of the config's sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.errors import ConfigError, ConfigProblem

_MERGE_TAG = "tag:yaml.org,2002:merge"
_BLANKS = re.compile(r"[ \t]*")


class _GoLikeLoader(yaml.SafeLoader):
    """SafeLoader that resolves no implicit types but null and the `<<` merge key."""

    yaml_implicit_resolvers = {}  # filled below; replaces SafeLoader's YAML 1.1 table


_GoLikeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_GoLikeLoader.add_implicit_resolver(_MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])


@dataclass
class Document:
    """A parsed config: `data` (the top-level mapping) and where each YAML path sits in the text."""

    data: dict[str, Any]
    duplicate_keys: list[ConfigProblem] = field(default_factory=list)
    _scalars: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, path) of each scalar
    _lines: dict[str, int] = field(default_factory=dict)  # path -> 1-based line of its value

    def path_at(self, offset: int) -> str | None:
        """The YAML path of the scalar (value or key) covering character `offset`; None in comments."""
        best: tuple[int, int, str] | None = None
        for start, end, path in self._scalars:
            if start <= offset <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end, path)
        return best[2] if best else None

    def line_of(self, path: str) -> int | None:
        """The line where the value at `path` (or its nearest existing parent) starts."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", path) if re.search(r"[.\[]", path) else ""
        return None


def parse(text: str, source: str = "") -> Document:
    """Parse the first YAML document of `text`. Raises ConfigError for syntax errors and a non-mapping top."""
    loader = _GoLikeLoader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
        if node is None:
            raise ConfigError([ConfigProblem("", "config file is empty")], source)
        if not isinstance(node, MappingNode):
            kind = "a list" if isinstance(node, SequenceNode) else f"the scalar {_short(node)!r}"
            message = f"the top level must be a mapping of sections (server, clients, scrape_configs), got {kind}"
            raise ConfigError([ConfigProblem("", message)], source)
        document = Document({})
        _walk(node, "", document, set(), text)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([ConfigProblem("", _syntax_message(exc))], source) from None
    except yaml.YAMLError as exc:  # the reader's "unacceptable character" errors carry no mark
        raise ConfigError([ConfigProblem("", f"invalid YAML: {exc}")], source) from None
    finally:
        loader.dispose()
    document.data = data
    return document


def _walk(node: Node, path: str, document: Document, active: set[int], text: str) -> None:
    if id(node) in active:  # an alias pointing back at its own parent
        return
    document._lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, ScalarNode):
        start, end = node.start_mark.index, node.end_mark.index
        if start == end:  # an empty value sits right after its `:`; let it cover the blanks that follow
            blanks = _BLANKS.match(text, start)
            end = blanks.end() if blanks else start
        document._scalars.append((start, end, path))
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        first_seen: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                _walk(value, path, document, active, text)
                continue
            name = key.value if isinstance(key, ScalarNode) else "?"
            child = f"{path}.{name}" if path else name
            if isinstance(key, ScalarNode):
                document._scalars.append((key.start_mark.index, key.end_mark.index, child))
                line = key.start_mark.line + 1
                if name in first_seen:
                    message = f"duplicate key (first defined on line {first_seen[name]}, again on line {line})"
                    document.duplicate_keys.append(ConfigProblem(child, message))
                else:
                    first_seen[name] = line
            _walk(value, child, document, active, text)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{path}[{index}]", document, active, text)
    active.discard(id(node))


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        problem += f" ({exc.context} on line {exc.context_mark.line + 1})"
    if "'\\t'" in problem:
        problem += "; YAML does not allow tabs for indentation, use spaces"
    return f"invalid YAML: {where}{problem}"


def _short(node: Node) -> str:
    value = str(node.value)
    return value if len(value) <= 40 else value[:37] + "..."
