"""The offline scheduler: pods in queue order through their profile, bound into the snapshot.

    queue --> run of resource-only pods? --yes--> batch: equivalence classes (segment trees)
                    |                                    or native place_sequence (full scan)
                    no --> run of one class whose only per-pod filter is PodTopologySpread?
                    |        --yes--> one kernel call on the class tree, the per-domain
                    |                 counts carried from pod to pod (_eqclass_kernel.spread_run)
                    no --> run of one class whose only per-pod score is PodTopologySpread
                    |        (ScheduleAnyway), filters static but for the resources?
                    |        --yes--> one kernel call (preferred_spread.py)
                    no --> class tree + the pod's filter mask (incremental.py), or
                           Framework.schedule (one cycle, every plugin)

A pod is resource-only when, for its class, every filter but NodeResourcesFit depends on nodes
alone and every score but the resource scores is the same on all the nodes those filters pass
(Framework.batch_mask). Its placement then depends on resources only, so consecutive such pods
are placed by one kernel call. Both batch paths make exactly the choices the per-pod cycle
would (same totals, same seeded tie-break); a pod that fits nowhere is handed to the per-pod
cycle on the state of its turn, for its message and what preemption would do.

Spread runs (equivalence and batch on): consecutive pods of one class whose scores do not vary
and whose only filter that varies per pod is PodTopologySpread's DoNotSchedule skew check
depend, beyond resources, only on the matching pods per topology domain, which each placement
moves by one. The kernel carries those counts along and checks the skew per domain, so the run
costs one call; the pods are then bound together (validate: one by one, each against the full
cycle). A run stops before a pod that fits nowhere, which takes the per-pod cycle.

Preferred-spread runs (preferred_spread=True, the default): consecutive pods of one class whose
filters are static but for the resources and whose only varying score is PodTopologySpread's
ScheduleAnyway spreading. A node's spread score depends only on its domains, so the kernel takes
the best resource total per domain tuple (one segment tree, leaves grouped by tuple), adds each
tuple's weighted normalized spread score, and carries the per-domain counts along.

Per-pod Python work is kept to a few attribute reads (sorting, class serials, binding), so the
kernels set the pace.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
from shoal.native import kernels
from shoal.native.reference import broken_linear, pod_salt

from . import _eqclass_kernel, preferred_spread
from .explanation import explain_cycle
from .framework.config import DEFAULT_SCHEDULER_NAME, Profile, default_profile
from .framework.runtime import SKIPPED, Framework, ScheduleResult
from .incremental import IncrementalSelector
from .plugins.pod_topology_spread import PodTopologySpread
from .podinfo import PodInfo
from .snapshot import ClusterSnapshot

MAX_CLASSES_PER_RUN = 64  # segment trees per kernel call (memory: classes x 2 x nodes)
MAX_MASK_ROWS = 1024  # pods per place_sequence call when pods need different masks
_QUEUE_KEY = attrgetter("queue_key")
_UNKNOWN = -2  # a class not examined since the versions changed


@dataclass
class Outcome:
    """What happened to one pod: the node index, or why not (and preemption's plan)."""

    pod: PodInfo
    node: int = -1
    message: str = ""
    nominated_node: str = ""
    victims: list[PodInfo] = field(default_factory=list)
    explanation: dict | None = None


@dataclass
class Placements:
    """The pods in queue order, the node chosen for each (-1: none) and, for those, why."""

    pods: list[PodInfo]
    nodes: np.ndarray
    failures: dict[int, Outcome]

    def outcomes(self) -> list[Outcome]:
        return [self.failures.get(i) or Outcome(p, int(n)) for i, (p, n) in enumerate(zip(self.pods, self.nodes.tolist()))]


@dataclass
class RunStats:
    batched: int = 0  # pods placed by a batch kernel
    cycles: int = 0  # pods that went through the per-pod cycle
    kernel_calls: int = 0


class Scheduler:
    """Places pods on a ClusterSnapshot with one Framework per profile.

    equivalence: use the equivalence-class kernel for resource-only runs (else the full-scan
    place_sequence) and class trees for pods whose filters vary per pod (else a full scan per
    pod); preferred_spread: preferred-spread runs (module doc); batch=False sends every pod
    through the per-pod cycle; explain: attach explain() data
    to every pod that fits nowhere; validate: check every fast choice against the full cycle
    (slow; for tests).
    """

    def __init__(
        self,
        snapshot: ClusterSnapshot,
        profiles: Mapping[str, Profile] | None = None,
        seed: int = 0,
        *,
        equivalence: bool = True,
        batch: bool = True,
        explain: bool = False,
        validate: bool = False,
        preferred_spread: bool = True,
    ) -> None:
        self.snapshot = snapshot
        profiles = dict(profiles) if profiles else {DEFAULT_SCHEDULER_NAME: default_profile()}
        self.frameworks = {name: Framework(p, snapshot, seed) for name, p in profiles.items()}
        self.seed = int(seed)
        self.equivalence = equivalence
        self.batch = batch
        self.explain = explain
        self.validate = validate
        self.preferred_spread = preferred_spread
        self.stats = RunStats()
        self._commits = 0
        self._selectors: dict[int, IncrementalSelector] = {}
        self._failure_cache: dict[tuple[int, int], Outcome] = {}
        self._spread_failed: tuple[int, int] | None = None  # (class, commits) a spread run found no node for
        self._not_spread: dict[int, tuple[int, int]] = {}  # class -> versions when its pods were not spread runs
        self._not_preferred: dict[int, tuple[int, int]] = {}  # the same for preferred-spread runs
        self._preferred: dict[int, preferred_spread.PreferredSpreadSelector] = {}

    def framework_for(self, pod: PodInfo) -> Framework | None:
        return self.frameworks.get(pod.cls.scheduler_name or DEFAULT_SCHEDULER_NAME)

    def queue(self, pods: list[PodInfo]) -> list[PodInfo]:
        """Pods in the order the queue-sort plugin takes them."""
        sort = next(iter(self.frameworks.values())).profile.queue_sort
        if sort.NAME == "PrioritySort":
            return sorted(pods, key=_QUEUE_KEY)
        order = functools.cmp_to_key(lambda a, b: -1 if sort.less(a, b) else (1 if sort.less(b, a) else 0))  # type: ignore[attr-defined]
        return sorted(pods, key=order)

    # -- the loop ------------------------------------------------------------------------------

    def place(self, pods: list[PodInfo]) -> Placements:
        """Place `pods` in queue order."""
        # In-cluster loop (sched/loop): place() is called again after pods left the snapshot,
        # which the commit count behind the failure cache does not see.
        self._failure_cache = {}
        order = self.queue(pods)
        n = len(order)
        nodes = np.full(n, -1, dtype=np.int64)
        failures: dict[int, Outcome] = {}
        serials = np.fromiter(map(_SERIAL, order), dtype=np.int64, count=n)
        uniq, inverse = np.unique(serials, return_inverse=True)
        firsts = np.zeros(len(uniq), dtype=np.int64)
        firsts[inverse[::-1]] = np.arange(n)[::-1]  # first pod of each class
        per_class = self._batchable(order, firsts)
        batchable = per_class[inverse]
        versions = self._versions()
        fws = list(self.frameworks.values())
        change: np.ndarray | None = None  # where the class changes along the queue

        def run_end(i: int) -> int:
            """The end of the run of pods of order[i]'s class that holds pod i."""
            nonlocal change
            if change is None:
                change = np.flatnonzero(inverse[1:] != inverse[:-1]) + 1
            k = int(np.searchsorted(change, i, side="right"))
            return int(change[k]) if k < len(change) else n

        i = 0
        while i < n:
            if self._versions() != versions:
                # A bound pod's terms (or a node) changed which classes are resource-only: from
                # here on, classes are re-examined lazily, when the queue reaches them.
                versions = self._versions()
                per_class[:] = _UNKNOWN
            fw_id = self._status(per_class, int(inverse[i]), order, firsts)
            if fw_id >= 0:
                j = i + 1
                if (per_class == _UNKNOWN).any():
                    while j < n and self._status(per_class, int(inverse[j]), order, firsts) == fw_id:
                        j += 1
                else:
                    while j < n and batchable[j] == fw_id:
                        j += 1
                self._place_run(fws[fw_id], order, i, j, inverse, nodes, failures)
                i = j
                continue
            if self.equivalence and self.batch:
                used = self._spread_run(order, i, run_end, nodes, failures)
                if not used and self.preferred_spread:
                    used = self._preferred_run(order, i, run_end, nodes)
                if used:
                    i += used
                    continue
            self._one(order[i], i, nodes, failures)
            i += 1
        return Placements(order, nodes, failures)

    def _status(self, per_class: np.ndarray, c: int, order: list[PodInfo], firsts: np.ndarray) -> int:
        if per_class[c] == _UNKNOWN:
            per_class[c] = self._class_batchable(order[int(firsts[c])])
        return int(per_class[c])

    def _versions(self) -> tuple[int, int]:
        return (self.snapshot.node_version, self.snapshot.holders_version)

    def _batchable(self, order: list[PodInfo], firsts: np.ndarray) -> np.ndarray:
        """Per class (index into firsts): its framework's index when resource-only, else -1."""
        return np.array([self._class_batchable(order[f]) for f in firsts.tolist()], dtype=np.int64)

    def _class_batchable(self, pod: PodInfo) -> int:
        if not self.batch:
            return -1
        fw = self.framework_for(pod)
        if fw is None or not fw.gated(pod).is_success or fw.batch_mask(pod) is None:
            return -1
        return list(self.frameworks.values()).index(fw)

    def _one(self, pod: PodInfo, i: int, nodes: np.ndarray, failures: dict[int, Outcome]) -> None:
        fw = self.framework_for(pod)
        if fw is None:
            failures[i] = Outcome(pod, message=f"no scheduler profile named {pod.cls.scheduler_name!r}")
            return
        gate = fw.gated(pod)
        if not gate.is_success:
            failures[i] = Outcome(pod, message=gate.message)
            return
        self.stats.cycles += 1
        node = self._incremental(fw, pod) if self.equivalence else None
        if node is not None and self.validate:
            full = fw.schedule(pod).node
            assert full == node, f"class tree chose node {node} for {pod.key}, the full cycle {full}"
        if node is None or node < 0:  # the full cycle decides (and explains a failure)
            result = fw.schedule(pod)
            node = result.node
        if node >= 0:
            self.snapshot.add_pods([pod], np.array([node]))
            self._commits += 1
            nodes[i] = node
        else:
            failures[i] = self._failed(fw, pod, result)

    def _incremental(self, fw: Framework, pod: PodInfo) -> int | None:
        """The node for a pod whose class only varies in its filters, from the class's tree
        (-1: none fits; None: not such a pod)."""
        cycle = fw.cycle(pod)
        status = fw.run_pre_filter(cycle)
        if not status.is_success or not fw.mask_only(cycle) or not self.snapshot.n_nodes:
            return None
        selector = self._selectors.get(id(fw))
        if selector is None:
            selector = self._selectors[id(fw)] = IncrementalSelector(fw, self.seed)
        return selector.select(cycle, fw.static_mask(cycle), fw.filter_mask(cycle))

    def _spread_run(self, order: list[PodInfo], start: int, run_end, nodes: np.ndarray, failures) -> int:
        """Pods start..run_end(start)-1 (one class) whose only per-pod filter is
        PodTopologySpread and whose scores do not vary: placed by one kernel call on the class's
        tree, the per-domain counts carried along (_eqclass_kernel.spread_run), then bound
        together. Stops before the first pod that fits nowhere (its cycle, on its turn, says
        why). Returns the pods placed (0: not such a run)."""
        pod = order[start]
        cls = pod.cls
        if cls.error is not None or cls.host_ports or cls.has_inter_pod_terms or self._spread_failed == (id(cls), self._commits):
            return 0
        versions = self._versions()
        if self._not_spread.get(id(cls)) == versions:
            return 0
        fw = self.framework_for(pod)
        if fw is None or not fw.gated(pod).is_success or not self.snapshot.n_nodes:
            return 0
        cycle = fw.cycle(pod)
        if not fw.run_pre_filter(cycle).is_success or not fw.mask_only(cycle):
            self._not_spread[id(cls)] = versions
            return 0
        _, dynamic = fw.filter_plan(cycle)
        skipped = cycle.data.get(SKIPPED, ())
        active = [p for p in dynamic if p.NAME not in skipped]
        if len(active) != 1 or not isinstance(active[0], PodTopologySpread):
            self._not_spread[id(cls)] = versions
            return 0
        spread = active[0].run_inputs(cycle)
        run = order[start:run_end(start)]
        terminating = np.zeros(len(run), dtype=np.bool_)
        if any(map(_SPECIAL, run)):
            terminating[:] = [p.terminating for p in run]
        selector = self._selectors.get(id(fw))
        if selector is None:
            selector = self._selectors[id(fw)] = IncrementalSelector(fw, self.seed)
        chosen, counts, tree = selector.spread_run(cycle, fw.static_mask(cycle), spread, terminating)
        placed = self._bind_run(fw, run, chosen, "spread run")
        if not placed:
            return 0
        selector.synced(tree)
        if self.validate:
            for c, live in enumerate(spread[5]):
                assert np.array_equal(counts[c, :len(live)], live), f"spread run: per-domain counts {counts[c]} != the snapshot's {live}"
        nodes[start:start + placed] = chosen[:placed]
        return placed

    def _preferred_run(self, order: list[PodInfo], start: int, run_end, nodes: np.ndarray) -> int:
        """Pods start..run_end(start)-1 (one class) whose only per-pod-varying score is
        PodTopologySpread's ScheduleAnyway spreading and whose filters are static but for the
        resources: placed by one kernel call (preferred_spread), then bound together. Stops
        before the first pod that fits nowhere. Returns the pods placed (0: not such a run)."""
        pod = order[start]
        cls = pod.cls
        versions = self._versions()
        if self._not_preferred.get(id(cls)) == versions or self._spread_failed == (id(cls), self._commits):
            return 0
        fw = self.framework_for(pod)
        if fw is None or not fw.gated(pod).is_success or not self.snapshot.n_nodes:
            return 0
        cycle = fw.cycle(pod)
        plan = preferred_spread.run_plan(fw, cycle)
        if plan is None:
            self._not_preferred[id(cls)] = versions
            return 0
        run = order[start:run_end(start)]
        terminating = np.zeros(len(run), dtype=np.bool_)
        if any(map(_SPECIAL, run)):
            terminating[:] = [p.terminating for p in run]
        selector = self._preferred.get(id(fw))
        if selector is None:
            selector = self._preferred[id(fw)] = preferred_spread.PreferredSpreadSelector(fw, self.seed)
        chosen, counts, tree = selector.place_run(cycle, plan, fw.static_mask(cycle), terminating)
        placed = self._bind_run(fw, run, chosen, "preferred-spread run")
        if not placed:
            return 0
        if self.validate:
            after = preferred_spread.run_inputs(fw, fw.cycle(pod))
            assert after is not None and np.array_equal(preferred_spread.domain_counts(after, counts.shape[1]), counts), \
                "preferred-spread run: per-domain counts differ from the snapshot's"
        selector.synced(tree)
        nodes[start:start + placed] = chosen[:placed]
        return placed

    def _bind_run(self, fw: Framework, run: list[PodInfo], chosen: np.ndarray, what: str) -> int:
        """Adds the pods a run kernel placed (chosen[i] >= 0, up to the first -1) to the
        snapshot; in validate mode one by one, each checked against the full cycle. Returns how
        many; none marks the class as failed until the next commit."""
        placed = int(np.argmin(chosen)) if chosen[-1] < 0 else len(run)
        if not placed:
            self._spread_failed = (id(run[0].cls), self._commits)
            return 0
        self.stats.batched += placed
        self.stats.kernel_calls += 1
        s = self.snapshot
        if self.validate:
            for p, node in zip(run[:placed], chosen[:placed].tolist()):
                full = fw.schedule(p).node
                assert full == node, f"{what} chose node {node} for {p.key}, the full cycle {full}"
                s.add_pods([p], np.array([node]))
        else:
            s.add_pods(run[:placed], chosen[:placed], np.zeros(placed, dtype=np.int64), [run[0].cls])
        self._commits += 1
        return placed

    def _failed(self, fw: Framework, pod: PodInfo, result: ScheduleResult) -> Outcome:
        explanation = explain_cycle(fw, pod, result) if self.explain else None
        return Outcome(pod, -1, result.message, result.nominated_node, list(result.victims), explanation)

    def _failure(self, fw: Framework, pod: PodInfo) -> Outcome:
        """A pod of a batch that fit nowhere: its cycle's outcome (reused while nothing was bound
        since an equal pod failed)."""
        key = (id(pod.cls), self._commits)
        outcome = self._failure_cache.get(key)
        if outcome is None:
            self.stats.cycles += 1
            result = fw.schedule(pod)
            if result.node >= 0:
                raise AssertionError(f"batch found no node for {pod.key}, the cycle found {result.node}")
            outcome = self._failed(fw, pod, result)
            self._failure_cache = {key: outcome}
        explanation = dict(outcome.explanation, pod=pod.key) if outcome.explanation else None
        return Outcome(pod, -1, outcome.message, outcome.nominated_node, list(outcome.victims), explanation)

    # -- batches -------------------------------------------------------------------------------

    def _place_run(self, fw: Framework, order, start: int, end: int, inverse: np.ndarray, nodes, failures) -> None:
        if self.equivalence:
            for a, b in _chunks(inverse[start:end], MAX_CLASSES_PER_RUN):
                self._place_chunk(fw, order, start + a, start + b, inverse, nodes, failures)
        else:
            self._place_chunk(fw, order, start, end, inverse, nodes, failures)

    def _place_chunk(self, fw: Framework, order, start: int, end: int, inverse: np.ndarray, nodes, failures) -> None:
        _, firsts, class_of = np.unique(inverse[start:end], return_index=True, return_inverse=True)
        run = order[start:end]
        classes = [run[f].cls for f in firsts.tolist()]
        masks = [fw.batch_mask(run[f]) for f in firsts.tolist()]
        states = [self.snapshot.class_state(cls) for cls in classes]  # may add resource columns
        s = self.snapshot
        requested = s.requested.copy(order="F")
        nonzero = s.nonzero.copy(order="F")
        class_req = np.array([st.req for st in states], dtype=np.int64)
        class_nz = np.array([st.nonzero for st in states], dtype=np.int64)
        keys = np.array([cls.key for cls in classes], dtype=np.uint64)
        profile = fw.scoring_profile()
        self.stats.kernel_calls += 1
        args = (s, requested, nonzero, class_req, class_nz, masks, keys, class_of, profile)
        chosen = self._eqclass(*args) if self.equivalence else self._full_scan(*args)
        self._commit(fw, run, start, chosen, class_of, classes, nodes, failures)

    def _eqclass(self, s, requested, nonzero, class_req, class_nz, masks, keys, class_of, profile) -> np.ndarray:
        salts = np.array([pod_salt(self.seed, int(k)) for k in keys], dtype=np.uint64)
        bal_cols = profile.balanced_columns_array
        bal_skip = np.array([kernels.balanced_allocation_skipped(r, bal_cols) for r in class_req], dtype=np.bool_)
        table = np.zeros(101, dtype=np.int64)
        if len(profile.shape_utilization_array):
            scaled = profile.shape_score_array * 10
            table = broken_linear(np.arange(101, dtype=np.int64), profile.shape_utilization_array, scaled).astype(np.int64)
        mask_matrix = np.array(masks, dtype=np.bool_).reshape(len(masks), s.n_nodes)
        return _eqclass_kernel.place_classes(
            s.alloc, requested, nonzero, class_req, class_nz, mask_matrix, salts, bal_skip, class_of,
            profile.strategy, profile.columns_array, profile.weights_array, table, bal_cols,
            np.int64(profile.fit_weight), np.int64(profile.balanced_weight), np.int64(max(64, s.n_nodes // 8)),
        )

    def _full_scan(self, s, requested, nonzero, class_req, class_nz, masks, keys, class_of, profile) -> np.ndarray:
        pod_reqs = class_req[class_of]
        pod_nz = class_nz[class_of]
        pod_keys = keys[class_of]
        if all(m is masks[0] for m in masks):
            return kernels.place_sequence(s.alloc, requested, nonzero, pod_reqs, pod_nz, masks[0], self.seed, pod_keys, profile)
        chosen = np.empty(len(class_of), dtype=np.int64)
        mask_matrix = np.array(masks, dtype=np.bool_)
        for begin in range(0, len(class_of), MAX_MASK_ROWS):
            sl = slice(begin, begin + MAX_MASK_ROWS)
            chosen[sl] = kernels.place_sequence(
                s.alloc, requested, nonzero, pod_reqs[sl], pod_nz[sl], mask_matrix[class_of[sl]], self.seed, pod_keys[sl], profile
            )
        return chosen

    def _commit(self, fw, run, start, chosen, class_of, classes, nodes, failures) -> None:
        """Bind the run's placements; pods that fit nowhere get their cycle on their turn's state."""
        s = self.snapshot
        self.stats.batched += len(run)
        nodes[start:start + len(run)] = chosen
        begin = 0
        for f in np.flatnonzero(chosen < 0).tolist() + [len(run)]:
            if f > begin:
                if self.validate:
                    for pod, node in zip(run[begin:f], chosen[begin:f].tolist()):
                        full = fw.schedule(pod).node
                        assert full == node, f"batch chose node {node} for {pod.key}, the full cycle {full}"
                        s.add_pods([pod], np.array([node]))
                else:
                    s.add_pods(run[begin:f], chosen[begin:f], class_of[begin:f], classes)
                self._commits += 1
            if f < len(run):
                failures[start + f] = self._failure(fw, run[f])
            begin = f + 1


_SERIAL = attrgetter("cls.serial")
_SPECIAL = attrgetter("special")


def _chunks(classes: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive slices of a run holding at most `limit` distinct classes each."""
    if len(np.unique(classes)) <= limit:
        return [(0, len(classes))]
    out = []
    begin = 0
    seen: set[int] = set()
    for k, c in enumerate(classes.tolist()):
        if c not in seen and len(seen) == limit:
            out.append((begin, k))
            begin, seen = k, set()
        seen.add(c)
    out.append((begin, len(classes)))
    return out
