"""`shoal explain pod NAME` against a real server: the scheduler's reasons and what would fit."""

from __future__ import annotations

import json
import subprocess

from server_process import shoal_command
from shoal.proto.client import ClusterClient
from shoal.v1 import core_pb2


def _node(name: str, cpu: str, taint: bool = False) -> core_pb2.Node:
    node = core_pb2.Node()
    node.metadata.name = name
    node.metadata.labels["kubernetes.io/hostname"] = name
    for field in (node.status.capacity, node.status.allocatable):
        field.update({"cpu": cpu, "memory": "8Gi", "pods": "110"})
    if taint:
        node.spec.taints.add(key="dedicated", value="gpu", effect="NoSchedule")
    return node


def test_explain_names_each_reason_and_what_would_fit(server_factory):
    srv = server_factory("--no-controllers")  # no scheduler either: the pod stays pending
    with ClusterClient(srv.address) as client:
        for i in range(3):
            client.create(_node(f"small-{i}", "2"))
        client.create(_node("gpu-0", "16", taint=True))
        pod = core_pb2.Pod()
        pod.metadata.name = "big"
        container = pod.spec.containers.add(name="app", image="busybox")
        container.resources.requests["cpu"] = "4"
        client.create(pod)
    run = subprocess.run([*shoal_command(), "explain", "pod", "big", "-s", srv.address],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu." in run.stdout
    as_json = subprocess.run([*shoal_command(), "explain", "pod", "big", "-s", srv.address, "-o", "json"],
                             capture_output=True, text=True, timeout=120)
    doc = json.loads(as_json.stdout)
    reasons = {r["reason"]: r for r in doc["reasons"]}
    assert reasons["Insufficient cpu"]["nodes"] == 3
    assert reasons["node(s) had untolerated taint {dedicated: gpu}"]["nodes"] == 1
    assert "Traceback" not in run.stderr + as_json.stderr


def test_explain_of_a_missing_pod_is_one_line(server_factory):
    srv = server_factory("--no-controllers")
    run = subprocess.run([*shoal_command(), "explain", "pod", "ghost", "-s", srv.address],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == 'Error from server (NotFound): pods "ghost" not found'
