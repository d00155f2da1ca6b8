"""Discovered containers' labels, as Prometheus' Docker discovery names them."""

from __future__ import annotations

from agent.sources.docker_targets import containers, network_labels

NETWORKS = network_labels([
    {"Id": "n1", "Name": "bridge", "Scope": "local", "Internal": False, "Ingress": False,
     "Labels": {"com.example/tier": "front"}},
])
WEB = {
    "Id": "c1", "Names": ["/web"], "State": "running", "HostConfig": {"NetworkMode": "bridge"},
    "Labels": {"com.docker.compose.service": "web"},
    "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "n1", "IPAddress": "172.17.0.2"}}},
    "Ports": [
        {"PrivatePort": 53, "Type": "udp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    ],
}


def test_meta_labels_of_the_first_target() -> None:
    (web,) = containers([WEB], NETWORKS, port=80, host_networking_host="localhost")
    assert (web.id, web.name, web.running) == ("c1", "web", True)
    assert web.labels == {
        "__meta_docker_container_id": "c1",
        "__meta_docker_container_name": "/web",
        "__meta_docker_container_network_mode": "bridge",
        "__meta_docker_container_label_com_docker_compose_service": "web",
        "__meta_docker_network_id": "n1",
        "__meta_docker_network_name": "bridge",
        "__meta_docker_network_scope": "local",
        "__meta_docker_network_internal": "false",
        "__meta_docker_network_ingress": "false",
        "__meta_docker_network_label_com_example_tier": "front",
        "__meta_docker_network_ip": "172.17.0.2",
        "__meta_docker_port_private": "80",
        "__meta_docker_port_public": "8080",
        "__meta_docker_port_public_ip": "0.0.0.0",
        "__address__": "172.17.0.2:80",
    }


def test_no_tcp_port_uses_the_configured_port_and_host_networking_its_host() -> None:
    host = {**WEB, "Ports": [], "State": "exited", "HostConfig": {"NetworkMode": "host"}}
    (found,) = containers([host], NETWORKS, port=9100, host_networking_host="node-1")
    assert found.labels["__address__"] == "node-1:9100"
    assert "__meta_docker_port_private" not in found.labels
    assert found.running is False


def test_containers_without_names_or_networks() -> None:
    bare = {"Id": "c2", "Names": ["/bare"], "HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}}}
    assert containers([{"Id": "c3", "Names": []}, bare], NETWORKS, port=80, host_networking_host="x")[0].labels == {
        "__meta_docker_container_id": "c2",
        "__meta_docker_container_name": "/bare",
        "__meta_docker_container_network_mode": "none",
    }
