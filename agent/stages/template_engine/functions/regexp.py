"""Regular-expression functions, RE2 syntax: Promtail's regexReplaceAll and regexReplaceAllLiteral and sprig's
regexMatch, regexFind, regexFindAll, regexSplit and regexQuoteMeta, following Go's FindAll and ReplaceAll rules
for empty matches.

Patterns compile once into a small cache; a bad pattern fails the call, as Go's MustCompile panics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agent.regex import compile_re2
from agent.relabel import expand
from agent.stages.template_engine.gostrings import go_quote
from agent.stages.template_engine.signature import STRING, TWO_STRINGS, Func
from agent.stages.template_engine.values import TemplateExecError

_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern once (Go's MustCompile: a bad pattern fails the call)."""
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        try:
            compiled = compile_re2(pattern)
        except ValueError as error:
            raise TemplateExecError(f"regexp: Compile({go_quote(pattern)}): {error}") from None
        if len(_REGEX_CACHE) >= 256:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = compiled
    return compiled


def _find_all(pattern: re.Pattern[str], text: str, limit: int = -1) -> list[re.Match[str]]:
    """Go's FindAll: successive matches, an empty one right after a previous match skipped."""
    found: list[re.Match[str]] = []
    position = 0
    previous_end = -1
    while (limit < 0 or len(found) < limit) and position <= len(text):
        match = pattern.search(text, position)
        if match is None:
            break
        start, end = match.span()
        accept = True
        if end == start:
            if start == previous_end:
                accept = False
            position = end + 1
        else:
            position = end
        previous_end = end
        if accept:
            found.append(match)
    return found


def _replace_all(pattern: re.Pattern[str], text: str, replacement: Callable[[re.Match[str]], str]) -> str:
    """Go's ReplaceAllString loop (an empty match right after a previous match is not replaced)."""
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(text):
        match = pattern.search(text, search)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            out.append(replacement(match))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)


def _regex_replace_all(pattern: str, text: str, replacement: str) -> str:
    return _replace_all(_regex(pattern), text, lambda match: expand(replacement, match))


def _regex_replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    return _replace_all(_regex(pattern), text, lambda match: replacement)


def _regex_match(pattern: str, text: str) -> bool:
    return _regex(pattern).search(text) is not None


def _regex_find(pattern: str, text: str) -> str:
    match = _regex(pattern).search(text)
    return "" if match is None else match.group(0)


def _regex_find_all(pattern: str, text: str, limit: int) -> list[Any]:
    if limit == 0:
        return []
    return [m.group(0) for m in _find_all(_regex(pattern), text, limit)]


def _regex_split(pattern: str, text: str, limit: int) -> list[Any]:
    if limit == 0:
        return []
    compiled = _regex(pattern)
    if pattern and not text:
        return [""]
    parts: list[Any] = []
    begin = end = 0
    for match in _find_all(compiled, text, limit):
        if limit > 0 and len(parts) == limit - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(text[begin:end])
        begin = match.end()
    if end != len(text):
        parts.append(text[begin:])
    return parts


_QUOTE_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


FUNCTIONS: dict[str, Func] = {
    # Promtail's additions
    "regexReplaceAll": Func(_regex_replace_all, ("string", "string", "string")),
    "regexReplaceAllLiteral": Func(_regex_replace_all_literal, ("string", "string", "string")),
    # sprig
    "regexMatch": Func(_regex_match, TWO_STRINGS),
    "regexFind": Func(_regex_find, TWO_STRINGS),
    "regexFindAll": Func(_regex_find_all, ("string", "string", "int")),
    "regexSplit": Func(_regex_split, ("string", "string", "int")),
    "regexQuoteMeta": Func(lambda text: _QUOTE_META.sub(r"\\\1", text), STRING),
}
