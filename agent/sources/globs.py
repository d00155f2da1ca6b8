"""Promtail's glob rules for file targets (doublestar), compiled once per target.

``**`` spans directories (zero or more), ``*`` and ``?`` stay within one, ``[...]`` classes negate with ``!``
or ``^``, ``{a,b}`` alternatives nest; `__path_exclude__` removes matches. `TargetGlobs` holds one target's
compiled patterns and the directories its matches can appear under (what the file source watches). Not
here: listing matching files (`agent.sources.fileio.expand_globs`) or following them (`agent.sources.file`).
"""

from __future__ import annotations

import os
import re

_GLOB_CHARS = frozenset("*?[{")


class TargetGlobs:
    """One target's globs, compiled once: `__path__` (braces expanded) and `__path_exclude__`.

    `patterns` are for Python's glob (absolute, ``[^`` spelled ``[!``); `roots` are the directories matches
    can appear under, and whether in their subdirectories too (what to watch for new files).
    """

    __slots__ = ("_exclude", "_include", "patterns", "roots")

    def __init__(self, path: str, exclude: str = "") -> None:
        expanded = [os.path.abspath(p) for p in expand_braces(path)]
        self.patterns = [p.replace("[^", "[!") for p in expanded]  # Python's glob negates with [!]
        self._include = [glob_regex(p) for p in expanded]
        self._exclude = [glob_regex(os.path.abspath(p)) for p in expand_braces(exclude)] if exclude else []
        self.roots = [glob_root(p) for p in expanded]

    def excludes(self, path: str) -> bool:
        """Whether `path` matches `__path_exclude__`."""
        return any(r.match(path) for r in self._exclude)

    def matches(self, path: str) -> bool:
        """Whether `path` matches `__path__` and not `__path_exclude__`."""
        return any(r.match(path) for r in self._include) and not self.excludes(path)


def expand_braces(pattern: str) -> list[str]:
    """``/var/log/{a,b}.log`` → ``[/var/log/a.log, /var/log/b.log]`` (nested braces too)."""
    depth = 0
    start = -1
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                head, tail = pattern[:start], pattern[index + 1 :]
                return [
                    expanded
                    for alternative in _split_alternatives(pattern[start + 1 : index])
                    for expanded in expand_braces(head + alternative + tail)
                ]
        index += 1
    return [pattern]


def _split_alternatives(body: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in body:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}" and depth > 0
        current += char
    parts.append(current)
    return parts


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching what the (brace-free) glob `pattern` matches: ``**`` spans directories, ``*`` not."""
    out: list[str] = []
    index = 0
    size = len(pattern)
    while index < size:
        char = pattern[index]
        if char == "*":
            if pattern.startswith("**", index):
                end = index + 2
                whole = (index == 0 or pattern[index - 1] == "/") and (end == size or pattern[end] == "/")
                if whole and end < size:
                    out.append("(?:.*/)?")
                    index = end + 1
                    continue
                out.append(".*" if whole else "[^/]*")
                index = end
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            close = pattern.find("]", index + 2)
            if close < 0:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : close]
                negate = body[:1] in ("!", "^")
                body = body[1:] if negate else body
                out.append(("[^" if negate else "[") + body.replace("\\", "\\\\") + "]")
                index = close
        elif char == "\\" and index + 1 < size:
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")


def glob_root(pattern: str) -> tuple[str, bool]:
    """The directory a glob starts in, and whether matches can lie in its subdirectories."""
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        if _GLOB_CHARS.intersection(part):
            return "/".join(parts[:index]) or "/", index < len(parts) - 1
    return os.path.dirname(pattern) or "/", False
