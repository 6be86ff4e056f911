"""Gangs in the scheduling loop: a PodGroup's pods are placed in one cycle, all of them or none.

    a member popped from the queue
        |  its PodGroup unknown ------------------------> waits (PodScheduled=False, says so)
        |  members that exist + bound < minMember ------> waits ("3 of minMember 8 pods exist")
        |  minMember already bound ---------------------> an ordinary pod (the per-pod path)
        v
    every pending member taken out of the queue (active, backoff or unschedulable alike)
        |  place_batch: CP-SAT on the current snapshot, kube-scheduler's answer and the greedy
        |  placers as hint and fallback, the gang's constraint "0 or >= minMember - bound";
        |  members with inter-pod terms: one at a time through the framework instead
        v
    fits: every placed member assumed, a Bind each        does not fit: nothing stays in the
                                                          snapshot; every member gets
                                                          PodScheduled=False "pod group NS/G:
                                                          <gang reason>. This pod: <its own
                                                          filter verdict>", a FailedScheduling
                                                          event, and waits for a cluster event
                                                          (or the queue's flush) like any pod

The PodGroup's status (phase, scheduled / running / succeeded / failed counts and a
PodGroupScheduled condition with the same gang reason) is computed here from the members the
pod watch shows and written by gang_status.PodGroupStatusWriter when it changes.

A pod joins a group with the label scheduling.x-k8s.io/pod-group (see ../podgroup.py). No I/O
here: the state machine (state.py) calls in, the runner carries out the actions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..batch_place import GangSpec, place_batch
from ..podgroup import POD_GROUP_LABEL, group_key, group_of, min_member
from ..solver_bridge import release
from . import actions as act
from .cache import pod_facts, pod_key

if TYPE_CHECKING:
    from .queue import QueuedPod
    from .state import SchedulerState

log = logging.getLogger("shoal.sched.gang")

GANG_TIME_LIMIT = 2.0  # seconds per gang solve: the loop (and an in-process server) waits on it
GANG_OBJECTIVE = "nodes"  # pack gangs onto as few nodes as possible: less fragmentation

# PodGroup phases (scheduler-plugins coscheduling, v1alpha1) and the condition Shoal adds.
PHASE_PENDING = "Pending"
PHASE_SCHEDULED = "Scheduled"
PHASE_RUNNING = "Running"
PHASE_FINISHED = "Finished"
PHASE_FAILED = "Failed"
CONDITION_SCHEDULED = "PodGroupScheduled"
REASON_NOT_ENOUGH_MEMBERS = "NotEnoughMembers"
REASON_GROUP_NOT_FOUND = "PodGroupNotFound"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULED = "Scheduled"

_WAITING_PHASES = ("active", "backoff", "unschedulable")


def waiting_message(key: str, count: int, minimum: int) -> str:
    return f"pod group {key}: {count} of minMember {minimum} pods exist; waiting for the rest"


def not_found_message(key: str) -> str:
    return f"pod group {key} not found: its pods wait until it is created"


def gang_failed_message(key: str, gang_reason: str, pod_reason: str) -> str:
    return f"pod group {key}: {gang_reason}. This pod: {pod_reason}"


@dataclass(frozen=True, slots=True)
class SetGroupStatus:
    """The PodGroup's status as it should be written (the writer keeps the latest per group)."""

    namespace: str
    name: str
    uid: str
    phase: str
    scheduled: int
    running: int
    succeeded: int
    failed: int
    condition: tuple[str, str, str] | None  # (status, reason, message) of PodGroupScheduled

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class Member:
    uid: str
    node: str
    phase: str


