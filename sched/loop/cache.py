"""The scheduler's cache: the ClusterSnapshot kept equal to the API's nodes and bound pods, plus
the pods this scheduler has assumed (placed, bind in flight) and the room reserved for pods
that preempted others (their nominated node).

    watch: node added / changed / removed    -> set_node / remove_node (the snapshot in place)
    watch: pod bound (spec.nodeName set)     -> observe_bound: an assumed pod is confirmed
                                                without counting it twice; others are added
    watch: pod deleted, terminal, recreated  -> remove
    scheduler: placed                        -> assume (the snapshot already holds it: the
                                                Scheduler commits as it places)
    bind failed                              -> forget (its room is given back at once)
    preemption                               -> reserve: a placeholder of the preemptor on its
                                                nominated node; unreserve before it is tried again

Pods bound to a node the snapshot does not have (yet) wait as orphans and join when it comes.
No I/O here: the loop feeds it what the informers see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..podinfo import PodInfo, PodParser
from ..resources import node_allocatable
from ..snapshot import ClusterSnapshot, node_info

TERMINAL_PHASES = ("Succeeded", "Failed")


def pod_key(pod) -> str:
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def is_terminal(pod) -> bool:
    return pod.status.phase in TERMINAL_PHASES


def pod_facts(pod) -> tuple:
    """What of a pod can change where it counts, short of its spec (which bumps generation):
    labels, deletion, start time, the preemption mark."""
    status = pod.status
    start = (status.start_time.seconds, status.start_time.nanos) if status.HasField("start_time") else None
    preempted = any(c.type == "DisruptionTarget" and c.reason == "PreemptionByScheduler" for c in status.conditions)
    return (pod.metadata.generation, tuple(sorted(pod.metadata.labels.items())),
            pod.metadata.HasField("deletion_timestamp"), start, preempted)


def node_facts(msg) -> tuple:
    return node_info(msg), node_allocatable(msg.status)


@dataclass(eq=False)
class BoundPod:
    key: str
    uid: str
    info: PodInfo  # in the snapshot (info.row >= 0) unless its node is unknown
    node: str
    facts: tuple
    assumed: bool = False  # placed here, not yet seen bound by the watch


@dataclass(eq=False)
class Reservation:
    key: str
    uid: str
    node: str
    placeholder: PodInfo  # a copy of the preemptor, holding its room on `node`
    victims: tuple[str, ...] = ()  # uids of the pods evicted for it


@dataclass
class CacheStats:
    confirmed: int = 0
    added: int = 0
    removed: int = 0
    forgotten: int = 0


class SchedulerCache:
    def __init__(self, snapshot: ClusterSnapshot | None = None, parser: PodParser | None = None, *,
                 validate: bool = False) -> None:
        self.snapshot = snapshot or ClusterSnapshot()
        self.parser = parser or PodParser()
        self.validate = validate
        self.pods: dict[str, BoundPod] = {}
        self.orphans: dict[str, set[str]] = {}  # node name -> keys of pods bound to it
        self.reservations: dict[str, Reservation] = {}
        self._placeholders: dict[int, str] = {}  # id(placeholder PodInfo) -> preemptor key
        self._node_facts: dict[str, tuple] = {}
        self.stats = CacheStats()

    # -- nodes -----------------------------------------------------------------------------------

    def set_node(self, msg) -> str:
        """A node as the API has it now: "added", "changed" (something scheduling reads) or
        "unchanged" (a heartbeat: the snapshot and its caches are left alone)."""
        name = msg.metadata.name
        facts = node_facts(msg)
        known = self._node_facts.get(name)
        if known is None:
            self.snapshot.add_node(msg)
            self._node_facts[name] = facts
            self._adopt_orphans(name)
            return "added"
        if known == facts:
            return "unchanged"
        self.snapshot.update_node(msg)
        self._node_facts[name] = facts
        return "changed"

    def set_nodes(self, msgs: list) -> list[str]:
        """set_node for many (a watch batch, a list): the new ones are added in one step (adding
        nodes one by one would copy the node matrices once per node). Returns each outcome."""
        fresh = [m for m in msgs if m.metadata.name not in self._node_facts]
        if len({m.metadata.name for m in fresh}) != len(fresh):
            return [self.set_node(m) for m in msgs]  # one node twice in the batch: in order
        if fresh:
            self.snapshot.add_nodes(fresh)
            for m in fresh:
                self._node_facts[m.metadata.name] = node_facts(m)
                self._adopt_orphans(m.metadata.name)
        added = {id(m) for m in fresh}
        return ["added" if id(m) in added else self.set_node(m) for m in msgs]

    def remove_node(self, name: str) -> list[str]:
        """The node is gone: its pods wait as orphans (they are still bound in the API) and the
        reservations on it end. Returns the keys of the pods whose reservation ended."""
        n = self.snapshot.node_index.get(name)
        if n is None:
            return []
        ended = []
        for info in self.snapshot.pods_on(n):
            preemptor = self._placeholders.get(id(info))
            if preemptor is not None:
                self.unreserve(preemptor)
                ended.append(preemptor)
                continue
            self.snapshot.remove_pod(info)
            self.orphans.setdefault(name, set()).add(info.key)
        self.snapshot.remove_node(name)
        del self._node_facts[name]
        return ended

    def _adopt_orphans(self, name: str) -> None:
        keys = self.orphans.pop(name, ())
        n = self.snapshot.node_index[name]
        for key in keys:
            bp = self.pods.get(key)
            if bp is not None and bp.node == name and bp.info.row < 0:
                self.snapshot.add_pod(bp.info, n)

    # -- bound pods --------------------------------------------------------------------------------

    def parse_bound(self, pod) -> PodInfo:
        """A bound pod's PodInfo. Parsed without its nodeName, so the pods of one template share
        one class whatever their node (nodeName only matters to the pod being placed)."""
        light = type(pod)()
        light.CopyFrom(pod)
        light.spec.node_name = ""
        info = self.parser.parse(light)
        info.node_name = pod.spec.node_name
        return info

    def observe_bound(self, pod) -> str:
        """A pod the watch shows bound to a node (not terminal). Returns what it was to the
        cache: "confirmed" (our assumed pod: counted once, already), "added" (someone else's, or
        ours bound elsewhere), "updated" (something scheduling reads changed) or "unchanged"."""
        key = pod_key(pod)
        uid = pod.metadata.uid
        node = pod.spec.node_name
        facts = pod_facts(pod)
        bp = self.pods.get(key)
        if bp is not None and bp.uid != uid:
            self.remove(key)
            bp = None
        if bp is not None and bp.assumed:
            if bp.node == node:
                bp.assumed = False
                self.stats.confirmed += 1
                if bp.facts == facts:
                    return "confirmed"
                self._replace(bp, pod, facts)
                return "confirmed"
            self.remove(key)  # bound elsewhere by someone else: that is where it counts
            bp = None
        if bp is None:
            self._add(key, uid, self.parse_bound(pod), node, facts)
            return "added"
        if bp.node == node and bp.facts == facts:
            return "unchanged"
        self._replace(bp, pod, facts)
        return "updated"

    def _replace(self, bp: BoundPod, pod, facts: tuple) -> None:
        self.remove(bp.key)
        self._add(bp.key, bp.uid, self.parse_bound(pod), pod.spec.node_name, facts)

    def _add(self, key: str, uid: str, info: PodInfo, node: str, facts: tuple, *, assumed: bool = False,
             committed: bool = False) -> BoundPod:
        bp = BoundPod(key, uid, info, node, facts, assumed)
        self.pods[key] = bp
        n = self.snapshot.node_index.get(node)
        if committed:
            pass
        elif n is None:
            self.orphans.setdefault(node, set()).add(key)
        else:
            self.snapshot.add_pod(info, n)
        self.stats.added += 0 if assumed else 1
        return bp

    def remove(self, key: str, uid: str | None = None) -> BoundPod | None:
        """The pod no longer counts (deleted, terminal, recreated): its room is free."""
        bp = self.pods.get(key)
        if bp is None or (uid is not None and bp.uid != uid):
            return None
        del self.pods[key]
        if bp.info.row >= 0:
            self.snapshot.remove_pod(bp.info)
        else:
            keys = self.orphans.get(bp.node)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.orphans[bp.node]
        self.stats.removed += 1
        return bp

    def bound(self, key: str) -> BoundPod | None:
        return self.pods.get(key)

    # -- assumed pods ------------------------------------------------------------------------------

    def assume(self, info: PodInfo, node: str, uid: str, facts: tuple = (), *, committed: bool = False) -> BoundPod:
        """Count a pod on `node` before the API says so. `committed`: the snapshot holds it
        already (the Scheduler commits what it places)."""
        key = info.key
        old = self.pods.get(key)
        if old is not None:
            self.remove(key)
        info.node_name = node
        return self._add(key, uid, info, node, facts, assumed=True, committed=committed)

    def forget(self, key: str, uid: str) -> PodInfo | None:
        """An assumed pod whose bind failed: its room is given back. Returns its PodInfo, made
        fit to be placed again."""
        bp = self.pods.get(key)
        if bp is None or bp.uid != uid or not bp.assumed:
            return None
        self.remove(key)
        info = bp.info
        info.node_name = ""
        info.start_ns = None  # remove_pod stamped its bind order on it
        info.special = info.terminating
        self.stats.forgotten += 1
        return info

    def is_assumed(self, key: str, uid: str) -> bool:
        bp = self.pods.get(key)
        return bp is not None and bp.assumed and bp.uid == uid

    # -- reservations (nominated pods) -------------------------------------------------------------

    def reserve(self, key: str, uid: str, pod, node: str, victims: tuple[str, ...] = ()) -> bool:
        """Hold the preemptor's room on its nominated node while its victims go (so pods placed
        meanwhile do not take it). False if the node is unknown."""
        self.unreserve(key)
        n = self.snapshot.node_index.get(node)
        if n is None:
            return False
        placeholder = self.parser.parse(pod)
        placeholder.node_name = node
        self.snapshot.add_pod(placeholder, n)
        self.reservations[key] = Reservation(key, uid, node, placeholder, victims)
        self._placeholders[id(placeholder)] = key
        return True

    def unreserve(self, key: str) -> Reservation | None:
        res = self.reservations.pop(key, None)
        if res is None:
            return None
        self._placeholders.pop(id(res.placeholder), None)
        if res.placeholder.row >= 0:
            self.snapshot.remove_pod(res.placeholder)
        return res

    def reservation_holder(self, info: PodInfo) -> str | None:
        """The preemptor whose placeholder `info` is (None: a real pod)."""
        return self._placeholders.get(id(info))

    # -- checks ------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Invariants (for tests): every counted pod is in the snapshot once, on its node, and
        the snapshot's requested amounts equal the sum over its pods."""
        problems = []
        s = self.snapshot
        live = {id(s.pods.infos[r]) for r in s.pods.live_rows().tolist()}
        expected = set()
        for key, bp in self.pods.items():
            if bp.node in s.node_index:
                if bp.info.row < 0 or id(bp.info) not in live:
                    problems.append(f"{key}: not in the snapshot")
                elif int(s.pods.node[bp.info.row]) != s.node_index[bp.node]:
                    problems.append(f"{key}: on the wrong node")
                expected.add(id(bp.info))
            elif key not in self.orphans.get(bp.node, ()):
                problems.append(f"{key}: bound to unknown node {bp.node} but not an orphan")
        for res in self.reservations.values():
            expected.add(id(res.placeholder))
        if live != expected:
            problems.append(f"snapshot holds {len(live)} pods, the cache {len(expected)}")
        requested = np.zeros_like(s.requested)
        for r in s.pods.live_rows().tolist():
            info = s.pods.infos[r]
            requested[int(s.pods.node[r])] += s.class_state(info.cls).req[: requested.shape[1]]
        if not np.array_equal(requested, s.requested):
            problems.append("requested amounts differ from the sum of the pods")
        return problems
