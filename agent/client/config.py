"""`clients:` entries as Promtail reads them (also the deprecated singular `client:`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration, Size

_PUSH_URL_HINT = "write it as http://host:3100/loki/api/v1/push"

# The characters Go's url.Parse (so Promtail) accepts outside %-escapes in a host (ASCII ones; any byte from
# 0x80 passes) and in user info (ASCII only). An unexpanded `${VAR}` there is refused for its curly braces.
_HOST_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>\"\u0080-\U0010ffff]*")
_USERINFO_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:%@]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*(?=:)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NO_COLON = "first path segment in URL cannot contain colon"


class _GoURL:
    """A URL split as Go's url.Parse splits it; `problem` says why url.Parse fails, or is empty.

    A port of net/url's `parse` (Go 1.22-1.24) for what Promtail checks when it reads `url`: a config whose
    url Go cannot parse is refused, any other is accepted, relative or empty.
    """

    def __init__(self, url: str) -> None:
        self.scheme = ""
        self.authority: str | None = None  # None: no `//authority` part
        self.hostport = ""  # Promtail's `host` label: host[:port]
        self.hostname = ""  # without the port
        self.problem = ""
        rest, _, fragment = url.partition("#")
        if _CONTROL.search(rest):
            self.problem = "invalid control character"
            return
        if rest.startswith(":"):
            self.problem = "missing protocol scheme"
            return
        if scheme := _SCHEME.match(rest):
            self.scheme, rest = scheme.group().lower(), rest[scheme.end() + 1 :]
        rest = rest[:-1] if rest.endswith("?") and rest.count("?") == 1 else rest.partition("?")[0]
        if not rest.startswith("/"):
            if self.scheme:
                return  # `scheme:opaque`, such as loki:3100/loki/api/v1/push
            if ":" in rest.partition("/")[0]:
                self.problem = _NO_COLON  # such as 10.0.0.1:3100/loki/api/v1/push
                return
        if rest.startswith("//") and (self.scheme or not rest.startswith("///")):
            self.authority, slash, path = rest[2:].partition("/")
            rest = slash + path
            self.problem = self._parse_authority(self.authority)
        self.problem = self.problem or _escape_problem(rest) or _escape_problem(fragment)

    def _parse_authority(self, authority: str) -> str:
        userinfo, at, hostport = authority.rpartition("@")
        if problem := _host_problem(hostport):
            return problem
        self.hostport = hostport
        if hostport.startswith("["):
            self.hostname = hostport[: hostport.rfind("]") + 1]
        else:
            self.hostname = hostport.rpartition(":")[0] if ":" in hostport else hostport
        if at and (bad := _USERINFO_CHARS.sub("", userinfo)):
            return f"invalid character {bad[0]!r} in the user info"
        return _escape_problem(userinfo)


def _host_problem(hostport: str) -> str:
    """net/url's parseHost: an optional numeric port, host characters, and %-escapes of non-ASCII bytes only."""
    host, zone = hostport, ""
    if hostport.startswith("["):
        close = hostport.rfind("]")
        if close < 0:
            return "missing ']' in the host"
        port = hostport[close + 1 :]
        if (start := hostport.find("%25", 0, close)) >= 0:  # an IPv6 zone: [fe80::1%25en0]
            host, zone = hostport[:start] + hostport[close:], hostport[start:close]
    else:
        port = hostport[hostport.rfind(":") :] if ":" in hostport else ""
    if port and not re.fullmatch(r":[0-9]*", port):
        return f"invalid port {port!r} after the host"
    for part, in_zone in ((host, False), (zone, True)):
        for match in re.finditer(r"%(.?.?)", part):
            code = match.group(1)
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", code):
                return f"invalid URL escape {match.group()!r}"
            byte = chr(int(code, 16))
            if in_zone:  # only an ASCII byte a host may hold unescaped, or a space (Windows zone names)
                allowed = byte == " " or (byte < "\x80" and _HOST_CHARS.fullmatch(byte) is not None)
            else:  # only a non-ASCII byte
                allowed = byte >= "\x80"
            if not (allowed or code == "25"):
                return f"invalid URL escape {match.group()!r} in the host"
    if bad := _HOST_CHARS.sub("", re.sub(r"%..", "", host + zone)):
        return f"invalid character {bad[0]!r} in the host name"
    return ""


