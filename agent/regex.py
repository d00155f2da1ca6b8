"""RE2 patterns (Go's `regexp`, what Promtail configs are written in) compiled with Python's `re`.

This module owns the translation from RE2 syntax to `re` syntax so that a pattern matches what it matches in
Promtail, and the rejection (a ValueError with a short reason) of what Go's `regexp` rejects or what `re`
cannot express. It does not own matching: callers use the compiled `re.Pattern` directly.

Where the dialects differ, the translation is explicit:

- ``\\d``, ``\\w``, ``\\s``, ``\\b`` and the POSIX classes are ASCII-only in RE2 (``\\s`` has no vertical tab);
  they become explicit ASCII classes, while the pattern itself is compiled in Unicode mode so that ``(?i)``
  folds non-ASCII letters as Go does.
- ``$`` without ``(?m)`` is the end of the text in RE2, not "before a final newline": it becomes ``\\Z``.
- ``(?i)`` in the middle of a group applies to the rest of the group in RE2; Python only allows global flags at
  the very start, so such flags become scoped groups ``(?i:...)``. ``(?U)`` (ungreedy) swaps greediness.
- ``(?<name>...)``, ``\\z``, ``\\x{10FFFF}``, octal ``\\123``, ``\\Q...\\E``, ``a{,3}`` (a literal in RE2) and
  character classes are rewritten item by item (which also avoids Python's "possible set operation" warnings).
- What RE2 does not have is rejected as Go rejects it: backreferences, lookaround, atomic groups, possessive
  and nested repetition (``a**``), ``\\Z``, unknown escapes, repeat counts over 1000. ``\\p{...}`` Unicode
  classes and ``\\C`` are rejected because `re` has no equivalent.

Python's `re` backtracks where RE2 runs in linear time: the results are the same, the worst case is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

_MAX_RUNE = 0x10FFFF
_MAX_REPEAT = 1000  # Go's regexp/syntax limit

Ranges = list[tuple[int, int]]

_POSIX_CLASSES: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL_CLASSES: dict[str, Ranges] = {
    "d": [(0x30, 0x39)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],  # RE2's \s is [\t\n\f\r ]: no \v
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
}
_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_POSIX = re.compile(r"\[:(\^?)([a-z]*):\]")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_GROUP_NAME = re.compile(r"[A-Za-z0-9_]+")


def _complement(ranges: Ranges) -> Ranges:
    result: Ranges = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            result.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= _MAX_RUNE:
        result.append((nxt, _MAX_RUNE))
    return result


def _class_char(code: int) -> str:
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _class_text(ranges: Ranges, negated: bool = False) -> str:
    parts = [_class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in ranges]
    return "[" + ("^" if negated else "") + "".join(parts) + "]"


class _Escape(NamedTuple):
    """A parsed escape: a code point ("char"), a class ("class"), an assertion ("assert") or `\\Q...\\E` ("quote")."""

    kind: str
    code: int = 0
    ranges: Ranges = []  # never mutated
    negated: bool = False
    text: str = ""


@dataclass
class _Frame:
    """One open group: its flags, and the scoped-flag groups opened inside it by ``(?flags)``."""

    flags: set[str]
    openers: list[str] = field(default_factory=list)


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        self.frames = [_Frame(set())]
        self.last_quantifiable = False  # the previous item can take a repetition operator
        self.last_was_repeat = False

    def fail(self, message: str) -> ValueError:
        return ValueError(message)

    # -- escapes -------------------------------------------------------------------------------------------

    def escape(self, in_class: bool) -> _Escape:
        """Parse the escape at self.i (a backslash) and advance past it."""
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression")
        c = p[i + 1]
        self.i = i + 2
        if c in "1234567" and (i + 2 >= len(p) or p[i + 2] not in "01234567"):
            raise self.fail(f"backreferences such as \\{c} are not supported by RE2")
        if c in "01234567":
            j = i + 2
            while j < len(p) and j < i + 4 and p[j] in "01234567":
                j += 1
            self.i = j
            return _Escape("char", int(p[i + 1 : j], 8))
        if c in "89":
            raise self.fail(f"backreferences such as \\{c} are not supported by RE2")
        if c == "x":
            if i + 2 < len(p) and p[i + 2] == "{":
                end = p.find("}", i + 3)
                digits = p[i + 3 : end] if end > 0 else ""
                if not digits or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                    raise self.fail(f"invalid escape sequence {p[i : end + 1 if end > 0 else i + 3]}")
                code = int(digits, 16)
                if code > _MAX_RUNE:
                    raise self.fail(f"invalid escape sequence \\x{{{digits}}}: beyond U+10FFFF")
                self.i = end + 1
                return _Escape("char", code)
            digits = p[i + 2 : i + 4]
            if len(digits) != 2 or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise self.fail(f"invalid escape sequence \\x{digits}")
            self.i = i + 4
            return _Escape("char", int(digits, 16))
        if c in _SIMPLE_ESCAPES:
            return _Escape("char", _SIMPLE_ESCAPES[c])
        if c.lower() in _PERL_CLASSES:
            return _Escape("class", ranges=_PERL_CLASSES[c.lower()], negated=c.isupper())
        if c in "pP":
            raise self.fail(f"Unicode classes such as \\{c}{{...}} are not supported")
        if c == "C":
            raise self.fail("\\C (any byte) is not supported")
        if not in_class:
            if c == "A":
                return _Escape("assert", text="\\A")
            if c == "z":
                return _Escape("assert", text="\\Z")
            if c in "bB":
                return _Escape("assert", text=f"(?a:\\{c})")  # RE2's word boundary is ASCII
            if c == "Q":
                end = p.find("\\E", i + 2)
                self.i = len(p) if end < 0 else end + 2
                return _Escape("quote", text=p[i + 2 :] if end < 0 else p[i + 2 : end])
        if c.isascii() and not c.isalnum():
            return _Escape("char", ord(c))
        raise self.fail(f"invalid escape sequence \\{c}")

    # -- character classes ---------------------------------------------------------------------------------

    def class_char(self) -> int:
        p = self.p
        if self.i >= len(p):
            raise self.fail("missing closing ] in character class")
        if p[self.i] == "\\":
            esc = self.escape(in_class=True)
            if esc.kind != "char":
                raise self.fail("invalid character class range: a class cannot be a range endpoint")
            return esc.code
        self.i += 1
        return ord(p[self.i - 1])

    def char_class(self) -> str:
        p = self.p
        start = self.i
        self.i += 1
        negated = self.i < len(p) and p[self.i] == "^"
        if negated:
            self.i += 1
        ranges: Ranges = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail(f"missing closing ] in character class {p[start:]}")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and (m := _POSIX.match(p, self.i)):
                cls = _POSIX_CLASSES.get(m.group(2))
                if cls is None:
                    raise self.fail(f"invalid character class range [:{m.group(2)}:]")
                ranges.extend(_complement(cls) if m.group(1) else cls)
                self.i = m.end()
                continue
            if c == "\\" and self.i + 1 < len(p) and p[self.i + 1].lower() in _PERL_CLASSES:
                esc = self.escape(in_class=True)
                ranges.extend(_complement(esc.ranges) if esc.negated else esc.ranges)
                continue
            range_start = self.i
            lo = self.class_char()
            hi = lo
            if self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]":
                self.i += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail(f"invalid character class range {p[range_start : self.i]}")
            ranges.append((lo, hi))
        return _class_text(ranges, negated)

    # -- groups and flags ----------------------------------------------------------------------------------

    def open_group(self) -> None:
        p, i = self.p, self.i
        frame = self.frames[-1]
        if not p.startswith("(?", i):
            self.out.append("(")
            self.i += 1
            self.frames.append(_Frame(set(frame.flags)))
            return
        for prefix in ("(?P<", "(?<"):
            if p.startswith(prefix, i) and not p.startswith(("(?<=", "(?<!"), i):
                end = p.find(">", i)
                name = p[i + len(prefix) : end] if end > 0 else ""
                if end < 0 or not _GROUP_NAME.fullmatch(name):
                    raise self.fail(f"invalid named capture {p[i : end + 1 if end > 0 else len(p)]}")
                if name[0].isdigit():
                    raise self.fail(f"capture group name {name!r} must not start with a digit here")
                self.out.append(f"(?P<{name}>")
                self.i = end + 1
                self.frames.append(_Frame(set(frame.flags)))
                return
        m = _FLAGS.match(p, i)
        if m is None or (not m.group(1) and m.group(2) is None and m.group(3) == ")"):
            what = p[i : i + 4] if p.startswith(("(?<", "(?P"), i) else p[i : i + 3]
            raise self.fail(f"invalid or unsupported Perl syntax {what!r} (RE2 has no lookaround, "
                            "backreferences, atomic groups or comments)")
        on, off = set(m.group(1)), set(m.group(2) or "")
        if m.group(2) == "" or not on | off <= set("imsU") or on & off:
            raise self.fail(f"invalid or unsupported Perl syntax {m.group(0)!r}")
        flags = (frame.flags | on) - off
        py_on = "".join(sorted(on - {"U"}))
        py_off = "".join(sorted(off - {"U"}))
        opener = f"(?{py_on}-{py_off}:" if py_off else (f"(?{py_on}:" if py_on else "(?:")
        self.i = m.end()
        self.out.append(opener)
        if m.group(3) == ":":
            self.frames.append(_Frame(flags))
        else:
            # (?flags) applies to the rest of the enclosing group, alternatives included.
            frame.flags = flags
            frame.openers.append(opener)
            self.last_quantifiable = False

    def close_group(self) -> None:
        if len(self.frames) == 1:
            raise self.fail(f"unexpected ) at position {self.i}")
        frame = self.frames.pop()
        self.out.append(")" * (len(frame.openers) + 1))
        self.i += 1

    # -- repetition ----------------------------------------------------------------------------------------

    def repeat(self, op: str) -> None:
        p = self.p
        if self.last_was_repeat:
            raise self.fail(f"invalid nested repetition operator {op!r}")
        if not self.last_quantifiable:
            raise self.fail(f"missing argument to repetition operator {op!r}")
        lazy = self.i < len(p) and p[self.i] == "?"
        if lazy:
            self.i += 1
        if "U" in self.frames[-1].flags:
            lazy = not lazy
        self.out.append(op + ("?" if lazy else ""))
        self.last_was_repeat = True

    # -- main loop -----------------------------------------------------------------------------------------

    def run(self) -> str:
        p = self.p
        n = len(p)
        out = self.out
        while self.i < n:
            c = p[self.i]
            if c in "*+?":
                self.i += 1
                self.repeat(c)
                continue
            if c == "{" and (m := _REPEAT.match(p, self.i)):
                low = int(m.group(1))
                high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                if low > _MAX_REPEAT or (high is not None and (high > _MAX_REPEAT or high < low)):
                    raise self.fail(f"invalid repeat count {m.group(0)}")
                self.i = m.end()
                self.repeat(m.group(0))
                continue
            self.last_was_repeat = False
            self.last_quantifiable = True
            if c == "(":
                self.open_group()
                if out[-1].endswith(":") or out[-1].endswith(">") or out[-1] == "(":
                    self.last_quantifiable = False
                continue
            if c == ")":
                self.close_group()
                continue
            if c == "|":
                openers = self.frames[-1].openers
                out.append(")" * len(openers) + "|" + "".join(openers))
                self.i += 1
                self.last_quantifiable = False
                continue
            if c == "[":
                out.append(self.char_class())
                continue
            if c == "\\":
                esc = self.escape(in_class=False)
                if esc.kind == "char":
                    out.append(re.escape(chr(esc.code)))
                elif esc.kind == "class":
                    out.append(_class_text(esc.ranges, esc.negated))
                elif esc.kind == "assert":
                    out.append(esc.text)
                else:
                    out.append(re.escape(esc.text))
                    self.last_quantifiable = bool(esc.text)
                continue
            if c == "$":
                out.append("$" if "m" in self.frames[-1].flags else "\\Z")
            elif c == "{":
                out.append("\\{")  # not a valid repeat: RE2 reads it literally (Python would read {,n})
            else:
                out.append(c)
            self.i += 1
        if len(self.frames) > 1:
            raise self.fail("missing closing )")
        out.append(")" * len(self.frames[0].openers))
        return "".join(out)


def translate(pattern: str) -> str:
    """Return `pattern` rewritten from RE2 to Python `re` syntax. Raises ValueError for what cannot be."""
    return _Translator(pattern).run()


def compile_re2(pattern: str, *, anchored: bool = False) -> re.Pattern[str]:
    """Compile an RE2 `pattern`; `anchored` wraps it as Prometheus does for relabel regexes (^(?:...)$).

    Raises ValueError with a short, user-facing reason when the pattern is invalid or untranslatable.
    """
    try:
        translated = translate(pattern)
    except ValueError as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    if anchored:
        translated = f"\\A(?:{translated})\\Z"
    try:
        return re.compile(translated)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None and translated == pattern else ""
        raise ValueError(f"invalid regular expression {pattern!r}: {exc.msg}{where}") from None
