"""VolumeBinding: claims must exist and (for classes that bind at once) be bound; a bound
claim's volume with node affinity admits only the nodes it names. Messages as kube-scheduler's."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod
from shoal.proto import manifests
from shoal.sched.plugins import volume_binding as vb


def claim(name: str, volume: str = "", storage_class: str | None = None, deleting: bool = False):
    doc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    if volume:
        doc["spec"]["volumeName"] = volume
    if storage_class is not None:
        doc["spec"]["storageClassName"] = storage_class
    if deleting:
        doc["metadata"]["deletionTimestamp"] = "2026-11-26T00:00:00Z"
    return manifests.from_dict(doc)


def volume(name: str, node_names: list[str] | None = None):
    doc = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
           "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": f"/var/lib/shoal/storage/{name}"}}}
    if node_names is not None:
        doc["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": node_names}]}]}}
    return manifests.from_dict(doc)


def with_claims(claims: list[str]) -> dict:
    p = pod("p", "100m", "64Mi")
    p["spec"]["volumes"] = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    return p


NODES = [node("n1"), node("n2"), node("n3")]
NOT_HELPFUL = " preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


def run(incoming, claims=(), volumes=()):
    h = harness(NODES, incoming)
    h.fw.snapshot.set_context(claims=list(claims), volumes=list(volumes))
    return h


def test_pods_without_claims_skip_the_plugin():
    h = run(pod("plain", "100m", "64Mi"))
    assert h.plugin(vb.NAME).pre_filter(h.cycle).code.name == "SKIP"
    assert h.choice() is not None


def test_a_bound_claim_keeps_the_pod_on_its_volumes_node():
    h = run(with_claims(["data"]), [claim("data", "pv-1")], [volume("pv-1", ["n2"])])
    assert h.filter(vb.NAME) == {"n1": (vb.ERR_REASON_NODE_CONFLICT,), "n2": None, "n3": (vb.ERR_REASON_NODE_CONFLICT,)}
    assert h.choice() == "n2"


def test_two_claims_on_different_nodes_leave_no_node():
    h = run(with_claims(["a", "b"]), [claim("a", "pv-a"), claim("b", "pv-b")],
            [volume("pv-a", ["n1"]), volume("pv-b", ["n3"])])
    assert h.message() == "0/3 nodes are available: 3 node(s) had volume node affinity conflict." + NOT_HELPFUL


def test_a_volume_without_node_affinity_admits_every_node():
    h = run(with_claims(["data"]), [claim("data", "pv-nfs")], [volume("pv-nfs")])
    assert h.passing(vb.NAME) == {"n1", "n2", "n3"}


@pytest.mark.parametrize("claims, message", [
    ([], 'persistentvolumeclaim "data" not found'),
    ([claim("data", deleting=True)], 'persistentvolumeclaim "data" is being deleted'),
    ([claim("data", storage_class="fast-ssd")], "pod has unbound immediate PersistentVolumeClaims"),
    ([claim("data", storage_class="")], "pod has unbound immediate PersistentVolumeClaims"),
])
def test_claims_the_pod_cannot_use_yet(claims, message):
    h = run(with_claims(["data"]), claims)
    assert h.message() == f"0/3 nodes are available: {message}." + NOT_HELPFUL


@pytest.mark.parametrize("storage_class", [None, "local-path"])
def test_unbound_local_path_claims_wait_for_the_first_consumer(storage_class):
    h = run(with_claims(["data"]), [claim("data", storage_class=storage_class)])
    assert h.choice() is not None


def test_a_claim_bound_to_an_unknown_volume():
    h = run(with_claims(["data"]), [claim("data", "pv-gone")])
    assert h.message() == f"0/3 nodes are available: 3 {vb.ERR_REASON_PV_NOT_EXIST}." + NOT_HELPFUL


def test_claims_are_part_of_the_pods_class():
    a, b = harness(NODES, with_claims(["a"])), harness(NODES, with_claims(["b"]))
    assert a.cycle.cls.claims == ("a",) and a.cycle.cls != b.cycle.cls
