"""PersistentVolume binding: claims meet volumes, volumes are released when their claims go.

Kubernetes' persistentvolume-binder, level-based over the PV and PVC caches:

    claim Pending, no volumeName     the volume pre-bound to it (claimRef naming it), else the
                                     smallest Available volume that fits (same storageClassName,
                                     a superset of its accessModes, capacity >= its request,
                                     its selector, its volumeMode); then, in this order:
                                     PV.spec.claimRef, PV status Bound, PVC.spec.volumeName,
                                     PVC status Bound (capacity, accessModes). A crash between
                                     two writes is finished by the next sync from what is stored.
    claim whose volume is gone       status Lost
    volume without claimRef          status Available
    volume whose claim is gone       Retain -> Released (kept for an admin);
                                     Delete -> the PV is deleted, and the directory too when the
                                     local-path provisioner made it (local_path.py)

A claim that names no storageClassName gets the default class (local-path), as the
DefaultStorageClass admission plugin would set it; no volume fitting a claim of the local-path
class is the provisioner's cue, not an error.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field

import grpc
from shoal.control.controllers.actions import Delete, Emit, Update, UpdateStatus
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.local_path import (
    CLASS_NAME,
    DEFAULT_CLASS,
    is_provisioned_here,
    storage_dir,
)
from shoal.control.controllers.meta import (
    clone,
    object_key,
    selector_is_empty,
    selector_matches,
)
from shoal.proto.quantity import value
from shoal.v1 import meta_pb2

log = logging.getLogger("shoal.controllers.volume_binder")

NAME = "persistentvolume-binder"

# Phases, as Kubernetes spells them.
PENDING = "Pending"
AVAILABLE = "Available"
BOUND = "Bound"
RELEASED = "Released"
LOST = "Lost"
FAILED = "Failed"

RETAIN = "Retain"
DELETE = "Delete"

# Event reasons.
FAILED_BINDING = "FailedBinding"
CLAIM_LOST = "ClaimLost"
VOLUME_DELETE = "VolumeDelete"
RECLAIM_RETAINED = "VolumeReleased"

# Kubernetes' binder resyncs every 15 s; an unmatched claim is looked at again that often.
RETRY_SECONDS = 15.0


def claim_class(pvc) -> str:
    """The storage class a claim asks for: its own, or the default one when it names none."""
    return pvc.spec.storage_class_name if pvc.spec.HasField("storage_class_name") else DEFAULT_CLASS


def requested_bytes(pvc) -> int:
    text = pvc.spec.resources.requests.get("storage", "")
    return value(text) if text else 0


def capacity_bytes(pv) -> int:
    text = pv.spec.capacity.get("storage", "")
    return value(text) if text else 0


def claim_ref_names(pv, pvc) -> bool:
    """Does the volume's claimRef name this claim (by namespace and name, and uid when set)?"""
    ref = pv.spec.claim_ref
    return (ref.name == pvc.metadata.name and ref.namespace == pvc.metadata.namespace
            and (not ref.uid or ref.uid == pvc.metadata.uid))


def volume_fits(pv, pvc) -> bool:
    """Could ``pv`` (not bound to anything else) serve ``pvc``?"""
    if pv.metadata.HasField("deletion_timestamp"):
        return False
    if pv.spec.HasField("claim_ref") and pv.spec.claim_ref.name and not claim_ref_names(pv, pvc):
        return False
    if pv.status.phase not in ("", PENDING, AVAILABLE) and not claim_ref_names(pv, pvc):
        return False
    if pv.spec.storage_class_name != claim_class(pvc):
        return False
    if not set(pvc.spec.access_modes) <= set(pv.spec.access_modes):
        return False
    if capacity_bytes(pv) < requested_bytes(pvc):
        return False
    if (pvc.spec.volume_mode or "Filesystem") != (pv.spec.volume_mode or "Filesystem"):
        return False
    has_selector = pvc.spec.HasField("selector") and not selector_is_empty(pvc.spec.selector)
    return not has_selector or selector_matches(pvc.spec.selector, pv.metadata.labels)


def best_volume(pvc, volumes) -> object | None:
    """The volume pre-bound to the claim, else the smallest one that fits (ties by name)."""
    fitting = [pv for pv in volumes if volume_fits(pv, pvc)]
    for pv in fitting:
        if pv.spec.claim_ref.name and claim_ref_names(pv, pvc):
            return pv
    fitting = [pv for pv in fitting if not pv.spec.claim_ref.name]
    if not fitting:
        return None
    return min(fitting, key=lambda pv: (capacity_bytes(pv), pv.metadata.name))


