"""Discovered containers as `docker_sd_configs` describes them: the ``__meta_docker_*`` labels, by Prometheus' rules.

Prometheus' Docker discovery makes one target per container, network and exposed TCP port (one per network
when no TCP port is exposed, at `port`), with these labels:

======================================================  ==============================================
``__meta_docker_container_id``, ``_name``,              the container (its first name, with Docker's
``_network_mode``, ``_label_<name>``                    leading ``/``), labels sanitized to ``[a-zA-Z0-9_]``
``__meta_docker_network_id``, ``_name``, ``_ingress``,  the network the target is on
``_internal``, ``_scope``, ``_label_<name>``, ``_ip``
``__meta_docker_port_private``, ``_public``,            the exposed port, when there is one
``_public_ip``
``__address__``                                         ``ip:port`` (``host_networking_host:port`` for
                                                        host networking)
======================================================  ==============================================

Promtail follows each container once, with the labels of its first target; so does the agent. Pure: the
caller fetches the container and network lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agent.model import Labels

META = "__meta_docker_"
LOG_STREAM_LABEL = "__meta_docker_container_log_stream"
"""Set to ``stdout`` or ``stderr`` before relabelling, as Promtail does (one label set per stream)."""

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True, slots=True)
class Container:
    """A container to follow: its `id`, `name` (without ``/``), discovered `labels`, and whether it runs."""

    id: str
    name: str
    labels: Labels
    running: bool = True


def sanitize(name: str) -> str:
    """A Docker label name as a Prometheus label name part (Prometheus' `SanitizeLabelName`)."""
    return _INVALID_LABEL_CHARS.sub("_", name)


def network_labels(networks: list[dict[str, Any]]) -> dict[str, Labels]:
    """``__meta_docker_network_*`` labels of each network, by network ID."""
    result: dict[str, Labels] = {}
    for network in networks:
        labels = {
            META + "network_id": str(network.get("Id", "")),
            META + "network_name": str(network.get("Name", "")),
            META + "network_scope": str(network.get("Scope", "")),
            META + "network_internal": _bool(network.get("Internal")),
            META + "network_ingress": _bool(network.get("Ingress")),
        }
        for key, value in (network.get("Labels") or {}).items():
            labels[META + "network_label_" + sanitize(key)] = str(value)
        result[labels[META + "network_id"]] = labels
    return result


def containers(
    listed: list[dict[str, Any]], networks: dict[str, Labels], *, port: int, host_networking_host: str
) -> list[Container]:
    """The containers of a ``GET /containers/json`` answer with their first target's labels, in list order."""
    found = []
    for item in listed:
        names = item.get("Names") or []
        if not names:
            continue
        labels = _first_target(item, networks, port, host_networking_host)
        running = item.get("State", "running") == "running"
        found.append(Container(str(item["Id"]), str(names[0]).lstrip("/"), labels, running))
    return found


def _first_target(item: dict[str, Any], networks: dict[str, Labels], port: int, host_networking_host: str) -> Labels:
    network_mode = str((item.get("HostConfig") or {}).get("NetworkMode", ""))
    common = {
        META + "container_id": str(item["Id"]),
        META + "container_name": str(item["Names"][0]),
        META + "container_network_mode": network_mode,
    }
    for key, value in (item.get("Labels") or {}).items():
        common[META + "container_label_" + sanitize(key)] = str(value)
    attached = ((item.get("NetworkSettings") or {}).get("Networks") or {}).values()
    tcp_ports = [p for p in item.get("Ports") or [] if p.get("Type") == "tcp"]
    for network in attached:
        labels = dict(common)
        labels.update(networks.get(str(network.get("NetworkID", "")), {}))
        ip = str(network.get("IPAddress", ""))
        labels[META + "network_ip"] = ip
        host = host_networking_host if network_mode == "host" else ip
        if tcp_ports:
            first = tcp_ports[0]
            labels[META + "port_private"] = str(first.get("PrivatePort", ""))
            if first.get("PublicPort"):
                labels[META + "port_public"] = str(first["PublicPort"])
                labels[META + "port_public_ip"] = str(first.get("IP", ""))
            labels["__address__"] = _join(host, first.get("PrivatePort", port))
        else:
            labels["__address__"] = _join(host, port)
        return labels
    return common  # no network at all (network_mode: none): the container's own labels still apply


def _join(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bool(value: object) -> str:
    return "true" if value else "false"
