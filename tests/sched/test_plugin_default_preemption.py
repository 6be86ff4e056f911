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


# -- arithmetic dry runs equal the snapshot's ----------------------------------------------------

from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CPU = st.sampled_from(["250m", "500m", "1", "1500m", "2"])
_MEM = st.sampled_from(["256Mi", "1Gi", "2Gi", "3Gi"])


@st.composite
def _clusters(draw):
    n_nodes = draw(st.integers(1, 3))
    nodes = [node(f"n{i}", draw(st.sampled_from(["2", "4"])), draw(st.sampled_from(["4Gi", "8Gi"])),
                  pods=draw(st.sampled_from(["3", "110"])), unschedulable=draw(st.booleans()) and i == 0)
             for i in range(n_nodes)]
    existing = []
    for j in range(draw(st.integers(2, 14))):
        existing.append(pod(f"e{j}", draw(_CPU), draw(_MEM), priority=draw(st.integers(0, 3)) * 10,
                            node_name=f"n{draw(st.integers(0, n_nodes - 1))}",
                            extra={"example.com/gpu": "1"} if draw(st.booleans()) and j % 3 == 0 else None))
    incoming = pod("p", draw(_CPU), draw(_MEM), priority=draw(st.sampled_from([5, 15, 25, 100])),
                   extra={"example.com/gpu": "1"} if draw(st.booleans()) else None)
    return nodes, existing, incoming


def _preemption(nodes, existing, incoming, arithmetic: bool):
    h = harness(nodes, incoming, existing)
    h.plugin("DefaultPreemption").arithmetic_dry_runs = arithmetic
    result = h.schedule()
    return result.nominated_node, [v.key for v in result.victims], result.message


@settings(max_examples=200, deadline=None)
@given(_clusters())
def test_arithmetic_dry_runs_choose_the_same_node_victims_and_message_as_the_snapshots(cluster):
    nodes, existing, incoming = cluster
    fast = _preemption(nodes, existing, incoming, True)
    assert fast == _preemption(nodes, existing, incoming, False)
    event("preempts" if fast[1] else "no victims")


def test_pods_with_pod_dependent_filters_dry_run_through_the_snapshot():
    nodes = [node("n1", "2", "4Gi")]
    existing = [pod("low", "1500m", "1Gi", priority=1, node_name="n1", host_ports=[8080])]
    h = harness(nodes, pod("p", "1", "1Gi", priority=100, host_ports=[8080]), existing)
    preemption = h.plugin("DefaultPreemption")
    assert preemption.resource_only_filters(h.cycle, h.fw) is None
    plain = harness(nodes, pod("q", "1", "1Gi", priority=100), existing)
    assert plain.plugin("DefaultPreemption").resource_only_filters(plain.cycle, plain.fw) is not None
    assert [v.key for v in h.schedule().victims] == ["default/low"]
