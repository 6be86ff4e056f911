"""Acceptance: nodes going away, with a real server (its scheduler and controllers) and two hollow
agents. A killed agent's pods are evicted after their tolerationSeconds and replaced on the other
node, and the Service's Endpoints follow; `shoal drain` empties a node the same way, on purpose."""

from __future__ import annotations

import signal
import subprocess
import time

from accept_helpers import (
    active,
    apply_yaml,
    endpoint_ips,
    is_ready,
    pods,
    wait_for,
)
from server_process import shoal_command

GRACE_SECONDS = "2"
TOLERATION_SECONDS = 1

WEB = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: {TOLERATION_SECONDS}}}
      - {{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: {TOLERATION_SECONDS}}}
      containers:
      - name: web
        image: busybox
        ports: [{{containerPort: 8080, name: http}}]
        resources: {{requests: {{cpu: 100m, memory: 32Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
"""


def _serving(client, want: int, nodes: set[str]):
    """The active web pods if there are ``want``, all ready, all on ``nodes``, and exactly their
    IPs are the Service's endpoints."""
    current = active(pods(client, selector="app=web"))
    if len(current) != want or not all(is_ready(p) and p.status.pod_ip for p in current):
        return None
    if {p.spec.node_name for p in current} - nodes:
        return None
    if endpoint_ips(client, "web") != {p.status.pod_ip for p in current}:
        return None
    return current


def _two_node_cluster(cluster_factory):
    cluster = cluster_factory("--node-monitor-grace-period", GRACE_SECONDS)
    agents = {name: cluster.sim_agent(name) for name in ("accept-a", "accept-b")}
    client = cluster.client()
    apply_yaml(client, WEB)
    both = set(agents)
    placed = wait_for(lambda: _serving(client, 4, both), 40, interval=0.2, what="4 web pods serving")
    return cluster, agents, client, placed


def test_a_stopped_agents_pods_move_to_the_other_node(cluster_factory, monkeypatch):
    monkeypatch.setenv("SHOAL_NODE_MONITOR_PERIOD_SECONDS", "0.5")
    _, agents, client, placed = _two_node_cluster(cluster_factory)
    # The scheduler spreads the replicas: the node with the most of them is the one to lose.
    counts = {name: sum(p.spec.node_name == name for p in placed) for name in agents}
    victim = max(counts, key=counts.get)
    survivor = next(n for n in agents if n != victim)
    assert counts[victim] > 0
    agents[victim].stop(signal.SIGKILL)
    started = time.monotonic()

    def unreachable():
        node = client.get("Node", victim)
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        return ready.status == "Unknown" and {(t.key, t.effect) for t in node.spec.taints} >= {
            ("node.kubernetes.io/unreachable", "NoExecute"), ("node.kubernetes.io/unreachable", "NoSchedule")}

    wait_for(unreachable, 20, interval=0.2, what=f"{victim} to be marked unreachable")
    moved = wait_for(lambda: _serving(client, 4, {survivor}), 40, interval=0.2,
                     what=f"4 web pods serving from {survivor} only")
    took = time.monotonic() - started
    assert len({p.metadata.name for p in moved}) == 4
    # The victim's pods were evicted (they stay Terminating: no agent is left to finish them).
    evicted = [p for p in pods(client, selector="app=web") if p.spec.node_name == victim]
    assert len(evicted) == counts[victim] and all(p.metadata.HasField("deletion_timestamp") for p in evicted)
    wait_for(lambda: any(e.reason == "TaintManagerEviction" for e in client.list_items("Event", "default")), 10,
             what="the TaintManagerEviction events")
    print(f"failover of {counts[victim]} pods took {took:.1f}s")


def test_drain_moves_the_pods_and_uncordon_lets_them_back(cluster_factory, tmp_path):
    cluster, agents, client, placed = _two_node_cluster(cluster_factory)
    counts = {name: sum(p.spec.node_name == name for p in placed) for name in agents}
    drained = max(counts, key=counts.get)
    other = next(n for n in agents if n != drained)
    run = subprocess.run([*shoal_command(), "drain", drained, "--timeout", "60s", "-s", cluster.address],
                         capture_output=True, text=True, timeout=90, check=False)
    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert lines[0] == f"node/{drained} cordoned" and lines[-1] == f"node/{drained} drained"
    assert sum(line.startswith("evicting pod default/web-") for line in lines) == counts[drained]
    # Unlike a lost node, a drained node's agent finishes the evicted pods: none is left behind.
    wait_for(lambda: _serving(client, 4, {other}), 40, interval=0.2, what=f"4 web pods serving from {other}")
    assert not [p for p in pods(client, selector="app=web") if p.spec.node_name == drained]
    assert client.get("Node", drained).spec.unschedulable
    run = subprocess.run([*shoal_command(), "uncordon", drained, "-s", cluster.address],
                         capture_output=True, text=True, timeout=30, check=False)
    assert run.stdout.strip() == f"node/{drained} uncordoned"
    # Scaling up again may use the node: it takes pods once more.
    subprocess.run([*shoal_command(), "scale", "deployment/web", "--replicas", "8", "-s", cluster.address],
                   check=True, capture_output=True, timeout=30)
    wait_for(lambda: any(p.spec.node_name == drained for p in active(pods(client, selector="app=web"))), 30,
             interval=0.2, what=f"a new pod on the uncordoned {drained}")
