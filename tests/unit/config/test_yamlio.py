"""The YAML reader: Go-like scalar typing and the map from text positions to YAML paths."""

from __future__ import annotations

from agent.config.yamlio import parse

TEXT = """\
server:
  http_listen_port: 9080   # ${PORT}
clients:
  - url: http://loki:3100/push
    external_labels:
      env:
"""


def test_plain_scalars_stay_text() -> None:
    """Numbers and booleans stay as written; only empty values and null become None."""
    data = parse("a: 0755\nb: yes\nc: 1.10\nd: ~\ne: null\nf:\ng: 'x'\nh: 1:30\n").data
    assert data == {"a": "0755", "b": "yes", "c": "1.10", "d": None, "e": None, "f": None, "g": "x", "h": "1:30"}


def test_path_at_values_and_keys() -> None:
    """An offset inside a value or a key maps to that entry's YAML path."""
    document = parse(TEXT)
    assert document.path_at(TEXT.index("9080")) == "server.http_listen_port"
    assert document.path_at(TEXT.index("http_listen_port")) == "server.http_listen_port"
    assert document.path_at(TEXT.index("loki:3100")) == "clients[0].url"


def test_path_at_empty_value() -> None:
    """The blanks after an empty value's colon belong to that value."""
    document = parse(TEXT)
    assert document.path_at(TEXT.index("env:") + 4) == "clients[0].external_labels.env"


def test_path_at_comment() -> None:
    """A comment belongs to no path."""
    assert parse(TEXT).path_at(TEXT.index("${PORT}")) is None


def test_line_of_nearest_parent() -> None:
    """line_of gives a path's line, or its closest existing parent's for a missing key."""
    document = parse(TEXT)
    assert document.line_of("clients[0].url") == 4
    assert document.line_of("clients[0].tenant_id") == 4
    assert document.line_of("nothing.here") is None


def test_alias_cycle_does_not_hang() -> None:
    """A recursive alias is parsed without walking forever."""
    assert parse("a: &x [*x]\n").data["a"][0] is not None
