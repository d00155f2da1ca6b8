"""sprig's encoding functions: toJson, toPrettyJson and toRawJson (what Go's encoding/json writes: sorted map
keys, HTML-safe escapes unless raw; an unsupported value gives ""), fromJson (every number a float64, invalid
JSON nil), and base64 and base32 encoding and decoding.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from agent.stages.golayout import format_time
from agent.stages.template_engine.signature import STRING, Func
from agent.stages.template_engine.values import GoTime, Int64, format_float_g, go_type
from agent.stages.values import decode_json, go_json_float, go_json_string


def _b64dec(text: str) -> str:
    try:
        return base64.b64decode(text.encode(), validate=True).decode("utf-8", "replace")
    except ValueError as error:
        return f"illegal base64 data: {error}"


def _b32dec(text: str) -> str:
    try:
        return base64.b32decode(text.encode()).decode("utf-8", "replace")
    except ValueError as error:
        return f"illegal base32 data: {error}"


def _raw_json_escapes() -> dict[int, str]:
    table = {code: f"\\u{code:04x}" for code in range(0x20)}
    table.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"})
    table.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
    return table


_RAW_JSON_ESCAPES = _raw_json_escapes()


def _json_string(text: str, html_safe: bool) -> str:
    """A JSON string as Go's encoder writes it (``<``, ``>``, ``&`` escaped only when `html_safe`)."""
    return go_json_string(text) if html_safe else '"' + text.translate(_RAW_JSON_ESCAPES) + '"'


def _marshal(value: Any, out: list[str], indent: str | None, level: int, html_safe: bool) -> None:
    cls = value.__class__
    if value is None:
        out.append("null")
    elif cls is bool:
        out.append("true" if value else "false")
    elif cls is str:
        out.append(_json_string(value, html_safe))
    elif cls is int or cls is Int64:
        out.append(str(int(value)))
    elif cls is float:
        if not math.isfinite(value):
            raise ValueError(f"json: unsupported value: {format_float_g(value)}")
        out.append(go_json_float(value))
    elif isinstance(value, list | dict):
        is_map = isinstance(value, dict)
        items: list[tuple[Any, Any]] = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value))
        opening, closing = ("{", "}") if is_map else ("[", "]")
        if not items:
            out.append(opening + closing)
            return
        out.append(opening)
        for position, (key, item) in enumerate(items):
            if position:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (level + 1))
            if is_map:
                out.append(_json_string(str(key), html_safe))
                out.append(": " if indent is not None else ":")
            _marshal(item, out, indent, level + 1, html_safe)
        if indent is not None:
            out.append("\n" + indent * level)
        out.append(closing)
    elif cls is GoTime:
        out.append(_json_string(format_time("2006-01-02T15:04:05.999999999Z07:00", value.ns, value.zone), True))
    else:
        raise ValueError(f"json: unsupported type: {go_type(value)}")


def _to_json(value: Any, indent: str | None = None, html_safe: bool = True) -> str:
    out: list[str] = []
    try:
        _marshal(value, out, indent, 0, html_safe)
    except ValueError:
        return ""  # sprig swallows the error
    return "".join(out)


def _from_json(text: str) -> Any:
    """sprig's `fromJson`: Go decodes every number to float64; invalid JSON gives nil."""
    try:
        return decode_json(text)
    except ValueError:
        return None


FUNCTIONS: dict[str, Func] = {
    # sprig: base64 and base32
    "b64enc": Func(lambda text: base64.b64encode(text.encode()).decode(), STRING),
    "b64dec": Func(_b64dec, STRING),
    "b32enc": Func(lambda text: base64.b32encode(text.encode()).decode(), STRING),
    "b32dec": Func(_b32dec, STRING),
    # sprig: JSON
    "toJson": Func(_to_json, ("any",)),
    "toPrettyJson": Func(lambda value: _to_json(value, "  "), ("any",)),
    "toRawJson": Func(lambda value: _to_json(value, None, False), ("any",)),
    "fromJson": Func(_from_json, STRING),
}
