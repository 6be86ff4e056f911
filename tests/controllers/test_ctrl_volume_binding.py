"""The PersistentVolume binder and the local-path provisioner, as pure planners (no server)."""

from __future__ import annotations

import pytest
from ctrl_helpers import uid
from shoal.control.controllers.actions import Create, Delete, Emit, Update, UpdateStatus
from shoal.control.controllers.local_path import (
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    PROVISIONER,
    plan_provision,
)
from shoal.control.controllers.pvc_protection import FINALIZER as PVC_PROTECTION
from shoal.control.controllers.pvc_protection import plan_protection
from shoal.control.controllers.volume_binder import best_volume, plan_claim, plan_volume
from shoal.v1 import core_pb2


def pv(name: str, size: str = "1Gi", *, modes=("ReadWriteOnce",), cls: str = "manual", phase: str = "Available",
       claim=None, policy: str = "Retain", labels=None, path: str = "/srv/pv") -> core_pb2.PersistentVolume:
    v = core_pb2.PersistentVolume()
    v.metadata.name = name
    v.metadata.uid = uid("pv")
    v.metadata.resource_version = "5"
    v.metadata.labels.update(labels or {})
    v.spec.capacity["storage"] = size
    v.spec.access_modes.extend(modes)
    v.spec.storage_class_name = cls
    v.spec.persistent_volume_reclaim_policy = policy
    v.spec.host_path.path = path
    v.spec.volume_mode = "Filesystem"
    v.status.phase = phase
    if claim is not None:
        v.spec.claim_ref.namespace, v.spec.claim_ref.name = claim.metadata.namespace, claim.metadata.name
        v.spec.claim_ref.uid = claim.metadata.uid
    return v


def pvc(name: str = "data", size: str = "1Gi", *, modes=("ReadWriteOnce",), cls: str | None = "manual",
        volume: str = "", phase: str = "Pending") -> core_pb2.PersistentVolumeClaim:
    c = core_pb2.PersistentVolumeClaim()
    c.metadata.name, c.metadata.namespace = name, "default"
    c.metadata.uid = uid("pvc")
    c.metadata.resource_version = "7"
    c.spec.access_modes.extend(modes)
    c.spec.resources.requests["storage"] = size
    if cls is not None:
        c.spec.storage_class_name = cls
    c.spec.volume_name = volume
    c.spec.volume_mode = "Filesystem"
    c.status.phase = phase
    return c


def by_name(*volumes):
    return {v.metadata.name: v for v in volumes}


# -- choosing a volume ----------------------------------------------------------------------------


@pytest.mark.parametrize("volumes,expected", [
    pytest.param([pv("big", "10Gi"), pv("small", "2Gi"), pv("tiny", "500Mi")], "small", id="smallest-that-fits"),
    pytest.param([pv("other-class", "2Gi", cls="fast")], None, id="storage-class-must-match"),
    pytest.param([pv("rox", "2Gi", modes=("ReadOnlyMany",))], None, id="access-modes-must-cover"),
    pytest.param([pv("rwo-rwx", "2Gi", modes=("ReadWriteOnce", "ReadWriteMany"))], "rwo-rwx", id="superset-of-modes"),
    pytest.param([pv("bound", "2Gi", phase="Bound", claim=pvc("someone-else"))], None, id="bound-elsewhere"),
    pytest.param([pv("released", "2Gi", phase="Released")], None, id="released-is-not-available"),
    pytest.param([pv("a", "1Gi"), pv("b", "1Gi")], "a", id="ties-by-name"),
])
def test_best_volume(volumes, expected):
    chosen = best_volume(pvc(size="1Gi"), volumes)
    assert (chosen.metadata.name if chosen else None) == expected


def test_a_volume_pre_bound_to_the_claim_wins_over_a_smaller_one():
    claim = pvc()
    pre = pv("pre", "10Gi")
    pre.spec.claim_ref.namespace, pre.spec.claim_ref.name = "default", "data"  # by name, no uid
    assert best_volume(claim, [pv("small", "1Gi"), pre]).metadata.name == "pre"


def test_a_selector_limits_the_volumes():
    claim = pvc()
    claim.spec.selector.match_labels["tier"] = "gold"
    volumes = [pv("plain", "1Gi"), pv("gold", "5Gi", labels={"tier": "gold"})]
    assert best_volume(claim, volumes).metadata.name == "gold"


# -- binding ----------------------------------------------------------------------------------------


