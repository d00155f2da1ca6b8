"""String functions: Promtail's own (ToLower, ToUpper, Replace, the Trim family, Hash, Sha2Hash) and sprig's
(trim, upper, title, substr, trunc, split, join, quote, cat, indent, the sha and adler checksums, uuidv4...),
with Go's rune-by-rune case mapping and byte-indexed slicing of UTF-8.

Not here: regular expressions (`agent.stages.template_engine.functions.regexp`), base64 and JSON
(`agent.stages.template_engine.functions.encoding`).
"""

from __future__ import annotations

import hashlib
import uuid
import zlib
from typing import Any

from agent.stages.template_engine.gostrings import (
    GO_SPACE,
    go_bytes_slice,
    go_len,
    go_lower,
    go_quote,
    go_title,
    go_upper,
)
from agent.stages.template_engine.signature import STRING, TWO_STRINGS, Func
from agent.stages.template_engine.values import StrMap, TemplateExecError, format_value


def _replace(text: str, old: str, new: str, count: int) -> str:
    return text.replace(old, new, count if count >= 0 else -1)


def _trim_space(text: str) -> str:
    return text.strip(GO_SPACE)


def _hash(first: str, second: str) -> str:
    # Promtail calls it as Hash(salt, input) but hashes salt+input: `Hash .Value "salt"` is sha3(value+salt).
    return hashlib.sha3_256((first + second).encode()).hexdigest()


def _sha2_hash(first: str, second: str) -> str:
    return hashlib.sha256((first + second).encode()).hexdigest()


def strval(value: Any) -> str:
    """sprig's `strval`: a string as it is, anything else in its ``%v`` form."""
    return value if value.__class__ is str else format_value(value)


def _strslice(value: Any) -> list[str]:
    if isinstance(value, list):
        return [strval(v) for v in value if v is not None]
    if value is None:
        return []
    return [strval(value)]


def _substr(start: int, end: int, text: str) -> str:
    if start < 0:
        return go_bytes_slice(text, 0, end)
    if end < 0 or end > go_len(text):
        return go_bytes_slice(text, start, None)
    return go_bytes_slice(text, start, end)


def _trunc(count: int, text: str) -> str:
    size = go_len(text)
    if count < 0 and size + count > 0:
        return go_bytes_slice(text, size + count, None)
    if count >= 0 and size > count:
        return go_bytes_slice(text, 0, count)
    return text


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise TemplateExecError("strings: negative Repeat count")
    return text * count


def _abbrev(width: int, text: str) -> str:
    if width < 4 or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _indent(spaces: int, text: str) -> str:
    if spaces < 0:
        raise TemplateExecError("strings: negative Repeat count")
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _go_split(text: str, sep: str, limit: int = -1) -> list[str]:
    if limit == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < limit < len(chars):
            return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        return chars
    return text.split(sep, limit - 1 if limit > 0 else -1)


def _split(sep: str, text: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(_go_split(text, sep)))


def _splitn(sep: str, limit: int, text: str) -> StrMap:
    return StrMap((f"_{i}", part) for i, part in enumerate(_go_split(text, sep, limit)))


def _split_list(sep: str, text: str) -> list[Any]:
    return list(_go_split(text, sep))


def _quote(*values: Any) -> str:
    return " ".join(go_quote(strval(v)) for v in values if v is not None)


def _squote(*values: Any) -> str:
    return " ".join(f"'{format_value(v)}'" for v in values if v is not None)


def _cat(*values: Any) -> str:
    return " ".join(format_value(v) for v in values if v is not None)


def _nospace(text: str) -> str:
    return "".join(c for c in text if c not in GO_SPACE)


def _plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


FUNCTIONS: dict[str, Func] = {
    # Promtail's additions (Go's strings package and hashes)
    "ToLower": Func(go_lower, STRING),
    "ToUpper": Func(go_upper, STRING),
    "Replace": Func(_replace, ("string", "string", "string", "int")),
    "Trim": Func(lambda text, cutset: text.strip(cutset), TWO_STRINGS),
    "TrimLeft": Func(lambda text, cutset: text.lstrip(cutset), TWO_STRINGS),
    "TrimRight": Func(lambda text, cutset: text.rstrip(cutset), TWO_STRINGS),
    "TrimPrefix": Func(lambda text, prefix: text.removeprefix(prefix), TWO_STRINGS),
    "TrimSuffix": Func(lambda text, suffix: text.removesuffix(suffix), TWO_STRINGS),
    "TrimSpace": Func(_trim_space, STRING),
    "Hash": Func(_hash, TWO_STRINGS),
    "Sha2Hash": Func(_sha2_hash, TWO_STRINGS),
    # sprig: strings
    "trim": Func(_trim_space, STRING),
    "trimAll": Func(lambda cutset, text: text.strip(cutset), TWO_STRINGS),
    "trimPrefix": Func(lambda prefix, text: text.removeprefix(prefix), TWO_STRINGS),
    "trimSuffix": Func(lambda suffix, text: text.removesuffix(suffix), TWO_STRINGS),
    "upper": Func(go_upper, STRING),
    "lower": Func(go_lower, STRING),
    "title": Func(go_title, STRING),
    "substr": Func(_substr, ("int", "int", "string")),
    "trunc": Func(_trunc, ("int", "string")),
    "repeat": Func(_repeat, ("int", "string")),
    "abbrev": Func(_abbrev, ("int", "string")),
    "nospace": Func(_nospace, STRING),
    "contains": Func(lambda needle, text: needle in text, TWO_STRINGS),
    "hasPrefix": Func(lambda prefix, text: text.startswith(prefix), TWO_STRINGS),
    "hasSuffix": Func(lambda suffix, text: text.endswith(suffix), TWO_STRINGS),
    "replace": Func(lambda old, new, text: text.replace(old, new), ("string", "string", "string")),
    "quote": Func(_quote, (), "any"),
    "squote": Func(_squote, (), "any"),
    "cat": Func(_cat, (), "any"),
    "indent": Func(_indent, ("int", "string")),
    "nindent": Func(lambda spaces, text: "\n" + _indent(spaces, text), ("int", "string")),
    "plural": Func(_plural, ("string", "string", "int")),
    "split": Func(_split, TWO_STRINGS),
    "splitList": Func(_split_list, TWO_STRINGS),
    "splitn": Func(_splitn, ("string", "int", "string")),
    "join": Func(lambda sep, values: sep.join(_strslice(values)), ("string", "any")),
    "toString": Func(strval, ("any",)),
    "toStrings": Func(lambda values: list(_strslice(values)), ("any",)),
    "sortAlpha": Func(lambda values: sorted(_strslice(values)), ("any",)),
    # sprig: checksums and identifiers
    "sha1sum": Func(lambda text: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest(), STRING),
    "sha256sum": Func(lambda text: hashlib.sha256(text.encode()).hexdigest(), STRING),
    "adler32sum": Func(lambda text: str(zlib.adler32(text.encode())), STRING),
    "uuidv4": Func(lambda: str(uuid.uuid4())),
}
