"""The top-level config model: Promtail's YAML sections, typed.

Pipeline stages stay raw here (`list[dict]`): `agent.stages.registry` validates each one against its own
stage's model, so that a stage's config sits next to the stage. Target types the agent does not run yet
(`journal`, `syslog`, `kubernetes_sd_configs`, ...) are accepted, lightly checked where Promtail's schema is
small and well known, and reported by the loader as "not supported yet".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from agent.client.config import BasicAuthConfig, ClientConfig, TLSConfig
from agent.config.base import ConfigModel
from agent.config.units import Duration, Size
from agent.positions.config import PositionsConfig
from agent.relabel import RelabelConfig
from agent.server.config import ServerConfig

UNSUPPORTED_TARGETS = (
    "journal",
    "syslog",
    "gelf",
    "kafka",
    "windows_events",
    "loki_push_api",
    "gcplog",
    "cloudflare",
    "heroku_drain",
    "azure_event_hubs",
    "kubernetes_sd_configs",
    "file_sd_configs",
    "consul_sd_configs",
    "consulagent_sd_configs",
    "dockerswarm_sd_configs",
    "ec2_sd_configs",
    "azure_sd_configs",
    "gce_sd_configs",
    "openstack_sd_configs",
    "nomad_sd_configs",
    "serverset_sd_configs",
    "digitalocean_sd_configs",
)
"""Target kinds a scrape config may declare that this agent accepts but does not run yet."""


def _stringify_labels(value: object) -> object:
    # Go's YAML decoder turns scalar label values (ports, versions, booleans) into strings; so do we.
    if isinstance(value, dict):
        return {
            k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in value.items()
        }
    return value


class StaticConfig(ConfigModel):
    """`static_configs` entry: for files, `labels.__path__` is the glob and the rest are the stream's labels."""

    targets: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels", mode="before")(_stringify_labels)


class DecompressionConfig(ConfigModel):
    enabled: bool = False
    initial_delay: Duration = 0.0
    format: Literal["gz", "z", "bz2", "zip", ""] = ""


class JournalConfig(ConfigModel):
    """`journal`: accepted and checked so that misplaced keys are caught; not run yet."""

    json_: bool = Field(False, alias="json")
    max_age: Duration = 7 * 3600.0
    path: str = ""
    matches: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels", mode="before")(_stringify_labels)


class SyslogConfig(ConfigModel):
    """`syslog`: accepted and checked so that misplaced keys are caught; not run yet."""

    listen_address: str = ""
    listen_protocol: str = "tcp"
    idle_timeout: Duration = 120.0
    label_structured_data: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    use_incoming_timestamp: bool = False
    use_rfc5424_message: bool = False
    max_message_length: int = 8192
    syslog_format: str = "rfc5424"
    tls_config: TLSConfig | None = None

    _labels = field_validator("labels", mode="before")(_stringify_labels)


class DockerFilter(ConfigModel):
    name: str
    values: list[str]


class DockerSDConfig(ConfigModel):
    """`docker_sd_configs` entry, as Prometheus and Promtail read it."""

    host: str = "unix:///var/run/docker.sock"
    port: int = 80
    refresh_interval: Duration = 60.0
    filters: list[DockerFilter] = Field(default_factory=list)
    host_networking_host: str = "localhost"
    match_first_network: bool = True
    tls_config: TLSConfig | None = None
    basic_auth: BasicAuthConfig | None = None
    bearer_token: str = ""
    bearer_token_file: str = ""
    proxy_url: str = ""
    follow_redirects: bool = True
    enable_http2: bool = True
    start_from: Literal["beginning", "now"] = "beginning"
    """The agent's own key: where to start reading a container first seen (no saved cursor) that was
    already running when the agent started. ``beginning`` (Promtail's behaviour) ships its whole log;
    ``now`` only what it writes from then on. Containers started later are always read from their start."""


class ScrapeConfig(ConfigModel):
    """One `scrape_configs` entry: targets, how to relabel them, and the pipeline every line goes through."""

    job_name: str
    static_configs: list[StaticConfig] = Field(default_factory=list)
    relabel_configs: list[RelabelConfig] = Field(default_factory=list)
    pipeline_stages: list[dict[str, Any]] = Field(default_factory=list)
    encoding: str = ""
    decompression: DecompressionConfig = Field(default_factory=DecompressionConfig)
    docker_sd_configs: list[DockerSDConfig] = Field(default_factory=list)
    journal: JournalConfig | None = None
    syslog: SyslogConfig | None = None
    gelf: dict[str, Any] | None = None
    kafka: dict[str, Any] | None = None
    windows_events: dict[str, Any] | None = None
    loki_push_api: dict[str, Any] | None = None
    gcplog: dict[str, Any] | None = None
    cloudflare: dict[str, Any] | None = None
    heroku_drain: dict[str, Any] | None = None
    azure_event_hubs: dict[str, Any] | None = None
    kubernetes_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    file_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    consul_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    consulagent_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    dockerswarm_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    ec2_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    azure_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    gce_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    openstack_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    nomad_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    serverset_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    digitalocean_sd_configs: list[dict[str, Any]] = Field(default_factory=list)
    limits_config: dict[str, Any] | None = None

    @field_validator("pipeline_stages", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value:
            import codecs

            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r} (try UTF-8, UTF-16LE, ISO-8859-1)") from None
        return value


class LimitsConfig(ConfigModel):
    """`limits_config`: read rate limits, line size limits, and the cap on distinct streams per client."""

    readline_rate_enabled: bool = False
    readline_rate: float = 10000.0
    readline_burst: int = 10000
    readline_rate_drop: bool = True
    max_streams: int = 0
    max_line_size: Size = 0
    max_line_size_truncate: bool = False


class TargetConfig(ConfigModel):
    """`target_config`: how often globs are re-evaluated for new files."""

    sync_period: Duration = 10.0


class FileWatchConfig(ConfigModel):
    """`global.file_watch_config`: the polling bounds used when no filesystem event arrives."""

    min_poll_frequency: Duration = 0.25
    max_poll_frequency: Duration = 0.25


class GlobalConfig(ConfigModel):
    file_watch_config: FileWatchConfig = Field(default_factory=FileWatchConfig)


class OptionsConfig(ConfigModel):
    stream_lag_labels: list[str] | str | None = None  # deprecated in Promtail, accepted and ignored


class Config(ConfigModel):
    """A whole Promtail config file."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    clients: list[ClientConfig] = Field(default_factory=list)
    client: ClientConfig | None = None
    positions: PositionsConfig = Field(default_factory=PositionsConfig)
    scrape_configs: list[ScrapeConfig] = Field(default_factory=list)
    limits_config: LimitsConfig = Field(default_factory=LimitsConfig)
    target_config: TargetConfig = Field(default_factory=TargetConfig)
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    options: OptionsConfig = Field(default_factory=OptionsConfig)
    tracing: dict[str, Any] | None = None
    wal: dict[str, Any] | None = None

    @field_validator("clients", "scrape_configs", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    def all_clients(self) -> list[ClientConfig]:
        """`clients` plus the deprecated singular `client`, as Promtail merges them."""
        return [*self.clients, *([self.client] if self.client else [])]