def test_binding_writes_claim_ref_then_volume_status_then_volume_name_then_claim_status():
    claim = pvc(size="1Gi")
    plan = plan_claim(claim, by_name(pv("vol", "2Gi")))
    kinds = [(type(a).__name__, type(a.obj).__name__) for a in plan.actions]
    assert kinds == [("Update", "PersistentVolume"), ("UpdateStatus", "PersistentVolume"),
                     ("Update", "PersistentVolumeClaim"), ("UpdateStatus", "PersistentVolumeClaim")]
    pv_update, pv_status, pvc_update, pvc_status = (a.obj for a in plan.actions)
    assert (pv_update.spec.claim_ref.name, pv_update.spec.claim_ref.uid) == ("data", claim.metadata.uid)
    assert pv_update.metadata.resource_version == "5", "the spec write has the cached version as precondition"
    assert pv_status.status.phase == "Bound"
    assert pvc_update.spec.volume_name == "vol"
    assert pvc_status.status.phase == "Bound"
    assert dict(pvc_status.status.capacity) == {"storage": "2Gi"}
    assert list(pvc_status.status.access_modes) == ["ReadWriteOnce"]


def test_a_half_done_binding_is_finished_from_what_is_stored():
    claim = pvc()
    vol = pv("vol", claim=claim, phase="Available")  # crashed after the claimRef write
    plan = plan_claim(claim, by_name(vol))
    assert [type(a) for a in plan.actions] == [UpdateStatus, Update, UpdateStatus]


def test_a_fully_bound_pair_needs_nothing():
    claim = pvc(volume="vol", phase="Bound")
    claim.status.access_modes.append("ReadWriteOnce")
    claim.status.capacity["storage"] = "1Gi"
    vol = pv("vol", claim=claim, phase="Bound")
    assert plan_claim(claim, by_name(vol)).actions == []
    assert plan_volume(vol, {"default/data": claim}).actions == []


def test_no_volume_for_a_manual_class_reports_failed_binding_and_retries():
    plan = plan_claim(pvc(cls="manual"), {})
    assert [a.reason for a in plan.actions if isinstance(a, Emit)] == ["FailedBinding"]
    assert plan.retry and plan.retry > 0


@pytest.mark.parametrize("cls", [None, "local-path"], ids=["default-class", "local-path"])
def test_no_volume_for_the_local_path_class_waits_quietly_for_the_provisioner(cls):
    plan = plan_claim(pvc(cls=cls), {})
    assert plan.actions == [] and plan.retry


def test_a_bound_claim_whose_volume_vanished_is_lost():
    plan = plan_claim(pvc(volume="gone", phase="Bound"), {})
    (action,) = plan.actions
    assert isinstance(action, UpdateStatus) and action.obj.status.phase == "Lost"


# -- volumes and their reclaim policy ---------------------------------------------------------------


def test_a_new_volume_becomes_available():
    (action,) = plan_volume(pv("new", phase="Pending"), {}).actions
    assert isinstance(action, UpdateStatus) and action.obj.status.phase == "Available"


def test_retain_releases_the_volume_when_its_claim_is_deleted():
    claim = pvc()
    vol = pv("kept", claim=claim, phase="Bound", policy="Retain")
    plan = plan_volume(vol, {})
    (action,) = plan.actions
    assert isinstance(action, UpdateStatus) and action.obj.status.phase == "Released"
    assert plan.remove_path == ""


def test_retain_also_releases_when_a_new_claim_of_the_same_name_exists():
    old_claim = pvc()
    vol = pv("kept", claim=old_claim, phase="Bound")
    plan = plan_volume(vol, {"default/data": pvc()})  # same name, another uid
    assert plan.actions[0].obj.status.phase == "Released"


def test_delete_removes_the_volume_and_the_provisioned_directory(tmp_path):
    claim = pvc()
    vol = pv("pvc-x", claim=claim, phase="Bound", policy="Delete", path=str(tmp_path / "pvc-x_default_data"))
    vol.metadata.annotations[ANN_PROVISIONED_BY] = PROVISIONER
    plan = plan_volume(vol, {}, storage_dir=str(tmp_path))
    (action,) = plan.actions
    assert isinstance(action, Delete) and (action.kind, action.name, action.uid) == (
        "PersistentVolume", "pvc-x", vol.metadata.uid)
    assert plan.remove_path == str(tmp_path / "pvc-x_default_data")


@pytest.mark.parametrize("annotated,base", [(False, "/srv"), (True, "/elsewhere")], ids=["not-ours", "outside-base"])
def test_delete_never_removes_a_directory_the_provisioner_did_not_make(annotated, base):
    vol = pv("hand-made", claim=pvc(), phase="Bound", policy="Delete", path="/srv/pv")
    if annotated:
        vol.metadata.annotations[ANN_PROVISIONED_BY] = PROVISIONER
    plan = plan_volume(vol, {}, storage_dir=base)
    assert [type(a) for a in plan.actions] == [Delete] and plan.remove_path == ""


