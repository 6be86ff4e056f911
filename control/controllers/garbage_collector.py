"""Garbage collector: ownerReferences cascade, as Kubernetes' garbagecollector.

The API only marks deletions (see ObjectAPI._delete_once): a foreground delete adds the
``foregroundDeletion`` finalizer and sets deletionTimestamp, an orphan delete adds ``orphan``,
a background delete removes the owner at once. Everything else happens here:

    an object whose owners are all gone             -> deleted (background, or as its own
                                                       finalizers ask)
    some owners gone, some alive                     -> the dangling references removed
    an owner being deleted in foreground             -> its dependents deleted; once no
      (foregroundDeletion finalizer)                    dependent with blockOwnerDeletion
                                                       remains, the finalizer removed
    an owner being deleted with orphan               -> the reference to it removed from every
                                                       dependent, then the finalizer removed

Owner states (classify_owners): ``solid`` exists and is not being deleted in foreground;
``waiting`` exists with the foregroundDeletion finalizer; ``dangling`` gone (or a different
object, by uid, now has its name). An owner missing from the caches is looked up live before
it is called dangling, and dependents are re-read live before acting, with a resourceVersion
precondition on the delete: the caches may lag, a deletion must not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import grpc

from shoal.control.controllers.actions import BACKGROUND, FOREGROUND, ORPHAN, Action, Delete, Update, first_error
from shoal.control.controllers.controller import Controller, SyncError
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    clone,
    is_terminating,
    kind_of,
    object_key,
    split_key,
)
from shoal.proto import kinds
from shoal.proto.client import APIStatusError

log = logging.getLogger("shoal.controllers.gc")

OwnerState = Literal["solid", "waiting", "dangling"]
NAME = "garbagecollector"
# Events are many and own nothing; Kubernetes' collector watches them too, Shoal leaves them to
# the event TTL and the namespace controller.
IGNORED_KINDS = ("Event",)


@dataclass
class GCPlan:
    actions: list[Action] = field(default_factory=list)
    # Keys ("Kind|ns/name") to look at next: dependents of an owner being deleted in foreground.
    enqueue: list[str] = field(default_factory=list)


def gc_key(obj) -> str:
    return f"{kind_of(obj)}|{object_key(obj)}"


def owner_state(owner) -> OwnerState:
    if is_terminating(owner) and FOREGROUND_FINALIZER in owner.metadata.finalizers:
        return "waiting"
    return "solid"


def _without_owners(obj, uids: set[str]):
    new = clone(obj)
    keep = [ref for ref in obj.metadata.owner_references if ref.uid not in uids]
    del new.metadata.owner_references[:]
    new.metadata.owner_references.extend(keep)
    return new


def _without_finalizer(obj, finalizer: str):
    new = clone(obj)
    keep = [f for f in obj.metadata.finalizers if f != finalizer]
    del new.metadata.finalizers[:]
    new.metadata.finalizers.extend(keep)
    return new


def own_delete_policy(obj) -> int:
    """The propagation an object's own finalizers ask for when it is collected."""
    if ORPHAN_FINALIZER in obj.metadata.finalizers:
        return ORPHAN
    if FOREGROUND_FINALIZER in obj.metadata.finalizers:
        return FOREGROUND
    return BACKGROUND


def plan_dependent(item, states: dict[str, OwnerState], has_dependents: bool) -> GCPlan:
    """attemptToDeleteItem: what to do with ``item`` (not being deleted, with owner references)
    given the state of each owner by uid."""
    plan = GCPlan()
    if is_terminating(item) or not item.metadata.owner_references:
        return plan
    refs = item.metadata.owner_references
    solid = [r.uid for r in refs if states.get(r.uid) == "solid"]
    dangling = {r.uid for r in refs if states.get(r.uid) == "dangling"}
    waiting = {r.uid for r in refs if states.get(r.uid) == "waiting"}
    if solid:
        if dangling or waiting:
            plan.actions.append(Update(_without_owners(item, dangling | waiting)))
        return plan
    if waiting and has_dependents:
        # Its owner waits for it, and it has dependents of its own: foreground all the way down.
        plan.actions.append(Delete.of(item, propagation=FOREGROUND, if_unchanged=True))
        return plan
    plan.actions.append(Delete.of(item, propagation=own_delete_policy(item), if_unchanged=True))
    return plan


def blocks(dependent, owner_uid: str) -> bool:
    return any(r.uid == owner_uid and r.HasField("block_owner_deletion") and r.block_owner_deletion
               for r in dependent.metadata.owner_references)


def plan_foreground(owner, dependents: list) -> GCPlan:
    """processDeletingDependentsItem: dependents are collected first; the foregroundDeletion
    finalizer goes once none of them blocks the owner's deletion any more."""
    plan = GCPlan()
    uid = owner.metadata.uid
    blocking = [d for d in dependents if blocks(d, uid)]
    if not blocking:
        plan.actions.append(Update(_without_finalizer(owner, FOREGROUND_FINALIZER)))
        return plan
    for dep in dependents:
        if not is_terminating(dep) or FOREGROUND_FINALIZER in dep.metadata.finalizers:
            plan.enqueue.append(gc_key(dep))
    return plan


