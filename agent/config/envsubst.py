"""`-config.expand-env`: expand `${VAR}` references in the raw config text, before YAML parsing.

Promtail runs the whole file through the `drone/envsubst` Go package. This module owns the syntax real
configs use and nothing else: ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset
only), ``${VAR:default}`` (read as ``:-``; config 004 of the corpus relies on it) and ``$$`` for a literal
``$`` (so ``$${1}`` keeps a relabel group reference). ``$VAR`` without braces stays as it is, as in Promtail.
An unset variable with no default expands to an empty string, as in Promtail; the caller gets every
reference back (line, output span, whether it was set) so it can warn about it at the right YAML path.

Deliberate differences from Promtail, each one in the user's favour:

- Backslashes are left alone. drone/envsubst turns ``\\\\`` into ``\\`` anywhere in the file, so a
  double-quoted YAML regex such as ``"(?P<n>\\\\d+)"`` reaches the YAML parser as ``"(?P<n>\\d+)"`` and fails
  with "found unknown escape character". Promtail rejects corpus configs 025, 027 and 029 with
  `-config.expand-env=true` for this reason; here they load the same with and without expansion.
- ``${VAR:default}`` and ``${VAR-default}`` fall back to the default. drone/envsubst reads the first as a
  bash substring offset (an empty string when VAR is unset) and the second as a variable named
  ``VAR-default``; neither is what the configs using them mean.
- The bash string functions drone/envsubst also knows (``${#VAR}``, ``${VAR^^}``, ``${VAR/a/b}``, ...) are
  reported as errors instead of being evaluated; no real config was found using them.

It does not read the process environment itself (the caller passes a mapping) and knows nothing of YAML.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Reference:
    """One `${NAME...}` that was expanded.

    `line` is 1-based in the original text; `start`/`end` delimit what it expanded to in the output text
    (a reference nested in a default shares the span of the outer reference).
    """

    name: str
    line: int
    start: int
    end: int
    is_set: bool
    has_default: bool

    @property
    def is_silently_empty(self) -> bool:
        """True for an unset variable without a default: Promtail quietly inserts an empty string."""
        return not self.is_set and not self.has_default


@dataclass(frozen=True)
class SubstitutionError:
    """A `${` that cannot be expanded; Promtail refuses such a file too ("bad substitution")."""

    line: int
    column: int
    message: str


@dataclass
class Expansion:
    """The expanded text, every reference that was expanded, and every error found."""

    text: str
    references: list[Reference] = field(default_factory=list)
    errors: list[SubstitutionError] = field(default_factory=list)


class _Expander:
    def __init__(self, text: str, environ: Mapping[str, str]) -> None:
        self.text = text
        self.environ = environ
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.errors: list[SubstitutionError] = []

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.line_starts, offset) - 1
        return index + 1, offset - self.line_starts[index] + 1

    def error(self, offset: int, message: str) -> None:
        line, column = self.position(offset)
        self.errors.append(SubstitutionError(line, column, message))

    def unclosed(self, start: int) -> None:
        snippet = self.text[start:].split("\n", 1)[0][:40]
        self.error(start, f"unclosed {snippet!r}: add the closing '}}' (or write $${{ for a literal ${{)")

    def scan(self, i: int, out: list[str], refs: list[Reference], *, in_default: bool) -> int:
        """Copy text from `i`, expanding references, until the end (or the `}` closing a default)."""
        text = self.text
        length = sum(map(len, out))
        while i < len(text):
            dollar = text.find("$", i)
            brace = text.find("}", i) if in_default else -1
            if brace != -1 and (dollar == -1 or brace < dollar):
                out.append(text[i:brace])
                return brace
            if dollar == -1:
                out.append(text[i:])
                return len(text)
            out.append(text[i:dollar])
            length += dollar - i
            if text.startswith("$$", dollar):
                out.append("$")  # `$$` is Promtail's escape for a literal `$` (so `$${` is a literal `${`)
                length += 1
                i = dollar + 2
            elif text.startswith("${", dollar):
                value, ref_list, i = self.reference(dollar, length)
                out.append(value)
                refs.extend(ref_list)
                length += len(value)
            else:
                out.append("$")
                length += 1
                i = dollar + 1
        return i

    def reference(self, start: int, out_offset: int) -> tuple[str, list[Reference], int]:
        """Expand the reference at `start` (a `${`); return its value, references and the next offset."""
        text = self.text
        match = _NAME.match(text, start + 2)
        close = text.find("}", start + 2)
        if close == -1:
            self.unclosed(start)
            return "", [], len(text)
        if match is None:
            self.error(start, f"bad substitution {text[start : close + 1]!r}: expected a variable name after '${{'")
            return "", [], close + 1
        name = match.group()
        i = match.end()
        has_default = False
        empty_means_unset = True
        if text.startswith((":-", ":="), i):
            has_default, i = True, i + 2
        elif text.startswith((":?", ":+"), i) or text[i] not in ":-=}":
            self.error(start, f"unsupported substitution {text[start : close + 1]!r}: {_SUPPORTED}")
            return "", [], close + 1
        elif text[i] in "-=":
            has_default, empty_means_unset, i = True, False, i + 1
        elif text[i] == ":":
            has_default, i = True, i + 1
        default_out: list[str] = []
        nested: list[Reference] = []
        if has_default:
            i = self.scan(i, default_out, nested, in_default=True)
            if i >= len(text):
                self.unclosed(start)
                return "", [], len(text)
        value = self.environ.get(name)
        use_default = has_default and (value is None or (empty_means_unset and value == ""))
        result = "".join(default_out) if use_default else (value or "")
        end = out_offset + len(result)
        line, _ = self.position(start)
        refs = [Reference(name, line, out_offset, end, value is not None, has_default)]
        if use_default:
            refs += [Reference(r.name, r.line, out_offset, end, r.is_set, r.has_default) for r in nested]
        return result, refs, i + 1


_SUPPORTED = "use ${VAR}, ${VAR:-default}, ${VAR-default} or ${VAR:default}, and $${ for a literal ${"


def expand(text: str, environ: Mapping[str, str]) -> Expansion:
    """Expand every `${...}` reference in `text` from `environ`.

    >>> expand("url: ${HOST:-loki}:3100", {}).text
    'url: loki:3100'
    """
    expander = _Expander(text, environ)
    out: list[str] = []
    refs: list[Reference] = []
    expander.scan(0, out, refs, in_default=False)
    return Expansion("".join(out), refs, expander.errors)


def references(text: str) -> list[tuple[str, int]]:
    """Each `${NAME...}` in unexpanded `text` as (the reference, its offset), skipping `$${` escapes."""
    found: list[tuple[str, int]] = []
    for match in re.finditer(r"\$+\{[^}\n]*\}?", text):
        dollars = len(match.group()) - len(match.group().lstrip("$"))
        if dollars % 2 == 1:  # an even run of `$` is escaped dollars followed by a literal `{`
            found.append((match.group()[dollars - 1 :], match.start() + dollars - 1))
    return found
