"""The template lexer: text, ``{{``/``}}`` actions with the trim markers ``{{-``/``-}}``, comments, and the tokens
inside an action (Go string, raw, character and number literals, variables, fields, keywords, punctuation).

Errors are `TemplateSyntaxError` with the offset in the source; `Template` turns it into a line and column.
Not here: what a literal means (`agent.stages.template_engine.gostrings`), the grammar
(`agent.stages.template_engine.parser`).
"""

from __future__ import annotations

from typing import NamedTuple

from agent.stages.template_engine.gostrings import go_quote

_SPACE_CHARS = " \t\r\n"
_KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"})


class Token(NamedTuple):
    """One token: its kind, its source text and its offset in the template."""

    kind: str  # text left right space ident keyword field var dot string raw char number bool nil
    #            pipe lparen rparen declare assign punct eof
    value: str
    pos: int


class TemplateSyntaxError(Exception):
    """A template does not parse: Go's message and the offset it points at."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _is_alnum(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def _at_terminator(src: str, i: int) -> bool:
    if i >= len(src):
        return True
    char = src[i]
    return char in _SPACE_CHARS or char in ".,|:()" or src.startswith("}}", i)


def lex(src: str) -> list[Token]:
    """The tokens of a whole template, ending with an ``eof`` token."""
    tokens: list[Token] = []
    i = 0
    size = len(src)
    trim_next = False
    while i <= size:
        start = src.find("{{", i)
        end = size if start < 0 else start
        text = src[i:end]
        trim_left = start >= 0 and src.startswith("-", start + 2) and src[start + 3 : start + 4] in tuple(_SPACE_CHARS)
        if trim_next:
            text = text.lstrip(_SPACE_CHARS)
        if trim_left:
            text = text.rstrip(_SPACE_CHARS)
        if text:
            tokens.append(Token("text", text, i))
        if start < 0:
            break
        inner = start + (4 if trim_left else 2)
        if src.startswith("/*", inner):
            close = src.find("*/", inner + 2)
            if close < 0:
                raise TemplateSyntaxError("unclosed comment", start)
            after = close + 2
            if src.startswith("}}", after):
                i, trim_next = after + 2, False
            elif src[after : after + 1] in tuple(_SPACE_CHARS) and src.startswith("-}}", after + 1):
                i, trim_next = after + 4, True
            else:
                raise TemplateSyntaxError("comment ends before closing delimiter", start)
            continue
        tokens.append(Token("left", "{{", start))
        i, trim_next = _lex_action(src, inner, tokens)
    tokens.append(Token("eof", "", size))
    return tokens


def _lex_action(src: str, i: int, tokens: list[Token]) -> tuple[int, bool]:
    """Lex the inside of one action from `i`; return the position after ``}}`` and whether it trims."""
    size = len(src)
    depth = 0
    while True:
        if src.startswith("}}", i) or (src[i : i + 1] in tuple(_SPACE_CHARS) and src.startswith("-}}", i + 1)):
            if depth:
                raise TemplateSyntaxError("unclosed left paren", i)
            trims = not src.startswith("}}", i)
            tokens.append(Token("right", "}}", i))
            return (i + 4 if trims else i + 2), trims
        if i >= size:
            raise TemplateSyntaxError("unclosed action", i)
        char = src[i]
        if char in _SPACE_CHARS:
            j = i
            while j < size and src[j] in _SPACE_CHARS:
                j += 1
            if src.startswith("-}}", j):
                j -= 1  # the last space belongs to the trim marker " -}}"
            if j > i:
                tokens.append(Token("space", src[i:j], i))
            i = j
            continue
        if char == "=":
            tokens.append(Token("assign", "=", i))
            i += 1
        elif char == ":":
            if not src.startswith(":=", i):
                raise TemplateSyntaxError("expected :=", i)
            tokens.append(Token("declare", ":=", i))
            i += 2
        elif char == "|":
            tokens.append(Token("pipe", "|", i))
            i += 1
        elif char == '"':
            j = i + 1
            while True:
                if j >= size or src[j] == "\n":
                    raise TemplateSyntaxError("unterminated quoted string", i)
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == '"':
                    break
                j += 1
            tokens.append(Token("string", src[i : j + 1], i))
            i = j + 1
        elif char == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise TemplateSyntaxError("unterminated raw quoted string", i)
            tokens.append(Token("raw", src[i : j + 1], i))
            i = j + 1
        elif char == "'":
            j = i + 1
            while True:
                if j >= size or src[j] == "\n":
                    raise TemplateSyntaxError("unterminated character constant", i)
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "'":
                    break
                j += 1
            tokens.append(Token("char", src[i : j + 1], i))
            i = j + 1
        elif char == "$":
            j = i + 1
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise TemplateSyntaxError(f"bad character {src[j]!r}", j)
            tokens.append(Token("var", src[i:j], i))
            i = j
        elif char == "." and not src[i + 1 : i + 2].isdigit():
            j = i + 1
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise TemplateSyntaxError(f"bad character {src[j]!r}", j)
            tokens.append(Token("dot" if j == i + 1 else "field", src[i:j], i))
            i = j
        elif char in "+-." or "0" <= char <= "9":
            j = _scan_number(src, i)
            if j < 0:
                raise TemplateSyntaxError(f"bad number syntax: {go_quote(src[i:-j])}", i)
            if src[j : j + 1] in ("+", "-"):
                raise TemplateSyntaxError("complex numbers are not supported", i)
            tokens.append(Token("number", src[i:j], i))
            i = j
        elif char == "_" or char.isalpha():
            j = i
            while j < size and _is_alnum(src[j]):
                j += 1
            if not _at_terminator(src, j):
                raise TemplateSyntaxError(f"bad character {src[j]!r}", j)
            word = src[i:j]
            kind = (
                "keyword"
                if word in _KEYWORDS
                else "bool"
                if word in ("true", "false")
                else ("nil" if word == "nil" else "ident")
            )
            tokens.append(Token(kind, word, i))
            i = j
        elif char == "(":
            depth += 1
            tokens.append(Token("lparen", "(", i))
            i += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise TemplateSyntaxError("unexpected right paren", i)
            tokens.append(Token("rparen", ")", i))
            i += 1
        elif char.isascii() and char.isprintable():
            tokens.append(Token("punct", char, i))
            i += 1
        else:
            raise TemplateSyntaxError(f"unrecognized character in action: {char!r}", i)


def _scan_number(src: str, i: int) -> int:
    """The end of the number at `i` (Go's scanner), or minus the end when it is followed by a letter."""
    size = len(src)

    def run(j: int, allowed: str) -> int:
        while j < size and src[j] in allowed:
            j += 1
        return j

    j = i
    if src[j : j + 1] in ("+", "-"):
        j += 1
    digits = "0123456789_"
    if src[j : j + 1] == "0" and src[j + 1 : j + 2] in ("x", "X", "o", "O", "b", "B"):
        marker = src[j + 1].lower()
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[marker]
        j += 2
    j = run(j, digits)
    if src[j : j + 1] == ".":
        j = run(j + 1, digits)
    if len(digits) == 11 and src[j : j + 1] in ("e", "E"):
        j += 1
        if src[j : j + 1] in ("+", "-"):
            j += 1
        j = run(j, "0123456789_")
    if len(digits) == 23 and src[j : j + 1] in ("p", "P"):
        j += 1
        if src[j : j + 1] in ("+", "-"):
            j += 1
        j = run(j, "0123456789_")
    if src[j : j + 1] == "i":
        raise TemplateSyntaxError("complex numbers are not supported", i)
    if j < size and _is_alnum(src[j]):
        return -(j + 1)
    return j
