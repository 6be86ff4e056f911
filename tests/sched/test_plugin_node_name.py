"""NodeName: a pod naming a node fits that node only."""

from __future__ import annotations

from plugin_harness import harness
from sched_builders import node, pod


def test_node_name_fits_only_the_named_node():
    h = harness([node("a"), node("b")], pod("p", node_name="b"))
    assert h.filter("NodeName") == {"a": ("node(s) didn't match the requested node name",), "b": None}
    assert h.choice() == "b"


def test_node_name_of_a_missing_node():
    h = harness([node("a")], pod("p", node_name="zz"))
    assert h.message() == (
        "0/1 nodes are available: 1 node(s) didn't match the requested node name. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
