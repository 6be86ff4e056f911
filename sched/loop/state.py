"""The scheduler's state machine: informer changes in, actions out (see actions.py).

    on_node / on_pod / on_context    what the watches saw -> the cache (snapshot) and the queue
    schedule(now, limit)             a batch of active pods through the Scheduler: assumed ones
                                     become Bind actions; the rest get their status, a
                                     FailedScheduling event and, when preemption found victims,
                                     a nomination and Evict actions
    bind_succeeded / bind_failed     the binder's answers

Everything is synchronous and in one thread: an event is applied whole before the next batch is
placed, and a batch is placed whole (assumed in the snapshot) before the next event. The loop in
runner.py owns the I/O; tests drive this class directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..framework.config import DEFAULT_SCHEDULER_NAME, Profile, build_profile
from ..plugins.default_preemption import PREFIX as PREEMPTION_PREFIX
from ..plugins.default_preemption import REASON_TERMINATING
from ..podinfo import PodParser
from ..scheduler import Outcome, Scheduler
from . import actions as act
from .batch import BATCH_TIME_LIMIT, BatchStats, place_window
from .cache import SchedulerCache, is_terminal, pod_facts, pod_key
from .gang import GANG_TIME_LIMIT, GangState, schedule_gangs
from .queue import QueuedPod, SchedulingQueue

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
NOT_ELIGIBLE_TERMINATING = PREEMPTION_PREFIX + REASON_TERMINATING
BIND_GONE_CODES = ("FAILED_PRECONDITION", "NOT_FOUND", "ABORTED")  # bound elsewhere, being deleted, gone, recreated
_MOVE_ALL, _MOVE_TERMS = 2, 1


def profiles_for(profiles: Mapping[str, Profile] | None, name: str = DEFAULT_SCHEDULER_NAME) -> dict[str, Profile]:
    """The profiles to run: those given, or the default profile under `name`."""
    if profiles:
        return dict(profiles)
    return {name: build_profile({"schedulerName": name})}


def ref_of(pod) -> act.PodRef:
    return act.PodRef(pod.metadata.namespace or "default", pod.metadata.name, pod.metadata.uid)


def _scheduled_status(pod) -> tuple:
    """(message, nominated node) the pod's status already says, to write each outcome once."""
    for c in pod.status.conditions:
        if c.type == act.POD_SCHEDULED and c.status == "False" and c.reason == act.UNSCHEDULABLE:
            return (c.message, pod.status.nominated_node_name)
    return ()


def _needs_terms(entry: QueuedPod) -> bool:
    """Pods another pod's arrival may let in: required pod affinity, hard spreading."""
    cls = entry.info.cls
    return bool(cls.required_affinity or cls.spread_constraints)


@dataclass
class StateStats:
    attempts: int = 0
    assumed: int = 0
    bound: int = 0
    unschedulable: int = 0
    bind_errors: int = 0
    preemptions: int = 0
    batches: int = 0


