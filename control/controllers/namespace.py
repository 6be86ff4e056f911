"""Namespace controller: deleting a namespace deletes everything in it, then the namespace.

    Namespace with deletionTimestamp   status.phase Terminating (+ conditions), every object in
                                       it deleted, then the "kubernetes" spec finalizer removed
                                       (the API then removes the namespace)
    objects in a namespace that no     deleted: the namespace was removed outright (today's API
    longer exists                      does this; see below), so its contents are collected

The API marks a deleted Namespace Terminating (deletionTimestamp, status.phase) while
spec.finalizers holds "kubernetes", and refuses new content in it; removing the finalizer is this
controller's job. The second rule is a safety net for contents left behind by a namespace that
went without its finalizer (removed by an API version before spec.finalizers was honoured, or
created with spec.finalizers empty): it keeps "deleting one deletes everything in it" true.

Contents are listed live (not from caches) before the finalizer goes, so an object created just
before the deletion cannot outlive its namespace unseen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc

from shoal.control.controllers.actions import BACKGROUND, Action, Delete, Update, UpdateStatus, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import clone, is_terminating, timestamp
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import core_pb2

log = logging.getLogger("shoal.controllers.namespace")

NAME = "namespace"
NAMESPACE_FINALIZER = "kubernetes"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"


def namespaced_kinds() -> list[str]:
    return [info.kind for info in kinds.all_kinds() if info.namespaced]


@dataclass
class NamespacePlan:
    actions: list[Action] = field(default_factory=list)
    # True when the namespace still has contents (or is waiting for them to go).
    waiting: bool = False


def terminating_status(ns: core_pb2.Namespace, remaining: dict[str, int], finalizers_left: dict[str, int],
                       now: float) -> core_pb2.NamespaceStatus:
    """Phase Terminating with Kubernetes' NamespaceContentRemaining and
    NamespaceFinalizersRemaining conditions."""
    status = core_pb2.NamespaceStatus(phase="Terminating")
    old = {c.type: c for c in ns.status.conditions}
    for ctype, counts, what in ((CONTENT_REMAINING, remaining, "Some resources are remaining"),
                                (FINALIZERS_REMAINING, finalizers_left, "Some content in the namespace has finalizers remaining")):
        cond = status.conditions.add(type=ctype)
        if counts:
            cond.status = "True"
            cond.reason = "SomeResourcesRemain" if ctype == CONTENT_REMAINING else "SomeFinalizersRemain"
            cond.message = f"{what}: " + ", ".join(f"{k} has {n} resource instances" if ctype == CONTENT_REMAINING
                                                   else f"{k} in {n} resource instances"
                                                   for k, n in sorted(counts.items()))
        else:
            cond.status = "False"
            cond.reason = "ContentDeleted" if ctype == CONTENT_REMAINING else "ContentHasNoFinalizers"
            cond.message = "All content successfully deleted" if ctype == CONTENT_REMAINING else "All content-preserving finalizers finished"
        prev = old.get(ctype)
        if prev is not None and prev.status == cond.status:
            cond.last_transition_time.CopyFrom(prev.last_transition_time)
        else:
            cond.last_transition_time.CopyFrom(timestamp(now))
    return status


def plan_namespace_content(contents: dict[str, list]) -> tuple[list[Action], dict[str, int], dict[str, int]]:
    """Deletes of every object in ``contents`` (by kind) not already being deleted; the count
    of objects remaining by kind, and of those held by finalizers by finalizer."""
    actions: list[Action] = []
    remaining: dict[str, int] = {}
    finalizers: dict[str, int] = {}
    for kind, objects in contents.items():
        if objects:
            remaining[kinds.by_kind(kind).plural] = len(objects)
        for obj in objects:
            for name in obj.metadata.finalizers:
                finalizers[name] = finalizers.get(name, 0) + 1
            if not is_terminating(obj):
                actions.append(Delete.of(obj, propagation=BACKGROUND))
    return actions, remaining, finalizers


def plan_terminating_namespace(ns: core_pb2.Namespace, contents: dict[str, list], now: float) -> NamespacePlan:
    plan = NamespacePlan()
    deletes, remaining, finalizers = plan_namespace_content(contents)
    status = terminating_status(ns, remaining, finalizers, now)
    if status != ns.status:
        updated = clone(ns)
        updated.status.CopyFrom(status)
        plan.actions.append(UpdateStatus(updated))
    plan.actions.extend(deletes)
    if remaining:
        plan.waiting = True
        return plan
    if NAMESPACE_FINALIZER in ns.spec.finalizers:
        done = clone(ns)
        if plan.actions and isinstance(plan.actions[0], UpdateStatus):
            done.status.CopyFrom(status)
        keep = [f for f in ns.spec.finalizers if f != NAMESPACE_FINALIZER]
        del done.spec.finalizers[:]
        done.spec.finalizers.extend(keep)
        # The status write above changes the resourceVersion: no precondition on this one.
        done.metadata.resource_version = ""
        plan.actions.append(Update(done))
    return plan


def plan_orphaned_content(contents: dict[str, list]) -> NamespacePlan:
    """Contents of a namespace that no longer exists: all of it goes."""
    deletes, remaining, _ = plan_namespace_content(contents)
    return NamespacePlan(actions=deletes, waiting=bool(remaining))


class NamespaceController(Controller):
    name = NAME
    workers = 2

    @property
    def watches(self):  # type: ignore[override]
        # Events are listed live when a namespace goes, but not cached: there are many of them.
        return ("Namespace", *[k for k in namespaced_kinds() if k != "Event"])

    def on_change(self, kind: str, change: Change) -> None:
        if kind == "Namespace":
            self.queue.add(change.new.metadata.name)
            return
        namespace = change.new.metadata.namespace
        if change.type == "add" and namespace and self.cache("Namespace").get(namespace) is None:
            self.queue.add(namespace)

    def resync_keys(self) -> list[str]:
        names = set(self.cache("Namespace").keys())
        for kind in self.watches[1:]:
            names |= self.cache(kind).namespaces()
        return sorted(names)

    async def _contents(self, namespace: str) -> dict[str, list]:
        contents: dict[str, list] = {}
        for kind in namespaced_kinds():
            contents[kind] = await self.client.list_items(kind, namespace)
        return contents

    async def sync(self, key: str) -> float | None:
        name = key
        try:
            ns = await self.client.get("Namespace", name)
        except APIStatusError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            ns = None
        if ns is not None and not is_terminating(ns):
            return None
        contents = await self._contents(name)
        if ns is None:
            plan = plan_orphaned_content(contents)
            if plan.actions:
                log.info("namespace %s is gone: deleting %d objects left in it", name, len(plan.actions))
        else:
            plan = plan_terminating_namespace(ns, contents, self.now)
        outcomes = await self.run_actions(plan.actions, key)
        error = first_error(outcomes, ignore=(grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED))
        if error is not None:
            raise error
        if plan.waiting or any(not o.ok for o in outcomes):
            return self.ctx.settings.namespace_recheck_seconds
        return None
