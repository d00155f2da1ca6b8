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

This module owns the syntax and the compiled predicate (one flat function per selector; `|=` is a plain
`in`, and `|~`/`!~` regexes get cheap exact pre-checks, see `line_search`); the `match` stage
(`agent.stages.route`) owns what happens to entries.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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

    __slots__ = ("_contains", "_equals", "_label_tests", "_line_tests", "label_matchers", "line_filters", "predicate")

    def __init__(self, label_matchers: tuple[LabelMatcher, ...], line_filters: tuple[LineFilter, ...]) -> None:
        self.label_matchers = label_matchers
        self.line_filters = line_filters
        # The common cases (label equality, line contains) are checked inline, the rest through callables.
        self._equals = tuple((m.name, m.value) for m in label_matchers if m.op == "=")
        self._label_tests = tuple((m.name, _label_test(m)) for m in label_matchers if m.op != "=")
        self._contains = tuple(f.value for f in line_filters if f.op == "|=")
        self._line_tests = tuple(_line_test(f) for f in line_filters if f.op != "|=")
        self.predicate: Callable[[Mapping[str, str], str], bool] = self._compile_predicate()
        """`matches` as one flat function: what a hot caller (the `match` stage) holds and calls."""

    def matches(self, labels: Mapping[str, str], line: str) -> bool:
        return self.predicate(labels, line)

    def _compile_predicate(self) -> Callable[[Mapping[str, str], str], bool]:
        source, names = self.inline("")
        source = f"def predicate(labels, line):\n    return {source}\n"
        exec(source, names)  # the fixed template of `inline`; every value is a bound name
        return names["predicate"]  # type: ignore[return-value]

    def inline(self, prefix: str) -> tuple[str, dict[str, object]]:
        """`matches` as one Python expression over the names `labels` and `line`, and the names it uses.

        The names all start with `prefix`, so a caller can inline several selectors into one generated
        function (the `match` stage does, for its nested `match` stages). Values are bound as names, never
        inlined into the source.
        """
        # In the order `matches` always tested: label equalities, other label tests, `|=` substrings (a
        # plain `in`), then the other line filters.
        names: dict[str, object] = {}
        terms: list[str] = []
        for i, (name, value) in enumerate(self._equals):
            names[f"{prefix}n{i}"], names[f"{prefix}v{i}"] = name, value
            terms.append(f"labels.get({prefix}n{i}, '') == {prefix}v{i}")
        for i, (name, test) in enumerate(self._label_tests):
            names[f"{prefix}ln{i}"], names[f"{prefix}lt{i}"] = name, test
            terms.append(f"{prefix}lt{i}(labels.get({prefix}ln{i}, ''))")
        for i, text in enumerate(self._contains):
            names[f"{prefix}c{i}"] = text
            terms.append(f"{prefix}c{i} in line")
        for i, test in enumerate(self._line_tests):
            names[f"{prefix}t{i}"] = test
            terms.append(f"{prefix}t{i}(line)")
        return f"({' and '.join(terms) or 'True'})", names

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
    search = line_search(_compile(value, "line filter"))
    if line_filter.op == "|~":
        return search
    return lambda line: not search(line)


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


# -- regex line filters, made cheap -------------------------------------------------------------------------
#
# Python's `re` scans a case-insensitive pattern position by position (no literal or first-character skip),
# about five times slower than the same pattern case-sensitive, and a line filter runs on every line that
# reaches its `match`. `line_search` answers exactly what `pattern.search(line) is not None` answers, faster:
#
# - Required literals: from the parsed pattern, a set of strings of which every match contains at least one
#   (``auth|log(?:in|on)`` -> {"auth", "log"}). A line containing none of them cannot match: a few `in` tests
#   reject it before the regex runs.
# - Case folding: a pattern whose every character test treats ASCII upper and lower case alike (``(?i)``
#   throughout, or case-free parts such as digits and punctuation) matches an ASCII line exactly when it
#   matches the line lowercased. For such a pattern a case-sensitive twin is compiled that tests the lowered
#   characters explicitly; ASCII lines are lowered and searched with the twin (and its required literals).
#   Lines with non-ASCII characters use the original pattern, since Unicode case folding (the Kelvin sign,
#   the long s) is not ASCII's.
#
# The analysis reads `re`'s own parse tree (`re._parser`); any construct it does not know, or any failure,
# leaves the plain `pattern.search`.

