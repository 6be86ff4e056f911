"""PrioritySort: pods are taken by priority, then creation time, then input order."""

from __future__ import annotations

from sched_builders import msgs, node, pod
from shoal.proto import manifests
from shoal.sched import place


def test_higher_priority_goes_first_and_takes_the_room():
    nodes = msgs([node("n1", "1", "4Gi")])
    pods = msgs([pod("low", "1", priority=1), pod("high", "1", priority=10)])
    result = place(nodes, pods)
    assert [(a.pod, a.node) for a in result.assignments] == [("default/high", "n1")]
    assert [u.pod for u in result.unschedulable] == ["default/low"]


def test_equal_priority_keeps_input_order():
    nodes = msgs([node("n1", "1", "4Gi")])
    result = place(nodes, msgs([pod("first", "1"), pod("second", "1")]))
    assert [a.pod for a in result.assignments] == ["default/first"]


def test_creation_timestamp_orders_equal_priorities():
    docs = [pod("late", "1"), pod("early", "1")]
    docs[0]["metadata"]["creationTimestamp"] = "2025-01-02T00:00:00Z"
    docs[1]["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z"
    result = place(msgs([node("n1", "1", "4Gi")]), [manifests.from_dict(d) for d in docs])
    assert [a.pod for a in result.assignments] == ["default/early"]


def test_priority_class_name_resolves_through_priority_classes():
    pc = manifests.from_dict({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "urgent"}, "value": 1000})
    docs = [pod("plain", "1"), pod("urgent", "1")]
    docs[1]["spec"]["priorityClassName"] = "urgent"
    result = place(msgs([node("n1", "1", "4Gi")]), msgs(docs), priority_classes=[pc])
    assert [a.pod for a in result.assignments] == ["default/urgent"]


def test_scheduling_gates_hold_the_pod():
    result = place(msgs([node("n1")]), msgs([pod("gated", gates=["wait"])]))
    assert [(u.pod, u.message) for u in result.unschedulable] == [
        ("default/gated", "Scheduling is blocked due to non-empty scheduling gates")
    ]