def _escape_problem(text: str) -> str:
    match = _ESCAPE.search(text)
    return f"invalid URL escape {text[match.start() : match.start() + 3]!r}" if match else ""


def _shown(url: str) -> str:
    """`url` with the password in its user info replaced by <secret>, fit for messages and logs."""
    start = url.find("//") + 2
    if start < 2:
        return url
    end = min((i for i in (url.find(c, start) for c in "/?#") if i >= 0), default=len(url))
    userinfo, at, _ = url[start:end].rpartition("@")
    colon = userinfo.find(":")
    if not at or colon < 0 or colon == len(userinfo) - 1:
        return url
    return url[: start + colon + 1] + "<secret>" + url[start + len(userinfo) :]


def url_problem(url: str) -> str:
    """Why Promtail refuses `url` when it reads the config (Go's url.Parse fails), or an empty string."""
    problem = _GoURL(url).problem
    if not problem:
        return ""
    if problem == _NO_COLON:  # a scheme-less host:port/path
        return f"{_shown(url)!r} is not an absolute http(s) URL; {_PUSH_URL_HINT}"
    return f"{_shown(url)!r} is not a valid URL: {problem}"


def push_url_problem(url: str) -> str | None:
    """Why a client cannot push to `url`, or None when it is an absolute http(s) URL with a host.

    The user-facing reason for a url that Promtail accepts and no push can succeed with: empty, relative (an
    unexpanded `${VAR}`, a `__PLACEHOLDER__`), another scheme, no host.
    """
    if not url:
        return f"empty url: this client cannot push; {_PUSH_URL_HINT}"
    parsed = _GoURL(url)
    if parsed.problem:
        return url_problem(url)
    if parsed.scheme not in ("http", "https") or parsed.authority is None:
        return f"{_shown(url)!r} is not an absolute http(s) URL; {_PUSH_URL_HINT}"
    if not parsed.hostname:
        return f"{_shown(url)!r} has no host; {_PUSH_URL_HINT}"
    return None


class BackoffConfig(ConfigModel):
    """Retry schedule: jittered exponential backoff from `min_period` up to `max_period`."""

    min_period: Duration = 0.5
    max_period: Duration = 300.0
    max_retries: int = 10


class BasicAuthConfig(ConfigModel):
    username: str = ""
    password: str = ""
    password_file: str = ""


class AuthorizationConfig(ConfigModel):
    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""


class TLSConfig(ConfigModel):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca: str = ""
    cert: str = ""
    key: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""
    max_version: str = ""


class ClientConfig(ConfigModel):
    """One Loki endpoint. Each client ships every entry independently of the others.

    ```yaml
    clients:
      - url: http://loki:3100/loki/api/v1/push
        tenant_id: team-a
        batchwait: 1s
        batchsize: 1048576
        external_labels: {host: web-1}
    ```
    """

    url: str = ""  # empty, relative: accepted, as Promtail does; see push_url_problem
    tenant_id: str = ""
    batchwait: Duration = 1.0
    batchsize: Size = 1024 * 1024
    timeout: Duration = 10.0
    backoff_config: BackoffConfig = Field(default_factory=BackoffConfig)
    external_labels: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuthConfig | None = None
    authorization: AuthorizationConfig | None = None
    bearer_token: str = ""
    bearer_token_file: str = ""
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    proxy_url: str = ""
    no_proxy: str = ""
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, Any] | None = None
    follow_redirects: bool = True
    enable_http2: bool = True
    drop_rate_limited_batches: bool = False
    stream_lag_labels: list[str] | str | None = None  # deprecated in Promtail, accepted and ignored
    oauth2: dict[str, Any] | None = None

    @field_validator("url")
    @classmethod
    def _parsable_url(cls, url: str) -> str:
        if problem := url_problem(url):
            raise ValueError(problem)
        return url

    @property
    def push_url_problem(self) -> str | None:
        """Why this client cannot push (empty, relative or not http(s) url), or None. See `push_url_problem`."""
        return push_url_problem(self.url)

    @property
    def host(self) -> str:
        """`host:port` of the URL, the value of Promtail's `host` metric label."""
        return _GoURL(self.url).hostport
