"""Parsing stages: `regex`, `json`, `logfmt`, `docker`, `cri`, `eventlogmessage`.

Each reads the line (or an extracted value named by `source`) and adds values to the extracted map; `docker`
and `cri` also set the `stream` label, the timestamp and the line, as Promtail's built-in sub-pipelines do.
This module also owns the Go value conventions every stage family shares: how an extracted value becomes a
string (`go_string`, Promtail's `getString`), which label names and values are valid, how Go marshals JSON,
and RFC 3339 timestamps. It does not own label-changing stages (`agent.stages.labels`) or line rewriting
(`agent.stages.rewrite`).

Values in the extracted map keep Go's types: strings, floats (every JSON number: Go decodes them to
float64), booleans and None (JSON null); JSON objects and arrays are stored as JSON text, as Promtail does.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import jmespath
from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from agent.config.base import ConfigModel
from agent.config.units import Size
from agent.model import LogEntry
from agent.regex import compile_re2
from agent.stages.base import StageContext

JMESPathError = jmespath.exceptions.JMESPathError  # jmespath has no stubs: mypy sees Any

# -- Go value conventions -------------------------------------------------------------------------------------

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
"""A valid Prometheus label name (the legacy rule Loki's stream selectors are written in)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_MISSING: Any = object()


def format_go_float(value: float) -> str:
    """Format `value` as Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if value.is_integer() and -1e16 < value < 1e16:
        if value == 0:
            return "-0" if str(value)[0] == "-" else "0"
        return str(int(value))
    text = repr(value)
    if "e" in text:
        return format(Decimal(text), "f")
    if text in ("inf", "-inf", "nan"):
        return {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}[text]
    return text


def go_string(value: Any) -> str | None:
    """Promtail's `getString`: the string form of an extracted value, or None when it has none (null, ...)."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is float:
        return format_go_float(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


def is_valid_label_value(value: str) -> bool:
    """Go's `LabelValue.IsValid`: valid UTF-8 (Python strings are, unless they carry lone surrogates)."""
    return value.isascii() or _SURROGATE.search(value) is None


def label_value(value: Any) -> str | None:
    """The label value an extracted value makes, or None when it makes none (as Promtail's `labels` stage)."""
    text = go_string(value)
    if text is None or not (text.isascii() or _SURROGATE.search(text) is None):
        return None
    return text


def _go_json_escapes() -> dict[int, str]:
    table = {code: f"\\u{code:04x}" for code in range(0x20)}
    table.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"})
    for char in "<>&\u2028\u2029":  # HTML-safe escaping, on in Go's (and json-iterator's) default config
        table[ord(char)] = f"\\u{ord(char):04x}"
    table.update(dict.fromkeys(range(0xD800, 0xE000), "\\ufffd"))  # invalid UTF-8 in Go
    return table


_GO_JSON_ESCAPES = _go_json_escapes()
_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring  # C: escapes only " \\ and < 0x20
_GO_JSON_SLOW = re.compile("[<>&\x08\x0c\u2028\u2029\ud800-\udfff]")


def go_json_string(text: str) -> str:
    """`text` as a JSON string, escaped as Go's JSON encoders do (``<`` is ``\\u003c``, no ``\\b``/``\\f``)."""
    if _GO_JSON_SLOW.search(text) is None:
        return _encode_basestring(text)  # identical output when none of those characters occur
    return '"' + text.translate(_GO_JSON_ESCAPES) + '"'


def _go_json_float(value: float) -> str:
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return format_go_float(value)
    mantissa, exponent = repr(value).split("e")
    digits = exponent[1:].lstrip("0") or "0"
    return f"{mantissa}e-{digits}" if exponent[0] == "-" else f"{mantissa}e+{digits.zfill(2)}"


def go_json_marshal(value: Any) -> str:
    """Marshal a decoded JSON value back to text as Go does (compact, HTML-safe, Go's float format)."""
    parts: list[str] = []
    _marshal(value, parts)
    return "".join(parts)


def _marshal(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(go_json_string(value))
    elif isinstance(value, float):
        out.append(_go_json_float(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(go_json_string(str(key)))
            out.append(":")
            _marshal(item, out)
        out.append("}")
    else:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _marshal(item, out)
        out.append("]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Go decodes every JSON number to float64 and rejects NaN/Infinity; one decoder, built once.
_JSON_DECODER = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)
_decode_json = _JSON_DECODER.decode


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def decode_json_object(text: str) -> dict[str, Any] | None:
    """Decode `text` as Promtail does into a ``map[string]interface{}``; raises ValueError if it is not one.

    JSON ``null`` decodes to None (an empty map in Go, not an error).
    """
    data = _decode_json(text)
    if data is not None and data.__class__ is not dict:
        raise ValueError("not a JSON object")
    if "\\u" in text and ("\\ud" in text or "\\uD" in text):
        data = _replace_surrogates(data)  # lone surrogate escapes decode to U+FFFD in Go
    return data  # type: ignore[no-any-return]


def json_value(value: Any) -> Any:
    """A JMESPath result as Promtail stores it: scalars as they are, objects and arrays as JSON text."""
    cls = value.__class__
    if cls is str or cls is float or value is None or cls is bool:
        return value
    if cls is int:
        return float(value)  # Go's JMESPath returns float64 for numbers, lengths included
    return go_json_marshal(value)


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))\Z")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def parse_rfc3339_nano(text: str) -> int | None:
    """Parse Go's RFC3339Nano layout into Unix nanoseconds; None when `text` is not such a timestamp."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_hour, off_minute = m.groups()
    hours, minutes, seconds = int(hour), int(minute), int(second)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    try:
        days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if sign is not None:
        offset_hours, offset_minutes = int(off_hour), int(off_minute)
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = offset_hours * 3600 + offset_minutes * 60
        total -= offset if sign == "+" else -offset
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return total * 1_000_000_000 + nanos


def _non_empty_source(value: str | None) -> str | None:
    if value == "":
        raise ValueError("empty source")
    return value


Source = Annotated[str | None, AfterValidator(_non_empty_source)]
"""A stage's optional `source` key: an extracted value's name; empty is an error, as in Promtail."""


def _error_counter(ctx: StageContext, reason: str) -> Any:
    return ctx.metrics.errors.labels(component="stage", reason=reason)


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


def _extracted(entry: LogEntry) -> dict[str, Any]:
    extracted = entry.extracted
    if extracted is None:
        extracted = entry.extracted = dict(entry.labels)
    return extracted


# -- regex -------------------------------------------------------------------------------------------------


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
        expression: re.Pattern[str]
        source: Source = None

        @field_validator("expression", mode="before")
        @classmethod
        def _compile(cls, value: object) -> object:
            if isinstance(value, str):
                if not value:
                    raise ValueError("expression is required")
                return compile_re2(value)
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._search = config.expression.search
        self._source = config.source
        self._bad_source = _error_counter(ctx, "regex_source_not_string")

    def process(self, entry: LogEntry) -> LogEntry | None:
        source = self._source
        if source is None:
            match = self._search(entry.line)
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


# -- json --------------------------------------------------------------------------------------------------


def _compile_jmespath(expression: str) -> Callable[[Any], Any]:
    """A function evaluating `expression` on decoded JSON; plain field paths skip the JMESPath interpreter."""
    parsed = jmespath.compile(expression)
    node = parsed.parsed
    fields: list[str] = []
    while node["type"] == "subexpression" and node["children"][1]["type"] == "field":
        fields.insert(0, node["children"][1]["value"])
        node = node["children"][0]
    if node["type"] == "field":
        fields.insert(0, node["value"])
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
    return parsed.search  # type: ignore[no-any-return]


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
    __slots__ = ("_bad_source", "_ctx", "_drop", "_getters", "_malformed", "_source")

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
        self._getters = tuple(
            (key, _compile_jmespath(expression or key)) for key, expression in config.expressions.items()
        )
        self._source = config.source
        self._drop = config.drop_malformed
        self._ctx = ctx
        self._malformed = _error_counter(ctx, "json_malformed")
        self._bad_source = _error_counter(ctx, "json_source_not_string")

    def process(self, entry: LogEntry) -> LogEntry | None:
        text = entry.line if self._source is None else _source_text(entry, self._source, self._bad_source)
        if text is None:
            return entry
        try:
            data = decode_json_object(text)
        except ValueError:
            if self._drop:
                self._ctx.count_drop("malformed_json", entry)
                return None
            self._malformed.inc()
            return entry
        extracted = _extracted(entry)
        for key, get in self._getters:
            try:
                value = get(data)
            except JMESPathError:
                continue  # Promtail skips an expression that fails on this data
            cls = value.__class__
            extracted[key] = value if cls is str or cls is float or value is None else json_value(value)
        return entry


# -- logfmt ------------------------------------------------------------------------------------------------

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
    if _SURROGATE.search(text) is not None:
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
        self._malformed = _error_counter(ctx, "logfmt_malformed")
        self._bad_source = _error_counter(ctx, "logfmt_source_not_string")

    def process(self, entry: LogEntry) -> LogEntry | None:
        text = entry.line if self._source is None else _source_text(entry, self._source, self._bad_source)
        if text is None:
            return entry
        pairs, ok = scan_logfmt_raw(text)
        inverse = self._inverse
        extracted = _extracted(entry)
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


# -- docker ------------------------------------------------------------------------------------------------


class DockerStage:
    """`docker`: parse a Docker json-file line ``{"log": ..., "stream": ..., "time": ...}``.

    ```yaml
    - docker: {}
    ```

    As Promtail's built-in sub-pipeline (json, labels, timestamp, output): extracted `output`, `stream` and
    `timestamp`; label `stream`; the timestamp from `time` (RFC 3339); the line becomes `log`, with its
    trailing newline kept as Promtail keeps it.
    """

    name: ClassVar[str] = "docker"
    mutates_labels: ClassVar[bool] = True
    __slots__ = ("_bad_time", "_malformed")

    class Config(ConfigModel):
        pass

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._malformed = _error_counter(ctx, "docker_malformed")
        self._bad_time = _error_counter(ctx, "docker_invalid_timestamp")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = _extracted(entry)
        try:
            data = decode_json_object(entry.line)
        except ValueError:
            self._malformed.inc()
        else:
            if data is None:
                extracted["output"] = extracted["stream"] = extracted["timestamp"] = None
            else:
                get = data.get
                extracted["output"] = json_value(get("log"))
                extracted["stream"] = json_value(get("stream"))
                extracted["timestamp"] = json_value(get("time"))
        _apply_stream_time_output(entry, extracted, "stream", "timestamp", "output", self._bad_time)
        return entry


def _apply_stream_time_output(
    entry: LogEntry, extracted: dict[str, Any], stream: str, time: str, output: str, bad_time: Any
) -> None:
    """The labels + timestamp + output steps of the docker and cri sub-pipelines, from extracted values."""
    value = extracted.get(stream, _MISSING)
    if value is not _MISSING and (text := label_value(value)) is not None:
        entry.labels["stream"] = text
    value = extracted.get(time, _MISSING)
    if value is not _MISSING:
        text = go_string(value)
        nanos = parse_rfc3339_nano(text) if text is not None else None
        if nanos is None:
            bad_time.inc()  # Promtail's timestamp stage would fudge it from the stream's last timestamp
        else:
            entry.timestamp = nanos
    value = extracted.get(output, _MISSING)
    if value is not _MISSING and (text := go_string(value)) is not None:
        entry.line = text


# -- cri ---------------------------------------------------------------------------------------------------

_CRI_EXPRESSION = r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$"


class CriStage:
    """`cri`: parse a CRI log line ``<RFC 3339 time> <stdout|stderr> <P|F> <content>``; join partial lines.

    ```yaml
    - cri:
        max_partial_lines: 100               # streams that may hold a partial line at once
        max_partial_line_size: 256KiB        # with max_partial_line_size_truncate: cut joined lines
        max_partial_line_size_truncate: false
    ```

    As Promtail: extracted `time`, `stream`, `flags`, `content`; label `stream`; the timestamp from `time`;
    the line becomes `content`. Lines flagged ``P`` are held and joined (without separator) with the
    following lines of the same stream (same labels) up to the next ``F`` line, which carries the result.
    When `max_partial_lines` streams already hold a partial line, the least recently extended one is
    released as it is (Promtail releases all of them).
    """

    name: ClassVar[str] = "cri"
    mutates_labels: ClassVar[bool] = True
    holds_entries: ClassVar[bool] = True
    __slots__ = ("_bad_time", "_fanout", "_match", "_max_lines", "_max_size", "_pending")

    class Config(ConfigModel):
        max_partial_lines: int = Field(default=100, ge=0)
        max_partial_line_size: Size = 0
        max_partial_line_size_truncate: bool = False

        @field_validator("max_partial_line_size_truncate")
        @classmethod
        def _needs_size(cls, value: bool, info: ValidationInfo) -> bool:
            if value and not info.data.get("max_partial_line_size"):
                raise ValueError("max_partial_line_size must be set (> 0) when truncating partial lines")
            return value

    def __init__(self, config: Config, ctx: StageContext) -> None:
        self._match = compile_re2(_CRI_EXPRESSION).match
        self._max_lines = config.max_partial_lines or 100
        self._max_size = config.max_partial_line_size if config.max_partial_line_size_truncate else 0
        self._fanout = ctx.fanout
        self._pending: dict[frozenset[tuple[str, str]], LogEntry] = {}
        self._bad_time = _error_counter(ctx, "cri_invalid_timestamp")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = _extracted(entry)
        m = self._match(entry.line)
        if m is not None:
            time, stream, flags, content = m.groups()
            extracted["time"] = time
            extracted["stream"] = stream
            extracted["flags"] = flags
            extracted["content"] = content
            entry.labels["stream"] = stream
            nanos = parse_rfc3339_nano(time)
            if nanos is None:
                self._bad_time.inc()
            else:
                entry.timestamp = nanos
            entry.line = content
        else:
            _apply_stream_time_output(entry, extracted, "stream", "time", "content", self._bad_time)
        # Promtail's sub-pipeline ends with `output: {source: tags}`, a no-op unless something set `tags`.
        if "tags" in extracted and (tags := go_string(extracted["tags"])) is not None:
            entry.line = tags
        pending = self._pending
        if extracted.get("flags") == "P":
            key = frozenset(entry.labels.items())
            previous = pending.pop(key, None)
            released = None
            if previous is not None:
                entry.line = previous.line + entry.line
                previous.checkpoint.ack(self._fanout)
            elif len(pending) >= self._max_lines:
                released = pending.pop(next(iter(pending)))
            if self._max_size:
                self._truncate(entry)
            pending[key] = entry
            return released
        if pending:
            previous = pending.pop(frozenset(entry.labels.items()), None)
            if previous is not None:
                entry.line = previous.line + entry.line
                previous.checkpoint.ack(self._fanout)
                if self._max_size:
                    self._truncate(entry)
        return entry

    def _truncate(self, entry: LogEntry) -> None:
        limit = self._max_size
        line = entry.line
        if len(line) <= limit // 4 or (line.isascii() and len(line) <= limit):
            return
        encoded = line.encode("utf-8", "surrogatepass")
        if len(encoded) > limit:
            # Promtail cuts bytes; a character cut in half is dropped rather than sent as invalid UTF-8.
            entry.line = encoded[:limit].decode("utf-8", "ignore")

    def flush_all(self) -> list[LogEntry]:
        """At shutdown: release every partial line still held, as it is."""
        held = list(self._pending.values())
        self._pending.clear()
        return held


# -- eventlogmessage ---------------------------------------------------------------------------------------


def sanitize_label_name(name: str) -> str:
    """Replace what a label name cannot hold with ``_`` (Promtail's `SanitizeLabelName`); empty gives ``_``."""
    if not name:
        return "_"
    return "".join(
        c if ("a" <= c <= "z" or "A" <= c <= "Z" or c == "_" or ("0" <= c <= "9" and i > 0)) else "_"
        for i, c in enumerate(name)
    )


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
        extracted = _extracted(entry)
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
