"""The agent's own log output: one line per event, logfmt (as Promtail writes) or JSON, context as fields.

`setup_logging` configures the stdlib root logger once, so third-party libraries (aiohttp, httpx) log in
the same format. Callers log a capitalised sentence and pass context as fields, either with ``extra=`` or,
when a field name could clash with a `logging.LogRecord` attribute (``name``, ``filename``), with
`log_fields`::

    log.warning("Push failed, will retry.", extra={"status": 503, "attempt": 2})
    log.info("File rotated.", extra=log_fields(path=path, filename=new_name))

`RateLimitedLogger` keeps a failing component from flooding the log. This module does not decide what is
logged where; it owns only the format, the level names and the rate limiting.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["logfmt", "json"]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
"""Accepted `log_level` values. `warning` is an alias of Promtail's `warn`."""

FORMATS: tuple[LogFormat, ...] = ("logfmt", "json")

# Promtail (go-kit) knows four levels; CRITICAL from a library is shown as error.
_LEVEL_LABELS = {
    logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error",
}

_FIELDS_ATTR = "agent_fields"
"""The LogRecord attribute `log_fields` fills; its keys may be anything, even LogRecord attribute names."""

# Every attribute a bare LogRecord has, plus those `Formatter.format` and newer Pythons add: what is left on
# a record is a field the caller passed with `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", _FIELDS_ATTR}
)

_HEAD_KEYS = ("ts", "level", "caller", "msg")
_TAIL_KEYS = ("traceback", "stack")
_RESERVED_KEYS = frozenset(_HEAD_KEYS + _TAIL_KEYS)

# Chatty libraries: httpx logs every request at info, which would be one line per push.
_QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "watchfiles": logging.WARNING,  # otherwise "1 change detected" at info for every batch of events
}


def parse_level(level: str) -> int:
    """Return the stdlib level for a Promtail level name; raise ValueError naming the allowed ones."""
    number = LEVELS.get(level.strip().lower())
    if number is None:
        raise ValueError(f"unknown log level {level!r}: use one of debug, info, warn, error")
    return number


def setup_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stderr by default), one line each, in `fmt` at `level` and above.

    Calling it again replaces the previous setup (the CLI does, once the config's `server.log_level` is
    known). Raises ValueError for an unknown level or format, listing the allowed values.
    """
    number = parse_level(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(number)
    for name, quiet in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, number))


def log_fields(**fields: Any) -> dict[str, Any]:
    """Return an ``extra=`` mapping carrying `fields`, whatever their names (``name``, ``filename`` too)."""
    return {_FIELDS_ATTR: fields}


class _FieldFormatter(logging.Formatter):
    """Turns a record into ordered (key, value) pairs: ts, level, caller, msg, fields, traceback."""

    def fields(self, record: logging.LogRecord) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = [
            ("ts", _timestamp(record.created)),
            ("level", _level_label(record.levelno)),
            ("caller", f"{record.filename}:{record.lineno}"),
            ("msg", record.getMessage()),
        ]
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        given = getattr(record, _FIELDS_ATTR, None)
        if isinstance(given, Mapping):
            extra.update(given)
        for key, value in extra.items():
            # A field named like one of ours must not hide it (or produce a duplicate JSON key).
            name = f"{key}_" if key in _RESERVED_KEYS else str(key)
            pairs.append((name, value))
        if record.exc_info and record.exc_info[0] is not None:
            pairs.append(("traceback", "".join(traceback.format_exception(*record.exc_info)).rstrip()))
        elif record.exc_text:
            pairs.append(("traceback", record.exc_text))
        if record.stack_info:
            pairs.append(("stack", record.stack_info))
        return pairs


class LogfmtFormatter(_FieldFormatter):
    """``ts=2026-01-02T03:04:05.123Z level=info caller=app.py:12 msg="Agent started." clients=1``."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{_logfmt_key(k)}={_logfmt_value(v)}" for k, v in self.fields(record))


class JsonFormatter(_FieldFormatter):
    """The same keys as `LogfmtFormatter`, as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {k: _json_value(v) for k, v in self.fields(record)}, ensure_ascii=False, default=str
        )


def _level_label(levelno: int) -> str:
    return _LEVEL_LABELS.get(levelno, "error" if levelno > logging.ERROR else "debug")


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _logfmt_key(key: str) -> str:
    cleaned = "".join(c if c > " " and c not in '="' else "_" for c in key)
    return cleaned or "_"


def _logfmt_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and all(c > " " and c not in '="\\' and c.isprintable() for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)  # JSON string escaping is what logfmt parsers accept


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


class RateLimitedLogger:
    """Logs a recurring problem at most once per `interval` seconds per key, counting what it held back.

    Each component owns one; the key names the problem (``f"push:{host}"``), so distinct problems are not
    hidden behind each other. The first occurrence is logged at once; later ones within the interval are
    suppressed, and the next line logged for that key carries ``suppressed=N``.

    ```python
    self._warn = RateLimitedLogger(log, interval=30.0)
    self._warn.warning(f"push:{host}", "Push failed, will retry.", extra={"status": 503})
    ```
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._max_keys = max_keys
        # key -> (time last logged, occurrences suppressed since); ordered by last use, to evict the oldest.
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def allow(self, key: str) -> int | None:
        """Record an occurrence of `key`: None if it must stay quiet, else how many were suppressed before."""
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return None
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)
        return 0 if last is None else last[1]

    def debug(self, key: str, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Log at debug level unless `key` was logged within the interval; return whether it was logged."""
        return self._emit(logging.DEBUG, key, msg, args, kwargs)

    def info(self, key: str, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Log at info level unless `key` was logged within the interval; return whether it was logged."""
        return self._emit(logging.INFO, key, msg, args, kwargs)

    def warning(self, key: str, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Log at warn level unless `key` was logged within the interval; return whether it was logged."""
        return self._emit(logging.WARNING, key, msg, args, kwargs)

    def error(self, key: str, msg: str, *args: Any, **kwargs: Any) -> bool:
        """Log at error level unless `key` was logged within the interval; return whether it was logged."""
        return self._emit(logging.ERROR, key, msg, args, kwargs)

    def _emit(self, level: int, key: str, msg: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if not self.logger.isEnabledFor(level):
            return False
        suppressed = self.allow(key)
        if suppressed is None:
            return False
        if suppressed:
            kwargs["extra"] = {**(kwargs.get("extra") or {}), "suppressed": suppressed}
        # stacklevel 3: the caller of warning()/error(), not this method, becomes the record's `caller`.
        self.logger.log(level, msg, *args, stacklevel=3, **kwargs)
        return True
