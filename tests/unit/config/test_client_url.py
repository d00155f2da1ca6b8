"""Client URLs: what Go's url.Parse refuses (a config error, as in Promtail) and what no push can succeed with.

The verdicts follow net/url's `parse` (Go 1.22-1.24), which Promtail runs on `url` when it reads a config.
"""

from __future__ import annotations

import pytest

from agent.client.config import ClientConfig, push_url_problem, url_problem

HINT = "write it as http://host:3100/loki/api/v1/push"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param(
            "34.249.231.194:3100/loki/api/v1/push",
            f"'34.249.231.194:3100/loki/api/v1/push' is not an absolute http(s) URL; {HINT}",
            id="host-port-without-scheme",
        ),
        pytest.param(
            "${URL:-http://loki:3100}/push",
            f"'${{URL:-http://loki:3100}}/push' is not an absolute http(s) URL; {HINT}",
            id="colon-in-first-segment",
        ),
        pytest.param(":3100/push", "':3100/push' is not a valid URL: missing protocol scheme", id="no-scheme"),
        pytest.param(
            "http://lo ki/push",
            "'http://lo ki/push' is not a valid URL: invalid character ' ' in the host name",
            id="space-in-host",
        ),
        pytest.param(
            "https://${HOST}:${PORT}/push",
            "'https://${HOST}:${PORT}/push' is not a valid URL: invalid port ':${PORT}' after the host",
            id="variable-port",
        ),
        pytest.param(
            "https://${HOST}/push",
            "'https://${HOST}/push' is not a valid URL: invalid character '{' in the host name",
            id="variable-host",
        ),
        pytest.param("http://[::1/push", "'http://[::1/push' is not a valid URL: missing ']' in the host", id="ipv6"),
        pytest.param(
            "http://[::1]x/push",
            "'http://[::1]x/push' is not a valid URL: invalid port 'x' after the host",
            id="ipv6-port",
        ),
        pytest.param(
            "http://${USER}:hunter2@loki/push",
            "'http://${USER}:<secret>@loki/push' is not a valid URL: invalid character '{' in the user info",
            id="variable-user",
        ),
        pytest.param(
            "http://ex%41mple/push",
            "'http://ex%41mple/push' is not a valid URL: invalid URL escape '%41' in the host",
            id="escaped-ascii-in-host",
        ),
        pytest.param(
            "http://loki/%zz", "'http://loki/%zz' is not a valid URL: invalid URL escape '%zz'", id="bad-escape"
        ),
        pytest.param(
            "http://loki/push#50%",
            "'http://loki/push#50%' is not a valid URL: invalid URL escape '%'",
            id="bad-escape-in-fragment",
        ),
        pytest.param(
            "http://loki/push\n", "'http://loki/push\\n' is not a valid URL: invalid control character", id="newline"
        ),
    ],
)
def test_go_refuses(url: str, problem: str) -> None:
    """Go's url.Parse fails: an error, and the client config does not validate."""
    assert url_problem(url) == problem
    assert push_url_problem(url) == problem
    with pytest.raises(ValueError, match="URL"):
        ClientConfig(url=url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("", f"empty url: this client cannot push; {HINT}", id="empty"),
        pytest.param("${LOKI_URL}", f"'${{LOKI_URL}}' is not an absolute http(s) URL; {HINT}", id="variable"),
        pytest.param(
            "__LOKI_URL__/loki/api/v1/push",
            f"'__LOKI_URL__/loki/api/v1/push' is not an absolute http(s) URL; {HINT}",
            id="placeholder",
        ),
        pytest.param("loki:3100/push", f"'loki:3100/push' is not an absolute http(s) URL; {HINT}", id="opaque"),
        pytest.param("//loki:3100/push", f"'//loki:3100/push' is not an absolute http(s) URL; {HINT}", id="no-scheme"),
        pytest.param(
            "ftp://u:hunter2@loki/push",
            f"'ftp://u:<secret>@loki/push' is not an absolute http(s) URL; {HINT}",
            id="other-scheme",
        ),
        pytest.param("http:///push", f"'http:///push' has no host; {HINT}", id="no-host"),
        pytest.param("http://:3100/push", f"'http://:3100/push' has no host; {HINT}", id="port-only"),
    ],
)
def test_accepted_but_cannot_push(url: str, problem: str) -> None:
    """Go's url.Parse accepts it, so the config loads; `push_url_problem` says why no push can succeed."""
    assert url_problem(url) == ""
    assert ClientConfig(url=url).push_url_problem == problem


@pytest.mark.parametrize(
    "url",
    [
        "http://loki:3100/loki/api/v1/push",
        "HTTPS://Loki/loki/api/v1/push",
        "http://[::1]:3100/loki/api/v1/push",
        "http://[fe80::1%25eth0]:3100/push",
        "https://user:p%40ss@logs.example.com/push",
        "http://ünï.example/push",
        "http://loki:/push",
        "http://loki/push?q=%zz#frag",
    ],
)
def test_usable(url: str) -> None:
    """An absolute http(s) URL with a host: no problem (a query is not checked, as in Go)."""
    assert url_problem(url) == ""
    assert ClientConfig(url=url).push_url_problem is None


def test_host_label() -> None:
    """`host` is host:port without the user info, Promtail's `host` label."""
    assert ClientConfig(url="https://u:p@loki:443/push").host == "loki:443"
    assert ClientConfig(url="${LOKI_URL}").host == ""
