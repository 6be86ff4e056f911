"""ReplicaSet controller: keeps ``spec.replicas`` pods of the template running.

plan_replica_set(rs, candidates, now, expectations_satisfied) -> ReplicaSetPlan
    claim       adopt orphans matching the selector, release owned pods that stop matching
    manage      too few active pods: create the difference (names "<rs>-" + 5 random chars,
                from generateName); too many: delete the best candidates (pods.deletion_order)
    status      replicas / fullyLabeledReplicas / readyReplicas / availableReplicas
                (minReadySeconds) / observedGeneration, written only when changed

Between issuing creates or deletes and seeing them come back through the pod informer, the key's
expectations are outstanding and manage is skipped, so a sync that runs in between (a status
update, a resync) never creates or deletes a second time. Nothing is remembered across a
restart but expectations, which start empty: the fresh list of pods is the truth.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc

from shoal.control.controllers.actions import Action, Create, Delete, Emit, UpdateStatus, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import (
    clone,
    controller_ref,
    is_terminating,
    object_key,
    selector_is_empty,
    selector_matches,
    timestamp,
)
from shoal.control.controllers.ownership import Expectations, claim
from shoal.control.controllers.pods import (
    available_in,
    deletion_order,
    is_active,
    is_available,
    is_ready,
    pod_from_template,
)
from shoal.proto.client import APIStatusError
from shoal.v1 import apps_pb2

log = logging.getLogger("shoal.controllers.replicaset")

NAME = "replicaset"
BURST_REPLICAS = 500
REPLICA_FAILURE = "ReplicaFailure"


@dataclass
class ReplicaSetPlan:
    # Adoptions and releases first, then creates, then deletes.
    claims: list[Action] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    status: apps_pb2.ReplicaSetStatus | None = None
    requeue_after: float | None = None


def desired_replicas(rs) -> int:
    return rs.spec.replicas if rs.spec.HasField("replicas") else 1


def replica_set_status(rs, active_pods: list, now: float) -> tuple[apps_pb2.ReplicaSetStatus, float | None]:
    """The status the owned active pods give (calculateStatus), and the seconds until a ready
    pod turns available (for minReadySeconds), if any."""
    template_labels = rs.spec.template.metadata.labels
    min_ready = rs.spec.min_ready_seconds
    status = apps_pb2.ReplicaSetStatus(
        replicas=len(active_pods),
        fully_labeled_replicas=sum(
            1 for p in active_pods if all(p.metadata.labels.get(k) == v for k, v in template_labels.items())
        ),
        ready_replicas=sum(1 for p in active_pods if is_ready(p)),
        available_replicas=sum(1 for p in active_pods if is_available(p, min_ready, now)),
        observed_generation=rs.metadata.generation,
    )
    status.conditions.extend(rs.status.conditions)
    waits = [w for w in (available_in(p, min_ready, now) for p in active_pods) if w is not None]
    return status, (min(waits) if waits else None)


def with_replica_failure(status: apps_pb2.ReplicaSetStatus, reason: str | None, message: str,
                         now: float) -> apps_pb2.ReplicaSetStatus:
    """The ReplicaFailure condition set (reason given) or removed (reason None)."""
    new = clone(status)
    others = [c for c in status.conditions if c.type != REPLICA_FAILURE]
    current = next((c for c in status.conditions if c.type == REPLICA_FAILURE), None)
    del new.conditions[:]
    new.conditions.extend(others)
    if reason is not None:
        if current is not None and current.reason == reason and current.message == message:
            new.conditions.append(current)
        else:
            new.conditions.add(type=REPLICA_FAILURE, status="True", reason=reason, message=message,
                               last_transition_time=timestamp(now))
    return new


def pod_matches(rs, pod) -> bool:
    return not selector_is_empty(rs.spec.selector) and selector_matches(rs.spec.selector, pod.metadata.labels)


def plan_replica_set(rs, candidates: list, *, now: float, expectations_satisfied: bool = True,
                     related: list | None = None, burst: int = BURST_REPLICAS) -> ReplicaSetPlan:
    """What to do about ``rs`` given the pods of its namespace that it controls or selects."""
    plan = ReplicaSetPlan()
    claimed = claim(rs, candidates, lambda p: pod_matches(rs, p))
    plan.claims = claimed.actions
    active = [p for p in claimed.owned if is_active(p)]
    if expectations_satisfied and not is_terminating(rs):
        diff = len(active) - desired_replicas(rs)
        if diff < 0:
            for _ in range(min(-diff, burst)):
                pod = pod_from_template(rs.spec.template, rs, generate_name=f"{rs.metadata.name}-")
                plan.creates.append(Create(pod, event=Emit(rs, "Normal", "SuccessfulCreate", "Created pod: {name}")))
        elif diff > 0:
            for pod in deletion_order(active, related)[: min(diff, burst)]:
                plan.deletes.append(Delete.of(pod, event=Emit(rs, "Normal", "SuccessfulDelete",
                                                              f"Deleted pod: {pod.metadata.name}")))
    status, wait = replica_set_status(rs, active, now)
    if status != rs.status:
        plan.status = status
    if wait is not None:
        plan.requeue_after = wait + 0.05
    return plan


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... adding up to ``count`` (controller.slowStartBatch)."""
    sizes, size = [], initial
    while count > 0:
        sizes.append(min(size, count))
        count -= sizes[-1]
        size *= 2
    return sizes


