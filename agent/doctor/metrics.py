"""Doctor's metrics checks: where the agent serves `/metrics`, and whether Prometheus scrapes that place.

From the config alone: the port and path (``server.http_path_prefix`` moves it) and the exact Prometheus
`scrape_configs` snippet that matches. With the agent running here: that the port serves the agent's
metrics (not another program's, not a 404). With ``-doctor.prometheus-config``: that the Prometheus jobs
aimed at the agent's port use the right `metrics_path` and scheme. A disabled server is a warning.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import yaml

from agent.config.model import Config
from agent.doctor.report import Check, failed, passed, warned
from agent.server.http import normalize_prefix

TIMEOUT = 5.0  # seconds: the agent's own /metrics answers in milliseconds
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def metrics_path(config: Config) -> str:
    return normalize_prefix(config.server.http_path_prefix) + "/metrics"


def scrape_target(config: Config) -> str:
    """``host:port`` as Prometheus should reach the agent: this machine's name when listening everywhere."""
    address = config.server.http_listen_address
    host = socket.gethostname() if address in _WILDCARDS else address
    return f"{host}:{config.server.http_listen_port}"


def scrape_config_snippet(config: Config, job: str = "agent") -> str:
    """The Prometheus `scrape_configs` entry that scrapes this agent, as YAML to paste into prometheus.yml."""
    return (
        "scrape_configs:\n"
        f"  - job_name: {job}\n"
        f"    metrics_path: {metrics_path(config)}\n"
        "    honor_labels: true  # event metrics carry the job of the logs they count\n"
        "    static_configs:\n"
        f"      - targets: [\"{scrape_target(config)}\"]\n"
    )


async def check_metrics(config: Config, prometheus_config: str | None) -> list[Check]:
    server = config.server
    if server.disable:
        fix = "remove server.disable: true, so that Prometheus can scrape /metrics and probes can use /ready"
        return [warned("metrics", "the HTTP server is disabled (server.disable: true): nothing serves /metrics", fix)]
    path = metrics_path(config)
    port = server.http_listen_port
    checks = [await _check_live(config, path, port)]
    if prometheus_config is not None:
        checks += await asyncio.to_thread(_check_prometheus_config, prometheus_config, path, port)
    return checks


async def _check_live(config: Config, path: str, port: int) -> Check:
    """Whether the agent answers on its port now; not running is fine (doctor often runs first)."""
    address = config.server.http_listen_address
    host = "127.0.0.1" if address in _WILDCARDS else address
    url = f"http://{host}:{port}{path}" if ":" not in host else f"http://[{host}]:{port}{path}"
    served = f"the agent serves its metrics at port {port}, path {path}"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.get(url)
    except httpx.ConnectError:
        return passed("metrics", f"{served} (not running now: nothing listens on {host}:{port})", path=path, port=port)
    except httpx.HTTPError as exc:
        return failed("metrics", f"GET {url} failed: {type(exc).__name__}: {exc}",
                      f"something on port {port} is not the agent: stop it or set server.http_listen_port", url=url)
    if response.status_code == 200 and "promtail_" in response.text:
        return passed("metrics", f"{served}; GET {url} answers with the agent's metrics", path=path, port=port)
    fix = (
        f"another program (or an agent with another server.http_path_prefix) holds port {port}: stop it, "
        "or give this agent another server.http_listen_port"
    )
    return failed("metrics", f"GET {url} answered {response.status_code} without the agent's metrics", fix, url=url)


def _check_prometheus_config(filename: str, path: str, port: int) -> list[Check]:
    name = f"prometheus {filename}"
    try:
        with open(filename, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        return [failed(name, f"cannot read it: {exc.strerror or exc}", "pass the path of prometheus.yml")]
    except yaml.YAMLError as exc:
        return [failed(name, f"not YAML: {exc}", "pass the path of prometheus.yml")]
    jobs = document.get("scrape_configs") if isinstance(document, dict) else None
    checks: list[Check] = []
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, dict) or not _targets_port(job, port):
            continue
        job_name = job.get("job_name", "?")
        scraped = str(job.get("metrics_path", "/metrics"))
        scheme = str(job.get("scheme", "http"))
        check_name = f"prometheus job {job_name}"
        if scraped != path:
            fix = f"set metrics_path: {path} in the Prometheus job {job_name!r}"
            message = f"scrapes {scraped} on port {port}, but the agent serves its metrics at {path}"
            checks.append(failed(check_name, message, fix, metrics_path=scraped, expected=path))
        elif scheme != "http":
            fix = f"set scheme: http in the Prometheus job {job_name!r}: the agent serves plain HTTP"
            checks.append(failed(check_name, f"scrapes with scheme {scheme}, the agent serves http", fix))
        else:
            checks.append(passed(check_name, f"scrapes {path} on port {port}, where the agent serves its metrics"))
    if not checks:
        message = f"no scrape job targets port {port} (static_configs), so Prometheus does not scrape this agent"
        checks.append(failed(name, message, "add the scrape config printed below"))
    return checks


def _targets_port(job: dict[str, Any], port: int) -> bool:
    for static in job.get("static_configs") or []:
        for target in (static or {}).get("targets") or []:
            if str(target).rpartition(":")[2] == str(port):
                return True
    return False
