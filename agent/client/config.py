"""`clients:` entries as Promtail reads them (also the deprecated singular `client:`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration, Size

# The characters Go's url.Parse accepts in a URL's host and user info. Promtail refuses a URL with any other,
# such as an unexpanded `${VAR}` (curly braces), so this agent does too.
_HOST = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=\[\]:%<>\"\u0080-\U0010ffff]*")
_USERINFO = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:%@\u0080-\U0010ffff]*")


def _netloc_problem(netloc: str) -> str:
    """Why Go's url.Parse would reject `netloc` (``user:pass@host:port``), or an empty string."""
    userinfo, at, hostport = netloc.rpartition("@")
    if at and (bad := _USERINFO.sub("", userinfo)):
        return f"invalid character {bad[0]!r} in the user info"
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port = hostport[: close + 1], hostport[close + 1 :]
    else:
        colon = hostport.rfind(":")
        host, port = (hostport[:colon], hostport[colon:]) if colon >= 0 else (hostport, "")
    if port and not re.fullmatch(r":\d*", port):
        return f"invalid port {port!r} after the host"
    if bad := _HOST.sub("", host):
        return f"invalid character {bad[0]!r} in the host name"
    return ""


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

    url: str
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
    def _absolute_http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        shown = url.replace(f":{parts.password}@", ":<secret>@") if parts.password else url  # no secrets in logs
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{shown!r} is not an absolute http(s) URL; write it as http://host:3100/loki/api/v1/push"
            )
        if reason := _netloc_problem(parts.netloc):
            raise ValueError(f"{shown!r} is not a valid URL: {reason}")
        return url

    @property
    def host(self) -> str:
        """`host:port` of the URL, the value of Promtail's `host` metric label."""
        return urlsplit(self.url).netloc.rpartition("@")[2]
