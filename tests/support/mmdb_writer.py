"""A tiny MaxMind DB (``.mmdb``) writer for tests: an IPv4 search tree, a data section and the metadata.

Written from the MaxMind DB File Format Specification 2.0: the file is a binary search tree of
``node_count`` nodes (two records each; 24-bit records here), a 16-byte zero separator, the data section,
then ``\\xAB\\xCD\\xEFMaxMind.com`` and the metadata map. A record below ``node_count`` points to a node,
equal to it means "no data", above it points into the data section at ``record - node_count - 16``.
Data fields start with a control byte: the type in the top three bits (0 means "extended": the type is
7 plus the next byte) and the size in the low five.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

_METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

# Type numbers from the specification.
_UTF8, _DOUBLE, _UINT16, _UINT32, _MAP = 2, 3, 5, 6, 7
_UINT64, _ARRAY, _BOOLEAN = 9, 11, 14


class Uint16(int):
    """An int encoded as uint16 (the metadata's fields have fixed types; readers check them)."""


class Uint32(int):
    """An int encoded as uint32 (ASN numbers, geoname ids)."""


class Uint64(int):
    """An int encoded as uint64."""


_FIXED = {Uint16: _UINT16, Uint32: _UINT32, Uint64: _UINT64}


def _control(kind: int, size: int) -> bytes:
    if size < 29:
        first, extra = size, b""
    elif size < 29 + 256:
        first, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        first, extra = 30, (size - 285).to_bytes(2, "big")
    else:
        first, extra = 31, (size - 65821).to_bytes(3, "big")
    if kind <= 7:
        return bytes([(kind << 5) | first]) + extra
    return bytes([first, kind - 7]) + extra


def _unsigned(kind: int, value: int) -> bytes:
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return _control(kind, len(payload)) + payload


def encode(value: Any) -> bytes:
    """One value in the data section's encoding: str, float, bool, non-negative int, dict, list."""
    if isinstance(value, bool):
        return _control(_BOOLEAN, int(value))
    if isinstance(value, str):
        raw = value.encode()
        return _control(_UTF8, len(raw)) + raw
    if isinstance(value, float):
        return _control(_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("only unsigned integers are supported")
        kind = _FIXED.get(type(value)) or (_UINT16 if value < 1 << 16 else _UINT32 if value < 1 << 32 else _UINT64)
        return _unsigned(kind, value)
    if isinstance(value, dict):
        return _control(_MAP, len(value)) + b"".join(encode(str(k)) + encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(_ARRAY, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class _Node:
    __slots__ = ("children", "number")

    def __init__(self) -> None:
        self.children: list[_Node | int | None] = [None, None]  # a node, a data index, or empty
        self.number = 0


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]], *, database_type: str) -> Path:
    """Write an IPv4 database mapping each network (``"34.120.0.0/16"``) to its record; return `path`.

    Networks must not overlap.
    """
    root = _Node()
    records: list[dict[str, Any]] = []
    for network_text, record in networks.items():
        network = ipaddress.IPv4Network(network_text)
        bits = int(network.network_address)
        node = root
        for depth in range(network.prefixlen):
            bit = (bits >> (31 - depth)) & 1
            if depth == network.prefixlen - 1:
                if node.children[bit] is not None:
                    raise ValueError(f"{network_text} overlaps another network")
                node.children[bit] = len(records)
                break
            child = node.children[bit]
            if child is None:
                child = node.children[bit] = _Node()
            if not isinstance(child, _Node):
                raise ValueError(f"{network_text} overlaps another network")
            node = child
        records.append(record)

    nodes: list[_Node] = []
    queue = [root]
    while queue:  # breadth first, so the root is node 0
        node = queue.pop(0)
        node.number = len(nodes)
        nodes.append(node)
        queue.extend(child for child in node.children if isinstance(child, _Node))

    data = b""
    offsets = []
    for record in records:
        offsets.append(len(data))
        data += encode(record)

    node_count = len(nodes)

    def record_value(child: _Node | int | None) -> int:
        if child is None:
            return node_count
        if isinstance(child, _Node):
            return child.number
        return node_count + 16 + offsets[child]

    tree = b"".join(
        record_value(node.children[0]).to_bytes(3, "big") + record_value(node.children[1]).to_bytes(3, "big")
        for node in nodes
    )
    metadata = {
        "binary_format_major_version": Uint16(2),
        "binary_format_minor_version": Uint16(0),
        "build_epoch": Uint64(1_700_000_000),
        "database_type": database_type,
        "description": {"en": "agent test database"},
        "ip_version": Uint16(4),
        "languages": ["en"],
        "node_count": Uint32(node_count),
        "record_size": Uint16(24),
    }
    path.write_bytes(tree + b"\x00" * 16 + data + _METADATA_MARKER + encode(metadata))
    return path
