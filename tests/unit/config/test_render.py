"""render_config: the effective config as YAML for -print-config-stderr, with secrets masked."""

from __future__ import annotations

from pathlib import Path

import yaml

from agent.config.loader import load_config, render_config

CONFIG = """\
server:
  http_listen_port: 3101
clients:
  - url: https://123456:glc_token@logs.example.com/loki/api/v1/push
    batchwait: 2s
    basic_auth: {username: "123456", password: hunter2}
    bearer_token: abc
    headers: {Authorization: Bearer abc, X-Scope-OrgID: team-a}
    tls_config: {key: PEM-DATA, cert_file: /c.pem}
scrape_configs:
  - job_name: kafka
    kafka:
      brokers: [k:9092]
      authentication: {type: sasl, sasl_config: {user: u, password: kafka-secret}}
"""


def _render(tmp_path: Path, text: str = CONFIG) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return render_config(load_config(str(path)).config)


def test_secrets_masked(tmp_path: Path) -> None:
    """Passwords, tokens, TLS keys, auth headers and URL passwords print as <secret>."""
    rendered = _render(tmp_path)
    for secret in ("hunter2", "glc_token", "PEM-DATA", "Bearer abc", "kafka-secret", "bearer_token: abc"):
        assert secret not in rendered
    client = yaml.safe_load(rendered)["clients"][0]
    assert client["url"] == "https://123456:<secret>@logs.example.com/loki/api/v1/push"
    assert client["basic_auth"] == {"username": "123456", "password": "<secret>", "password_file": ""}
    assert client["headers"] == {"Authorization": "<secret>", "X-Scope-OrgID": "team-a"}
    assert client["tls_config"]["key"] == "<secret>"
    assert client["tls_config"]["cert_file"] == "/c.pem"


def test_defaults_and_durations(tmp_path: Path) -> None:
    """Defaults are filled in and durations read as Promtail writes them."""
    rendered = yaml.safe_load(_render(tmp_path))
    assert rendered["server"]["http_listen_port"] == 3101
    assert rendered["clients"][0]["batchwait"] == "2s"
    assert rendered["clients"][0]["backoff_config"] == {"min_period": "500ms", "max_period": "5m", "max_retries": 10}
    assert rendered["positions"] == {
        "filename": "/var/log/positions.yaml",
        "sync_period": "10s",
        "ignore_invalid_yaml": False,
    }


def test_unused_target_kinds_left_out(tmp_path: Path) -> None:
    """A job lists the targets it uses, not every kind it could have."""
    job = yaml.safe_load(_render(tmp_path))["scrape_configs"][0]
    assert "kafka" in job
    assert "journal" not in job
    assert "kubernetes_sd_configs" not in job


def test_relabel_regex_printed_as_written(tmp_path: Path) -> None:
    """A relabel regex prints without the anchors the agent adds."""
    text = "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - {source_labels: [x], regex: a|b, action: keep}\n"
    rule = yaml.safe_load(_render(tmp_path, text))["scrape_configs"][0]["relabel_configs"][0]
    assert rule["regex"] == "a|b"


def test_round_trip(tmp_path: Path) -> None:
    """A rendered config (without secrets or regexes) loads back into the same config."""
    text = """\
server: {http_listen_port: 3101, log_level: debug}
positions: {filename: /tmp/p.yaml, sync_period: 1m30s}
clients:
  - url: http://loki:3100/loki/api/v1/push
    external_labels: {host: web-1}
    batchsize: 256KB
scrape_configs:
  - job_name: a
    static_configs: [{labels: {__path__: /var/log/*.log, version: "1.10"}}]
"""
    first = tmp_path / "first.yaml"
    first.write_text(text, encoding="utf-8")
    config = load_config(str(first)).config
    second = tmp_path / "second.yaml"
    second.write_text(render_config(config), encoding="utf-8")
    assert load_config(str(second)).config == config
