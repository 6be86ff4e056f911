"""The scheduler in the cluster, through a real `shoal server` (its in-process scheduler) and
Node objects without agents: pods bound, unschedulable pods explained, deleted pods making room,
preemption, and `shoal scheduler` as a process of its own."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

from cluster_helpers import (
    all_bound,
    bind_order,
    bound_pod,
    condition,
    create_all,
    events_for,
    wait_for,
)
from placement_checker import check_placement
from sched_builders import node, pod, taint
from server_process import shoal_command
from shoal.proto.client import APIStatusError, ClusterClient

NS = "default"
ZONE = "topology.kubernetes.io/zone"


def mixed_cluster(n_nodes: int = 100) -> tuple[list, list]:
    """100 nodes in 3 zones, a tenth tainted for GPUs; 1,000 pods with requests, nodeSelector,
    node affinity, tolerations, pod anti-affinity and topology spreading."""
    nodes = []
    for i in range(n_nodes):
        gpu = i % 10 == 9
        labels = {ZONE: f"z{i % 3}", "disk": "ssd" if i % 2 == 0 else "hdd"}
        if gpu:
            labels["gpu"] = "true"
        nodes.append(node(f"n{i:03d}", "8", "16Gi", "110", labels=labels,
                          taints=[taint("dedicated", "gpu")] if gpu else None))
    pods = []

    def add(prefix: str, count: int, **kw) -> None:
        for j in range(count):
            pods.append(pod(f"{prefix}-{j:03d}", **{k: (v(j) if callable(v) else v) for k, v in kw.items()}))

    prefer_ssd = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    add("plain", 350, cpu=lambda j: ["100m", "250m", "500m"][j % 3], memory=lambda j: ["128Mi", "256Mi"][j % 2],
        affinity=lambda j: prefer_ssd if j % 5 == 0 else None)
    add("ssd", 150, cpu="200m", memory="256Mi", node_selector={"disk": "ssd"})
    add("zone-ab", 100, cpu="300m", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["z0", "z1"]}]}]}}})
    add("gpu", 80, cpu="500m", node_selector={"gpu": "true"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    add("anti", 60, cpu="100m", labels={"app": "anti"}, affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "anti"}}, "topologyKey": "kubernetes.io/hostname"}]}})
    add("spread", 180, cpu="100m", labels={"app": "spread"}, spread=[
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "spread"}}}])
    add("spread-host", 80, cpu="100m", labels={"app": "sh"}, spread=[
        {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "sh"}}}])
    assert len(pods) == 1000
    return nodes, pods


def test_1000_mixed_pods_on_100_nodes_are_all_bound_correctly(server_factory):
    srv = server_factory(scheduler=True)  # default flags: the scheduler runs in the server
    nodes, pods = mixed_cluster()
    with ClusterClient(srv.address, timeout=30) as c:
        create_all(c, nodes)
        create_all(c, pods)
        final = wait_for("1,000 pods bound", lambda: all_bound(c, NS), timeout=120, interval=0.5)
    assert len(final) == 1000
    # The checker replays the binds in commit order. Binds are many in flight, so two of them may
    # commit in the other order than they were decided; every check but spreading is blind to
    # that order. Spreading is checked on the final state instead: each pod matching a constraint
    # also carries it, so a skew within maxSkew at every step leaves one within it at the end.
    unspread = [{**p, "spec": {k: v for k, v in p["spec"].items() if k != "topologySpreadConstraints"}} for p in pods]
    assert check_placement(nodes, unspread, bind_order(final, NS)) == []
    zone_of = {n["metadata"]["name"]: n["metadata"]["labels"][ZONE] for n in nodes}
    per_zone = Counter(zone_of[p.spec.node_name] for p in final.values() if p.metadata.labels.get("app") == "spread")
    assert len(per_zone) == 3 and max(per_zone.values()) - min(per_zone.values()) <= 1
    per_host = Counter(p.spec.node_name for p in final.values() if p.metadata.labels.get("app") == "sh")
    assert max(per_host.values()) - (min(per_host.values()) if len(per_host) == len(nodes) else 0) <= 2
    anti_nodes = [p.spec.node_name for name, p in final.items() if name.startswith("anti-")]
    assert len(set(anti_nodes)) == 60


def test_unschedulable_pods_are_explained_and_get_in_when_room_is_freed(server_factory):
    srv = server_factory(scheduler=True)
    with ClusterClient(srv.address, timeout=10) as c:
        create_all(c, [node("n1", "2", "4Gi"), node("n2", "2", "4Gi")])
        create_all(c, [pod("hog-1", "1500m"), pod("hog-2", "1500m")])
        wait_for("the hogs bound", lambda: all_bound(c, NS))
        elsewhere = pod("elsewhere", "100m")
        elsewhere["spec"]["schedulerName"] = "other-scheduler"
        create_all(c, [pod("waiter", "1"), elsewhere])

        def explained():
            p = c.get("Pod", "waiter", NS)
            cond = condition(p, "PodScheduled")
            return cond if cond is not None and cond.status == "False" else None

        cond = wait_for("PodScheduled=False on the waiter", explained)
        assert cond.reason == "Unschedulable"
        assert cond.message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                                "2 No preemption victims found for incoming pod.")
        waiter = c.get("Pod", "waiter", NS)
        (event,) = wait_for("a FailedScheduling event", lambda: [e for e in events_for(c, NS, "waiter") if e.reason == "FailedScheduling"])
        assert event.type == "Warning" and event.message == cond.message
        assert event.involved_object.kind == "Pod" and event.involved_object.uid == waiter.metadata.uid
        assert event.source.component == "default-scheduler" and event.reporting_component == "default-scheduler"

        victim = c.get("Pod", "hog-1", NS)
        c.delete("Pod", "hog-1", NS, grace_period_seconds=0)
        waiter = wait_for("the waiter bound", lambda: bound_pod(c, NS, "waiter"))
        assert waiter.spec.node_name == victim.spec.node_name
        assert condition(waiter, "PodScheduled").status == "True"
        scheduled = wait_for("a Scheduled event", lambda: [e for e in events_for(c, NS, "waiter") if e.reason == "Scheduled"])
        assert scheduled[0].message == f"Successfully assigned default/waiter to {waiter.spec.node_name}"
        # The pod of another scheduler is left alone.
        theirs = c.get("Pod", "elsewhere", NS)
        assert not theirs.spec.node_name and condition(theirs, "PodScheduled") is None


def test_a_higher_priority_pod_preempts(server_factory):
    srv = server_factory(scheduler=True)
    with ClusterClient(srv.address, timeout=10) as c:
        create_all(c, [node("n1", "2", "4Gi")])
        create_all(c, [pod("low", "1500m", priority=0)])
        low = wait_for("low bound", lambda: bound_pod(c, NS, "low"))
        create_all(c, [pod("high", "1", priority=1000)])

        seen = {}

        def act_as_kubelet():
            # No agent runs: finish the victim's graceful deletion as its kubelet would.
            try:
                p = c.get("Pod", "low", NS)
            except APIStatusError as exc:
                return exc.code.name == "NOT_FOUND"
            if p.metadata.HasField("deletion_timestamp"):
                seen["condition"] = condition(p, "DisruptionTarget")
                c.delete("Pod", "low", NS, grace_period_seconds=0)
            return False

        wait_for("the victim deleted", act_as_kubelet, timeout=30)
        high = wait_for("high bound", lambda: bound_pod(c, NS, "high"))
        assert high.spec.node_name == "n1" and high.status.nominated_node_name == "n1"
        assert seen["condition"].status == "True" and seen["condition"].reason == "PreemptionByScheduler"
        preempted = wait_for("a Preempted event", lambda: [e for e in events_for(c, NS, "low") if e.reason == "Preempted"])
        assert preempted[0].message == f"Preempted by pod {high.metadata.uid} on node n1"
        assert preempted[0].involved_object.uid == low.metadata.uid


def test_shoal_scheduler_as_its_own_process_binds_pods(server_factory, tmp_path):
    srv = server_factory()  # --no-scheduler
    with open(tmp_path / "scheduler.log", "wb") as log:
        proc = subprocess.Popen([*shoal_command(), "scheduler", "--server", srv.address], stdout=log,
                                stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")})
    try:
        with ClusterClient(srv.address, timeout=10) as c:
            create_all(c, [node(f"n{i}", "4", "8Gi") for i in range(3)])
            create_all(c, [pod(f"p{i:02d}", "500m") for i in range(20)])
            final = wait_for("20 pods bound", lambda: all_bound(c, NS))
        assert sorted({p.spec.node_name for p in final.values()}) == ["n0", "n1", "n2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    text = (tmp_path / "scheduler.log").read_text()
    assert rc == 0, text
    assert "Traceback" not in text, text
