"""Parsing stages: `regex`, `json`, `logfmt`, `eventlogmessage`.

Each reads the line (or an extracted value named by `source`) and adds values to the extracted map, as
Promtail's stages of the same names do. Not here: the Go value conventions they share (`agent.stages.values`),
the `docker` and `cri` stages (`agent.stages.container`), label-changing stages (`agent.stages.labels`) and
line rewriting (`agent.stages.rewrite`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import jmespath
from pydantic import field_validator

from agent.config.base import ConfigModel
from agent.model import LogEntry
from agent.stages.base import StageContext, ensure_extracted
from agent.stages.fields import Expression, Source
from agent.stages.values import (
    LABEL_NAME,
    LONE_SURROGATE,
    decode_json_fields,
    decode_json_object,
    go_numbers,
    go_string,
    is_valid_label_value,
    json_value,
    sanitize_label_name,
)

JMESPathError = jmespath.exceptions.JMESPathError  # jmespath has no stubs: mypy sees Any

_MISSING: Any = object()


def _source_text(entry: LogEntry, source: str | None, bad: Any) -> str | None:
    """The text a parser reads: the line, or the string form of extracted[source] (None: skip the entry)."""
    if source is None:
        return entry.line
    value = entry.extracted.get(source, _MISSING) if entry.extracted is not None else _MISSING
    if value is _MISSING:
        return None  # Promtail: nothing to parse, not an error
    if value.__class__ is str:
        return value
    text = go_string(value)
    if text is None and value is not None:
        bad.inc()  # null is common (a JSON key that is absent on this line) and not worth counting
    return text


# -- regex ---------------------------------------------------------------------------------------------------


class RegexStage:
    """`regex`: set every named group of `expression` (RE2) that matches the line, or `source`, as extracted.

    ```yaml
    - regex:
        expression: '^(?P<time>\\S+) (?P<level>\\w+) (?P<msg>.*)$'
        source: message   # optional: an extracted value instead of the line
    ```

    As in Go, a named group that did not take part in the match is set to the empty string.
    """

    name: ClassVar[str] = "regex"
    __slots__ = ("_bad_source", "_search", "_source")

    class Config(ConfigModel):
        expression: Expression
        source: Source = None

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._search = config.expression.search
        self._source = config.source
        self._bad_source = ctx.error_counter("regex_source_not_string")

    @property
    def makes_extracted(self) -> bool:
        """Reading the line, it can make the extracted map itself as the first stage (`agent.stages.base`)."""
        return self._source is None

    def process(self, entry: LogEntry) -> LogEntry | None:
        source = self._source
        if source is None:
            match = self._search(entry.line)
            if entry.extracted is None:
                # The labels and the groups in one new dict instead of the pipeline's copy of the labels
                # updated: 0.55k fewer instructions per line (12.3k -> 11.8k for the pipeline of one regex).
                groups = match.groupdict("") if match is not None else {}
                entry.extracted = {**entry.labels, **groups}
                return entry
        else:
            text = _source_text(entry, source, self._bad_source)
            if text is None:
                return entry
            match = self._search(text)
        if match is not None:
            extracted = entry.extracted
            if extracted is None:
                extracted = entry.extracted = dict(entry.labels)
            extracted.update(match.groupdict(""))  # "" for a group that did not take part, as in Go
        return entry


# -- json ----------------------------------------------------------------------------------------------------


def _field_path(expression: str) -> list[str] | None:
    """The keys of a plain field path (``a``, ``a.b``, ``"a.b".c``), or None for any other expression."""
    node = jmespath.compile(expression).parsed
    fields: list[str] = []
    while node["type"] == "subexpression" and node["children"][1]["type"] == "field":
        fields.insert(0, node["children"][1]["value"])
        node = node["children"][0]
    if node["type"] != "field":
        return None
    fields.insert(0, node["value"])
    return fields


def _compile_jmespath(expression: str) -> Callable[[Any], Any]:
    """A function evaluating `expression` on decoded JSON; plain field paths skip the JMESPath interpreter."""
    fields = _field_path(expression)
    if fields is None:
        return jmespath.compile(expression).search  # type: ignore[no-any-return]
    if len(fields) == 1:
        key = fields[0]
        return lambda data: data.get(key) if data.__class__ is dict else None

    def walk(data: Any) -> Any:
        for key in fields:
            if data.__class__ is not dict:
                return None
            data = data.get(key)
        return data

    return walk


def _top_level_key(expression: str) -> str | None:
    """The key when `expression` reads one top-level key (``level``, ``"grpc.stream"``), else None."""
    fields = _field_path(expression)
    return fields[0] if fields is not None and len(fields) == 1 else None


_NO_FIELDS: dict[str, Any] = {}  # what a JSON value that is not an object has: no key


class JsonStage:
    """`json`: evaluate JMESPath `expressions` on the line (or `source`) parsed as a JSON object.

    ```yaml
    - json:
        expressions:
          level:                 # empty: the key's own name
          user: request.user.id
          stream: '"grpc.stream"'  # quoted: a key with dots
        drop_malformed: false
    ```

    Numbers become floats, objects and arrays JSON text, null None, as Promtail leaves them.
    """

    name: ClassVar[str] = "json"
    __slots__ = ("_bad_source", "_ctx", "_decode", "_drop", "_getters", "_malformed", "_source")

    class Config(ConfigModel):
        expressions: dict[str, str | None]
        source: Source = None
        drop_malformed: bool = False

        @field_validator("expressions")
        @classmethod
        def _compile(cls, value: dict[str, str | None]) -> dict[str, str | None]:
            if not value:
                raise ValueError("JMES expression is required")
            for key, expression in value.items():
                try:
                    _compile_jmespath(expression or key)
                except JMESPathError as exc:
                    raise ValueError(f"could not compile JMES expression {expression or key!r}: {exc}") from None
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        # (extracted name, top-level key when the expression is one plain key else None, compiled expression)
        self._getters = tuple(
            (key, _top_level_key(expression or key), _compile_jmespath(expression or key))
            for key, expression in config.expressions.items()
        )
        # Plain field paths only read values, so whole numbers may be decoded as ints and converted after;
        # JMESPath functions and comparisons must see Go's floats from the start.
        plain = all(_field_path(expression or key) is not None for key, expression in config.expressions.items())
        self._decode = decode_json_fields if plain else decode_json_object
        self._source = config.source
        self._drop = config.drop_malformed
        self._ctx = ctx
        self._malformed = ctx.error_counter("json_malformed")
        self._bad_source = ctx.error_counter("json_source_not_string")

    def process(self, entry: LogEntry) -> LogEntry | None:
        text = entry.line if self._source is None else _source_text(entry, self._source, self._bad_source)
        if text is None:
            return entry
        try:
            data = self._decode(text)
        except ValueError:
            if self._drop:
                self._ctx.count_drop("malformed_json", entry)
                return None
            self._malformed.inc()
            return entry
        extracted = ensure_extracted(entry)
        # A top-level key is read with the object's own `get`, not through a compiled expression: ~0.6k fewer
        # instructions per key and line (17.3k -> 16.1k for the json stage with three keys).
        lookup = data.get if data.__class__ is dict else _NO_FIELDS.get
        for key, field, get in self._getters:
            try:
                value = get(data) if field is None else lookup(field)
            except JMESPathError:
                continue  # Promtail skips an expression that fails on this data
            cls = value.__class__
            if cls is str or cls is float or value is None:
                extracted[key] = value
            elif cls is int:
                extracted[key] = float(value)  # a whole number, from `decode_json_fields`
            else:
                extracted[key] = json_value(go_numbers(value))
        return entry


# -- logfmt --------------------------------------------------------------------------------------------------

# go-logfmt's grammar: bytes up to a space (or any control byte) separate pairs; a key has no '=' or '"'; a
# value is bare (no '=' or '"') or double-quoted with backslash escapes; after a quoted value the next key may
# follow at once. A well-formed record (checked in one pass, possessive so it never backtracks) is split with
# `findall`; only a malformed one is scanned pair by pair to keep what precedes the error, as go-logfmt does.
_LOGFMT_WORD = r'[^\x00-\x20="]'
_LOGFMT_QUOTED = r'"(?:[^"\\]++|\\[\s\S])*+"'
_LOGFMT_WELL_FORMED = re.compile(
    rf"(?:[\x00-\x20]*+{_LOGFMT_WORD}++(?:=(?:{_LOGFMT_QUOTED}|{_LOGFMT_WORD}*+))?+)*+[\x00-\x20]*+"
)
_LOGFMT_PAIRS = re.compile(rf"({_LOGFMT_WORD}+)(?:=({_LOGFMT_QUOTED}|{_LOGFMT_WORD}*))?")
_LOGFMT_PAIR = re.compile(rf"[\x00-\x20]*({_LOGFMT_WORD}*)(=({_LOGFMT_QUOTED}|{_LOGFMT_WORD}*))?")
_LOGFMT_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/\'bfnrt]))')
_LOGFMT_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LOGFMT_VALID_ESCAPES = re.compile(r'\\(?:u[0-9a-fA-F]{4}|["\\/\'bfnrt])|[^\\\x00-\x1f]')


def _logfmt_unescape(m: re.Match[str]) -> str:
    if m.group(2) is not None:
        return _LOGFMT_SIMPLE[m.group(2)]
    return chr(int(m.group(1), 16))


def logfmt_value(raw: str) -> str | None:
    """The value of a raw logfmt value token (bare, or quoted with JSON escapes and ``\\'``); None if invalid."""
    if raw[:1] != '"':
        return raw
    body = raw[1:-1]
    if "\\" not in body:
        return body
    if _LOGFMT_VALID_ESCAPES.sub("", body):
        return None  # an unknown escape, or a raw control character next to an escape
    text = _LOGFMT_ESCAPE.sub(_logfmt_unescape, body)
    if LONE_SURROGATE.search(text) is not None:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _scan_malformed(record: str, pairs: list[tuple[str, str]]) -> None:
    """Append the raw pairs of `record` that precede its syntax error."""
    n = len(record)
    pos = 0
    match_pair = _LOGFMT_PAIR.match
    while (m := match_pair(record, pos)) is not None:
        key = m.group(1)
        end = m.end()
        if not key:
            return  # '=' or '"' where a key should start (or nothing left)
        raw = m.group(3)
        if raw is None:
            if end < n and record[end] == '"':
                return
            raw = ""
        elif raw[:1] != '"' and end < n and record[end] in '="':
            return  # a bare value runs into '=' or '"' (or an unterminated quote)
        pairs.append((key, raw))
        pos = end


def scan_logfmt_raw(text: str) -> tuple[list[tuple[str, str]], bool]:
    """Split `text` into (key, raw value) pairs as go-logfmt does, and say whether it was well formed.

    Records are separated by newlines; a key without ``=`` has the empty value. After a syntax error only
    the pairs before it are returned. Quoted values keep their quotes: see `logfmt_value`.
    """
    if "\n" not in text:
        if _LOGFMT_WELL_FORMED.fullmatch(text) is not None:
            return _LOGFMT_PAIRS.findall(text), True
        if text.endswith("\r"):
            return scan_logfmt_raw(text + "\n")
    pairs: list[tuple[str, str]] = []
    for record in text.split("\n"):
        if record.endswith("\r"):
            record = record[:-1]
        if _LOGFMT_WELL_FORMED.fullmatch(record) is not None:
            pairs.extend(_LOGFMT_PAIRS.findall(record))
        else:
            _scan_malformed(record, pairs)
            return pairs, False
    return pairs, True


def scan_logfmt(text: str) -> tuple[list[tuple[str, str]], bool]:
    """Decode `text` as go-logfmt does: the (key, value) pairs before any syntax error, and whether it had none."""
    raw_pairs, ok = scan_logfmt_raw(text)
    pairs: list[tuple[str, str]] = []
    for key, raw in raw_pairs:
        value = logfmt_value(raw)
        if value is None:
            return pairs, False
        pairs.append((key, value))
    return pairs, ok


class LogfmtStage:
    """`logfmt`: set the logfmt fields named in `mapping` (extracted name: logfmt key) as extracted strings.

    ```yaml
    - logfmt:
        mapping:
          timestamp: time
          app:              # empty: the same name
        source: message     # optional
    ```

    A syntax error stops parsing; the fields before it are kept (as go-logfmt reports them to Promtail).
    """

    name: ClassVar[str] = "logfmt"
    __slots__ = ("_bad_source", "_inverse", "_malformed", "_source")

    class Config(ConfigModel):
        mapping: dict[str, str | None]
        source: Source = None

        @field_validator("mapping")
        @classmethod
        def _required(cls, value: dict[str, str | None]) -> dict[str, str | None]:
            if not value:
                raise ValueError("logfmt mapping is required")
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        inverse: dict[str, list[str]] = {}
        for name, key in config.mapping.items():
            inverse.setdefault(key or name, []).append(name)
        self._inverse = {key: tuple(names) for key, names in inverse.items()}
        self._source = config.source
        self._malformed = ctx.error_counter("logfmt_malformed")
        self._bad_source = ctx.error_counter("logfmt_source_not_string")

    def process(self, entry: LogEntry) -> LogEntry | None:
        text = entry.line if self._source is None else _source_text(entry, self._source, self._bad_source)
        if text is None:
            return entry
        pairs, ok = scan_logfmt_raw(text)
        inverse = self._inverse
        extracted = ensure_extracted(entry)
        if "\\" not in text:
            # No escapes anywhere: every value decodes, so only the mapped keys need looking at (the last
            # occurrence of a key wins, as when go-logfmt's pairs are applied in order).
            found = dict(pairs)
            for key, names in inverse.items():
                raw = found.get(key)
                if raw is not None:
                    value = raw[1:-1] if raw[:1] == '"' else raw
                    for name in names:
                        extracted[name] = value
        else:
            ok = self._apply_escaped(pairs, extracted) and ok
        if not ok:
            self._malformed.inc()
        return entry

    def _apply_escaped(self, pairs: list[tuple[str, str]], extracted: dict[str, Any]) -> bool:
        """Apply pairs in order, stopping at an invalid escape (even in a value nobody asked for)."""
        inverse = self._inverse
        for key, raw in pairs:
            names = inverse.get(key)
            if names is None:
                if raw[:1] == '"' and "\\" in raw and logfmt_value(raw) is None:
                    return False
                continue
            value = logfmt_value(raw)
            if value is None:
                return False
            for name in names:
                extracted[name] = value
        return True


# -- eventlogmessage -----------------------------------------------------------------------------------------


class EventLogMessageStage:
    """`eventlogmessage`: split a Windows event `Message` (``Key: Value`` lines, CRLF) into extracted values.

    ```yaml
    - eventlogmessage:
        source: message            # default
        overwrite_existing: false  # keep values already extracted
        drop_invalid_labels: false # else keys are sanitized (``Message type`` -> ``Message_type``)
    ```

    As in Promtail, a key already in the extracted map is left alone unless `overwrite_existing`, and an
    entry whose source value is not a string (null, ...) is dropped.
    """

    name: ClassVar[str] = "eventlogmessage"
    __slots__ = ("_ctx", "_drop_invalid", "_overwrite", "_source")

    class Config(ConfigModel):
        source: str = "message"
        overwrite_existing: bool = False
        drop_invalid_labels: bool = False

        @field_validator("source")
        @classmethod
        def _label_name(cls, value: str) -> str:
            if not LABEL_NAME.match(value):
                raise ValueError(f"invalid label name: {value}")
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._source = config.source
        self._overwrite = config.overwrite_existing
        self._drop_invalid = config.drop_invalid_labels
        self._ctx = ctx

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = ensure_extracted(entry)
        value = extracted.get(self._source, _MISSING)
        if value is _MISSING:
            return entry
        text = go_string(value)
        if text is None:
            self._ctx.count_drop("eventlogmessage_invalid_source", entry)
            return None
        for line in text.split("\r\n"):
            colon = line.find(":")
            if colon < 0:
                continue
            key = line[:colon]
            field_value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
            if not LABEL_NAME.match(key):
                if self._drop_invalid:
                    continue
                key = sanitize_label_name(key)
            if not self._overwrite and key in extracted:
                continue
            if is_valid_label_value(field_value):
                extracted[key] = field_value
        return entry