def claim_reference(pvc) -> meta_pb2.ObjectReference:
    meta = pvc.metadata
    return meta_pb2.ObjectReference(kind="PersistentVolumeClaim", namespace=meta.namespace, name=meta.name,
                                    uid=meta.uid, api_version="v1", resource_version=meta.resource_version)


def _status_write(obj, phase: str):
    """``obj`` with status.phase set, without a resourceVersion: status writes follow spec
    writes in the same sync, so the cached resourceVersion is already old."""
    new = clone(obj)
    new.metadata.resource_version = ""
    new.status.phase = phase
    return new


def bind_actions(pvc, pv) -> list:
    """The writes that bind ``pvc`` and ``pv`` to each other, skipping the ones already done."""
    actions: list = []
    if not (pv.spec.claim_ref.uid == pvc.metadata.uid and claim_ref_names(pv, pvc)):
        new_pv = clone(pv)
        new_pv.spec.claim_ref.CopyFrom(claim_reference(pvc))
        actions.append(Update(new_pv))
    if pv.status.phase != BOUND:
        actions.append(UpdateStatus(_status_write(pv, BOUND)))
    if pvc.spec.volume_name != pv.metadata.name:
        new_pvc = clone(pvc)
        new_pvc.spec.volume_name = pv.metadata.name
        actions.append(Update(new_pvc))
    if (pvc.status.phase != BOUND or list(pvc.status.access_modes) != list(pv.spec.access_modes)
            or dict(pvc.status.capacity) != dict(pv.spec.capacity)):
        status = _status_write(pvc, BOUND)
        del status.status.access_modes[:]
        status.status.access_modes.extend(pv.spec.access_modes)
        status.status.capacity.clear()
        status.status.capacity.update(pv.spec.capacity)
        actions.append(UpdateStatus(status))
    return actions


@dataclass
class ClaimPlan:
    actions: list = field(default_factory=list)
    retry: float | None = None  # look again after this many seconds (nothing fits yet)


def plan_claim(pvc, volumes: dict[str, object]) -> ClaimPlan:
    """What binding ``pvc`` takes now. ``volumes``: PersistentVolumes by name."""
    plan = ClaimPlan()
    if pvc.metadata.HasField("deletion_timestamp"):
        return plan
    if pvc.spec.volume_name:
        pv = volumes.get(pvc.spec.volume_name)
        if pv is None:
            if pvc.status.phase == BOUND:
                plan.actions.append(UpdateStatus(_status_write(pvc, LOST), event=Emit(
                    pvc, "Warning", CLAIM_LOST,
                    f"Bound claim has lost its PersistentVolume {pvc.spec.volume_name}. Data on the volume is lost!")))
            else:
                plan.retry = RETRY_SECONDS
            return plan
        if pv.spec.claim_ref.name and not claim_ref_names(pv, pvc):
            plan.actions.append(Emit(pvc, "Warning", FAILED_BINDING,
                                     f"volume {pv.metadata.name} is bound to another claim "
                                     f"({pv.spec.claim_ref.namespace}/{pv.spec.claim_ref.name})"))
            plan.retry = RETRY_SECONDS
            return plan
        plan.actions = bind_actions(pvc, pv)
        return plan
    pv = best_volume(pvc, volumes.values())
    if pv is None:
        if claim_class(pvc) != CLASS_NAME:
            plan.actions.append(Emit(pvc, "Normal", FAILED_BINDING,
                                     "no persistent volumes available for this claim and no storage class is set"
                                     if not claim_class(pvc) else
                                     f"no persistent volumes of storage class \"{claim_class(pvc)}\" "
                                     f"available for this claim"))
        plan.retry = RETRY_SECONDS
        return plan
    plan.actions = bind_actions(pvc, pv)
    return plan


@dataclass
class VolumePlan:
    actions: list = field(default_factory=list)
    remove_path: str = ""  # a provisioned directory to delete with the volume


