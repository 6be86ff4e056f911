"""NodeUnschedulable: cordoned nodes take no new pods unless the pod tolerates the taint."""

from __future__ import annotations

from plugin_harness import harness
from sched_builders import node, pod


def test_cordoned_node_rejects_pods():
    h = harness([node("a", unschedulable=True), node("b")], pod("p"))
    assert h.filter("NodeUnschedulable") == {"a": ("node(s) were unschedulable",), "b": None}
    assert h.choice() == "b"


def test_toleration_of_the_unschedulable_taint_admits():
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    h = harness([node("a", unschedulable=True)], pod("p", tolerations=tol))
    assert h.filter("NodeUnschedulable") == {"a": None}


def test_all_cordoned_message():
    h = harness([node("a", unschedulable=True), node("b", unschedulable=True)], pod("p"))
    assert h.message() == (
        "0/2 nodes are available: 2 node(s) were unschedulable. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
