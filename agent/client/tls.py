"""`tls_config` (Promtail's names) to an `ssl.SSLContext`, for the Loki client and the Docker API alike."""

from __future__ import annotations

import ssl

from agent.client.config import TLSConfig
from agent.errors import ConfigError, ConfigProblem

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
"""`min_version` / `max_version` values, as Prometheus' common config spells them."""


def ssl_context(tls: TLSConfig, path: str = "tls_config") -> ssl.SSLContext:
    """The context `tls` describes. Raises `ConfigError` (at `path`) when a certificate cannot be loaded."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError([ConfigProblem(path, f"cannot load certificates: {err}")]) from err
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.min_version:
        context.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    return context