def plan_volume(pv, claims: dict[str, object], storage_dir: str = "") -> VolumePlan:
    """What the volume's own state needs now. ``claims``: PersistentVolumeClaims by
    "namespace/name"; ``storage_dir``: the local-path provisioner's base directory."""
    plan = VolumePlan()
    if pv.metadata.HasField("deletion_timestamp"):
        return plan
    ref = pv.spec.claim_ref
    if not ref.name:
        if pv.status.phase != AVAILABLE:
            plan.actions.append(UpdateStatus(_status_write(pv, AVAILABLE)))
        return plan
    claim = claims.get(f"{ref.namespace}/{ref.name}")
    if not ref.uid:
        # Pre-bound by an admin to a claim by name: available to that claim only.
        if pv.status.phase not in (AVAILABLE, BOUND):
            plan.actions.append(UpdateStatus(_status_write(pv, AVAILABLE)))
        return plan
    if claim is not None and claim.metadata.uid == ref.uid:
        if pv.status.phase != BOUND:
            plan.actions.append(UpdateStatus(_status_write(pv, BOUND)))
        return plan
    # The claim it was bound to is gone.
    policy = pv.spec.persistent_volume_reclaim_policy or RETAIN
    if policy == DELETE:
        plan.actions.append(Delete.of(pv, event=Emit(
            pv, "Normal", VOLUME_DELETE, f"claim {ref.namespace}/{ref.name} was deleted: deleting the volume "
                                         f"(reclaim policy Delete)")))
        if is_provisioned_here(pv, storage_dir):
            plan.remove_path = pv.spec.host_path.path
        return plan
    if pv.status.phase != RELEASED:
        plan.actions.append(UpdateStatus(_status_write(pv, RELEASED), event=Emit(
            pv, "Normal", RECLAIM_RETAINED, f"claim {ref.namespace}/{ref.name} was deleted: the volume is kept "
                                            f"(reclaim policy {policy})")))
    return plan


class VolumeBinderController(Controller):
    """Keys: "claim:<namespace>/<name>" and "volume:<name>"."""

    name = NAME
    watches = ("PersistentVolumeClaim", "PersistentVolume")
    workers = 1  # one writer: two claims never race for the same volume

    def on_change(self, kind: str, change: Change) -> None:
        obj = change.new
        if kind == "PersistentVolumeClaim":
            self.queue.add("claim:" + object_key(obj))
            if change.type == "delete" and obj.spec.volume_name:
                self.queue.add("volume:" + obj.spec.volume_name)
            return
        self.queue.add("volume:" + obj.metadata.name)
        ref = obj.spec.claim_ref
        if ref.name:
            self.queue.add(f"claim:{ref.namespace}/{ref.name}")
        elif change.type != "add":
            return
        # A new or freed volume may be what a waiting claim needs.
        for pvc in self.cache("PersistentVolumeClaim").list():
            if not pvc.spec.volume_name:
                self.queue.add("claim:" + object_key(pvc))

    def resync_keys(self) -> list[str]:
        return ([f"claim:{k}" for k in self.cache("PersistentVolumeClaim").keys()]
                + [f"volume:{k}" for k in self.cache("PersistentVolume").keys()])

    def _volumes(self) -> dict[str, object]:
        return {pv.metadata.name: pv for pv in self.cache("PersistentVolume").list()}

    async def sync(self, key: str) -> float | None:
        what, _, name = key.partition(":")
        if what == "claim":
            pvc = self.cache("PersistentVolumeClaim").get(name)
            if pvc is None:
                return None
            plan = plan_claim(pvc, self._volumes())
            await self._run_in_order(plan.actions, key)
            return plan.retry
        pv = self.cache("PersistentVolume").get(name)
        if pv is None:
            return None
        claims = {object_key(c): c for c in self.cache("PersistentVolumeClaim").list()}
        plan = plan_volume(pv, claims, storage_dir())
        await self._run_in_order(plan.actions, key)
        if plan.remove_path:
            _remove_directory(plan.remove_path)
        return None

    async def _run_in_order(self, actions: list, key: str) -> None:
        """Each write only after the one before it succeeded: binding is a sequence."""
        for action in actions:
            (outcome,) = await self.run_actions([action], key)
            if outcome.error is not None and outcome.code != grpc.StatusCode.NOT_FOUND:
                raise outcome.error


def _remove_directory(path: str) -> None:
    try:
        shutil.rmtree(path)
        log.info("removed the directory of a deleted volume: %s", path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("removing %s: %s", path, exc)

