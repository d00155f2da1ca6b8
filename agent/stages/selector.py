"""The LogQL subset a `match` stage selects with, parsed once into a predicate over labels and line.

Promtail's `match.selector` is a stream selector optionally followed by line filters, and nothing else (no
parsers, no label filters such as ``| level="x"``)::

    expr     := selector { filter STRING }
    selector := "{" matcher { "," matcher } "}"
    matcher  := NAME ( "=" | "!=" | "=~" | "!~" ) STRING
    filter   := "|=" | "!=" | "|~" | "!~"

Strings are Go double-quoted literals with Go's escapes, so a regex digit class is written ``"\\\\d"`` inside
the selector (and ``'{app="a"} |~ "\\\\d+"'`` in YAML). Backquoted raw strings are accepted too, as Loki's
LogQL does (Promtail's own parser rejects them). Label matchers compare against ``""`` when the label is
missing; their regexes match the whole value (LogQL anchors them). Line filters match anywhere in the line.

This module owns the syntax and the compiled predicate; the `match` stage (`agent.stages.route`) owns what
happens to entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.regex import compile_re2

_LABEL_OPS = ("=~", "!~", "!=", "=")  # longest first
_FILTER_OPS = ("|=", "|~", "!=", "!~")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


class SelectorError(ValueError):
    """A selector that does not parse; `position` is the 0-based offset of the problem in the selector."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"invalid selector: {message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class LabelMatcher:
    """One ``name op "value"`` of the stream selector."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class LineFilter:
    """One ``op "value"`` line filter."""

    op: str
    value: str


class Selector:
    """A parsed selector: `matches(labels, line)` is true when every matcher and every filter holds.

    ```python
    selector = parse_selector('{app="loki", env!="dev"} |= "error" !~ "timeout|retry"')
    selector.matches({"app": "loki"}, "level=error msg=boom")  # True
    ```
    """

    __slots__ = ("_contains", "_equals", "_label_tests", "_line_tests", "label_matchers", "line_filters")

    def __init__(self, label_matchers: tuple[LabelMatcher, ...], line_filters: tuple[LineFilter, ...]) -> None:
        self.label_matchers = label_matchers
        self.line_filters = line_filters
        # The common cases (label equality, line contains) are checked inline, the rest through callables.
        self._equals = tuple((m.name, m.value) for m in label_matchers if m.op == "=")
        self._label_tests = tuple((m.name, _label_test(m)) for m in label_matchers if m.op != "=")
        self._contains = tuple(f.value for f in line_filters if f.op == "|=")
        self._line_tests = tuple(_line_test(f) for f in line_filters if f.op != "|=")

    def matches(self, labels: Mapping[str, str], line: str) -> bool:
        get = labels.get
        for name, value in self._equals:
            if get(name, "") != value:
                return False
        for name, test in self._label_tests:
            if not test(get(name, "")):
                return False
        for text in self._contains:
            if text not in line:
                return False
        return all(test(line) for test in self._line_tests)

    def __repr__(self) -> str:
        matchers = ", ".join(f"{m.name}{m.op}{m.value!r}" for m in self.label_matchers)
        filters = "".join(f" {f.op} {f.value!r}" for f in self.line_filters)
        return f"Selector({{{matchers}}}{filters})"


def _label_test(matcher: LabelMatcher) -> Callable[[str], bool]:
    value = matcher.value
    if matcher.op == "!=":
        return lambda v: v != value
    pattern = _compile(value, f"label {matcher.name!r}")
    if matcher.op == "=~":
        return lambda v: pattern.fullmatch(v) is not None
    return lambda v: pattern.fullmatch(v) is None


def _line_test(line_filter: LineFilter) -> Callable[[str], bool]:
    value = line_filter.value
    if line_filter.op == "!=":
        return lambda line: value not in line
    pattern = _compile(value, "line filter")
    if line_filter.op == "|~":
        return lambda line: pattern.search(line) is not None
    return lambda line: pattern.search(line) is None


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return compile_re2(pattern)
    except ValueError as exc:
        raise ValueError(f"invalid selector: {what}: {exc}") from None


def parse_selector(text: str) -> Selector:
    """Parse `text`; raise `SelectorError` (a ValueError) naming the position of the first problem."""
    parser = _Parser(text)
    return parser.parse()


class _Parser:
    __slots__ = ("_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def parse(self) -> Selector:
        self._expect("{", "expected '{' to open the stream selector")
        matchers = [self._matcher()]
        while True:
            self._skip_space()
            if self._accept("}"):
                break
            self._expect(",", "expected ',' or '}'")
            matchers.append(self._matcher())
        filters: list[LineFilter] = []
        while True:
            self._skip_space()
            if self._pos >= len(self._text):
                break
            op = self._operator(_FILTER_OPS)
            if op is None:
                raise SelectorError("expected a line filter (|=, !=, |~ or !~)", self._pos)
            filters.append(LineFilter(op, self._string()))
        return Selector(tuple(matchers), tuple(filters))

    def _matcher(self) -> LabelMatcher:
        self._skip_space()
        match = _NAME.match(self._text, self._pos)
        if match is None:
            raise SelectorError("expected a label name", self._pos)
        self._pos = match.end()
        self._skip_space()
        op = self._operator(_LABEL_OPS)
        if op is None:
            raise SelectorError("expected one of =, !=, =~ or !~", self._pos)
        return LabelMatcher(match.group(), op, self._string())

    def _operator(self, ops: tuple[str, ...]) -> str | None:
        for op in ops:
            if self._text.startswith(op, self._pos):
                self._pos += len(op)
                return op
        return None

    def _string(self) -> str:
        self._skip_space()
        start = self._pos
        text = self._text
        if start >= len(text) or text[start] not in '"`':
            raise SelectorError("expected a quoted string", start)
        if text[start] == "`":
            end = text.find("`", start + 1)
            if end < 0:
                raise SelectorError("string not terminated", start)
            self._pos = end + 1
            return text[start + 1 : end]
        return self._go_string(start)

    def _go_string(self, start: int) -> str:
        # Go's string literal: \xNN and octal escapes are bytes, \u and \U are code points.
        text = self._text
        out = bytearray()
        i = start + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise SelectorError("string not terminated", start)
            c = text[i]
            if c == '"':
                self._pos = i + 1
                return out.decode("utf-8", "replace")
            if c != "\\":
                out += c.encode("utf-8", "surrogatepass")
                i += 1
                continue
            nxt = text[i + 1 : i + 2]
            if nxt in _SIMPLE_ESCAPES:
                out += _SIMPLE_ESCAPES[nxt].encode()
                i += 2
            elif nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = text[i + 2 : i + 2 + width]
                if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise SelectorError(f"invalid \\{nxt} escape in string", i)
                code = int(digits, 16)
                if nxt == "x":
                    out.append(code)
                elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise SelectorError("escape is not a valid Unicode code point", i)
                else:
                    out += chr(code).encode()
                i += 2 + width
            elif nxt and nxt in "01234567":
                digits = text[i + 1 : i + 4]
                if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                    raise SelectorError("invalid octal escape in string", i)
                out.append(int(digits, 8))
                i += 4
            else:
                raise SelectorError(f"unknown escape \\{nxt} in string (write \\\\ for a backslash)", i)

    def _skip_space(self) -> None:
        text = self._text
        while self._pos < len(text) and text[self._pos] in " \t\r\n":
            self._pos += 1

    def _accept(self, token: str) -> bool:
        if self._text.startswith(token, self._pos):
            self._pos += len(token)
            return True
        return False

    def _expect(self, token: str, message: str) -> None:
        self._skip_space()
        if not self._accept(token):
            raise SelectorError(message, self._pos)
