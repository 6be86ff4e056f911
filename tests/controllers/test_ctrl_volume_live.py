"""The PersistentVolume binder and the local-path provisioner inside a real `shoal server`."""

from __future__ import annotations

import uuid

from ctrl_helpers import wait_for
from shoal.v1 import core_pb2


def _pv(name: str, size: str, *, cls: str = "manual", policy: str = "Retain") -> core_pb2.PersistentVolume:
    pv = core_pb2.PersistentVolume()
    pv.metadata.name = name
    pv.spec.capacity["storage"] = size
    pv.spec.access_modes.append("ReadWriteOnce")
    pv.spec.storage_class_name = cls
    pv.spec.persistent_volume_reclaim_policy = policy
    pv.spec.host_path.path = f"/srv/{name}"
    return pv


def _pvc(name: str, ns: str, size: str, *, cls: str | None = "manual") -> core_pb2.PersistentVolumeClaim:
    pvc = core_pb2.PersistentVolumeClaim()
    pvc.metadata.name, pvc.metadata.namespace = name, ns
    pvc.spec.access_modes.append("ReadWriteOnce")
    pvc.spec.resources.requests["storage"] = size
    if cls is not None:
        pvc.spec.storage_class_name = cls
    return pvc


def _phase(client, kind, name, ns=""):
    return client.get(kind, name, ns).status.phase


def test_binds_the_smallest_fitting_volume_and_releases_it_on_retain(ctrl_client, ns):
    tag = uuid.uuid4().hex[:6]
    big, small = f"big-{tag}", f"small-{tag}"
    ctrl_client.create(_pv(big, "10Gi"))
    ctrl_client.create(_pv(small, "2Gi"))
    wait_for(lambda: _phase(ctrl_client, "PersistentVolume", small) == "Available", what="the volume Available")
    ctrl_client.create(_pvc("data", ns, "1Gi"))
    wait_for(lambda: _phase(ctrl_client, "PersistentVolumeClaim", "data", ns) == "Bound", what="the claim Bound")
    pvc = ctrl_client.get("PersistentVolumeClaim", "data", ns)
    assert pvc.spec.volume_name == small
    assert dict(pvc.status.capacity) == {"storage": "2Gi"}
    pv = ctrl_client.get("PersistentVolume", small)
    assert (pv.status.phase, pv.spec.claim_ref.name, pv.spec.claim_ref.uid) == ("Bound", "data", pvc.metadata.uid)
    assert _phase(ctrl_client, "PersistentVolume", big) == "Available"

    ctrl_client.delete("PersistentVolumeClaim", "data", ns)
    wait_for(lambda: _phase(ctrl_client, "PersistentVolume", small) == "Released", what="the volume Released")
    # A released volume is not handed to the next claim: its data belongs to the old one.
    ctrl_client.create(_pvc("again", ns, "1Gi"))
    wait_for(lambda: ctrl_client.get("PersistentVolumeClaim", "again", ns).spec.volume_name == big,
             what="the next claim to get the other volume")
    for name in (big, small):
        ctrl_client.delete("PersistentVolume", name)


def test_local_path_provisions_on_the_selected_node_and_deletes_with_the_claim(ctrl_client, ns):
    pvc = _pvc("scratch", ns, "256Mi", cls=None)  # no class: the default, local-path
    pvc.metadata.annotations["volume.kubernetes.io/selected-node"] = "node-7"
    ctrl_client.create(pvc)
    bound = wait_for(lambda: (c := ctrl_client.get("PersistentVolumeClaim", "scratch", ns)).status.phase == "Bound" and c,
                     what="the claim bound to a provisioned volume")
    pv = ctrl_client.get("PersistentVolume", bound.spec.volume_name)
    assert pv.metadata.name == f"pvc-{bound.metadata.uid}"
    assert (pv.spec.storage_class_name, pv.spec.persistent_volume_reclaim_policy) == ("local-path", "Delete")
    assert pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == ["node-7"]

    ctrl_client.delete("PersistentVolumeClaim", "scratch", ns)
    wait_for(lambda: pv.metadata.name not in {v.metadata.name for v in ctrl_client.list_items("PersistentVolume")},
             what="the provisioned volume deleted with its claim")


def test_a_claim_in_use_is_removed_only_after_its_pod(ctrl_client, ns):
    ctrl_client.create(_pvc("in-use", ns, "1Gi", cls="nothing-provides-this"))
    wait_for(lambda: "kubernetes.io/pvc-protection" in ctrl_client.get("PersistentVolumeClaim", "in-use", ns)
             .metadata.finalizers, what="the protection finalizer")
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "user", ns
    pod.spec.containers.add(name="app", image="busybox")
    pod.spec.volumes.add(name="data").persistent_volume_claim.claim_name = "in-use"
    ctrl_client.create(pod)

    ctrl_client.delete("PersistentVolumeClaim", "in-use", ns)
    held = ctrl_client.get("PersistentVolumeClaim", "in-use", ns)
    assert held.metadata.HasField("deletion_timestamp")
    ctrl_client.delete("Pod", "user", ns)
    wait_for(lambda: "in-use" not in {c.metadata.name for c in ctrl_client.list_items("PersistentVolumeClaim", ns)},
             what="the claim removed once no pod uses it")