class GangState:
    """PodGroups and their members as the watches show them, and each group's last verdict."""

    def __init__(self) -> None:
        self.groups: dict[str, Any] = {}  # "ns/name" -> PodGroup
        self.members: dict[str, dict[str, Member]] = defaultdict(dict)  # group -> pod key -> member
        self.verdicts: dict[str, tuple[str, str, str]] = {}  # group -> (status, reason, message)
        self.placed_by: dict[str, str] = {}  # group -> how its last placement was found
        self._written: dict[str, SetGroupStatus] = {}
        self._dirty: set[str] = set()

    # -- what the watches show -----------------------------------------------------------------

    def on_group(self, event: str, pg) -> None:
        key = group_key(pg)
        if event == "DELETED":
            self.groups.pop(key, None)
            self._written.pop(key, None)
            self.verdicts.pop(key, None)
            self.placed_by.pop(key, None)
        else:
            self.groups[key] = pg
            self._dirty.add(key)

    def observe(self, event: str, pod) -> None:
        """Any pod change; only members of a group are kept (cheap for the rest)."""
        key = group_of(pod.metadata.namespace, pod.metadata.labels) if POD_GROUP_LABEL in pod.metadata.labels else None
        if key is None:
            return
        pkey = pod_key(pod)
        members = self.members[key]
        if event == "DELETED":
            old = members.get(pkey)
            if old is not None and old.uid == pod.metadata.uid:
                del members[pkey]
        else:
            members[pkey] = Member(pod.metadata.uid, pod.spec.node_name, pod.status.phase)
        self._dirty.add(key)

    def member_keys(self, key: str) -> list[str]:
        return list(self.members.get(key, ()))

    def bound(self, key: str) -> int:
        """Members bound (their pod shows a node), terminal ones included."""
        return sum(1 for m in self.members.get(key, {}).values() if m.node)

    def set_verdict(self, key: str, status: str, reason: str, message: str) -> None:
        if self.verdicts.get(key) != (status, reason, message):
            self.verdicts[key] = (status, reason, message)
            self._dirty.add(key)

    # -- status --------------------------------------------------------------------------------

    def status_of(self, key: str) -> SetGroupStatus | None:
        pg = self.groups.get(key)
        if pg is None:
            return None
        members = self.members.get(key, {})
        mm = min_member(pg)
        scheduled = sum(1 for m in members.values() if m.node)
        running = sum(1 for m in members.values() if m.phase == "Running")
        succeeded = sum(1 for m in members.values() if m.phase == "Succeeded")
        failed = sum(1 for m in members.values() if m.phase == "Failed")
        if succeeded >= mm:
            phase = PHASE_FINISHED
        elif failed and running + succeeded < mm and scheduled >= mm:
            phase = PHASE_FAILED
        elif running >= mm:
            phase = PHASE_RUNNING
        elif scheduled >= mm:
            phase = PHASE_SCHEDULED
        else:
            phase = PHASE_PENDING
        if scheduled >= mm:
            how = self.placed_by.get(key)
            condition = ("True", REASON_SCHEDULED,
                         f"{scheduled} of minMember {mm} pods bound" + (f", placed {how}" if how else ""))
        elif len(members) < mm:
            condition = ("False", REASON_NOT_ENOUGH_MEMBERS, waiting_message(key, len(members), mm))
        else:
            condition = self.verdicts.get(key)
        meta = pg.metadata
        return SetGroupStatus(meta.namespace or "default", meta.name, meta.uid, phase, scheduled, running,
                              succeeded, failed, condition)

    def statuses(self) -> list[SetGroupStatus]:
        """The group statuses that changed since last asked (what to write)."""
        out = []
        for key in sorted(self._dirty):
            status = self.status_of(key)
            if status is not None and self._written.get(key) != status:
                self._written[key] = status
                out.append(status)
        self._dirty.clear()
        return out


# -- the gang cycle ------------------------------------------------------------------------------


def split_gangs(entries: list[QueuedPod]) -> tuple[dict[str, list[QueuedPod]], list[QueuedPod]]:
    """Popped entries by group, and the ordinary ones."""
    groups: dict[str, list[QueuedPod]] = defaultdict(list)
    rest = []
    for e in entries:
        key = group_of(e.pod.metadata.namespace, e.pod.metadata.labels)
        if key is None:
            rest.append(e)
        else:
            groups[key].append(e)
    return groups, rest


def schedule_gangs(state: SchedulerState, entries: list[QueuedPod], now: float,
                   time_limit: float = GANG_TIME_LIMIT) -> tuple[list[QueuedPod], list[act.Action]]:
    """Place the gangs among the popped entries; returns the ordinary entries (for the per-pod
    path, members of gangs already at minMember among them) and the gangs' actions."""
    groups, rest = split_gangs(entries)
    out: list[act.Action] = []
    for key, popped in groups.items():
        pg = state.gangs.groups.get(key)
        if pg is not None and state.gangs.bound(key) >= min_member(pg):
            rest += popped  # the gang stands: more members join it one by one
            continue
        try:
            out += _gang_cycle(state, key, popped, now, time_limit)
        except Exception:  # a bug, not a verdict: nothing of the gang stays half placed or lost
            log.exception("placing pod group %s failed", key)
            _undo(state, key, popped, now)
    return rest, out


def _undo(state: SchedulerState, key: str, popped: list[QueuedPod], now: float) -> None:
    entries = {id(e): e for e in popped}
    for k in state.gangs.member_keys(key):
        e = state.queue.get(k)
        if e is not None and e.phase == "in_flight":
            entries[id(e)] = e
    for e in entries.values():
        if e.info.row >= 0 and not state.cache.is_assumed(e.key, e.uid):
            release(state.snapshot, [e.info])
        state.queue.error(e, now)


