"""`line_search`: the fast regex line filter answers exactly what `pattern.search` answers."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from agent.regex import compile_re2
from agent.stages.selector import _plan, line_search, parse_selector

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "pipelines"
CORPUS = ROOT / "tests" / "data" / "events"


def _selectors(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["selector"]] if isinstance(node.get("selector"), str) else []
        return found + [s for value in node.values() for s in _selectors(value)]
    if isinstance(node, list):
        return [s for value in node for s in _selectors(value)]
    return []


def _pipeline_patterns() -> list[str]:
    patterns: list[str] = []
    for path in sorted(PIPELINES.glob("*.yaml")):
        for selector in _selectors(yaml.safe_load(path.read_text(encoding="utf-8"))):
            patterns += [f.value for f in parse_selector(selector).line_filters if f.op in ("|~", "!~")]
    return sorted(set(patterns))


HAND_WRITTEN = [
    r"(?i)x[A-Z]",
    r"(?i)ab|C",
    r"(?i)ab|[^a]x",
    r"(?i)k(?-i:K)elvin",
    r"incorrect password attempt|NOT in sudoers",
    r"(?i)\bstatus(?:_?code)?\s*[:=]\s*5\d\d\b",
    r"(?i)a.b$",
    r"^(?i)GET",
    r"(?i)[^a-z]",
    r"(?i)sign.?in|log(?:in|on)",
    r"(?i)stra(?:ss|ß)e",
    r"\d+ ms",
    r"(?s)a.b",
    r"\bsudo(?:\[|:)",
    r"(?i)^abc|xyz$",
    r"user_id|userId|customer_id",
    r"a?",
]


def _variants(line: str, rng: random.Random) -> list[str]:
    flipped = "".join(c.swapcase() if rng.random() < 0.3 else c for c in line)
    cut = rng.randrange(len(line) + 1)
    return [line, line.upper(), line.lower(), flipped, line[:cut] + "\u212a\u017f\u0130" + line[cut:], line[cut:]]


def _lines() -> list[str]:
    rng = random.Random(7)
    lines: list[str] = ["", "x", "KELVIN", "kKelvin", "\u212aelvin", "STRASSE", "straße", "a\nb", "GET /", "status=503"]
    for path in sorted(CORPUS.glob("*.tsv")):
        for row in path.read_text(encoding="utf-8").splitlines()[::4]:
            lines += _variants(row.partition("\t")[2], rng)
    return lines


LINES = _lines()


@pytest.mark.parametrize("source", _pipeline_patterns() + HAND_WRITTEN)
def test_same_answer_as_search(source: str) -> None:
    """On corpus lines, their case variants and lines with non-ASCII case folds, the answers are equal."""
    pattern = compile_re2(source)
    fast = line_search(pattern)
    for line in LINES:
        assert fast(line) == (pattern.search(line) is not None), line


def test_case_insensitive_patterns_get_a_twin() -> None:
    """The costly case: a (?i) alternation is searched case-sensitively on the lowered line, after literals."""
    plan = _plan(compile_re2(r"(?i)permission denied|access denied|PermissionDenied"))
    assert plan is not None
    literals, twin, exact, _ = plan
    assert set(literals) == {"permission denied", "access denied", "permissiondenied"}
    assert twin is not None
    assert not twin.flags & re.IGNORECASE
    assert exact  # a line containing one of the literals matches: no regex runs at all


def test_anchors_are_not_exact() -> None:
    """A word boundary still needs the regex after a literal is found."""
    plan = _plan(compile_re2(r"\bsudo(?:\[|:)"))
    assert plan is not None
    assert plan[0] == ("sudo:", "sudo[")
    assert not plan[2]


def test_case_sensitive_letters_keep_the_plain_search() -> None:
    """A pattern mixing case-insensitive parts with case-sensitive letters is not folded."""
    assert _plan(compile_re2(r"(?i)k(?-i:K)elvin")) is None


def test_alternatives_get_their_own_regex() -> None:
    """A broad literal of one alternative runs that alternative's small regex, not the whole alternation."""
    pattern = compile_re2(r"(?i)log(?:in|on)|one.time|sign(?:ed)?.?in")
    plan = _plan(pattern)
    assert plan is not None
    assert plan[3] is not None
    fast = line_search(pattern)
    for line in ["time=1 msg=x", "One-Time code", "signed-in ok", "SIGN IN", "design in", "logon", "Kelvin \u212a"]:
        assert fast(line) == (pattern.search(line) is not None), line


def test_format_seconds_is_go_g() -> None:
    """The event stage's plain-notation shortcut prints what format_go_float_g prints."""
    import random

    from agent.stages.events import format_seconds
    from agent.stages.metrics import format_go_float_g

    rng = random.Random(5)
    values = [0.0, 1e-4, 9.9e-5, 1e6, 999999.9, 5.0, 0.5, 1.25, 123456.0, 2.5e-9, 3e7]
    values += [round(rng.uniform(0, 10) ** rng.uniform(-6, 7), 9) for _ in range(5000)]
    for value in values:
        assert format_seconds(value) == format_go_float_g(value), value
