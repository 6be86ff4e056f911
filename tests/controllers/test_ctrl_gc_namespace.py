"""Garbage collector and namespace controller decisions, with no server."""

from __future__ import annotations

import pytest

from ctrl_helpers import NOW, pod, replica_set
from shoal.control.controllers.actions import BACKGROUND, FOREGROUND, ORPHAN, Delete, Update, UpdateStatus
from shoal.control.controllers.garbage_collector import plan_dependent, plan_foreground, plan_orphan
from shoal.control.controllers.meta import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, new_controller_ref, timestamp
from shoal.control.controllers.namespace import plan_orphaned_content, plan_terminating_namespace
from shoal.v1 import core_pb2


def _with_owners(obj, *owners, block=True):
    for owner in owners:
        ref = new_controller_ref(owner)
        if len(obj.metadata.owner_references):
            ref.controller = False
        ref.block_owner_deletion = block
        obj.metadata.owner_references.append(ref)
    return obj


def _deleting(obj, *finalizers):
    obj.metadata.deletion_timestamp.CopyFrom(timestamp(NOW))
    obj.metadata.finalizers.extend(finalizers)
    return obj


A, B = replica_set("a"), replica_set("b")


@pytest.mark.parametrize(
    "states,has_dependents,finalizers,expected",
    [
        pytest.param({"a": "dangling"}, False, (), ("delete", BACKGROUND), id="owner-gone-background"),
        pytest.param({"a": "dangling", "b": "dangling"}, False, (), ("delete", BACKGROUND), id="all-owners-gone"),
        pytest.param({"a": "dangling", "b": "solid"}, False, (), ("update", {"b"}), id="drop-dangling-keep-solid"),
        pytest.param({"a": "solid", "b": "solid"}, False, (), None, id="all-solid-nothing"),
        pytest.param({"a": "waiting", "b": "solid"}, False, (), ("update", {"b"}), id="solid-owner-keeps-it"),
        pytest.param({"a": "waiting"}, True, (), ("delete", FOREGROUND), id="waiting-owner-with-grandchildren"),
        pytest.param({"a": "waiting"}, False, (), ("delete", BACKGROUND), id="waiting-owner-leaf"),
        pytest.param({"a": "dangling"}, False, (ORPHAN_FINALIZER,), ("delete", ORPHAN), id="own-orphan-finalizer"),
    ],
)
def test_plan_dependent(states, has_dependents, finalizers, expected):
    owners = [{"a": A, "b": B}[name] for name in states]
    item = _with_owners(pod("p", owner=None), *owners)
    item.metadata.finalizers.extend(finalizers)
    by_uid = {({"a": A, "b": B}[name]).metadata.uid: state for name, state in states.items()}
    plan = plan_dependent(item, by_uid, has_dependents)
    if expected is None:
        assert plan.actions == []
        return
    (action,) = plan.actions
    if expected[0] == "delete":
        assert isinstance(action, Delete) and action.propagation == expected[1]
        assert action.uid == item.metadata.uid and action.resource_version == item.metadata.resource_version
    else:
        assert isinstance(action, Update)
        kept = {r.name for r in action.obj.metadata.owner_references}
        assert kept == expected[1]


def test_an_object_already_being_deleted_is_left_alone():
    item = _deleting(_with_owners(pod("p"), A))
    assert plan_dependent(item, {A.metadata.uid: "dangling"}, False).actions == []


def test_foreground_waits_for_blocking_dependents_then_drops_its_finalizer():
    owner = _deleting(replica_set("web"), FOREGROUND_FINALIZER)
    blocking = _with_owners(pod("p1"), owner)
    non_blocking = _with_owners(pod("p2"), owner, block=False)
    plan = plan_foreground(owner, [blocking, non_blocking])
    assert plan.actions == []
    assert sorted(plan.enqueue) == ["Pod|default/p1", "Pod|default/p2"]
    plan = plan_foreground(owner, [non_blocking])
    (update,) = plan.actions
    assert isinstance(update, Update) and FOREGROUND_FINALIZER not in update.obj.metadata.finalizers
    assert update.obj.metadata.resource_version == owner.metadata.resource_version


def test_foreground_does_not_requeue_dependents_already_going():
    owner = _deleting(replica_set("web"), FOREGROUND_FINALIZER)
    going = _deleting(_with_owners(pod("p1"), owner))
    plan = plan_foreground(owner, [going])
    assert plan.actions == [] and plan.enqueue == []


def test_orphan_strips_the_reference_then_the_finalizer():
    owner = _deleting(replica_set("web"), ORPHAN_FINALIZER)
    other = replica_set("other")
    dep = _with_owners(pod("p1"), owner, other)
    going = _deleting(_with_owners(pod("p2"), owner))
    plan = plan_orphan(owner, [dep, going])
    assert [type(a) for a in plan.actions] == [Update, Update]
    assert [r.name for r in plan.actions[0].obj.metadata.owner_references] == ["other"]
    assert ORPHAN_FINALIZER not in plan.actions[1].obj.metadata.finalizers


def _ns(name="team", terminating=True):
    ns = core_pb2.Namespace()
    ns.metadata.name = name
    ns.metadata.resource_version = "9"
    ns.spec.finalizers.append("kubernetes")
    ns.status.phase = "Active"
    if terminating:
        ns.metadata.deletion_timestamp.CopyFrom(timestamp(NOW))
        ns.status.phase = "Terminating"
    return ns


def test_terminating_namespace_deletes_its_contents_first():
    ns = _ns()
    pods = [pod("a", ns="team"), _deleting(pod("b", ns="team"), "example.com/hold")]
    plan = plan_terminating_namespace(ns, {"Pod": pods, "ConfigMap": []}, NOW)
    assert plan.waiting
    status = [a for a in plan.actions if isinstance(a, UpdateStatus)][0].obj.status
    assert status.phase == "Terminating"
    conds = {c.type: (c.status, c.message) for c in status.conditions}
    assert conds["NamespaceContentRemaining"][0] == "True" and "pods has 2" in conds["NamespaceContentRemaining"][1]
    assert conds["NamespaceFinalizersRemaining"][0] == "True"
    deletes = [a for a in plan.actions if isinstance(a, Delete)]
    assert [d.name for d in deletes] == ["a"], "only what is not already going"
    assert not any(isinstance(a, Update) for a in plan.actions)


def test_empty_terminating_namespace_drops_its_finalizer():
    plan = plan_terminating_namespace(_ns(), {"Pod": []}, NOW)
    assert not plan.waiting
    (update,) = [a for a in plan.actions if isinstance(a, Update)]
    assert list(update.obj.spec.finalizers) == []


def test_contents_of_a_namespace_that_is_gone_are_deleted():
    plan = plan_orphaned_content({"Pod": [pod("a", ns="gone")], "Service": []})
    assert [a.name for a in plan.actions] == ["a"] and plan.waiting
    assert not plan_orphaned_content({"Pod": []}).waiting
