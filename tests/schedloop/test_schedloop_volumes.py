"""VolumeBinding in the cluster: the in-process scheduler watches PersistentVolumeClaims and
PersistentVolumes, keeps a pod on the node its volume lives on, and places a pod waiting for a
missing claim once the claim appears."""

from __future__ import annotations

from cluster_helpers import bound_pod, condition, create_all, wait_for
from sched_builders import node, pod
from shoal.proto.client import ClusterClient

NS = "default"


def _volume(name: str, on_node: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                     "hostPath": {"path": f"/tmp/shoal-test-volumes/{name}"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [on_node]}]}]}}}}


def _claim(name: str, volume: str) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual", "volumeName": volume,
                     "resources": {"requests": {"storage": "1Gi"}}}}


def _pod_with_claim(name: str, claim: str) -> dict:
    p = pod(name, "100m", "64Mi")
    p["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return p


def test_pods_follow_their_volumes_and_wait_for_missing_claims(server_factory):
    srv = server_factory(scheduler=True)
    with ClusterClient(srv.address, timeout=10) as c:
        create_all(c, [node("n1"), node("n2"), node("n3")])
        create_all(c, [_volume("pv-3", "n3"), _claim("data", "pv-3")])
        create_all(c, [_pod_with_claim(f"user-{i}", "data") for i in range(4)])
        for i in range(4):
            assert wait_for(f"user-{i} bound", lambda i=i: bound_pod(c, NS, f"user-{i}")).spec.node_name == "n3"

        create_all(c, [_pod_with_claim("waiter", "later")])

        def explained():
            cond = condition(c.get("Pod", "waiter", NS), "PodScheduled")
            return cond if cond is not None and cond.status == "False" else None

        cond = wait_for("the waiter explained", explained)
        assert cond.message.startswith('0/3 nodes are available: persistentvolumeclaim "later" not found.')
        create_all(c, [_volume("pv-1", "n1"), _claim("later", "pv-1")])
        assert wait_for("the waiter bound", lambda: bound_pod(c, NS, "waiter")).spec.node_name == "n1"