# -- the local-path provisioner ---------------------------------------------------------------------


def consumer(claim_name: str, node: str = "node-a", name: str = "app") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name, p.metadata.namespace = name, "default"
    p.spec.node_name = node
    p.spec.volumes.add(name="data").persistent_volume_claim.claim_name = claim_name
    return p


def test_provisions_on_the_node_of_the_first_consumer():
    claim = pvc(cls=None, size="3Gi", modes=("ReadWriteOnce",))
    (action,) = plan_provision(claim, [consumer("data", "node-b")], [], "/var/lib/shoal/storage")
    assert isinstance(action, Create)
    vol = action.obj
    assert vol.metadata.name == f"pvc-{claim.metadata.uid}"
    assert vol.metadata.annotations[ANN_PROVISIONED_BY] == PROVISIONER
    assert vol.spec.host_path.path == f"/var/lib/shoal/storage/pvc-{claim.metadata.uid}_default_data"
    assert vol.spec.host_path.type == "DirectoryOrCreate"
    assert (dict(vol.spec.capacity), list(vol.spec.access_modes)) == ({"storage": "3Gi"}, ["ReadWriteOnce"])
    assert (vol.spec.storage_class_name, vol.spec.persistent_volume_reclaim_policy) == ("local-path", "Delete")
    assert (vol.spec.claim_ref.name, vol.spec.claim_ref.uid) == ("data", claim.metadata.uid)
    (term,) = vol.spec.node_affinity.required.node_selector_terms
    (expr,) = term.match_expressions
    assert (expr.key, expr.operator, list(expr.values)) == ("kubernetes.io/hostname", "In", ["node-b"])
    # The binder then completes the binding of the pre-bound volume.
    plan = plan_claim(claim, by_name(vol))
    assert [type(a) for a in plan.actions] == [UpdateStatus, Update, UpdateStatus]


@pytest.mark.parametrize("pods", [
    pytest.param([], id="no-consumer"),
    pytest.param([consumer("data", node="")], id="consumer-not-scheduled"),
    pytest.param([consumer("other")], id="consumer-of-another-claim"),
])
def test_waits_for_first_consumer(pods):
    (action,) = plan_provision(pvc(cls="local-path"), pods, [], "/s")
    assert isinstance(action, Emit) and action.reason == "WaitForFirstConsumer"


def test_the_selected_node_annotation_is_enough():
    claim = pvc(cls="local-path")
    claim.metadata.annotations[ANN_SELECTED_NODE] = "node-c"
    (action,) = plan_provision(claim, [], [], "/s")
    assert action.obj.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == ["node-c"]


@pytest.mark.parametrize("claim,volumes", [
    pytest.param(pvc(cls="manual"), [], id="another-class"),
    pytest.param(pvc(cls="local-path", volume="v", phase="Bound"), [], id="already-bound"),
    pytest.param(pvc(cls="local-path"), [pv("fits", "5Gi", cls="local-path")], id="an-existing-volume-fits"),
])
def test_does_not_provision(claim, volumes):
    assert plan_provision(claim, [consumer("data")], volumes, "/s") == []


def test_does_not_provision_twice():
    claim = pvc(cls="local-path")
    (first,) = plan_provision(claim, [consumer("data")], [], "/s")
    made = first.obj
    made.status.phase = "Pending"
    assert plan_provision(claim, [consumer("data")], [made], "/s") == []


# -- in-use protection ------------------------------------------------------------------------------


def test_protection_adds_its_finalizer_to_every_claim():
    (action,) = plan_protection(pvc(), [])
    assert isinstance(action, Update) and list(action.obj.metadata.finalizers) == [PVC_PROTECTION]
    action.obj.metadata.finalizers.append("other")
    assert plan_protection(action.obj, []) == []


@pytest.mark.parametrize("phase,kept", [("Running", True), ("Pending", True), ("Succeeded", False), ("Failed", False)])
def test_a_deleted_claim_stays_while_an_unfinished_pod_uses_it(phase, kept):
    claim = pvc()
    claim.metadata.finalizers.extend(["other", PVC_PROTECTION])
    claim.metadata.deletion_timestamp.seconds = 1
    user = consumer("data")
    user.status.phase = phase
    actions = plan_protection(claim, [user, consumer("another-claim")])
    if kept:
        assert actions == []
    else:
        (action,) = actions
        assert list(action.obj.metadata.finalizers) == ["other"]
