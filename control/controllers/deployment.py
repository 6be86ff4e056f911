"""Deployment controller: one ReplicaSet per pod template, rolled from old to new.

plan_deployment(d, replica_sets, pods, now) -> DeploymentPlan, following Kubernetes'
syncDeployment step for step:

    being deleted        status only
    paused               Progressing=Unknown (DeploymentPaused); scale, never roll; clean up
    a scaling event      (an active ReplicaSet's desired-replicas annotation differs from
                         spec.replicas) scale proportionally, never roll
    RollingUpdate        scale the new ReplicaSet up within maxSurge, else the old ones down
                         within maxUnavailable (unhealthy old replicas first); one step a sync
    Recreate             old ReplicaSets to 0, wait until no old pod is left, then the new one
    then                 revisionHistoryLimit clean-up once complete; status with the
                         Available and Progressing conditions (NewReplicaSetCreated,
                         FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
                         ProgressDeadlineExceeded), requeued for the progress deadline

The new ReplicaSet is "<deployment>-<pod-template-hash>", so a create retried after a crash or
with a stale cache finds the same name (ALREADY_EXISTS) and never makes a second one. Every
ReplicaSet write carries the resourceVersion it was planned from: a plan made from a stale cache
fails with a conflict and is made again, instead of scaling twice.

Rollback (`rollout undo`) is not the controller's: rollback_template() gives the template of an
older revision, which the caller writes into the Deployment; the controller then finds that
ReplicaSet as the new one and moves it to the next revision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc

from shoal.control.controllers import deployment_util as du
from shoal.control.controllers.actions import Action, Create, Delete, Emit, Update, UpdateStatus
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import (
    clone,
    controller_ref,
    is_terminating,
    new_controller_ref,
    object_key,
    seconds,
    selector_is_empty,
    selector_matches,
    timestamp,
)
from shoal.control.controllers.ownership import claim
from shoal.v1 import apps_pb2

log = logging.getLogger("shoal.controllers.deployment")

NAME = "deployment"


@dataclass
class DeploymentPlan:
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None
    # The ReplicaSet this plan creates (its name is deterministic), if any.
    creates: str = ""


def _by_creation(rses):
    return sorted(rses, key=lambda rs: (seconds(rs.metadata.creation_timestamp), rs.metadata.name))


class DeploymentSync:
    """One sync of one Deployment over working copies of its ReplicaSets; plan() returns the
    writes that make the copies real. No I/O."""

    def __init__(self, d, owned_rses: list, pods_by_rs: dict[str, list], now: float, adopted: set[str] = frozenset()):
        self.d = d
        self.now = now
        self.pods_by_rs = pods_by_rs
        self.working = {rs.metadata.name: clone(rs) for rs in owned_rses}
        self.changed: set[str] = set(adopted)
        self.created: str = ""
        self.deletes: list[Delete] = []
        self.events: list[Emit] = []
        self.status = clone(d.status)
        self.final_status: apps_pb2.DeploymentStatus | None = None
        self.revision: str = d.metadata.annotations.get(du.REVISION, "")
        self.requeue_after: float | None = None

    # -- the steps (Kubernetes' function names in the docstrings) -----------------------------

    def run(self) -> None:
        d = self.d
        if is_terminating(d):
            new, old = self.get_all(create=False)
            self.sync_status([*old, new], new)
            return
        self.check_paused_conditions()
        if d.spec.paused:
            self.sync()
            return
        if self.is_scaling_event():
            self.sync()
            return
        if d.spec.strategy.type == "Recreate":
            self.rollout_recreate()
        else:
            self.rollout_rolling()

    def get_all(self, create: bool):
        """getAllReplicaSetsAndSyncRevision: (new ReplicaSet or None, old ones)."""
        d = self.d
        rses = _by_creation(self.working.values())
        new = next((rs for rs in rses if du.equal_ignore_hash(rs.spec.template, d.spec.template)), None)
        old = [rs for rs in rses if rs is not new]
        new_revision = du.max_revision(old) + 1
        if new is not None:
            changed = du.set_new_rs_annotations(d, new, new_revision, exists=True)
            if new.spec.min_ready_seconds != d.spec.min_ready_seconds:
                new.spec.min_ready_seconds = d.spec.min_ready_seconds
                changed = True
            if changed:
                self.changed.add(new.metadata.name)
            self.revision = new.metadata.annotations.get(du.REVISION, self.revision)
            if du.has_progress_deadline(d) and du.get_condition(self.status, du.PROGRESSING) is None:
                du.set_condition(self.status, du.new_condition(
                    du.PROGRESSING, "True", du.FOUND_NEW_RS, f'Found new replica set "{new.metadata.name}"', self.now))
            return new, old
        if not create:
            return None, old
        return self._new_replica_set(old, new_revision), old

    def _new_replica_set(self, old: list, new_revision: int):
        d = self.d
        collisions = d.status.collision_count if d.status.HasField("collision_count") else 0
        pod_hash = du.template_hash(d.spec.template, collisions)
        name = f"{d.metadata.name}-{pod_hash}"
        if name in self.working:
            # Same name, different template: a hash collision. Count it; the next sync hashes
            # with the new count (the status write below triggers it).
            self.status.collision_count = collisions + 1
            return None
        rs = apps_pb2.ReplicaSet()
        rs.metadata.name = name
        rs.metadata.namespace = d.metadata.namespace
        rs.metadata.owner_references.append(new_controller_ref(d))
        rs.metadata.creation_timestamp.CopyFrom(timestamp(self.now))  # for ordering only
        rs.spec.template.CopyFrom(d.spec.template)
        rs.spec.template.metadata.labels[du.HASH_LABEL] = pod_hash
        rs.metadata.labels.update(rs.spec.template.metadata.labels)
        rs.spec.selector.CopyFrom(d.spec.selector)
        rs.spec.selector.match_labels[du.HASH_LABEL] = pod_hash
        rs.spec.min_ready_seconds = d.spec.min_ready_seconds
        rs.spec.replicas = 0
        rs.spec.replicas = du.new_rs_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        self.working[name] = rs
        self.created = name
        self.revision = str(new_revision)
        if rs.spec.replicas > 0:
            self.events.append(Emit(d, "Normal", "ScalingReplicaSet",
                                    f"Scaled up replica set {name} from 0 to {rs.spec.replicas}"))
        if du.has_progress_deadline(d):
            du.set_condition(self.status, du.new_condition(
                du.PROGRESSING, "True", du.NEW_RS_CREATED, f'Created new replica set "{name}"', self.now))
        return rs

    def scale_rs(self, rs, new_scale: int, op: str = "") -> bool:
        """scaleReplicaSet: size and the desired/max-replicas annotations; True if resized."""
        d = self.d
        resize = du.replicas_of(rs) != new_scale
        max_replicas = du.replicas_of(d) + du.max_surge(d)
        if not resize and not du.replicas_annotations_need_update(rs, du.replicas_of(d), max_replicas):
            return False
        before = du.replicas_of(rs)
        rs.spec.replicas = new_scale
        du.set_replicas_annotations(rs, du.replicas_of(d), max_replicas)
        self.changed.add(rs.metadata.name)
        if resize:
            op = op or ("up" if new_scale > before else "down")
            self.events.append(Emit(d, "Normal", "ScalingReplicaSet",
                                    f"Scaled {op} replica set {rs.metadata.name} from {before} to {new_scale}"))
        return resize

    def scale_and_record(self, rs, new_scale: int) -> bool:
        if du.replicas_of(rs) == new_scale:
            return False
        return self.scale_rs(rs, new_scale)

    def check_paused_conditions(self) -> None:
        d = self.d
        if not du.has_progress_deadline(d):
            return
        cond = du.get_condition(self.status, du.PROGRESSING)
        if cond is not None and cond.reason == du.TIMED_OUT:
            return
        paused_cond = cond is not None and cond.reason == du.PAUSED
        if d.spec.paused and not paused_cond:
            du.set_condition(self.status, du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused", self.now))
        elif not d.spec.paused and paused_cond:
            du.set_condition(self.status, du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED, "Deployment is resumed", self.now))

    def is_scaling_event(self) -> bool:
        new, old = self.get_all(create=False)
        for rs in du.active([*old, new]):
            desired = rs.metadata.annotations.get(du.DESIRED_REPLICAS, "")
            if desired.isdigit() and int(desired) != du.replicas_of(self.d):
                return True
        return False

    def sync(self) -> None:
        """sync: scale only (paused or resized), then status."""
        new, old = self.get_all(create=False)
        self.scale(new, old)
        if self.d.spec.paused:
            self.cleanup(old)
        self.sync_status([*old, new], new)

    def scale(self, new, old: list) -> None:
        d = self.d
        target = du.find_active_or_latest(new, old)
        if target is not None:
            if du.replicas_of(target) != du.replicas_of(d):
                self.scale_and_record(target, du.replicas_of(d))
            return
        if du.is_saturated(d, new):
            for rs in du.active(old):
                self.scale_and_record(rs, 0)
            return
        if not du.is_rolling(d):
            return
        rses = du.active([*old, new])
        allowed = du.replicas_of(d) + du.max_surge(d) if du.replicas_of(d) > 0 else 0
        to_add = allowed - du.spec_total(rses)
        if to_add > 0:  # larger first; newer first among equals
            rses.sort(key=lambda rs: (-du.replicas_of(rs), -seconds(rs.metadata.creation_timestamp), rs.metadata.name))
            op = "up"
        elif to_add < 0:  # larger first; older first among equals
            rses.sort(key=lambda rs: (-du.replicas_of(rs), seconds(rs.metadata.creation_timestamp), rs.metadata.name))
            op = "down"
        else:
            op = ""
        added = 0
        sizes = {}
        for rs in rses:
            if to_add != 0:
                share = du.proportion(rs, d, to_add, added)
                sizes[rs.metadata.name] = du.replicas_of(rs) + share
                added += share
            else:
                sizes[rs.metadata.name] = du.replicas_of(rs)
        for i, rs in enumerate(rses):
            name = rs.metadata.name
            if i == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)
            self.scale_rs(rs, sizes[name], op)

    def rollout_rolling(self) -> None:
        new, old = self.get_all(create=True)
        if new is None:  # hash collision counted; try again with the new count
            self.sync_rollout_status(old, None)
            return
        all_rses = [*old, new]
        if self.reconcile_new(all_rses, new):
            self.sync_rollout_status(all_rses, new)
            return
        if self.reconcile_old(all_rses, du.active(old), new):
            self.sync_rollout_status(all_rses, new)
            return
        if du.deployment_complete(self.d, self.d.status):
            self.cleanup(old)
        self.sync_rollout_status(all_rses, new)

    def reconcile_new(self, all_rses: list, new) -> bool:
        d = self.d
        if du.replicas_of(new) == du.replicas_of(d):
            return False
        if du.replicas_of(new) > du.replicas_of(d):
            return self.scale_and_record(new, du.replicas_of(d))
        return self.scale_and_record(new, du.new_rs_replicas(d, all_rses, new))

    def reconcile_old(self, all_rses: list, old: list, new) -> bool:
        d = self.d
        if du.spec_total(old) == 0:
            return False
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        new_unavailable = du.replicas_of(new) - du.available(new)
        max_scaled_down = du.spec_total(all_rses) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(old, max_scaled_down)
        scaled = self.scale_down_old_for_rolling_update([*old, new], old)
        return cleaned + scaled > 0

    def cleanup_unhealthy(self, old: list, max_cleanup: int) -> int:
        """Old replicas that are not available go first: they would block the rollout."""
        total = 0
        for rs in _by_creation(old):
            if total >= max_cleanup:
                break
            unhealthy = du.replicas_of(rs) - du.available(rs)
            if du.replicas_of(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_cleanup - total, unhealthy)
            self.scale_and_record(rs, du.replicas_of(rs) - count)
            total += count
        return total

    def scale_down_old_for_rolling_update(self, all_rses: list, old: list) -> int:
        d = self.d
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        available = sum(du.available(rs) for rs in all_rses)
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in _by_creation(old):
            if total >= budget:
                break
            if du.replicas_of(rs) == 0:
                continue
            count = min(du.replicas_of(rs), budget - total)
            self.scale_and_record(rs, du.replicas_of(rs) - count)
            total += count
        return total

    def rollout_recreate(self) -> None:
        new, old = self.get_all(create=False)
        scaled_down = False
        for rs in du.active(old):
            scaled_down = self.scale_and_record(rs, 0) or scaled_down
        if scaled_down:
            self.sync_rollout_status([*old, new], new)
            return
        if self.old_pods_running(new, old):
            self.sync_rollout_status([*old, new], new)
            return
        if new is None:
            new, old = self.get_all(create=True)
            if new is None:
                self.sync_rollout_status(old, None)
                return
        self.scale_and_record(new, du.replicas_of(self.d))
        if du.deployment_complete(self.d, self.d.status):
            self.cleanup(old)
        self.sync_rollout_status([*old, new], new)

    def old_pods_running(self, new, old: list) -> bool:
        if sum(rs.status.replicas for rs in old) > 0:
            return True
        for rs in old:
            for pod in self.pods_by_rs.get(rs.metadata.uid, ()):
                if pod.status.phase not in ("Failed", "Succeeded"):
                    return True
        return False

    def cleanup(self, old: list) -> None:
        """cleanupDeployment: old ReplicaSets beyond revisionHistoryLimit, oldest revision
        first, and only those scaled to zero and observed so."""
        d = self.d
        if not d.spec.HasField("revision_history_limit"):
            return
        alive = [rs for rs in old if not is_terminating(rs)]
        excess = len(alive) - d.spec.revision_history_limit
        if excess <= 0:
            return
        alive.sort(key=lambda rs: (du.revision(rs), seconds(rs.metadata.creation_timestamp), rs.metadata.name))
        for rs in alive[:excess]:
            if rs.status.replicas or du.replicas_of(rs) or rs.metadata.generation > rs.status.observed_generation:
                continue
            self.deletes.append(Delete.of(rs, if_unchanged=True))

    # -- status -------------------------------------------------------------------------------

    def sync_status(self, all_rses: list, new) -> None:
        self.final_status = du.calculate_status(all_rses, new, self.d, self.now, prior=self.status)

    def sync_rollout_status(self, all_rses: list, new) -> None:
        d, now = self.d, self.now
        status = du.calculate_status(all_rses, new, d, now, prior=self.status)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        current = du.get_condition(self.status, du.PROGRESSING)
        complete_before = (status.replicas == status.updated_replicas and current is not None
                           and current.reason == du.NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{new.metadata.name}"' if new is not None else f'Deployment "{d.metadata.name}"'
        if du.has_progress_deadline(d) and not complete_before:
            if du.deployment_complete(d, status):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                          f"{subject} has successfully progressed.", now))
            elif du.deployment_progressing(d, status):
                cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, f"{subject} is progressing.", now)
                if current is not None:
                    if current.status == "True":
                        cond.last_transition_time.CopyFrom(current.last_transition_time)
                    du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, now):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                          f"{subject} has timed out progressing.", now))
        failures = du.replica_failures(all_rses, new)
        if failures:
            du.set_condition(status, failures[0])
        else:
            du.remove_condition(status, du.REPLICA_FAILURE)
        self.final_status = status
        self.requeue_after = self._stuck_requeue(status)

    def _stuck_requeue(self, status) -> float | None:
        d = self.d
        cond = du.get_condition(status, du.PROGRESSING)
        if not du.has_progress_deadline(d) or cond is None or cond.status != "True":
            return None
        if du.deployment_complete(d, status) or cond.reason == du.TIMED_OUT:
            return None
        return max(1.0, seconds(cond.last_update_time) + d.spec.progress_deadline_seconds - self.now + 1.0)

    # -- the result ---------------------------------------------------------------------------

    def plan(self, claims: list[Action]) -> DeploymentPlan:
        d = self.d
        plan = DeploymentPlan(requeue_after=self.requeue_after, creates=self.created)
        plan.actions.extend(a for a in claims if not (isinstance(a, Update) and a.obj.metadata.name in self.working))
        if self.created:
            rs = self.working[self.created]
            rs.metadata.ClearField("creation_timestamp")
            plan.actions.append(Create(rs))
        for name in sorted(self.changed - {self.created}):
            plan.actions.append(Update(self.working[name]))
        plan.actions.extend(self.events)
        plan.actions.extend(self.deletes)
        if self.revision and d.metadata.annotations.get(du.REVISION) != self.revision and not is_terminating(d):
            updated = clone(d)
            updated.metadata.annotations[du.REVISION] = self.revision
            plan.actions.append(Update(updated))
        if self.final_status is not None and self.final_status != d.status:
            updated = clone(d)
            updated.status.CopyFrom(self.final_status)
            updated.metadata.resource_version = ""
            plan.actions.append(UpdateStatus(updated))
        elif self.status.HasField("collision_count") and self.status.collision_count != d.status.collision_count:
            updated = clone(d)
            updated.status.collision_count = self.status.collision_count
            updated.metadata.resource_version = ""
            plan.actions.append(UpdateStatus(updated))
        return plan


def rs_matches(d, rs) -> bool:
    return not selector_is_empty(d.spec.selector) and selector_matches(d.spec.selector, rs.metadata.labels)


def plan_deployment(d, candidates: list, pods: list, now: float) -> DeploymentPlan:
    """What to do about Deployment ``d`` given the ReplicaSets of its namespace it controls or
    selects, and (for Recreate) the pods of those ReplicaSets."""
    claimed = claim(d, candidates, lambda rs: rs_matches(d, rs))
    owned = list(claimed.owned)
    adopted = set()
    for action in claimed.adopt:
        adopted.add(action.obj.metadata.name)
        owned = [action.obj if rs.metadata.name == action.obj.metadata.name else rs for rs in owned]
    uids = {rs.metadata.uid for rs in owned}
    pods_by_rs: dict[str, list] = {}
    for pod in pods:
        ref = controller_ref(pod)
        if ref is not None and ref.uid in uids:
            pods_by_rs.setdefault(ref.uid, []).append(pod)
    sync = DeploymentSync(d, owned, pods_by_rs, now, adopted)
    sync.run()
    return sync.plan(claimed.actions)


def rollback_template(d, replica_sets: list, to_revision: int = 0):
    """The pod template `rollout undo` writes back into ``d``: that of the ReplicaSet at
    ``to_revision``, or (0) of the newest revision before the current one. Raises LookupError
    when there is no such revision."""
    owned = [rs for rs in replica_sets if controller_ref(rs) is not None and controller_ref(rs).uid == d.metadata.uid]
    by_revision = {du.revision(rs): rs for rs in owned}
    if to_revision == 0:
        current = max((r for r, rs in by_revision.items()
                       if du.equal_ignore_hash(rs.spec.template, d.spec.template)), default=du.max_revision(owned))
        older = [r for r in by_revision if r < current and r > 0]
        if not older:
            raise LookupError("no rollout history found")
        to_revision = max(older)
    rs = by_revision.get(to_revision)
    if rs is None:
        raise LookupError(f"unable to find specified revision {to_revision} in history")
    return du.template_without_hash(rs.spec.template)


class DeploymentController(Controller):
    name = NAME
    watches = ("Deployment", "ReplicaSet", "Pod")
    workers = 2

    def _owner_key(self, rs) -> str | None:
        ref = controller_ref(rs)
        if ref is None or ref.kind != "Deployment":
            return None
        key = f"{rs.metadata.namespace}/{ref.name}"
        d = self.cache("Deployment").get(key)
        return key if d is not None and d.metadata.uid == ref.uid else None

    def on_change(self, kind: str, change: Change) -> None:
        obj = change.new
        if kind == "Deployment":
            self.queue.add(object_key(obj))
        elif kind == "ReplicaSet":
            keys = {self._owner_key(obj)}
            if change.old is not None:
                keys.add(self._owner_key(change.old))
            if controller_ref(obj) is None and change.type != "delete":
                keys.update(object_key(d) for d in self.cache("Deployment").list(obj.metadata.namespace)
                            if rs_matches(d, obj))
            for key in keys - {None}:
                self.queue.add(key)
        elif kind == "Pod" and change.type == "delete":
            # Recreate waits for the old pods to be gone.
            ref = controller_ref(obj)
            if ref is None or ref.kind != "ReplicaSet":
                return
            rs = self.cache("ReplicaSet").get(f"{obj.metadata.namespace}/{ref.name}")
            if rs is not None:
                key = self._owner_key(rs)
                d = self.cache("Deployment").get(key) if key else None
                if d is not None and d.spec.strategy.type == "Recreate":
                    self.queue.add(key)

    def candidates(self, d) -> list:
        uid = d.metadata.uid
        return [rs for rs in self.cache("ReplicaSet").list(d.metadata.namespace)
                if (controller_ref(rs) is None and rs_matches(d, rs))
                or (controller_ref(rs) is not None and controller_ref(rs).uid == uid)]

    async def sync(self, key: str) -> float | None:
        d = self.cache("Deployment").get(key)
        if d is None:
            return None
        pods = self.cache("Pod").list(d.metadata.namespace) if d.spec.strategy.type == "Recreate" else []
        plan = plan_deployment(d, self.candidates(d), pods, self.now)
        for action in plan.actions:
            outcome = await self.ctx.executor.run(action, controller=self.name, key=key)
            if outcome.ok or (isinstance(action, Delete) and outcome.code == grpc.StatusCode.NOT_FOUND):
                continue
            if isinstance(action, Create) and outcome.code == grpc.StatusCode.ALREADY_EXISTS:
                return await self._already_exists(d, action.obj)
            raise outcome.error
        return plan.requeue_after

    async def _already_exists(self, d, wanted) -> float | None:
        """The new ReplicaSet's name is taken: ours (the cache is behind; look again shortly)
        or another template's (a hash collision: count it, which changes the next hash)."""
        existing = await self.client.get("ReplicaSet", wanted.metadata.name, d.metadata.namespace)
        ref = controller_ref(existing)
        if ref is not None and ref.uid == d.metadata.uid and du.equal_ignore_hash(existing.spec.template, d.spec.template):
            return 0.2
        updated = clone(d)
        updated.status.collision_count = (d.status.collision_count if d.status.HasField("collision_count") else 0) + 1
        updated.metadata.resource_version = ""
        await self.client.update_status(updated)
        return 0.0
