"""`clients:` entries as Promtail reads them (also the deprecated singular `client:`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from agent.config.base import ConfigModel
from agent.config.units import Duration, Size


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
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{url!r} is not an absolute http(s) URL; write it as http://host:3100/loki/api/v1/push"
            )
        return url

    @property
    def host(self) -> str:
        """`host:port` of the URL, the value of Promtail's `host` metric label."""
        return urlsplit(self.url).netloc.rpartition("@")[2]