try:
    _sre_parser: Any = importlib.import_module("re._parser")
    _sre_compiler: Any = importlib.import_module("re._compiler")
    _C: Any = importlib.import_module("re._constants")
    _CHAR_OPS: tuple[Any, ...] = (_C.LITERAL, _C.NOT_LITERAL, _C.IN, _C.ANY)
except ImportError:  # a Python whose `re` internals moved: every regex filter keeps the plain search
    _sre_parser = _sre_compiler = _C = None
    _CHAR_OPS = ()
_MIN_LITERAL = 2  # a required literal shorter than this rejects too few lines to be worth testing
_MAX_LITERALS = 96
_UPPER = frozenset(range(0x41, 0x5B))


class _Unsupported(Exception):
    """The pattern uses a construct the fast path does not handle."""


def line_search(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """A predicate equal to ``pattern.search(line) is not None``, with cheap rejections (see above)."""
    search = pattern.search
    try:
        plan = _plan(pattern)
    except Exception:  # noqa: BLE001 - an analysis failure only costs speed
        plan = None
    if plan is None:
        return lambda line: search(line) is not None
    literals, twin, exact, branches = plan
    if branches is not None:
        return _branch_search(branches, search, lowered=twin is not None)
    if twin is None:  # case-sensitive: required literals as written, on any line
        return _literal_search(literals, None if exact else search)
    twin_search = None if exact else twin.search
    if not literals:

        def lowered(line: str) -> bool:
            if not line.isascii():
                return search(line) is not None
            return twin.search(line.lower()) is not None

        return lowered

    def lowered_with_literals(line: str) -> bool:
        if not line.isascii():
            return search(line) is not None
        low = line.lower()
        for literal in literals:
            if literal in low:
                return twin_search is None or twin_search(low) is not None
        return False

    return lowered_with_literals


_Branches = tuple[tuple[tuple[str, ...], Callable[[str], object] | None], ...]


def _branch_search(branches: _Branches, search: Callable[[str], object], *, lowered: bool) -> Callable[[str], bool]:
    """A pattern ``A|B|...``: each alternative behind its own required literals, and only its own regex.

    A line containing a broad literal of one alternative (``time`` of ``one.time``) then runs that small
    regex, not the whole alternation. `lowered`: the branches are the case-folded twin's (ASCII lines only).
    """
    if not lowered:

        def test(line: str) -> bool:
            for literals, branch_search in branches:
                for literal in literals:
                    if literal in line:
                        if branch_search is None or branch_search(line) is not None:
                            return True
                        break
            return False

        return test

    def lowered_test(line: str) -> bool:
        if not line.isascii():
            return search(line) is not None
        low = line.lower()
        for literals, branch_search in branches:
            for literal in literals:
                if literal in low:
                    if branch_search is None or branch_search(low) is not None:
                        return True
                    break
        return False

    return lowered_test


def _literal_search(literals: tuple[str, ...], search: Callable[[str], object] | None) -> Callable[[str], bool]:
    if search is None:  # the pattern is these strings and nothing else
        return lambda line: any(literal in line for literal in literals)

    def test(line: str) -> bool:
        for literal in literals:
            if literal in line:
                return search(line) is not None
        return False

    return test


def _plan(
    pattern: re.Pattern[str],
) -> tuple[tuple[str, ...], re.Pattern[str] | None, bool, _Branches | None] | None:
    """(required literals, case-folded twin or None, whether the literals are all the pattern matches,
    the alternatives of a top-level ``A|B|...`` each with its literals and regex, or None)."""
    tree = _sre_parser.parse(pattern.pattern, pattern.flags)
    flags = pattern.flags | tree.state.flags
    if flags & re.LOCALE:
        return None
    scan = _Scan()
    folded = scan.fold(tree.data, flags)
    if scan.cased and scan.invariant:
        # Case-insensitive, and case-free throughout: search the lowered line with a case-sensitive twin.
        tree.state.flags &= ~re.IGNORECASE
        twin = _sre_compiler.compile(_sre_parser.SubPattern(tree.state, folded), flags & ~re.IGNORECASE)
        literals, exact = _literals(folded)
        branches = None if exact else _branches(folded, tree.state, flags & ~re.IGNORECASE)
        return literals, twin, exact, branches
    if scan.cased:
        return None  # case-insensitive parts next to case-sensitive letters: left to `re`
    literals, exact = _literals(tree.data)
    if not literals:
        return None
    return literals, None, exact, None if exact else _branches(tree.data, tree.state, flags)


def _branches(data: list[tuple[Any, Any]], state: Any, flags: int) -> _Branches | None:
    """A top-level alternation's branches, each with its required literals and (unless those are all it
    matches) its own compiled search; None when the pattern is not one, or a branch has no literals."""
    if len(data) != 1 or data[0][0] is not _C.BRANCH:
        return None
    parts = []
    for branch in data[0][1][1]:
        literals, exact = _literals(branch.data)
        if not literals:
            return None
        search = None if exact else _sre_compiler.compile(_sre_parser.SubPattern(state, branch.data), flags).search
        parts.append((literals, search))
    return tuple(parts)


def _literals(data: list[tuple[Any, Any]]) -> tuple[tuple[str, ...], bool]:
    """The required literals worth testing, and whether a line containing one of them surely matches."""
    language, found = _analyse(data)
    # All the pattern's texts spare the regex on a hit; a smaller required set spares `in` tests on a miss.
    exact = language is not None and not _has_anchor(data)
    if exact and language is not None and (not found or _score(_minimal(language)) >= _score(found)):
        found = language
    else:
        exact = False
    if not found:
        return (), False
    found = _minimal(found)
    if len(found) > _MAX_LITERALS or min(map(_weight, found)) < _MIN_LITERAL:
        return (), False
    return tuple(sorted(found, key=lambda text: (-len(text), text))), exact


def _has_anchor(data: list[tuple[Any, Any]]) -> bool:
    for op, av in data:
        if op is _C.AT:
            return True
        if op is _C.SUBPATTERN and _has_anchor(av[3].data):
            return True
        if op is _C.BRANCH and any(_has_anchor(p.data) for p in av[1]):
            return True
        if (op is _C.MAX_REPEAT or op is _C.MIN_REPEAT) and _has_anchor(av[2].data):
            return True
    return False


class _Scan:
    """Rewrites a parse tree for lowered ASCII text and notes whether that is exact (`invariant`)."""

    __slots__ = ("_sets", "cased", "invariant")

    def __init__(self) -> None:
        self.cased = False  # some character test is case-insensitive
        self.invariant = True  # every character test treats ASCII upper and lower case alike
        self._sets: dict[tuple[object, int], frozenset[int]] = {}

    def fold(self, data: list[tuple[Any, Any]], flags: int) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = []
        for op, av in data:
            if op in _CHAR_OPS:
                out.append(self._char(op, av, flags))
            elif op is _C.AT:
                out.append((op, av))
            elif op is _C.SUBPATTERN:
                group, add, remove, sub = av
                inner = self.fold(sub.data, (flags | add) & ~remove)
                add, remove = add & ~re.IGNORECASE, remove & ~re.IGNORECASE
                if group is None and not add and not remove:
                    out.extend(inner)
                else:
                    out.append((op, (group, add, remove, _sre_parser.SubPattern(sub.state, inner))))
            elif op is _C.BRANCH:
                branches = [_sre_parser.SubPattern(p.state, self.fold(p.data, flags)) for p in av[1]]
                out.append((op, (av[0], branches)))
            elif op is _C.MAX_REPEAT or op is _C.MIN_REPEAT:
                low, high, sub = av
                out.append((op, (low, high, _sre_parser.SubPattern(sub.state, self.fold(sub.data, flags)))))
            else:
                raise _Unsupported(op)
        return out

    def _char(self, op: Any, av: Any, flags: int) -> tuple[Any, Any]:
        if op is _C.ANY:
            return (op, av)
        key = (repr((op, av)), flags & (re.IGNORECASE | re.ASCII))
        matched = self._sets.get(key)
        if matched is None:
            state = _sre_parser.State()
            state.flags = flags
            test = _sre_compiler.compile(_sre_parser.SubPattern(state, [(op, av)]), flags).fullmatch
            matched = self._sets[key] = frozenset(c for c in range(128) if test(chr(c)))
        if flags & re.IGNORECASE:
            self.cased = True
        for upper in _UPPER:
            if (upper in matched) != (upper + 32 in matched):
                self.invariant = False
                break
        lowered = sorted(matched - _UPPER)
        if len(lowered) == 1:
            return (_C.LITERAL, lowered[0])
        if not lowered:  # only upper case: not case-free, so the twin is never built
            self.invariant = False
            return (op, av)
        return (_C.IN, [(_C.LITERAL, c) for c in lowered])


def _analyse(data: list[tuple[Any, Any]]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """(every string `data` can match, when few; strings of which every match contains one), each or None.

    Runs of nodes with few possible texts are multiplied out (``"(?:GET|POST) /`` -> '"GET /', '"POST /'),
    which makes the required strings longer and rarer than the literal runs alone.
    """
    best: frozenset[str] | None = None
    empty = frozenset(("",))
    product = empty  # the texts of the run of few-text nodes ending here
    whole = True  # every node so far had few texts: `product` is all of `data`

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found:
            found = _minimal(found)
        if found and (best is None or _score(found) > _score(best)):
            best = found

    for op, av in data:
        exact, required = _node(op, av)
        consider(required)
        if exact is not None:
            if op is not _C.LITERAL:
                consider(exact)  # alone it may be rarer than multiplied out: '.env' against '"GET /.env' ...
            joined = frozenset(a + b for a in product for b in exact)
            if len(joined) <= _MAX_LITERALS:
                product = joined
                continue
            whole = False
            consider(product)
            product = exact
            continue
        whole = False
        consider(product)
        product = empty
    consider(product)
    return (product if whole else None), best


def _node(op: Any, av: Any) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    if op is _C.LITERAL:
        return frozenset((chr(av),)), None
    if op is _C.AT:
        return frozenset(("",)), None  # zero-width: matches no text
    if op is _C.IN and all(item_op is _C.LITERAL for item_op, _ in av) and len(av) <= 8:
        return frozenset(chr(c) for _, c in av), None
    if op is _C.SUBPATTERN:
        return _analyse(av[3].data)
    if op is _C.BRANCH:
        results = [_analyse(p.data) for p in av[1]]
        exact: frozenset[str] | None = None
        if all(e is not None for e, _ in results):
            exact = frozenset().union(*(e for e, _ in results if e is not None))
            if len(exact) > _MAX_LITERALS:
                exact = None
        parts = [r if r is not None else e for e, r in results]
        required = frozenset().union(*(p for p in parts if p is not None)) if all(parts) else None
        return exact, required
    if op is _C.MAX_REPEAT or op is _C.MIN_REPEAT:
        low, high, sub = av
        exact, required = _analyse(sub.data)
        if exact is not None and low == high == 1:
            return exact, None
        if exact is not None and low == 0 and high == 1:
            return exact | {""}, None
        return None, ((exact or required) if low >= 1 else None)
    return None, None


def _minimal(found: frozenset[str]) -> frozenset[str]:
    """`found` without the strings that contain another of them (that one is in the line whenever they are)."""
    if "" in found:
        return frozenset(("",))
    ordered = sorted(found, key=len)
    kept: list[str] = []
    for text in ordered:
        if not any(shorter in text for shorter in kept):
            kept.append(text)
    return frozenset(kept)


def _score(found: frozenset[str]) -> tuple[int, int]:
    """Longer strings are rarer, up to 4 characters; past that, fewer strings to test."""
    return (min(4, *map(_weight, found)), -len(found))


def _weight(text: str) -> int:
    # A single punctuation character (a quote in SQL injection) is as rare as two letters.
    return 2 if len(text) == 1 and not text.isalnum() and not text.isspace() and text != '"' else len(text)
