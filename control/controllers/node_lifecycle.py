"""Node lifecycle: a node that stops renewing its Lease is marked unreachable and its pods are
evicted, as Kubernetes' node lifecycle controller and taint manager.

    heartbeat older than the grace period (default 40 s)
        -> Ready (and the agent's other conditions) Unknown, reason NodeStatusUnknown
        -> taints node.kubernetes.io/unreachable:NoExecute and :NoSchedule
    heartbeat fresh again and the agent reports Ready=True
        -> the taints removed
    a pod on a node with a NoExecute taint it does not tolerate
        -> deleted at once; tolerated for tolerationSeconds -> deleted that long after the taint
           was added (the API's defaulting gives every pod 300 s for unreachable)

The heartbeat is the newest of: the node's Lease renewTime (a Lease named after the node, in
any namespace), the Ready condition's lastHeartbeatTime, and the moment this controller first
saw the node. The last one matters after a server restart: agents could not renew while the
server was down, and must get a full grace period before their nodes are called unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from shoal.control.controllers.actions import Action, Delete, Emit, Update, UpdateStatus, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import clone, is_terminating, object_key, seconds, timestamp

log = logging.getLogger("shoal.controllers.node_lifecycle")

NAME = "nodelifecycle"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


@dataclass
class NodePlan:
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None


def ready_status(node) -> str:
    for cond in node.status.conditions:
        if cond.type == "Ready":
            return cond.status
    return "Unknown"


def has_taint(node, key: str, effect: str = "NoExecute") -> bool:
    return any(t.key == key and t.effect == effect for t in node.spec.taints)


def plan_node(node, heartbeat: float, now: float, grace: float) -> NodePlan:
    """Ready=Unknown and the unreachable taint for a node silent longer than ``grace``; the
    taint removed once it is back and Ready."""
    plan = NodePlan()
    stale = now - heartbeat > grace
    if stale:
        if any(c.status != "Unknown" for c in node.status.conditions) or not node.status.conditions:
            updated = clone(node)
            conditions = updated.status.conditions
            if not any(c.type == "Ready" for c in conditions):
                conditions.add(type="Ready")
            for cond in conditions:
                if cond.status != "Unknown":
                    cond.status = "Unknown"
                    cond.reason = UNKNOWN_REASON
                    cond.message = UNKNOWN_MESSAGE
                    cond.last_transition_time.CopyFrom(timestamp(now))
            updated.metadata.resource_version = ""
            plan.actions.append(UpdateStatus(updated))
            plan.actions.append(Emit(node, "Normal", "NodeNotReady", f"Node {node.metadata.name} status is now: NodeNotReady"))
        # NoExecute evicts the pods that do not tolerate it; NoSchedule (Kubernetes' taint-nodes-
        # by-condition) keeps the scheduler from sending their replacements, which tolerate the
        # NoExecute one for a while by default, back to the silent node.
        missing = [effect for effect in ("NoExecute", "NoSchedule") if not has_taint(node, UNREACHABLE_TAINT, effect)]
        if missing:
            tainted = clone(node)
            for effect in missing:
                added = tainted.spec.taints.add(key=UNREACHABLE_TAINT, effect=effect)
                if effect == "NoExecute":
                    added.time_added.CopyFrom(timestamp(now))
            plan.actions.append(Update(tainted))
    else:
        plan.requeue_after = heartbeat + grace - now + 0.5
        if any(t.key == UNREACHABLE_TAINT for t in node.spec.taints) and ready_status(node) == "True":
            untainted = clone(node)
            keep = [t for t in node.spec.taints if t.key != UNREACHABLE_TAINT]
            del untainted.spec.taints[:]
            untainted.spec.taints.extend(keep)
            plan.actions.append(Update(untainted))
    return plan


def tolerates(toleration, taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and toleration.value == taint.value


def eviction_time(pod, taints) -> float | None:
    """When a pod must leave a node with these NoExecute taints: 0.0 at once, a time, or None
    (never: every taint is tolerated forever)."""
    due: float | None = None
    for taint in taints:
        if taint.effect != "NoExecute":
            continue
        matching = [t for t in pod.spec.tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        limits = [t.toleration_seconds for t in matching if t.HasField("toleration_seconds")]
        if not limits:
            continue
        at = seconds(taint.time_added) + max(0, min(limits))
        due = at if due is None else min(due, at)
    return due


def plan_evictions(node, pods: list, now: float) -> NodePlan:
    plan = NodePlan()
    taints = [t for t in node.spec.taints if t.effect == "NoExecute"]
    if not taints:
        return plan
    for pod in pods:
        if is_terminating(pod) or pod.status.phase in ("Succeeded", "Failed"):
            continue
        due = eviction_time(pod, taints)
        if due is None:
            continue
        if due <= now:
            plan.actions.append(Delete.of(pod, event=Emit(
                pod, "Normal", "TaintManagerEviction",
                f"Marking for deletion Pod {pod.metadata.namespace}/{pod.metadata.name}")))
        else:
            wait = due - now + 0.05
            plan.requeue_after = wait if plan.requeue_after is None else min(plan.requeue_after, wait)
    return plan


class NodeLifecycleController(Controller):
    name = NAME
    watches = ("Node", "Lease", "Pod")
    workers = 2

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.first_seen: dict[str, float] = {}
        self.pods_on: dict[str, set[str]] = {}  # node name -> pod keys bound to it
        # node name -> keys of the Leases of that name (any namespace): a heartbeat is then a
        # lookup, not a scan of every Lease (on by default, with thousands of hollow nodes).
        self.leases_named: dict[str, set[str]] = {}

    def on_change(self, kind: str, change: Change) -> None:
        obj = change.new
        if kind == "Node":
            if change.type == "delete":
                self.first_seen.pop(obj.metadata.name, None)
            self.queue.add(obj.metadata.name)
        elif kind == "Lease":
            named = self.leases_named.setdefault(obj.metadata.name, set())
            if change.type == "delete":
                named.discard(object_key(obj))
                if not named:
                    del self.leases_named[obj.metadata.name]
            else:
                named.add(object_key(obj))
            if self.cache("Node").get(obj.metadata.name) is not None:
                self.queue.add(obj.metadata.name)
        else:
            key = object_key(obj)
            if change.old is not None and change.old.spec.node_name:
                self.pods_on.get(change.old.spec.node_name, set()).discard(key)
            if change.type != "delete" and obj.spec.node_name:
                self.pods_on.setdefault(obj.spec.node_name, set()).add(key)
                if change.old is None or not change.old.spec.node_name:
                    self.queue.add(obj.spec.node_name)

    def heartbeat(self, node) -> float:
        name = node.metadata.name
        beats = [self.first_seen.setdefault(name, self.now)]
        leases = self.cache("Lease")
        for key in self.leases_named.get(name, ()):
            lease = leases.get(key)
            if lease is not None:
                beats.append(seconds(lease.spec.renew_time))
        for cond in node.status.conditions:
            if cond.type == "Ready":
                beats.append(seconds(cond.last_heartbeat_time))
        return max(beats)

    def background(self) -> list:
        return [self._monitor_forever()]

    async def _monitor_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.node_monitor_period_seconds)
            for key in self.cache("Node").keys():
                self.queue.add(key)

    async def sync(self, key: str) -> float | None:
        node = self.cache("Node").get(key)
        if node is None:
            return None
        plan = plan_node(node, self.heartbeat(node), self.now, self.ctx.settings.node_monitor_grace_seconds)
        error = first_error(await self.run_actions(plan.actions, key))
        if error is not None:
            raise error
        cache = self.cache("Pod")
        pods = [p for p in (cache.get(k) for k in self.pods_on.get(key, ())) if p is not None]
        evictions = plan_evictions(node, pods, self.now)
        error = first_error(await self.run_actions(evictions.actions, key))
        if error is not None:
            raise error
        waits = [w for w in (plan.requeue_after, evictions.requeue_after) if w is not None]
        return min(waits) if waits else None