class ReplicaSetController(Controller):
    name = NAME
    watches = ("ReplicaSet", "Pod")
    workers = 4
    owner_kind = "ReplicaSet"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()

    # -- pods to keys ---------------------------------------------------------------------------

    def _owner_key(self, pod) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != self.owner_kind:
            return None
        key = f"{pod.metadata.namespace}/{ref.name}"
        owner = self.cache(self.owner_kind).get(key)
        if owner is None or owner.metadata.uid != ref.uid:
            return None
        return key

    def _selecting(self, pod) -> list[str]:
        return [object_key(rs) for rs in self.cache(self.owner_kind).list(pod.metadata.namespace)
                if pod_matches(rs, pod)]

    def on_change(self, kind: str, change: Change) -> None:
        if kind == self.owner_kind:
            key = object_key(change.new)
            if change.type == "delete":
                self.expectations.forget(key)
            self.queue.add(key)
            return
        pod, old = change.new, change.old
        key = self._owner_key(pod)
        if change.type == "add":
            if key is not None:
                if is_terminating(pod):
                    self.expectations.deletion_observed(key, pod.metadata.uid)
                else:
                    self.expectations.creation_observed(key)
        elif change.type == "delete":
            if key is not None:
                self.expectations.deletion_observed(key, pod.metadata.uid)
        elif is_terminating(pod) and not is_terminating(old) and key is not None:
            self.expectations.deletion_observed(key, pod.metadata.uid)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(pod) is None and change.type != "delete":
            for k in self._selecting(pod):
                self.queue.add(k)
        if old is not None:
            old_key = self._owner_key(old)
            if old_key is not None and old_key != key:
                self.queue.add(old_key)
            if old.metadata.labels != pod.metadata.labels and controller_ref(pod) is None:
                for k in self._selecting(pod):
                    self.queue.add(k)

    # -- sync -----------------------------------------------------------------------------------

    def candidates(self, owner) -> list:
        """Pods ``owner`` controls (owner index) and orphans its selector matches (label index)."""
        pods = self.cache("Pod")
        uid = owner.metadata.uid
        owned = [p for p in pods.by_owner(uid) if (ref := controller_ref(p)) is not None and ref.uid == uid]
        orphans = [] if selector_is_empty(owner.spec.selector) else [
            p for p in pods.select(owner.metadata.namespace, owner.spec.selector) if controller_ref(p) is None]
        return owned + orphans

    async def sync(self, key: str) -> float | None:
        rs = self.cache(self.owner_kind).get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        plan = plan_replica_set(rs, self.candidates(rs), now=self.now,
                                expectations_satisfied=self.expectations.satisfied(key))
        error = first_error(await self.run_actions(plan.claims, key))
        if error is not None:
            raise error
        failure = None
        if plan.creates:
            failure = await self._create(key, plan.creates)
        if plan.deletes:
            failure = await self._delete(key, plan.deletes) or failure
        status = plan.status if plan.status is not None else clone(rs.status)
        if failure is not None:
            status = with_replica_failure(status, failure[0], failure[1], self.now)
        elif plan.creates or plan.deletes:
            status = with_replica_failure(status, None, "", self.now)
        if status != rs.status:
            updated = clone(rs)
            updated.status.CopyFrom(status)
            updated.metadata.resource_version = ""
            await self.run_actions([UpdateStatus(updated)], key)
        if failure is not None:
            raise APIStatusError(grpc.StatusCode.UNAVAILABLE, failure[1])
        return plan.requeue_after

    async def _create(self, key: str, creates: list[Create]) -> tuple[str, str] | None:
        self.expectations.expect(key, adds=len(creates))
        done = 0
        for size in slow_start_batches(len(creates)):
            batch = creates[done: done + size]
            outcomes = await asyncio.gather(*(self.ctx.executor.run(c, controller=self.name, key=key) for c in batch))
            done += size
            failed = [o for o in outcomes if not o.ok]
            for _ in failed:
                self.expectations.creation_observed(key)
            if failed:
                for _ in creates[done:]:
                    self.expectations.creation_observed(key)
                error = failed[0].error
                self.ctx.executor.emit(Emit(creates[0].event.involved, "Warning", "FailedCreate",
                                            f"Error creating: {error.message}"))
                return "FailedCreate", error.message
        return None

    async def _delete(self, key: str, deletes: list[Delete]) -> tuple[str, str] | None:
        self.expectations.expect(key, deletes=[d.uid for d in deletes])
        outcomes = await asyncio.gather(*(self.ctx.executor.run(d, controller=self.name, key=key) for d in deletes))
        failure = None
        for delete, outcome in zip(deletes, outcomes):
            if outcome.ok:
                continue
            self.expectations.deletion_observed(key, delete.uid)
            if outcome.code != grpc.StatusCode.NOT_FOUND:
                failure = ("FailedDelete", outcome.error.message)
        return failure