def _gang_cycle(state: SchedulerState, key: str, popped: list[QueuedPod], now: float, time_limit: float) -> list[act.Action]:
    gangs = state.gangs
    pg = gangs.groups.get(key)
    if pg is None:
        message = not_found_message(key)
        return [a for e in popped for a in _wait(state, e, message, now)]
    minimum = min_member(pg)
    taken = {id(e) for e in popped}
    others = []
    for k in gangs.member_keys(key):
        e = state.queue.get(k)
        if e is not None and id(e) not in taken and e.phase in _WAITING_PHASES and not e.gated:
            others.append(e)
    bound = gangs.bound(key) + sum(1 for k in gangs.member_keys(key)
                                   if (e := state.queue.get(k)) is not None and e.phase == "binding")
    if len(popped) + len(others) + bound < minimum:
        message = waiting_message(key, len(popped) + len(others) + bound, minimum)
        gangs.set_verdict(key, "False", REASON_NOT_ENOUGH_MEMBERS, message)
        return [a for e in popped for a in _wait(state, e, message, now)]
    for e in others:
        state.queue.take(e)
    members = popped + others
    need = max(0, minimum - bound)
    nodes, gang_reason, how = place_gang(state, key, [e.info for e in members], need, time_limit)
    if gang_reason is None:
        gangs.placed_by[key] = how
        gangs.set_verdict(key, "True", REASON_SCHEDULED,
                          f"{bound + int(np.sum(nodes >= 0))} of minMember {minimum} pods placed {how}")
        return _bind(state, members, nodes, key, now)
    gangs.set_verdict(key, "False", REASON_UNSCHEDULABLE, f"pod group {key}: {gang_reason}")
    out: list[act.Action] = []
    for e in members:
        out += _wait(state, e, gang_failed_message(key, gang_reason, _pod_alone(state, e)), now)
    return out


def place_gang(state: SchedulerState, key: str, infos: list, need: int,
               time_limit: float) -> tuple[np.ndarray, str | None, str]:
    """Place at least `need` of the members into the snapshot, or none. Returns the node per
    member (-1: not placed), when the gang does not fit why (None: it fits), and by what
    ("by cpsat (optimal, gap 0)", for the PodGroup's condition)."""
    scheduler = state.scheduler
    batch = place_batch(scheduler, infos, [GangSpec(key, tuple(range(len(infos))), need)], GANG_OBJECTIVE, time_limit)
    nodes = batch.nodes.copy()
    if batch.rest:  # members with inter-pod terms (the whole gang then) or refused ones: one at a time
        later = scheduler.place([infos[i] for i in batch.rest])
        position = {id(infos[i]): i for i in batch.rest}
        for info, n in zip(later.pods, later.nodes.tolist()):
            nodes[position[id(info)]] = n
    placed = int(np.sum(nodes >= 0))
    how = "one at a time"
    if batch.result is not None and not batch.rest:
        r = batch.result
        how = f"by {r.solver} ({r.status}" + (f", gap {r.gap:.3g})" if r.gap is not None else ")")
    if placed >= need:
        return nodes, None, how
    release(scheduler.snapshot, [infos[i] for i in np.flatnonzero(nodes >= 0).tolist()])
    reason = next(iter(batch.gang_reasons.values()), None)
    if reason is None:
        reason = (f"gang not placed: gang {key} needs {need} of {len(infos)} members placed together; "
                  f"only {placed} fit one at a time; none placed")
    return np.full(len(infos), -1, np.int64), reason, how


def _bind(state: SchedulerState, members: list[QueuedPod], nodes: np.ndarray, key: str, now: float) -> list[act.Action]:
    names = state.snapshot.nodes
    out: list[act.Action] = []
    for e, n in zip(members, nodes.tolist()):
        if n < 0:  # beyond minMember and no room: waits like any pod, the gang stands without it
            out += _wait(state, e, f"pod group {key}: placed without this pod (no room left for it)", now)
            continue
        node = names[n].name
        state.cache.assume(e.info, node, e.uid, pod_facts(e.pod), committed=True)
        state.queue.binding(e)
        state.stats.assumed += 1
        out.append(act.bind_to(state.snapshot, act.PodRef(e.pod.metadata.namespace or "default", e.pod.metadata.name, e.uid), node))
    return out


def _pod_alone(state: SchedulerState, entry: QueuedPod) -> str:
    """The member's own verdict on the snapshot without its gang: the FitError, or where it
    would fit alone."""
    fw = state.scheduler.framework_for(entry.info)
    if fw is None:
        return f"no scheduler profile named {entry.info.cls.scheduler_name!r}"
    result = fw.schedule(entry.info)
    if result.node >= 0:
        return f"alone it would fit (on {state.snapshot.nodes[result.node].name})"
    return result.message


def _wait(state: SchedulerState, entry: QueuedPod, message: str, now: float) -> list[act.Action]:
    """The member is unschedulable for now: its condition (written when it changes) and an event."""
    state.stats.unschedulable += 1
    state.queue.unschedulable(entry, now)
    ref = act.PodRef(entry.pod.metadata.namespace or "default", entry.pod.metadata.name, entry.uid)
    out: list[act.Action] = []
    status = (message, entry.info.nominated_node_name)
    if status != entry.last_status:
        entry.last_status = status
        out.append(act.SetScheduled(ref, message, None))
    out.append(act.RecordEvent(ref, "Warning", "FailedScheduling", message))
    return out
