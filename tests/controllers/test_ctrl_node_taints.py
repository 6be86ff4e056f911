"""Node lifecycle's taints, pure: a silent node gets unreachable NoExecute (with timeAdded, for
tolerationSeconds) and NoSchedule (so replacements are not sent back to it); both go when it is
Ready again."""

from __future__ import annotations

from ctrl_helpers import NOW
from shoal.control.controllers.actions import Update
from shoal.control.controllers.node_lifecycle import UNREACHABLE_TAINT, plan_node
from shoal.v1 import core_pb2


def _node(ready: str = "True", taints=()) -> core_pb2.Node:
    n = core_pb2.Node()
    n.metadata.name = "n1"
    n.status.conditions.add(type="Ready", status=ready)
    for key, effect in taints:
        n.spec.taints.add(key=key, effect=effect)
    return n


def _taints(plan) -> set[tuple[str, str, int]]:
    (update,) = [a for a in plan.actions if isinstance(a, Update)]
    return {(t.key, t.effect, t.time_added.seconds) for t in update.obj.spec.taints}


def test_a_silent_node_gets_both_unreachable_taints():
    plan = plan_node(_node(), heartbeat=NOW - 41, now=NOW, grace=40)
    assert _taints(plan) == {(UNREACHABLE_TAINT, "NoExecute", int(NOW)), (UNREACHABLE_TAINT, "NoSchedule", 0)}


def test_a_missing_one_is_added_and_others_kept():
    plan = plan_node(_node("Unknown", [(UNREACHABLE_TAINT, "NoExecute"), ("dedicated", "NoSchedule")]),
                     heartbeat=NOW - 41, now=NOW, grace=40)
    assert {(k, e) for k, e, _ in _taints(plan)} == {
        (UNREACHABLE_TAINT, "NoExecute"), (UNREACHABLE_TAINT, "NoSchedule"), ("dedicated", "NoSchedule")}


def test_a_node_back_and_ready_loses_both():
    node = _node("True", [(UNREACHABLE_TAINT, "NoExecute"), (UNREACHABLE_TAINT, "NoSchedule"),
                          ("dedicated", "NoSchedule")])
    plan = plan_node(node, heartbeat=NOW - 1, now=NOW, grace=40)
    assert _taints(plan) == {("dedicated", "NoSchedule", 0)}
