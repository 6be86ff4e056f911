"""shoal.sched.place: result shape, determinism, inputs and their errors."""

from __future__ import annotations

import pytest
from placement_checker import check_placement
from sched_builders import msgs, node, pod
from shoal.sched import place
from shoal.sched.api import PlacementInputError


def cluster(n_nodes=8, n_pods=30):
    nodes = [node(f"n{i}", "4", "8Gi", labels={"zone": f"z{i % 3}"}) for i in range(n_nodes)]
    pods = [pod(f"p{i}", "500m", "512Mi") for i in range(n_pods)]
    return nodes, pods


def test_result_shape():
    nodes, pods = cluster(2, 3)
    d = place(msgs(nodes), msgs(pods)).to_dict()
    assert list(d) == ["assignments", "unschedulable", "stats"]
    assert set(d["stats"]) == {"pods", "seconds", "pods_per_second"}
    assert d["stats"]["pods"] == 3
    assert all(set(a) == {"pod", "node"} for a in d["assignments"])


def test_same_seed_replays_and_seeds_break_ties_differently():
    nodes, pods = cluster()
    runs = {seed: [a.node for a in place(msgs(nodes), msgs(pods), seed=seed).assignments] for seed in range(6)}
    assert runs[3] == [a.node for a in place(msgs(nodes), msgs(pods), seed=3).assignments]
    assert len({tuple(r) for r in runs.values()}) > 1


def test_accepts_manifest_dicts_and_checks_out():
    nodes, pods = cluster()
    result = place(nodes, pods)
    assert len(result.assignments) == 30
    assert check_placement(nodes, pods, {a.pod: a.node for a in result.assignments}) == []


def test_spreads_identical_pods_least_allocated():
    nodes, pods = cluster(3, 6)
    counts = {}
    for a in place(msgs(nodes), msgs(pods)).assignments:
        counts[a.node] = counts.get(a.node, 0) + 1
    assert sorted(counts.values()) == [2, 2, 2]


def test_existing_pods_take_room():
    nodes = [node("a", "1", "1Gi"), node("b", "1", "1Gi")]
    existing = [pod("e", "1", node_name="a")]
    result = place(msgs(nodes), msgs([pod("p", "1")]), msgs(existing))
    assert [(a.pod, a.node) for a in result.assignments] == [("default/p", "b")]


def test_terminal_existing_pods_are_ignored():
    done = pod("e", "1", node_name="a")
    done["status"] = {"phase": "Succeeded"}
    result = place(msgs([node("a", "1", "1Gi")]), msgs([pod("p", "1")]), msgs([done]))
    assert [a.node for a in result.assignments] == ["a"]


def test_generate_name_is_completed():
    n = node("x")
    del n["metadata"]["name"]
    n["metadata"]["generateName"] = "node-"
    p = pod("y")
    del p["metadata"]["name"]
    p["metadata"]["generateName"] = "pod-"
    result = place([n], [p])
    assert [(a.pod, a.node) for a in result.assignments] == [("default/pod-00000", "node-00000")]


@pytest.mark.parametrize(
    "existing, pods, message",
    [
        ([pod("e")], [], "no spec.nodeName"),
        ([pod("e", node_name="zz")], [], "node 'zz' is not among the nodes"),
        ([pod("e", node_name="a")], [pod("e")], "listed twice"),
        ([], [pod("p"), pod("p")], "listed twice"),
    ],
)
def test_input_errors(existing, pods, message):
    with pytest.raises(PlacementInputError, match=message):
        place(msgs([node("a")]), msgs(pods), msgs(existing))


def test_no_nodes():
    result = place([], msgs([pod("p")]))
    assert [u.message for u in result.unschedulable] == ["no nodes available to schedule pods"]


def test_explain_data():
    nodes = [node("small", "1", "4Gi"), node("gpu", "8", "16Gi", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])]
    result = place(msgs(nodes), msgs([pod("big", "2", "1Gi", node_selector={"disk": "ssd"}),
                                      pod("wide", "2", "1Gi")]), explain=True)
    wide = result.explanations["default/wide"]
    by_reason = {r["reason"]: r for r in wide["reasons"]}
    assert by_reason["Insufficient cpu"]["largest_fitting"] == "1000m"
    assert by_reason["node(s) had untolerated taint {dedicated: gpu}"]["opens"] == 1
    assert by_reason["node(s) had untolerated taint {dedicated: gpu}"]["toleration"] == {
        "key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    big = result.explanations["default/big"]
    affinity = next(r for r in big["reasons"] if r["reason"].startswith("node(s) didn't match Pod's"))
    assert affinity["unmatched"] == ["nodeSelector disk=ssd matches no node"]


def test_explain_reports_preemption():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("low", "2", "1Gi", priority=1, node_name="n1")]
    result = place(msgs(nodes), msgs([pod("high", "1", "1Gi", priority=10)]), msgs(existing), explain=True)
    assert result.explanations["default/high"]["preemption"] == {"node": "n1", "victims": ["default/low"]}


def test_explain_one_pod():
    from shoal.sched import explain

    nodes = msgs([node("a", "1", "4Gi"), node("b", "2", "4Gi")])
    out = explain(nodes, msgs([pod("p", "3")])[0])
    assert out["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
    assert out["reasons"][0]["largest_fitting"] == "2000m"
    assert explain(nodes, msgs([pod("q", "1")])[0])["node"] == "b"
