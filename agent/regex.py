"""RE2 patterns (Go's `regexp`, what Promtail configs are written in) compiled with Python's `re`.

The two dialects agree on everything Promtail configs use in practice; where they differ this module
translates (``(?<name>...)``, ``\\z``, POSIX classes such as ``[[:digit:]]``, ``\\Q...\\E``) or rejects the
pattern with a message that says why (``\\C``, ``(?U)``). Character classes such as ``\\d``, ``\\w`` and ``\\s``
are ASCII-only in RE2, so patterns are compiled with `re.ASCII`.
"""

from __future__ import annotations

import re

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")


def translate(pattern: str) -> str:
    """Return `pattern` rewritten from RE2 to Python `re` syntax. Raises ValueError for what cannot be."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if nxt == "z" and not in_class:
                out.append(r"\Z")
            elif nxt == "C":
                raise ValueError(r"\C (any byte) is not supported")
            elif nxt in "pP" and not in_class:
                raise ValueError(rf"Unicode class \{nxt} is not supported by Python's re")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" and (m := _POSIX.match(pattern, i)):
                if m.group(1):
                    raise ValueError(f"negated POSIX class [:^{m.group(2)}:] is not supported")
                cls = _POSIX_CLASSES.get(m.group(2))
                if cls is None:
                    raise ValueError(f"unknown POSIX class [:{m.group(2)}:]")
                out.append(cls)
                i = m.end()
                continue
            if c == "[":
                out.append("\\[")  # RE2 reads a bare [ inside a class literally; Python warns on it
                i += 1
                continue
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # A ] right after [ or [^ is a literal in both dialects.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        if pattern.startswith("(?", i):
            m = re.match(r"\(\?([imsU-]+)([:)])", pattern[i:])
            if m and "U" in m.group(1):
                raise ValueError("the ungreedy flag (?U) is not supported")
        out.append(c)
        i += 1
    return "".join(out)


def compile_re2(pattern: str, *, anchored: bool = False) -> re.Pattern[str]:
    """Compile an RE2 `pattern`; `anchored` wraps it as Prometheus does for relabel regexes (^(?:...)$).

    Raises ValueError with a short, user-facing reason when the pattern is invalid or untranslatable.
    """
    try:
        translated = translate(pattern)
        if anchored:
            translated = f"^(?:{translated})$"
        return re.compile(translated, re.ASCII)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(f"invalid regular expression {pattern!r}: {exc.msg}{where}") from None
