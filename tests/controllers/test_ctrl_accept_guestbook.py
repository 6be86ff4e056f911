"""Acceptance: the Kubernetes guestbook (kubernetes/examples, unchanged) applied with `shoal apply`
to a real server with three hollow nodes (`shoal agent --runtime sim --count 3`): every Deployment
becomes available, every pod runs, every Service gets a ClusterIP (the NodePort one a node port)
and Endpoints listing exactly its ready pods."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest
from accept_helpers import endpoint_ips, is_ready, pods, wait_for
from server_process import shoal_command
from shared_data import EXAMPLES

GUESTBOOK = EXAMPLES / "web_guestbook_all-in-one_guestbook-all-in-one.yaml"
# name -> (replicas, the labels the Service selects)
EXPECTED = {
    "redis-master": (1, "app=redis,role=master,tier=backend"),
    "redis-replica": (2, "app=redis,role=replica,tier=backend"),
    "frontend": (3, "app=guestbook,tier=frontend"),
}


def _settled(client):
    """None until every object of the guestbook is where it should be; then the Services."""
    for name, (replicas, selector) in EXPECTED.items():
        deployment = client.get("Deployment", name, "default")
        available = next((c for c in deployment.status.conditions if c.type == "Available"), None)
        if deployment.status.available_replicas != replicas or available is None or available.status != "True":
            return None
        mine = pods(client, selector=selector)
        if len(mine) != replicas or not all(p.status.phase == "Running" and is_ready(p) for p in mine):
            return None
        if endpoint_ips(client, name) != {p.status.pod_ip for p in mine}:
            return None
    services = {name: client.get("Service", name, "default") for name in EXPECTED}
    return services if all(s.spec.cluster_ip for s in services.values()) else None


@pytest.mark.skipif(not GUESTBOOK.exists(), reason="the guestbook example is not present")
def test_the_guestbook_reaches_its_expected_state_on_hollow_nodes(cluster_factory):
    cluster = cluster_factory()
    cluster.agent("--runtime", "sim", "--count", "3", "--name-prefix", "gb-", "--lease-interval", "2",
                  "--sim-start-delay", "0.2")
    applied = subprocess.run([*shoal_command(), "apply", "-f", str(GUESTBOOK), "-s", cluster.address],
                             capture_output=True, text=True, timeout=60, check=False)
    assert applied.returncode == 0, applied
    assert applied.stdout.splitlines() == [
        "service/redis-master created", "deployment.apps/redis-master created",
        "service/redis-replica created", "deployment.apps/redis-replica created",
        "service/frontend created", "deployment.apps/frontend created",
    ]
    client = cluster.client()
    services = wait_for(lambda: _settled(client), 60, interval=0.3, what="the guestbook to settle")

    ips = [s.spec.cluster_ip for s in services.values()]
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.43.0.0/16") for ip in ips)
    frontend = services["frontend"]
    assert frontend.spec.type == "NodePort" and 30000 <= frontend.spec.ports[0].node_port <= 32767
    for name in EXPECTED:
        ep = client.get("Endpoints", name, "default")
        assert {p.port for s in ep.subsets for p in s.ports} == {80 if name == "frontend" else 6379}
    # The scheduler spread the six pods over the three hollow nodes.
    nodes = {p.spec.node_name for p in pods(client)}
    assert nodes == {"gb-0", "gb-1", "gb-2"}, nodes
    # `shoal get deployments` sees the same.
    listing = subprocess.run([*shoal_command(), "get", "deployments", "-s", cluster.address],
                             capture_output=True, text=True, timeout=30, check=False)
    rows = {line.split()[0]: line.split()[1] for line in listing.stdout.splitlines()[1:]}
    assert rows == {"redis-master": "1/1", "redis-replica": "2/2", "frontend": "3/3"}, listing.stdout
