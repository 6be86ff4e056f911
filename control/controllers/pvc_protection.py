"""Storage object in-use protection for claims: a claim a pod still uses is not removed.

Kubernetes' pvc-protection controller. Every claim carries the ``kubernetes.io/pvc-protection``
finalizer; deleting a claim then only marks it (deletionTimestamp) and the finalizer comes off
once no pod that may still run uses the claim. Without it, deleting the claim of a running pod
would release its volume at once, and with the reclaim policy Delete (the local-path default)
remove the data under the pod's feet.

    claim without the finalizer, not being deleted      -> add it
    claim being deleted, no pod using it                -> remove it (the claim goes; the
                                                           binder then releases its volume)
    a pod "uses" a claim when it names it in a persistentVolumeClaim volume and has not
    finished (phase Succeeded or Failed)
"""

from __future__ import annotations

from shoal.control.controllers.actions import Update, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import clone, object_key

NAME = "pvc-protection"
FINALIZER = "kubernetes.io/pvc-protection"
FINISHED_PHASES = ("Succeeded", "Failed")


def claim_names(pod) -> set[str]:
    return {v.persistent_volume_claim.claim_name for v in pod.spec.volumes
            if v.WhichOneof("source") == "persistent_volume_claim"}


def pod_uses_claim(pod, pvc) -> bool:
    return (pod.metadata.namespace == pvc.metadata.namespace and pod.status.phase not in FINISHED_PHASES
            and pvc.metadata.name in claim_names(pod))


def plan_protection(pvc, pods) -> list:
    """The finalizer change ``pvc`` needs now, given the pods of its namespace."""
    finalizers = list(pvc.metadata.finalizers)
    deleting = pvc.metadata.HasField("deletion_timestamp")
    if not deleting and FINALIZER not in finalizers:
        new = clone(pvc)
        new.metadata.finalizers.append(FINALIZER)
        return [Update(new)]
    if deleting and FINALIZER in finalizers and not any(pod_uses_claim(p, pvc) for p in pods):
        new = clone(pvc)
        del new.metadata.finalizers[:]
        new.metadata.finalizers.extend(f for f in finalizers if f != FINALIZER)
        return [Update(new)]
    return []


class PVCProtectionController(Controller):
    name = NAME
    watches = ("PersistentVolumeClaim", "Pod")

    def on_change(self, kind: str, change: Change) -> None:
        if kind == "PersistentVolumeClaim":
            self.queue.add(object_key(change.new))
            return
        pod = change.new
        finished = change.type == "delete" or pod.status.phase in FINISHED_PHASES
        if finished:
            for name in claim_names(pod):
                self.queue.add(f"{pod.metadata.namespace}/{name}")

    async def sync(self, key: str) -> float | None:
        pvc = self.cache("PersistentVolumeClaim").get(key)
        if pvc is None:
            return None
        actions = plan_protection(pvc, self.cache("Pod").list(pvc.metadata.namespace))
        error = first_error(await self.run_actions(actions, key))
        if error is not None:
            raise error
        return None
