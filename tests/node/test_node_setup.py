"""Pieces of node setup: pod CIDR allocation, runtime detection, the Node object."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest

from shoal.node.fleet import allocate_pod_cidrs
from shoal.v1 import core_pb2


def agent(name, cidr=""):
    return SimpleNamespace(name=name, config=SimpleNamespace(pod_cidr=cidr))


def node(name, cidr):
    n = core_pb2.Node()
    n.metadata.name = name
    n.spec.pod_cidr = cidr
    return n


def test_pod_cidrs_keep_the_nodes_own_and_skip_taken_ones_and_host_routes():
    agents = [agent("a"), agent("b"), agent("c", "10.99.0.0/24")]
    nodes = [node("a", "10.244.5.0/24"), node("other", "10.244.0.0/24")]
    allocate_pod_cidrs(agents, nodes, routes=[ipaddress.ip_network("10.244.1.0/24")])
    assert [a.config.pod_cidr for a in agents] == ["10.244.5.0/24", "10.244.2.0/24", "10.99.0.0/24"]


def test_crun_on_hybrid_cgroups_says_what_to_do(monkeypatch, tmp_path):
    from shoal.node.images.store import ImageStore
    from shoal.node.runtime import cgroups, oci
    from shoal.node.runtime.base import RuntimeUnavailable

    monkeypatch.setattr(cgroups, "is_v2_only", lambda: False)
    monkeypatch.setattr(cgroups, "hybrid_v2_controllers", lambda: ["hugetlb"])
    monkeypatch.setattr(oci.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(oci.os, "geteuid", lambda: 0)
    rt = oci.OCIRuntime("crun", state_dir=str(tmp_path), node_name="n", images=ImageStore(str(tmp_path)))
    with pytest.raises(RuntimeUnavailable, match=r"mount -t cgroup -o hugetlb .* or use --runtime runc"):
        rt.check()


def test_node_object_has_capacity_info_and_ready_condition():
    from shoal.node.agent import AgentConfig, NodeAgent
    from shoal.node.machine import SystemInfo, machine_resources
    from shoal.node.runtime.sim import SimRuntime

    res = machine_resources("/", cpu="3", memory="2Gi", pods=50, reserved_cpu_milli=500)
    cfg = AgentConfig(name="n1", resources=res, pod_cidr="10.244.3.0/24", host_ip="192.0.2.2", labels={"zone": "a"})
    n = NodeAgent(cfg, api=None, runtime=SimRuntime(), sysinfo=SystemInfo("runc://1.1.5"), clock=lambda: 1000.0)
    obj = n.node_object()
    assert obj.metadata.labels["zone"] == "a" and obj.metadata.labels["kubernetes.io/hostname"] == "n1"
    assert obj.spec.pod_cidr == "10.244.3.0/24" and list(obj.spec.pod_cidrs) == ["10.244.3.0/24"]
    assert dict(obj.status.capacity)["cpu"] == "3" and dict(obj.status.allocatable)["cpu"] == "2500m"
    assert dict(obj.status.capacity)["memory"] == f"{2 * 1024 * 1024}Ki" and obj.status.capacity["pods"] == "50"
    assert obj.status.node_info.container_runtime_version == "runc://1.1.5"
    ready = next(c for c in obj.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.last_heartbeat_time.seconds) == ("True", "KubeletReady", 1000)
    assert [(a.type, a.address) for a in obj.status.addresses] == [("InternalIP", "192.0.2.2"), ("Hostname", "n1")]
    lease = n.lease_object()
    assert (lease.metadata.namespace, lease.spec.holder_identity, lease.spec.lease_duration_seconds) == \
        ("shoal-node-lease", "n1", 40)
    assert lease.spec.renew_time.seconds == 1000


def test_periodic_calls_each_agent_every_interval_and_retries_failures():
    import asyncio

    from shoal.node.fleet import Periodic

    calls: list[str] = []
    failed = set()

    async def action(a):
        calls.append(a.name)
        if a.name == "flaky" and "flaky" not in failed:
            failed.add("flaky")
            raise RuntimeError("server away")

    async def main():
        p = Periodic([agent("one"), agent("flaky")], 0.05, action, retry=0.01, what="lease")
        task = asyncio.get_running_loop().create_task(p.run())
        await asyncio.sleep(0.32)
        task.cancel()
        return p

    p = asyncio.run(main())
    assert calls.count("one") >= 5, calls
    assert calls.count("flaky") >= 5 and p.failures == 1
