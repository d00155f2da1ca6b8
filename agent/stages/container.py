"""Container log stages: `docker` (Docker's json-file lines) and `cri` (CRI lines, partial lines joined).

Each reproduces Promtail's built-in sub-pipeline of the same name: parse the line, set the `stream` label and
the timestamp, and make the log text the line. They do not own the generic parsing stages (`json`, `regex`:
`agent.stages.parse`) or the Docker and CRI sources of lines (`agent.sources`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from agent.config.base import ConfigModel
from agent.config.units import Size
from agent.model import LogEntry
from agent.regex import compile_re2
from agent.stages.base import StageContext, ensure_extracted
from agent.stages.values import decode_json_object, go_string, json_value, label_value, parse_rfc3339_nano

_MISSING: Any = object()

# -- docker --------------------------------------------------------------------------------------------------


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
        self._malformed = ctx.error_counter("docker_malformed")
        self._bad_time = ctx.error_counter("docker_invalid_timestamp")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = ensure_extracted(entry)
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


# -- cri -----------------------------------------------------------------------------------------------------

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
        self._bad_time = ctx.error_counter("cri_invalid_timestamp")

    def process(self, entry: LogEntry) -> LogEntry | None:
        extracted = ensure_extracted(entry)
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
