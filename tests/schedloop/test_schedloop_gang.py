"""Gang scheduling through a real `shoal server` (its in-process scheduler), Node objects without
agents: a PodGroup of 8 that fits only when packed as a whole is bound whole; one that cannot
fit leaves nothing bound, every member and the PodGroup say why."""

from __future__ import annotations

from cluster_helpers import (
    all_bound,
    condition,
    create_all,
    events_for,
    pods_in,
    wait_for,
)
from placement_checker import check_placement
from sched_builders import msgs, node, pod
from shoal.proto.client import ClusterClient
from shoal.sched import place

NS = "default"
GROUP = "scheduling.x-k8s.io/pod-group"
CPUS = [1, 1, 2, 2, 2, 2, 3, 3]  # 16 cpu on 4 x 4: {3,1} {3,1} {2,2} {2,2}, nothing else


def gang(cpus, group="train"):
    out = []
    for i, c in enumerate(cpus):
        p = pod(f"w{i}", str(c), "1Gi", labels={GROUP: group})
        p["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{i:02d}Z"
        out.append(p)
    return out


def pod_group(name, min_member, timeout=None):
    spec = {"minMember": min_member}
    if timeout:
        spec["scheduleTimeoutSeconds"] = timeout
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


NODES = [node(f"n{i}", "4", "8Gi") for i in range(4)]


def test_a_gang_that_fits_only_whole_is_bound_whole(server_factory):
    pods = gang(CPUS)
    greedy = place(msgs(NODES), msgs(pods), solver="greedy")
    assert len(greedy.assignments) < 8  # one pod at a time strands a member on these nodes
    srv = server_factory(scheduler=True)
    with ClusterClient(srv.address, timeout=30) as c:
        create_all(c, NODES)
        create_all(c, [pod_group("train", 8)])
        create_all(c, pods[:7])
        # Seven of eight: they wait, and say so.
        waiting = wait_for("the members waiting", lambda: all(
            (cond := condition(p, "PodScheduled")) is not None and "7 of minMember 8" in cond.message
            for p in pods_in(c, NS).values()) and pods_in(c, NS))
        assert waiting and not any(p.spec.node_name for p in pods_in(c, NS).values())
        create_all(c, pods[7:])
        final = wait_for("8 pods bound", lambda: all_bound(c, NS), timeout=60)
        assert len(final) == 8
        order = {f"{NS}/{name}": p.spec.node_name for name, p in final.items()}
        assert check_placement(NODES, pods, order) == []
        pg = wait_for("the PodGroup scheduled", lambda: (g := c.get("PodGroup", "train", NS)).status.scheduled == 8 and g)
        assert pg.status.phase == "Scheduled"
        cond = next(x for x in pg.status.conditions if x.type == "PodGroupScheduled")
        assert cond.status == "True" and cond.reason == "Scheduled"
        # how the gang was placed, and how close to optimal: 4 nodes of 4 cpu hold 16 cpu exactly
        assert cond.message == "8 of minMember 8 pods bound, placed by cpsat (optimal, gap 0)", cond.message


def test_a_gang_that_cannot_fit_binds_nothing_and_every_member_says_why(server_factory):
    pods = gang(CPUS[:-1] + [4])  # 17 cpu on 16
    srv = server_factory(scheduler=True)
    with ClusterClient(srv.address, timeout=30) as c:
        create_all(c, NODES)
        create_all(c, [pod_group("train", 8)])
        create_all(c, pods + [pod("solo", "500m")])

        def explained():
            members = {k: v for k, v in pods_in(c, NS).items() if k != "solo"}
            conds = {k: condition(v, "PodScheduled") for k, v in members.items()}
            ok = len(conds) == 8 and all(x is not None and "gang not placed" in x.message for x in conds.values())
            return conds if ok else None

        conds = wait_for("every member explained", explained, timeout=60)
        for cond in conds.values():
            assert cond.status == "False" and cond.reason == "Unschedulable"
            assert cond.message.startswith("pod group default/train: gang not placed: gang default/train needs 8 of 8 "
                                           "members placed together; its members request more cpu"), cond.message
            assert "This pod: alone it would fit" in cond.message
        assert wait_for("solo bound", lambda: c.get("Pod", "solo", NS).spec.node_name)
        assert not any(p.spec.node_name for name, p in pods_in(c, NS).items() if name != "solo")
        events = wait_for("FailedScheduling events", lambda: [e for e in events_for(c, NS, "w7") if e.reason == "FailedScheduling"])
        assert "gang not placed" in events[0].message
        pg = wait_for("the PodGroup's verdict", lambda: (g := c.get("PodGroup", "train", NS)).status.conditions and g)
        assert pg.status.phase == "Pending" and pg.status.scheduled == 0
        cond = next(x for x in pg.status.conditions if x.type == "PodGroupScheduled")
        assert cond.status == "False" and cond.reason == "Unschedulable" and "gang not placed" in cond.message
        # Room arrives: the gang goes in, whole.
        create_all(c, [node("n-big", "8", "16Gi")])
        final = wait_for("all bound", lambda: all_bound(c, NS), timeout=60)
        order = {f"{NS}/{name}": p.spec.node_name for name, p in final.items() if name != "solo"}
        assert len(order) == 8
        existing = [dict(pod("solo", "500m"), spec=dict(pod("solo", "500m")["spec"], nodeName=final["solo"].spec.node_name))]
        assert check_placement(NODES + [node("n-big", "8", "16Gi")], pods, order, existing=existing) == []
