"""The fast JSON decode (`decode_json_fields` + `go_numbers`, and the C-scanner shortcut of `decode_json_object`)
gives exactly what the exact decode (`decode_json`, Go's rules) gives, on tricky inputs and generated ones.

Values are compared by type and repr, so ``-0.0`` differs from ``0.0`` and ``1.0`` from ``1``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.stages.values import LONE_SURROGATE, decode_json, decode_json_fields, decode_json_object, go_numbers


def _exact(text: str) -> object:
    """What the exact path (the whole decoder, then Go's U+FFFD for escaped lone surrogates) makes of `text`."""
    try:
        data = decode_json(text)
    except ValueError:
        return "error"
    if data is not None and not isinstance(data, dict):
        return "error"
    if "\\u" in text and ("\\ud" in text or "\\uD" in text):
        data = _replace_surrogates(data)
    return _canonical(data)


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", [(key, _canonical(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_canonical(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def _outcome(decode: Any, text: str) -> object:
    try:
        return _canonical(go_numbers(decode(text)))
    except ValueError:
        return "error"


TRICKY = [
    pytest.param('{"a":-0}', id="negative-zero-integer"),
    pytest.param('{"a":[1,-0,{"b":-0}]}', id="nested-negative-zero"),
    pytest.param('{"a":-0.0,"b":-0e5}', id="negative-zero-float"),
    pytest.param('{"a":18446744073709551615}', id="uint64-max"),
    pytest.param('{"a":18446744073709551616}', id="past-uint64"),
    pytest.param('{"a":-9223372036854775809}', id="past-int64"),
    pytest.param('{"a":123456789012345678901234567890}', id="huge-integer"),
    pytest.param('{"a":9007199254740993}', id="integer-rounds-to-float"),
    pytest.param('{"a":1e400}', id="float-overflow"),
    pytest.param('{"a":-1e-400}', id="float-underflow"),
    pytest.param('{"a":0.1,"b":2.5e-3,"c":1E2,"d":1.7976931348623157e308}', id="floats"),
    pytest.param('{"a":NaN}', id="nan-rejected"),
    pytest.param('{"a":Infinity}', id="infinity-rejected"),
    pytest.param('{"a":1,"a":2}', id="duplicate-keys-last-wins"),
    pytest.param('{"a":"\\ud800"}', id="lone-surrogate-escape"),
    pytest.param('{"\\udc80":1}', id="lone-surrogate-escape-in-key"),
    pytest.param('{"a":"\\ud83d\\ude00"}', id="surrogate-pair-escape"),
    pytest.param('{"a":"\udc80"}', id="lone-surrogate-in-text"),
    pytest.param('{"a":"\\u0000\\n\\/"}', id="escapes"),
    pytest.param('{"a":"\x01"}', id="raw-control-character"),
    pytest.param("\ufeff{}", id="byte-order-mark"),
    pytest.param(' {"a":1} ', id="surrounding-whitespace"),
    pytest.param('{"a":1}\x0c', id="form-feed-is-not-whitespace"),
    pytest.param('{"a":1} {"b":2}', id="two-objects"),
    pytest.param('{"a":1}}', id="extra-brace"),
    pytest.param('{"a":01}', id="leading-zero"),
    pytest.param('{"a":1.}', id="bare-point"),
    pytest.param("[1,2]", id="array"),
    pytest.param("null", id="null"),
    pytest.param('"text"', id="string"),
    pytest.param("{", id="truncated"),
    pytest.param("", id="empty"),
    pytest.param('{"a":true,"b":false,"c":null,"d":[],"e":{}}', id="literals"),
]


@pytest.mark.parametrize("text", TRICKY)
def test_fast_decode_matches_exact(text: str) -> None:
    """`decode_json_fields` then `go_numbers` decodes (or refuses) each tricky input as Go's rules do."""
    assert _outcome(decode_json_fields, text) == _exact(text)


@pytest.mark.parametrize("text", TRICKY)
def test_scanner_shortcut_matches_exact(text: str) -> None:
    """`decode_json_object`'s shortcut for one bare object decodes (or refuses) each input as the full decode."""
    assert _outcome(decode_json_object, text) == _exact(text)


def test_negative_zero_keeps_its_sign() -> None:
    """Go reads ``-0`` as the float -0 (printed "-0"); the fast path must not make it the integer 0."""
    data = decode_json_fields('{"a":-0}')
    assert data is not None
    assert math.copysign(1.0, go_numbers(data["a"])) == -1.0


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
_number_texts = st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), _json_values, max_size=5), st.booleans())
@example({"a": "\ud800"}, False)
def test_generated_objects(value: dict[str, Any], ascii_only: bool) -> None:
    """Any object, written with or without escapes, decodes the same on both paths."""
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
    assert _outcome(decode_json_fields, text) == _exact(text)
    assert _outcome(decode_json_object, text) == _exact(text)


@settings(max_examples=300, deadline=None)
@given(_number_texts)
@example("-0")
@example("1e309")
def test_generated_numbers(number: str) -> None:
    """Any JSON number becomes the same float64 on both paths (sign of zero and rounding included)."""
    text = '{"n":' + number + "}"
    assert _outcome(decode_json_fields, text) == _exact(text)


class TestJsonStagePaths:
    """The `json` stage reads plain field paths through the fast decode, other expressions through the exact one."""

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param('{"v":{"n":1,"big":12345678901234567,"f":1.5,"l":[2,true,null]}}', id="object"),
            pytest.param('{"v":[1,1e21,123456789012345678901,100000000000000000000000]}', id="array"),
            pytest.param('{"v":{"z":-0}}', id="object-negative-zero"),
            pytest.param('{"v":12345678901234567}', id="integer"),
            pytest.param('{"v":-0}', id="negative-zero"),
            pytest.param('{"v":"\\ud800x"}', id="lone-surrogate"),
            pytest.param('{"v":true}', id="boolean"),
            pytest.param('{"v":null}', id="null"),
            pytest.param('{"v":1e400}', id="overflow"),
        ],
    )
    def test_plain_path_extracts_what_jmespath_does(self, build: Any, line: str) -> None:
        """A plain path (`v`) and a JMESPath expression with the same result (`v | @`) extract the same value."""
        fast = build("- json: {expressions: {out: v}}").run(line)
        exact = build("- json: {expressions: {out: 'v | @'}}").run(line)
        assert fast is not None
        assert exact is not None
        assert _canonical(fast.extracted) == _canonical(exact.extracted)
