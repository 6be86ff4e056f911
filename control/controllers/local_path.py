"""The local-path provisioner: a PersistentVolume on the node where the claim's first pod runs.

Like k3s' local-path-provisioner (storage class ``local-path``, the default class): a claim of
this class that no existing volume fits gets a volume of its own, a directory under the storage
directory of one node, once a pod that uses the claim is bound to a node (WaitForFirstConsumer:
the pod's node is where the data will live, so the volume is made there, not somewhere the pod
cannot reach). The volume carries node affinity to that node, so a later pod using the claim is
scheduled there again; the agent creates the directory when it first mounts it (hostPath
DirectoryOrCreate). The binder (volume_binder.py) then binds claim and volume (the volume is
made pre-bound to the claim) and, with the reclaim policy Delete, deletes both volume and
directory when the claim goes.

    claim Pending, class local-path, no volume fits, a pod using it on node N  (or the claim
    annotated volume.kubernetes.io/selected-node: N, as Kubernetes' scheduler would)
        -> PV pvc-<claim uid>: hostPath STORAGE_DIR/pvc-<uid>_<namespace>_<name>,
           capacity = the request, the claim's accessModes, claimRef = the claim,
           nodeAffinity kubernetes.io/hostname In [N], reclaim Delete

The storage directory is SHOAL_LOCAL_PATH_DIR (default /var/lib/shoal/storage) and must be the
same on every node. The directory of a deleted volume is removed by the server, so only on the
server's own machine (`shoal up`); k3s runs a helper pod on the volume's node for that.
"""

from __future__ import annotations

import os

from shoal.control.controllers.actions import Create, Emit
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import object_key, seconds
from shoal.v1 import core_pb2, meta_pb2

NAME = "local-path-provisioner"
CLASS_NAME = "local-path"
# The class a claim gets when it names none (k3s marks local-path as the default class).
DEFAULT_CLASS = CLASS_NAME
PROVISIONER = "shoal.io/local-path"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
HOSTNAME_LABEL = "kubernetes.io/hostname"
STORAGE_DIR_ENV = "SHOAL_LOCAL_PATH_DIR"
DEFAULT_STORAGE_DIR = "/var/lib/shoal/storage"

PROVISIONING_SUCCEEDED = "ProvisioningSucceeded"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def storage_dir() -> str:
    return os.environ.get(STORAGE_DIR_ENV, DEFAULT_STORAGE_DIR)


def volume_name(pvc) -> str:
    return f"pvc-{pvc.metadata.uid}"


def volume_path(base: str, pvc) -> str:
    meta = pvc.metadata
    return os.path.join(base, f"pvc-{meta.uid}_{meta.namespace}_{meta.name}")


def is_provisioned_here(pv, base: str) -> bool:
    """Was ``pv`` made by this provisioner, with its directory under ``base``?"""
    if pv.metadata.annotations.get(ANN_PROVISIONED_BY) != PROVISIONER or not pv.spec.HasField("host_path"):
        return False
    path = os.path.normpath(pv.spec.host_path.path)
    return bool(base) and path.startswith(os.path.normpath(base) + os.sep)


def claim_users(pvc, pods) -> list:
    """Pods of the claim's namespace that mount it, bound to a node and not terminating,
    oldest first."""
    users = []
    for pod in pods:
        if pod.metadata.namespace != pvc.metadata.namespace or not pod.spec.node_name:
            continue
        if pod.metadata.HasField("deletion_timestamp"):
            continue
        if any(v.WhichOneof("source") == "persistent_volume_claim"
               and v.persistent_volume_claim.claim_name == pvc.metadata.name for v in pod.spec.volumes):
            users.append(pod)
    return sorted(users, key=lambda p: (seconds(p.metadata.creation_timestamp), p.metadata.name))


def target_node(pvc, pods) -> str:
    """The node the claim's volume should live on, "" while no consumer has been placed."""
    selected = pvc.metadata.annotations.get(ANN_SELECTED_NODE, "")
    if selected:
        return selected
    users = claim_users(pvc, pods)
    return users[0].spec.node_name if users else ""


def new_volume(pvc, node: str, base: str) -> core_pb2.PersistentVolume:
    pv = core_pb2.PersistentVolume()
    pv.metadata.name = volume_name(pvc)
    pv.metadata.annotations[ANN_PROVISIONED_BY] = PROVISIONER
    spec = pv.spec
    spec.capacity["storage"] = pvc.spec.resources.requests.get("storage", "1Gi")
    spec.access_modes.extend(pvc.spec.access_modes or ["ReadWriteOnce"])
    spec.host_path.path = volume_path(base, pvc)
    spec.host_path.type = "DirectoryOrCreate"
    spec.persistent_volume_reclaim_policy = "Delete"
    spec.storage_class_name = CLASS_NAME
    spec.volume_mode = pvc.spec.volume_mode or "Filesystem"
    meta = pvc.metadata
    spec.claim_ref.CopyFrom(meta_pb2.ObjectReference(kind="PersistentVolumeClaim", namespace=meta.namespace,
                                                     name=meta.name, uid=meta.uid, api_version="v1"))
    term = spec.node_affinity.required.node_selector_terms.add()
    term.match_expressions.add(key=HOSTNAME_LABEL, operator="In", values=[node])
    return pv


def plan_provision(pvc, pods, volumes, base: str) -> list:
    """The actions that provision a volume for ``pvc`` now: none unless it is a Pending claim
    of the local-path class that no existing volume fits and whose consumer has a node."""
    from shoal.control.controllers.volume_binder import best_volume, claim_class

    if pvc.metadata.HasField("deletion_timestamp") or pvc.spec.volume_name:
        return []
    if claim_class(pvc) != CLASS_NAME or pvc.status.phase not in ("", "Pending"):
        return []
    if any(pv.metadata.name == volume_name(pvc) for pv in volumes):
        return []  # made already; the binder finishes the binding
    if best_volume(pvc, volumes) is not None:
        return []  # an existing volume fits: the binder binds it
    node = target_node(pvc, pods)
    if not node:
        return [Emit(pvc, "Normal", WAIT_FOR_FIRST_CONSUMER,
                     "waiting for first consumer to be created before binding")]
    pv = new_volume(pvc, node, base)
    return [Create(pv, event=Emit(pvc, "Normal", PROVISIONING_SUCCEEDED,
                                  f"Successfully provisioned volume {pv.metadata.name} on node {node}"))]


class LocalPathProvisioner(Controller):
    name = NAME
    watches = ("PersistentVolumeClaim", "Pod", "PersistentVolume")

    def on_change(self, kind: str, change: Change) -> None:
        obj = change.new
        if kind == "PersistentVolumeClaim":
            self.queue.add(object_key(obj))
        elif kind == "Pod":
            if change.type == "delete" or not obj.spec.node_name:
                return
            if change.old is not None and change.old.spec.node_name:
                return  # already seen bound
            for vol in obj.spec.volumes:
                if vol.WhichOneof("source") == "persistent_volume_claim":
                    self.queue.add(f"{obj.metadata.namespace}/{vol.persistent_volume_claim.claim_name}")

    async def sync(self, key: str) -> float | None:
        pvc = self.cache("PersistentVolumeClaim").get(key)
        if pvc is None:
            return None
        pods = self.cache("Pod").list(pvc.metadata.namespace)
        actions = plan_provision(pvc, pods, self.cache("PersistentVolume").list(), storage_dir())
        outcomes = await self.run_actions(actions, key)
        for outcome in outcomes:
            if outcome.error is not None and outcome.error.reason != "AlreadyExists":
                raise outcome.error
        return None
