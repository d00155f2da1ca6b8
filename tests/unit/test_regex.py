"""RE2 patterns compiled with Python's `re`: they match what Go's `regexp` matches, or are rejected as Go does."""

from __future__ import annotations

import re

import pytest

from agent.regex import compile_re2, translate

_NO_PERL = "(RE2 has no lookaround, backreferences, atomic groups or comments)"


def _first(pattern: str, text: str) -> str | None:
    m = compile_re2(pattern).search(text)
    return None if m is None else m.group(0)


class TestMatchesLikeGo:
    @pytest.mark.parametrize(
        ("pattern", "text", "expected"),
        [
            pytest.param(r"a$", "a\n", None, id="dollar-is-end-of-text"),
            pytest.param(r"(?m)a$", "a\nb", "a", id="multiline-dollar-before-newline"),
            pytest.param(r"a\z", "a", "a", id="backslash-z-end-of-text"),
            pytest.param(r"\s+", "\v", None, id="s-has-no-vertical-tab"),
            pytest.param(r"\s+", " \t\n\f\r", " \t\n\f\r", id="s-whitespace"),
            pytest.param(r"\d+", "٣4", "4", id="d-is-ascii"),
            pytest.param(r"\w+", "é_a1", "_a1", id="w-is-ascii"),
            pytest.param(r"\bx\b", "éxé", "x", id="word-boundary-is-ascii"),
            pytest.param(r"(?i)é", "É", "É", id="case-folding-is-unicode"),
            pytest.param(r"(?i)ошибка", "ОШИБКА", "ОШИБКА", id="case-folding-cyrillic"),
            pytest.param(r"foo(?i)bar", "fooBAR", "fooBAR", id="mid-pattern-flag"),
            pytest.param(r"foo(?i)bar", "FOObar", None, id="mid-pattern-flag-applies-after"),
            pytest.param(r"x(?i)a|b", "B", "B", id="mid-pattern-flag-spans-alternatives"),
            pytest.param(r"(?i:a)b", "AB", None, id="scoped-flag"),
            pytest.param(r"(?s).+", "a\nb", "a\nb", id="dotall"),
            pytest.param(r".+", "a\nb", "a", id="dot-excludes-newline"),
            pytest.param(r"(?U)a+", "aaa", "a", id="ungreedy"),
            pytest.param(r"(?U)a+?", "aaa", "aaa", id="ungreedy-swaps-lazy"),
            pytest.param(r"a{,3}", "a{,3}", "a{,3}", id="brace-not-a-repeat-is-literal"),
            pytest.param(r"a{2}", "aaa", "aa", id="repeat"),
            pytest.param(r"x{", "x{", "x{", id="lone-brace-literal"),
            pytest.param(r"[[:digit:]]+", "ab12", "12", id="posix-class"),
            pytest.param(r"[[:^digit:]]+", "12ab", "ab", id="negated-posix-class"),
            pytest.param(r"[^\D]+", "ab12", "12", id="negated-class-of-negated-perl-class"),
            pytest.param(r"[\S]+", " ab ", "ab", id="negated-perl-class-inside-class"),
            pytest.param(r"[]a]+", "]a]", "]a]", id="bracket-first-in-class"),
            pytest.param(r"[--/]+", "-./", "-./", id="dash-range-start"),
            pytest.param(r"[a-c-e]+", "a-e", "a-e", id="dash-after-range-is-literal"),
            pytest.param(r"[[a]+", "[a", "[a", id="bare-bracket-in-class"),
            pytest.param(r"[a&&b]+", "a&b", "a&b", id="no-set-operations"),
            pytest.param(r"\x{1F600}", "😀", "😀", id="hex-braces"),
            pytest.param(r"\x41", "A", "A", id="hex-two-digits"),
            pytest.param(r"\101", "A", "A", id="octal"),
            pytest.param(r"\0", "\0", "\0", id="octal-zero"),
            pytest.param(r"\Qa.b\E", "a.b", "a.b", id="quoted-literal"),
            pytest.param(r"\Qa.b", "axb", None, id="quoted-to-end"),
            pytest.param(r"(?<y>\d+)", "2019", "2019", id="angle-named-group"),
            pytest.param(r"\x1b\[[0-9;]*m", "\x1b[0;32mok", "\x1b[0;32m", id="ansi"),
        ],
    )
    def test_match(self, pattern: str, text: str, expected: str | None) -> None:
        """The pattern finds what Go's regexp finds in the text."""
        assert _first(pattern, text) == expected

    def test_named_groups_keep_their_names(self) -> None:
        """`(?P<name>)` and `(?<name>)` both give named groups."""
        m = compile_re2(r"(?P<a>x)(?<b>y)").search("xy")
        assert m is not None
        assert m.groupdict() == {"a": "x", "b": "y"}

    def test_anchored_does_not_accept_trailing_newline(self) -> None:
        """An anchored (relabel) pattern must match the whole value, a final newline included."""
        assert compile_re2("(.*)", anchored=True).match("x\n") is None
        assert compile_re2("a|b", anchored=True).match("b") is not None

    def test_translation_never_warns(self) -> None:
        """Classes are rewritten item by item, so Python never warns about possible set operations."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            re.compile(translate(r"[--a&&~~||[]"))


class TestRejected:
    @pytest.mark.parametrize(
        ("pattern", "message"),
        [
            pytest.param(r"(a)\1", r"backreferences such as \1 are not supported by RE2", id="backreference"),
            pytest.param(r"(?=a)", f"invalid or unsupported Perl syntax '(?=' {_NO_PERL}", id="lookahead"),
            pytest.param(r"(?<!a)b", f"invalid or unsupported Perl syntax '(?<!' {_NO_PERL}", id="lookbehind"),
            pytest.param(r"(?>a)", f"invalid or unsupported Perl syntax '(?>' {_NO_PERL}", id="atomic-group"),
            pytest.param(r"(?P=n)", f"invalid or unsupported Perl syntax '(?P=' {_NO_PERL}", id="named-backref"),
            pytest.param(r"a**", "invalid nested repetition operator '*'", id="nested-repetition"),
            pytest.param(r"a*+", "invalid nested repetition operator '+'", id="possessive"),
            pytest.param(r"*a", "missing argument to repetition operator '*'", id="nothing-to-repeat"),
            pytest.param(r"a{1001}", "invalid repeat count {1001}", id="repeat-over-1000"),
            pytest.param(r"a{3,2}", "invalid repeat count {3,2}", id="repeat-min-over-max"),
            pytest.param(r"\Z", r"invalid escape sequence \Z", id="python-only-escape"),
            pytest.param(r"\pL", r"Unicode classes such as \p{...} are not supported", id="unicode-class"),
            pytest.param(r"\C", r"\C (any byte) is not supported", id="any-byte"),
            pytest.param(r"(?x)a", "invalid or unsupported Perl syntax '(?x)'", id="verbose-flag"),
            pytest.param(r"(a", "missing closing )", id="unclosed-group"),
            pytest.param(r"a)", "unexpected ) at position 1", id="unopened-group"),
            pytest.param(r"[a", "missing closing ] in character class [a", id="unclosed-class"),
            pytest.param(r"[z-a]", "invalid character class range z-a", id="reversed-range"),
            pytest.param("a\\", "trailing backslash at end of expression", id="trailing-backslash"),
            pytest.param(r"\é", r"invalid escape sequence \é", id="escaped-non-ascii"),
            pytest.param(r"(?P<1a>x)", "capture group name '1a' must not start with a digit here", id="digit-name"),
            pytest.param(r"(?P<a-b>x)", "invalid named capture (?P<a-b>", id="bad-name"),
        ],
    )
    def test_rejected_with_reason(self, pattern: str, message: str) -> None:
        """What Go's regexp rejects (or `re` cannot express) fails at startup with a short reason."""
        with pytest.raises(ValueError, match="invalid regular expression") as info:
            compile_re2(pattern)
        assert str(info.value) == f"invalid regular expression {pattern!r}: {message}"