class SchedulerState:
    def __init__(self, profiles: Mapping[str, Profile] | None = None, *, name: str = DEFAULT_SCHEDULER_NAME,
                 seed: int = 0, queue: SchedulingQueue | None = None, validate: bool = False,
                 gang_time_limit: float = GANG_TIME_LIMIT, batch_solver: bool = False,
                 batch_time_limit: float = BATCH_TIME_LIMIT) -> None:
        self.profiles = profiles_for(profiles, name)
        self.names = frozenset(self.profiles)
        self.cache = SchedulerCache(validate=validate)
        self.queue = queue or SchedulingQueue()
        self.scheduler = Scheduler(self.cache.snapshot, self.profiles, seed, validate=validate)
        self.validate = validate
        self.stats = StateStats()
        self._pending_move = 0
        self._priority_classes: dict[str, Any] = {}
        kinds = ("Namespace", "Service", "ReplicaSet", "PersistentVolumeClaim", "PersistentVolume")
        self._context: dict[str, dict[str, tuple]] = {kind: {} for kind in kinds}
        self._context_objects: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
        self._context_dirty: set[str] = set()
        self.gangs = GangState()  # PodGroups and their members (gang.py)
        self.gang_time_limit = gang_time_limit
        self.batch_solver = batch_solver  # batch mode: windows of pods through the solver (batch.py)
        self.batch_time_limit = batch_time_limit
        self.batch_stats = BatchStats()

    @property
    def snapshot(self):
        return self.cache.snapshot

    def responsible(self, pod) -> bool:
        return (pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME) in self.names

    # -- informers ---------------------------------------------------------------------------------

    def on_node(self, kind: str, node, now: float) -> list[act.Action]:
        if kind == DELETED:
            out: list[act.Action] = []
            for key in self.cache.remove_node(node.metadata.name):
                out += self._nomination_ended(key)
            return out
        if self.cache.set_node(node) != "unchanged":
            self._pending_move = _MOVE_ALL
        return []

    def on_nodes(self, changes: list[tuple[str, object]], now: float) -> list[act.Action]:
        """A batch of node changes; runs of adds and updates are applied together."""
        out: list[act.Action] = []
        run: list = []
        for kind, node in changes + [(DELETED, None)]:
            if kind != DELETED:
                run.append(node)
                continue
            if run:
                if any(r != "unchanged" for r in self.cache.set_nodes(run)):
                    self._pending_move = _MOVE_ALL
                run = []
            if node is not None:
                out += self.on_node(DELETED, node, now)
        return out

    def on_pod(self, kind: str, pod, now: float) -> list[act.Action]:
        key = pod_key(pod)
        uid = pod.metadata.uid
        self.gangs.observe(kind, pod)
        if kind == DELETED or is_terminal(pod):
            self._pod_gone(key, uid)
            return []
        if pod.spec.node_name:
            return self._pod_bound(key, uid, pod)
        entry = self.queue.get(key)
        if entry is not None and entry.uid != uid:  # deleted and created again under the name
            self._pod_gone(key, entry.uid)
            entry = None
        bp = self.cache.bound(key)
        if bp is not None and bp.uid == uid:
            # Placed (bind in flight or done, the watch not yet caught up) or seen bound: a
            # pending view of it is older news (nodeName is never unset), never a new pod.
            if entry is not None:
                entry.pod = pod
            return []
        if bp is not None:  # a bound predecessor of the name, its deletion missed (a re-list)
            self._pod_gone(key, bp.uid)
        if pod.metadata.HasField("deletion_timestamp") or not self.responsible(pod):
            if entry is not None and entry.phase != "binding":
                self._drop(entry)
            return []
        gated = bool(pod.spec.scheduling_gates)
        if entry is None:
            info = self.cache.parser.parse(pod)
            entry = self.queue.add(key, uid, info, pod, gated=gated)
            entry.last_status = _scheduled_status(pod)
            return []
        if entry.phase == "binding" or entry.phase == "in_flight":
            entry.pod = pod
            return []
        old = entry.pod
        if old.metadata.generation != pod.metadata.generation or old.metadata.labels != pod.metadata.labels:
            info = self.cache.parser.parse(pod)
            changed = info.cls is not entry.info.cls
        else:
            info, changed = entry.info, False
        # The nomination is this scheduler's to keep: a late event of its own write must not undo
        # a later decision.
        info.nominated_node_name = entry.info.nominated_node_name
        self.queue.update(key, info, pod, gated=gated, changed=changed, now=now)
        return []

    def _pod_bound(self, key: str, uid: str, pod) -> list[act.Action]:
        entry = self.queue.get(key)
        if entry is not None:
            if entry.uid == uid and entry.phase == "binding":
                self.stats.bound += 1
            self._drop(entry)  # bound (by us, or by someone else), or a predecessor of the name
        self.cache.unreserve(key)
        outcome = self.cache.observe_bound(pod)
        if outcome in ("added", "updated") and self._pending_move < _MOVE_TERMS:
            self._pending_move = _MOVE_TERMS
        return []

    def _pod_gone(self, key: str, uid: str) -> None:
        entry = self.queue.get(key)
        if entry is not None and entry.uid == uid:
            self._drop(entry)
        if self.cache.remove(key, uid) is not None:
            self._pending_move = _MOVE_ALL

    def _drop(self, entry: QueuedPod) -> None:
        self.queue.remove(entry.key)
        res = self.cache.reservations.get(entry.key)
        if res is not None and res.uid == entry.uid:
            self.cache.unreserve(entry.key)
            self._pending_move = _MOVE_ALL  # the room it held is free

    def on_context(self, kind: str, event: str, obj) -> None:
        """Namespaces, Services, ReplicaSets, PersistentVolumeClaims and PersistentVolumes (what
        plugins read besides nodes and pods) and PriorityClasses (for pods that name one without
        spec.priority)."""
        name = f"{obj.metadata.namespace}/{obj.metadata.name}"
        if kind == "PodGroup":
            self.gangs.on_group(event, obj)
            self._pending_move = _MOVE_ALL  # its waiting members may go now
            return
        if kind == "PriorityClass":
            if event == DELETED:
                self._priority_classes.pop(name, None)
            else:
                self._priority_classes[name] = obj
            self.cache.parser = PodParser(self._priority_classes.values())
            return
        facts = self._context[kind]
        objects = self._context_objects[kind]
        if event == DELETED:
            if facts.pop(name, None) is not None:
                objects.pop(name, None)
                self._context_dirty.add(kind)
            return
        fact = _context_fact(kind, obj)
        if facts.get(name) != fact:
            facts[name] = fact
            self._context_dirty.add(kind)
        objects[name] = obj

    def _apply_context(self) -> None:
        if not self._context_dirty:
            return
        dirty, self._context_dirty = self._context_dirty, set()
        objects = self._context_objects
        self.snapshot.set_context(
            namespaces=list(objects["Namespace"].values()) if "Namespace" in dirty else None,
            services=list(objects["Service"].values()) if "Service" in dirty else None,
            replica_sets=list(objects["ReplicaSet"].values()) if "ReplicaSet" in dirty else None,
            claims=list(objects["PersistentVolumeClaim"].values()) if "PersistentVolumeClaim" in dirty else None,
            volumes=list(objects["PersistentVolume"].values()) if "PersistentVolume" in dirty else None,
        )
        self._pending_move = _MOVE_ALL

    # -- the queue and time ------------------------------------------------------------------------

    def _apply_moves(self, now: float) -> None:
        if self._pending_move == _MOVE_ALL:
            self.queue.move(now)
        elif self._pending_move == _MOVE_TERMS:
            self.queue.move(now, _needs_terms)
        self._pending_move = 0

    def ready(self, now: float) -> bool:
        """Whether schedule() has pods to take now (applies context changes, pending moves and
        expired backoffs: a changed claim or namespace may let a waiting pod in)."""
        self._apply_context()
        self._apply_moves(now)
        self.queue.flush(now)
        return self.queue.active_count > 0

    def next_wakeup(self, now: float) -> float:
        return self.queue.next_wakeup(now)

    # -- scheduling ----------------------------------------------------------------------------------

    def schedule(self, now: float, limit: int) -> list[act.Action]:
        """Place up to `limit` active pods (one batch, in queue order) and say what to do."""
        self._apply_context()
        self._apply_moves(now)
        self.queue.flush(now)
        entries = self.queue.pop(limit)
        if not entries:
            return []
        self.stats.batches += 1
        self.stats.attempts += len(entries)
        entries, gang_out = schedule_gangs(self, entries, now, self.gang_time_limit)
        if self.batch_solver and entries:
            entries, solved = place_window(self, entries, self.batch_time_limit, self.batch_stats)
            gang_out += solved
        if not entries:
            return gang_out
        held = {}
        for e in entries:
            res = self.cache.unreserve(e.key)  # its own reservation is its to take
            if res is not None:
                held[e.key] = res
        by_id = {id(e.info): e for e in entries}
        try:
            placements = self.scheduler.place([e.info for e in entries])
        except Exception:
            self._undo_batch(entries, now)
            raise
        names = self.snapshot.nodes
        out: list[act.Action] = []
        preempted = False
        for i, (info, n) in enumerate(zip(placements.pods, placements.nodes.tolist())):
            entry = by_id[id(info)]
            if n >= 0:
                node = names[n].name
                self.cache.assume(info, node, entry.uid, pod_facts(entry.pod), committed=True)
                self.queue.binding(entry)
                self.stats.assumed += 1
                out.append(act.bind_to(self.snapshot, ref_of(entry.pod), node))
                continue
            outcome = placements.failures[i]
            if outcome.victims and preempted:
                # Its plan was made before this batch's first preemptor took its room.
                self.queue.retry_now(entry)
                continue
            preempted |= bool(outcome.victims)
            out += self._unschedulable(entry, outcome, held.get(entry.key), now)
        if self.validate:
            problems = self.cache.check()
            assert not problems, problems
        return gang_out + out

    def _undo_batch(self, entries: list[QueuedPod], now: float) -> None:
        """A batch that failed half way (a bug, not a verdict): what it committed leaves the
        snapshot and its pods back off, so nothing is counted twice or lost."""
        for e in entries:
            if e.info.row >= 0:
                self.snapshot.remove_pod(e.info)
                e.info.start_ns = None
                e.info.special = e.info.terminating
            self.queue.error(e, now)

    def _unschedulable(self, entry: QueuedPod, outcome: Outcome, held, now: float) -> list[act.Action]:
        self.stats.unschedulable += 1
        out: list[act.Action] = []
        ref = ref_of(entry.pod)
        nominated: str | None = None
        if outcome.victims and outcome.nominated_node:
            out += self._preempt(entry, outcome)
            nominated = outcome.nominated_node if entry.key in self.cache.reservations else None
        elif entry.info.nominated_node_name:
            if outcome.message.endswith(NOT_ELIGIBLE_TERMINATING):
                # Its victims are still going: the nomination (and the room) stays.
                victims = held.victims if held is not None else ()
                self.cache.reserve(entry.key, entry.uid, entry.pod, entry.info.nominated_node_name, victims)
            else:
                nominated = ""
                entry.info.nominated_node_name = ""
        self.queue.unschedulable(entry, now)
        status = (outcome.message, entry.info.nominated_node_name)
        if status != entry.last_status:
            entry.last_status = status
            out.append(act.SetScheduled(ref, outcome.message, nominated))
        out.append(act.RecordEvent(ref, "Warning", "FailedScheduling", outcome.message))
        return out

    def _preempt(self, entry: QueuedPod, outcome: Outcome) -> list[act.Action]:
        """Nominate the node, hold its room, evict the victims (placeholders of lower-priority
        nominated pods among them lose their nomination instead)."""
        out: list[act.Action] = []
        victims = []
        for v in outcome.victims:
            holder = self.cache.reservation_holder(v)
            if holder is not None:
                out += self._nomination_ended(holder)
            else:
                victims.append(v)
        node = outcome.nominated_node
        if not self.cache.reserve(entry.key, entry.uid, entry.pod, node, tuple(v.uid for v in victims)):
            return out
        self.stats.preemptions += 1
        entry.info.nominated_node_name = node
        preemptor = ref_of(entry.pod)
        name = entry.info.cls.scheduler_name or DEFAULT_SCHEDULER_NAME
        for v in victims:
            out.append(act.Evict(act.PodRef(v.namespace, v.name, v.uid), preemptor, node, name))
        return out

    def _nomination_ended(self, key: str) -> list[act.Action]:
        self.cache.unreserve(key)
        entry = self.queue.get(key)
        if entry is None or not entry.info.nominated_node_name:
            return []
        entry.info.nominated_node_name = ""
        if entry.last_status:
            entry.last_status = (entry.last_status[0], "")
        if entry.phase == "unschedulable":
            self.queue.retry_now(entry)
        return [act.SetScheduled(ref_of(entry.pod), None, "")]

    # -- binds -----------------------------------------------------------------------------------------

    def bind_succeeded(self, pod: act.PodRef, node: str) -> list[act.Action]:
        entry = self.queue.get(pod.key)
        if entry is not None and entry.uid == pod.uid and entry.phase == "binding":
            self.queue.done(pod.key, pod.uid)
            self.stats.bound += 1
        return [act.RecordEvent(pod, "Normal", "Scheduled", act.scheduled_message(pod, node))]

    def bind_failed(self, pod: act.PodRef, node: str, code: str, message: str, now: float) -> list[act.Action]:
        """Forget the assumption; retry after a backoff unless the pod is gone, being deleted or
        bound by someone else (FAILED_PRECONDITION "already assigned": drop it)."""
        self.stats.bind_errors += 1
        info = self.cache.forget(pod.key, pod.uid)
        if info is not None:
            self._pending_move = _MOVE_ALL  # its room is free again
        entry = self.queue.get(pod.key)
        if entry is None or entry.uid != pod.uid or entry.phase != "binding":
            return []
        if code in BIND_GONE_CODES:
            self.queue.done(pod.key, pod.uid)
            return []
        if info is not None:
            entry.info = info
        self.queue.error(entry, now)
        return [act.RecordEvent(pod, "Warning", "FailedScheduling", f"Binding rejected: {message}")]

    # -- views -----------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {"nodes": self.snapshot.n_nodes, "bound": len(self.cache.pods), "queue": self.queue.phases(),
                "reservations": len(self.cache.reservations), **vars(self.stats),
                **({"batch_solver": vars(self.batch_stats)} if self.batch_solver else {})}


def _context_fact(kind: str, obj) -> tuple:
    if kind == "Namespace":
        return tuple(sorted(obj.metadata.labels.items()))
    if kind == "Service":
        return tuple(sorted(obj.spec.selector.items()))
    if kind == "PersistentVolumeClaim":  # what VolumeBinding reads
        return (obj.spec.volume_name, obj.spec.HasField("storage_class_name"), obj.spec.storage_class_name,
                obj.metadata.HasField("deletion_timestamp"))
    if kind == "PersistentVolume":
        return (obj.spec.node_affinity.SerializeToString(deterministic=True),)
    selector = obj.spec.selector  # ReplicaSet: its selector and whether it has one
    return (obj.spec.HasField("selector"), selector.SerializeToString(deterministic=True))