def plan_orphan(owner, dependents: list) -> GCPlan:
    """orphanDependents: every dependent loses its reference to the owner, then the owner
    loses the orphan finalizer (and the API removes it).

    Dependents already being deleted keep their reference: they are going anyway, and an update
    of an object whose deletion is pending without finalizers removes it at once (the API's
    _write_changed), which would cut a pod's graceful termination short."""
    plan = GCPlan()
    uid = owner.metadata.uid
    for dep in dependents:
        if is_terminating(dep):
            continue
        plan.actions.append(Update(_without_owners(dep, {uid})))
    plan.actions.append(Update(_without_finalizer(owner, ORPHAN_FINALIZER)))
    return plan


class GarbageCollector(Controller):
    name = NAME
    workers = 2

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.kinds = tuple(info.kind for info in kinds.all_kinds() if info.kind not in IGNORED_KINDS)

    @property
    def watches(self):  # type: ignore[override]
        return self.kinds

    def resync_keys(self) -> list[str]:
        keys = []
        for kind in self.kinds:
            for obj in self.cache(kind).list():
                if self._interesting(obj):
                    keys.append(gc_key(obj))
        return keys

    @staticmethod
    def _interesting(obj) -> bool:
        meta = obj.metadata
        if meta.owner_references:
            return True
        return is_terminating(obj) and (FOREGROUND_FINALIZER in meta.finalizers or ORPHAN_FINALIZER in meta.finalizers)

    def dependents(self, uid: str) -> list:
        found = []
        for kind in self.kinds:
            found.extend(self.cache(kind).by_owner(uid))
        return found

    def _cached_by_uid(self, uid: str):
        for kind in self.kinds:
            obj = self.cache(kind).get_by_uid(uid)
            if obj is not None:
                return obj
        return None

    def on_change(self, kind: str, change: Change) -> None:
        obj = change.new
        if change.type == "delete":
            for dep in self.dependents(obj.metadata.uid):
                self.queue.add(gc_key(dep))
        elif self._interesting(obj):
            self.queue.add(gc_key(obj))
        # An owner waiting for its dependents looks again whenever one of them changes.
        refs = list(obj.metadata.owner_references)
        if change.old is not None:
            refs.extend(change.old.metadata.owner_references)
        for ref in refs:
            owner = self._cached_by_uid(ref.uid)
            if owner is not None and is_terminating(owner):
                self.queue.add(gc_key(owner))

    async def sync(self, key: str) -> float | None:
        kind, _, obj_key = key.partition("|")
        namespace, name = split_key(obj_key)
        cached = self.cache(kind).get(obj_key)
        if cached is None or not self._interesting(cached):
            return None
        try:
            latest = await self.client.get(kind, name, namespace)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        if latest.metadata.uid != cached.metadata.uid:
            return None
        meta = latest.metadata
        if is_terminating(latest):
            dependents = self.dependents(meta.uid)
            if FOREGROUND_FINALIZER in meta.finalizers:
                plan = plan_foreground(latest, dependents)
            elif ORPHAN_FINALIZER in meta.finalizers:
                plan = plan_orphan(latest, dependents)
            else:
                return None
        elif meta.owner_references:
            states = {ref.uid: await self._owner_state(latest, ref) for ref in meta.owner_references}
            plan = plan_dependent(latest, states, bool(self.dependents(meta.uid)))
        else:
            return None
        for dep_key in plan.enqueue:
            self.queue.add(dep_key)
        outcomes = await self.run_actions(plan.actions, key)
        error = first_error(outcomes)
        if error is not None:
            raise error
        if plan.enqueue:
            return 5.0  # foreground: look again even if no event arrives
        return None

    async def _owner_state(self, dependent, ref) -> OwnerState:
        try:
            info = kinds.by_kind(ref.kind)
        except KeyError:
            log.warning("%s: owner kind %r unknown; leaving the reference alone", gc_key(dependent), ref.kind)
            return "solid"
        if info.namespaced and not dependent.metadata.namespace:
            return "dangling"  # a cluster-scoped object cannot be owned by a namespaced one
        cached = self.cache(info.kind).get_by_uid(ref.uid) if info.kind in self.kinds else None
        if cached is not None:
            return owner_state(cached)
        namespace = dependent.metadata.namespace if info.namespaced else ""
        try:
            owner = await self.client.get(info.kind, ref.name, namespace)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return "dangling"
            raise SyncError(f"looking up owner {ref.kind} {ref.name}: {exc}") from exc
        if owner.metadata.uid != ref.uid:
            return "dangling"
        return owner_state(owner)
