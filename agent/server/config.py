"""`server:` as Promtail reads it. Keys of Promtail's gRPC and TLS server are accepted and have no effect."""

from __future__ import annotations

from typing import Any

from agent.config.base import ConfigModel
from agent.config.units import Duration


class ServerConfig(ConfigModel):
    """The agent's own HTTP server: `/metrics`, `/ready`, `/status`.

    ```yaml
    server:
      http_listen_address: 0.0.0.0
      http_listen_port: 9080
    ```
    """

    disable: bool = False
    http_listen_address: str = "0.0.0.0"
    http_listen_port: int = 9080
    http_listen_network: str = "tcp"
    log_level: str = "info"
    log_format: str = "logfmt"
    http_path_prefix: str = ""
    graceful_shutdown_timeout: Duration = 30.0
    # Accepted for compatibility; the agent has no gRPC server and no runtime profiler.
    grpc_listen_address: str = ""
    grpc_listen_port: int = 0
    grpc_listen_network: str = "tcp"
    grpc_server_max_recv_msg_size: int = 0
    grpc_server_max_send_msg_size: int = 0
    grpc_server_max_concurrent_streams: int = 0
    http_server_read_timeout: Duration = 30.0
    http_server_write_timeout: Duration = 30.0
    http_server_idle_timeout: Duration = 120.0
    register_instrumentation: bool = True
    health_check_target: bool | None = None
    enable_runtime_reload: bool = False
    profiling_enabled: bool = False
    log_source_ips_enabled: bool = False
    http_tls_config: dict[str, Any] | None = None
    grpc_tls_config: dict[str, Any] | None = None
