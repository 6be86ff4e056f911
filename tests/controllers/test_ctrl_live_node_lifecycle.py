"""Node lifecycle against a real server (the controller is off by default: SHOAL_CONTROLLERS
turns it on), with the test renewing the Lease as an agent would, then stopping."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ctrl_helpers import FAST_SETTINGS, ControllerServer, FakeKubelet, template, wait_for
from shoal.control.controllers.meta import timestamp
from shoal.proto.client import APIStatusError, ClusterClient
from shoal.v1 import apps_pb2, coordination_pb2, core_pb2

LEASE_NAMESPACE = "shoal-node-lease"  # the node agent's (node/agent.py)


@pytest.fixture
def lifecycle_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env.update(FAST_SETTINGS)
    env.update({"SHOAL_CONTROLLERS": "*,nodelifecycle", "SHOAL_NODE_MONITOR_GRACE_SECONDS": "1.5",
                "SHOAL_NODE_MONITOR_PERIOD_SECONDS": "0.2"})
    srv = ControllerServer(str(tmp_path), env).start()
    yield srv
    srv.kill()


def _node(client, name):
    node = core_pb2.Node()
    node.metadata.name = name
    node.status.capacity.update({"cpu": "4", "memory": "8Gi", "pods": "110"})
    node = client.create(node)
    node.status.conditions.add(type="Ready", status="True", last_heartbeat_time=timestamp(time.time()))
    client.update_status(node)


class LeaseRenewer(threading.Thread):
    def __init__(self, address, name):
        super().__init__(daemon=True)
        self.client = ClusterClient(address, timeout=5)
        self.name = name
        self.halt = threading.Event()

    def run(self):
        lease = coordination_pb2.Lease()
        lease.metadata.name = self.name
        lease.metadata.namespace = LEASE_NAMESPACE
        lease.spec.holder_identity = self.name
        while not self.halt.is_set():
            lease.spec.renew_time.CopyFrom(timestamp(time.time()))
            try:
                self.client.apply(lease)
            except APIStatusError:
                pass
            self.halt.wait(0.2)
        self.client.close()


def test_a_silent_node_is_tainted_and_its_pods_replaced(lifecycle_server):
    srv = lifecycle_server
    client = ClusterClient(srv.address, timeout=10)
    for name in (LEASE_NAMESPACE, "apps"):
        ns = core_pb2.Namespace()
        ns.metadata.name = name
        client.create(ns)
    _node(client, "node-a")
    _node(client, "node-b")
    renewers = {n: LeaseRenewer(srv.address, n) for n in ("node-a", "node-b")}
    for r in renewers.values():
        r.start()
    kubelet = FakeKubelet(srv.address, "apps", nodes=("node-a", "node-b"))
    kubelet.start()
    try:
        d = apps_pb2.Deployment()
        d.metadata.name = "web"
        d.metadata.namespace = "apps"
        d.spec.replicas = 2
        d.spec.selector.match_labels["app"] = "web"
        d.spec.template.CopyFrom(template({"app": "web"}))
        # Tolerate the unreachable node for one second, not the default 300.
        d.spec.template.spec.tolerations.add(key="node.kubernetes.io/unreachable", operator="Exists",
                                             effect="NoExecute", toleration_seconds=1)
        client.create(d)
        wait_for(lambda: client.get("Deployment", "web", "apps").status.available_replicas == 2, 20, what="2 pods")
        time.sleep(2.0)
        node_b = client.get("Node", "node-b")
        assert not node_b.spec.taints, "a node that renews its lease stays untainted"

        # node-b's agent goes silent; its pods must move to node-a.
        kubelet.nodes[:] = ["node-a"]
        kubelet._next_node = iter(lambda: "node-a", None)
        renewers["node-b"].halt.set()

        def tainted():
            node = client.get("Node", "node-b")
            ready = next(c for c in node.status.conditions if c.type == "Ready")
            return ready.status == "Unknown" and any(t.key == "node.kubernetes.io/unreachable" for t in node.spec.taints)

        wait_for(tainted, 10, what="node-b to be marked unreachable")

        def moved():
            pods = [p for p in client.list_items("Pod", "apps") if not p.metadata.HasField("deletion_timestamp")]
            return len(pods) == 2 and all(p.spec.node_name == "node-a" for p in pods)

        wait_for(moved, 15, what="the pods to be replaced on node-a")
        assert client.get("Deployment", "web", "apps").status.available_replicas == 2 or wait_for(
            lambda: client.get("Deployment", "web", "apps").status.available_replicas == 2, 10)
        reasons = {e.reason for e in client.list_items("Event", "apps")}
        assert "TaintManagerEviction" in reasons
    finally:
        kubelet.stop()
        for r in renewers.values():
            r.halt.set()
        client.close()
