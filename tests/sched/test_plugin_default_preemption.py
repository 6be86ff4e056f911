"""DefaultPreemption: eligibility, victims (lowest priority first, reprieve most important),
node choice, and the "preemption: ..." part of the message."""

from __future__ import annotations

from plugin_harness import harness
from sched_builders import msgs, node, pod
from shoal.sched import place


def test_preempts_the_lower_priority_pod_and_nominates_its_node():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("low", "1500m", "1Gi", priority=1, node_name="n1")]
    result = harness(nodes, pod("high", "1", "1Gi", priority=100), existing).schedule()
    assert result.node == -1
    assert result.nominated_node == "n1"
    assert [v.key for v in result.victims] == ["default/low"]
    # A successful preemption adds nothing to the message.
    assert result.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_reprieves_the_pods_it_can_keep():
    nodes = [node("n1", "4", "8Gi")]
    existing = [
        pod("a", "1", "1Gi", priority=5, node_name="n1"),
        pod("b", "1", "1Gi", priority=3, node_name="n1"),
        pod("c", "1500m", "1Gi", priority=1, node_name="n1"),
    ]
    # Needs 1500m of the 4 cpu holding 3500m: evicting c alone is enough; a and b are reprieved.
    result = harness(nodes, pod("p", "1500m", "1Gi", priority=10), existing).schedule()
    assert [v.key for v in result.victims] == ["default/c"]


def test_picks_the_node_whose_top_victim_has_the_lowest_priority():
    nodes = [node("n1", "2", "4Gi"), node("n2", "2", "4Gi")]
    existing = [pod("x", "2", "1Gi", priority=50, node_name="n1"), pod("y", "2", "1Gi", priority=20, node_name="n2")]
    result = harness(nodes, pod("p", "1", "1Gi", priority=100), existing).schedule()
    assert result.nominated_node == "n2"


def test_then_fewest_victims():
    nodes = [node("n1", "2", "4Gi"), node("n2", "2", "4Gi")]
    existing = [
        pod("x1", "1", "1Gi", priority=10, node_name="n1"),
        pod("x2", "1", "1Gi", priority=10, node_name="n1"),
        pod("y", "2", "1Gi", priority=10, node_name="n2"),
    ]
    result = harness(nodes, pod("p", "2", "1Gi", priority=100), existing).schedule()
    assert result.nominated_node == "n2"
    assert [v.key for v in result.victims] == ["default/y"]


def test_no_lower_priority_pods_means_no_victims():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("same", "2", "1Gi", priority=100, node_name="n1")]
    result = harness(nodes, pod("p", "1", "1Gi", priority=100), existing).schedule()
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_still_not_fitting_after_removing_victims_reports_the_filter():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("keep", "1500m", "1Gi", priority=200, node_name="n1"), pod("low", "500m", "1Gi", priority=1, node_name="n1")]
    result = harness(nodes, pod("p", "1", "1Gi", priority=100), existing).schedule()
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 Insufficient cpu."
    )


def test_preemption_policy_never():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("low", "2", "1Gi", priority=1, node_name="n1")]
    result = harness(nodes, pod("p", "1", "1Gi", priority=100, preemption_policy="Never"), existing).schedule()
    assert result.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_unresolvable_nodes_are_never_candidates():
    nodes = [node("n1", "2", "4Gi", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]), node("n2", "2", "4Gi")]
    existing = [pod("low", "2", "1Gi", priority=1, node_name="n1"), pod("low2", "2", "1Gi", priority=1, node_name="n2")]
    result = harness(nodes, pod("p", "1", "1Gi", priority=100), existing).schedule()
    assert result.nominated_node == "n2"


def test_anti_affinity_victims():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    nodes = [node("n1")]
    existing = [pod("blocker", labels={"app": "x"}, priority=1, node_name="n1")]
    result = harness(nodes, pod("p", labels={"app": "y"}, priority=10, affinity=anti), existing).schedule()
    assert [v.key for v in result.victims] == ["default/blocker"]


def test_place_reports_preemption_without_evicting():
    nodes = msgs([node("n1", "2", "4Gi")])
    existing = msgs([pod("low", "2", "1Gi", priority=1, node_name="n1")])
    result = place(nodes, msgs([pod("high", "1", "1Gi", priority=100)]), existing)
    assert result.assignments == []
    (u,) = result.unschedulable
    assert (u.pod, u.nominated_node, u.victims) == ("default/high", "n1", ("default/low",))
