"""The fast paths equal the full scan: equivalence classes (segment trees, incremental
rescoring), batched full scans (native place_sequence) and the per-pod cycle give the same
assignments and messages on random clusters, and every placement passes the checker."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placement_checker import check_placement
from sched_builders import msgs, node, pod, taint
from shoal.native import kernels
from shoal.sched import place
from shoal.sched.api import build_snapshot
from shoal.sched.podinfo import PodParser
from shoal.sched.scheduler import Scheduler

STRATEGY_PROFILES = [
    None,
    {"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "MostAllocated"}}}]},
    {
        "pluginConfig": [
            {
                "name": "NodeResourcesFit",
                "args": {
                    "scoringStrategy": {
                        "type": "RequestedToCapacityRatio",
                        "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1}, {"name": "example.com/gpu", "weight": 3}],
                        "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 60, "score": 10}, {"utilization": 100, "score": 2}]},
                    }
                },
            }
        ]
    },
]


@st.composite
def clusters(draw):
    n_nodes = draw(st.integers(1, 14))
    nodes = []
    for i in range(n_nodes):
        cpu = draw(st.sampled_from(["1", "2", "4", "3500m"]))
        mem = draw(st.sampled_from(["2Gi", "4Gi", "8Gi", "3000Mi"]))
        pods_cap = draw(st.sampled_from(["3", "5", "110"]))
        extra = {"example.com/gpu": draw(st.sampled_from(["0", "1", "2"]))} if draw(st.booleans()) else None
        taints = [taint("dedicated", "gpu")] if draw(st.integers(0, 5)) == 0 else None
        if draw(st.integers(0, 4)) == 0:
            taints = (taints or []) + [taint("soft", "x", "PreferNoSchedule")]
        images = [(["big:1"], 600 * 2**20)] if draw(st.integers(0, 3)) == 0 else None
        zone = draw(st.sampled_from(["a", "b", "c"]))
        nodes.append(node(f"n{i}", cpu, mem, pods_cap, labels={"zone": zone, "disk": draw(st.sampled_from(["ssd", "hdd"]))},
                          taints=taints, extra=extra, unschedulable=draw(st.integers(0, 9)) == 0, images=images))
    templates = []
    for t in range(draw(st.integers(1, 5))):
        cpu = draw(st.sampled_from([None, "0", "100m", "250m", "700m", "1500m"]))
        mem = draw(st.sampled_from([None, "0", "128Mi", "512Mi", "1Gi", "3Gi"]))
        kind = draw(st.integers(0, 12))
        kw = {}
        if kind == 1:
            kw["node_selector"] = {"disk": "ssd"}
        elif kind == 2:
            kw["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        elif kind == 3:
            kw["labels"] = {"app": f"s{t}"}
            kw["spread"] = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": draw(st.sampled_from(["DoNotSchedule", "ScheduleAnyway"])),
                             "labelSelector": {"matchLabels": {"app": f"s{t}"}}}]
        elif kind == 4:
            kw["labels"] = {"app": f"a{t}"}
            kw["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": f"a{t}"}}, "topologyKey": "kubernetes.io/hostname"}]}}
        elif kind == 5:
            kw["extra"] = {"example.com/gpu": "1"}
        elif kind == 6:
            kw["host_ports"] = [8080]
        elif kind == 7:
            kw["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 7, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
        elif kind == 8:
            kw["labels"] = {"app": f"w{t}"}
            kw["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 30, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": f"w{t}"}}, "topologyKey": "zone"}}]}}
        elif kind == 9:
            kw["image"] = "big:1"
        elif kind == 10:
            kw["tolerations"] = [{"key": "soft", "operator": "Exists", "effect": "PreferNoSchedule"}]
        templates.append((cpu, mem, kw, draw(st.sampled_from([0, 0, 10]))))
    n_pods = draw(st.integers(1, 40))
    choice = draw(st.lists(st.integers(0, len(templates) - 1), min_size=n_pods, max_size=n_pods))
    pods = []
    for i, t in enumerate(choice):
        cpu, mem, kw, prio = templates[t]
        pods.append(pod(f"p{i}", cpu, mem, priority=prio, **kw))
    seed = draw(st.integers(0, 2**32))
    profile = draw(st.sampled_from(STRATEGY_PROFILES))
    return nodes, pods, seed, profile


def run(nodes, pods, seed, profile, **kw):
    result = place(msgs(nodes), msgs(pods), profile=profile, seed=seed, **kw)
    return result.to_dict()["assignments"], result.to_dict()["unschedulable"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_equivalence_classes_equal_full_scan_equal_per_pod_cycle(cluster):
    nodes, pods, seed, profile = cluster
    eq = run(nodes, pods, seed, profile, equivalence=True, validate=True)
    full = run(nodes, pods, seed, profile, equivalence=False, validate=True)
    cycle = run(nodes, pods, seed, profile, batch=False, equivalence=False)
    trees_only = run(nodes, pods, seed, profile, batch=False, equivalence=True)
    assert eq == full == cycle == trees_only
    assignments = {a["pod"]: a["node"] for a in eq[0]}
    assert check_placement(nodes, pods, assignments) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_numpy_reference_backend_gives_the_same_placements(cluster):
    nodes, pods, seed, profile = cluster
    native = run(nodes, pods, seed, profile, equivalence=False)
    with kernels.using("reference"):
        reference = run(nodes, pods, seed, profile, equivalence=False)
        reference_cycle = run(nodes, pods, seed, profile, batch=False, equivalence=False)
    assert native == reference == reference_cycle


def test_incremental_rescoring_only_touches_changed_nodes_yet_matches():
    """Many pods of few classes on a cluster big enough for the trees to matter."""
    nodes = [node(f"n{i}", cpu=str(2 + i % 5), memory=f"{4 + i % 7}Gi", labels={"zone": "z"}) for i in range(300)]
    pods = [pod(f"p{i}", ["100m", "300m", "1"][i % 3], ["100Mi", "700Mi", "1Gi"][i % 3]) for i in range(2000)]
    assert run(nodes, pods, 3, None, equivalence=True) == run(nodes, pods, 3, None, equivalence=False)


@pytest.mark.parametrize("skew", [1, 3])
@pytest.mark.parametrize("probes", [1, 64])
def test_class_trees_with_masks_that_hide_the_best_nodes_match_the_full_scan(skew, probes, monkeypatch):
    """Spreading over a big zone and a small one hides many top nodes, so the class tree sets
    aside leaves (or, beyond MAX_PROBES, scans); anti-affinity per zone hides whole zones."""
    from shoal.sched import incremental

    monkeypatch.setattr(incremental, "MAX_PROBES", probes)
    nodes = [node(f"big{i}", "16", "64Gi", labels={"zone": "z1"}) for i in range(150)]
    nodes += [node(f"small{i}", "2", "4Gi", labels={"zone": "z2"}) for i in range(5)]
    spread = [{"maxSkew": skew, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}}}]
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": "zone"}]}}
    pods = [pod(f"s{i}", "500m", "500Mi", labels={"app": "s"}, spread=spread) for i in range(40)]
    pods += [pod(f"a{i}", "100m", "100Mi", labels={"app": "a"}, affinity=anti) for i in range(3)]
    pods += [pod(f"d{i}", "1", "1Gi") for i in range(30)]
    eq = run(nodes, pods, 11, None, equivalence=True)
    assert eq == run(nodes, pods, 11, None, equivalence=False) == run(nodes, pods, 11, None, batch=False, equivalence=False)
    assert check_placement(nodes, pods, {a["pod"]: a["node"] for a in eq[0]}) == []


def test_a_pod_that_fits_nowhere_inside_a_batch_gets_the_message_of_its_turn():
    nodes = [node("n0", cpu="1", memory="1Gi")]
    pods = [pod("a", "600m", "100Mi"), pod("b", "600m", "100Mi"), pod("c", "300m", "100Mi")]
    assignments, unschedulable = run(nodes, pods, 0, None)
    assert assignments == [{"pod": "default/a", "node": "n0"}, {"pod": "default/c", "node": "n0"}]
    assert unschedulable == [
        {"pod": "default/b", "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
         "available: 1 No preemption victims found for incoming pod."}
    ]


@pytest.mark.parametrize("equivalence", [True, False])
def test_batches_leave_the_same_snapshot_as_single_binds(equivalence):
    nodes = msgs([node(f"n{i}", cpu="2", memory="4Gi") for i in range(20)])
    pods = msgs([pod(f"p{i}", "300m", "200Mi", labels={"app": "x"}) for i in range(50)])
    parser = PodParser()
    batched = build_snapshot(nodes, parser=parser)
    Scheduler(batched, equivalence=equivalence).place([parser.parse(p, i) for i, p in enumerate(pods)])
    one_by_one = build_snapshot(nodes, parser=parser)
    Scheduler(one_by_one, batch=False).place([parser.parse(p, i) for i, p in enumerate(pods)])
    assert np.array_equal(batched.requested, one_by_one.requested)
    assert np.array_equal(batched.nonzero, one_by_one.nonzero)
    from shoal.sched import labels as lbl
    from shoal.sched.indices import SpreadMatcher

    matcher = SpreadMatcher("default", lbl.Selector.from_set({"app": "x"}))
    assert np.array_equal(batched.pod_counts(matcher), one_by_one.pod_counts(matcher))


def test_runs_with_more_classes_than_a_kernel_call_takes():
    nodes = [node(f"n{i}", "8", "16Gi") for i in range(30)]
    pods = [pod(f"p{i}", f"{100 + (i * 37) % 900}m", f"{64 + (i * 53) % 700}Mi") for i in range(400)]
    assert len({(p["spec"]["containers"][0]["resources"]["requests"]["cpu"]) for p in pods}) > 64
    assert run(nodes, pods, 5, None, equivalence=True, validate=True) == run(nodes, pods, 5, None, equivalence=False)
