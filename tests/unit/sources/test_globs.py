"""Glob rules of file targets, as Promtail's doublestar applies them to `__path__` and `__path_exclude__`."""

from __future__ import annotations

import pytest

from agent.sources.globs import expand_braces, glob_regex, glob_root


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        pytest.param("/var/log/*.log", "/var/log/syslog.log", True, id="star"),
        pytest.param("/var/log/*.log", "/var/log/nginx/access.log", False, id="star-stays-in-directory"),
        pytest.param("/var/log/**/*.log", "/var/log/a.log", True, id="doublestar-zero-directories"),
        pytest.param("/var/log/**/*.log", "/var/log/a/b/c.log", True, id="doublestar-many-directories"),
        pytest.param("/var/log/**", "/var/log/a/b", True, id="trailing-doublestar"),
        pytest.param("/var/log/*.log", "/var/log/.hidden.log", True, id="star-matches-dotfiles"),
        pytest.param("/var/log/app?.log", "/var/log/app1.log", True, id="question-mark"),
        pytest.param("/var/log/app[0-9].log", "/var/log/appx.log", False, id="class"),
        pytest.param("/var/log/app[!0-9].log", "/var/log/appx.log", True, id="negated-class-bang"),
        pytest.param("/var/log/app[^0-9].log", "/var/log/app1.log", False, id="negated-class-caret"),
        pytest.param("/var/log/a.log", "/var/log/aXlog", False, id="dot-is-literal"),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    """A path matches a glob exactly when doublestar would say so."""
    assert bool(glob_regex(pattern).match(path)) is matches


def test_braces_expand_to_alternatives() -> None:
    """`{a,b}` alternatives, nested too, become separate globs."""
    assert expand_braces("/var/log/{syslog,auth.log,{x,y}.log}") == [
        "/var/log/syslog",
        "/var/log/auth.log",
        "/var/log/x.log",
        "/var/log/y.log",
    ]


@pytest.mark.parametrize(
    ("pattern", "root"),
    [
        pytest.param("/var/log/*.log", ("/var/log", False), id="files-in-one-directory"),
        pytest.param("/var/log/pods/*/*/*.log", ("/var/log/pods", True), id="wildcard-directories"),
        pytest.param("/var/log/syslog", ("/var/log", False), id="plain-file"),
        pytest.param("/*.log", ("/", False), id="root"),
    ],
)
def test_glob_root(pattern: str, root: tuple[str, bool]) -> None:
    """The directory to watch for a glob, and whether to watch below it."""
    assert glob_root(pattern) == root
