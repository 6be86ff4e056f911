"""Preferred-spread runs: consecutive pods of one class whose only score that varies from pod to
pod is PodTopologySpread's (whenUnsatisfiable: ScheduleAnyway), placed by one kernel call.

    run_plan(fw, cycle)      what a qualifying class's runs need (None: the class does not
                             qualify); run_inputs: the same as the twin's inputs
    PreferredSpreadSelector  per class, the resource totals under a segment tree whose leaves
                             are grouped by domain tuple, kept between runs (touch log); its
                             place_run is one kernel call (_preferred_spread_kernel)
    preferred_run_reference  the NumPy twin: per pod the plugin's score and normalize over
                             every node, the resource totals, the weighted sum, the seeded choice

A class qualifies when, after PreFilter, every filter but NodeResourcesFit is static (a
DoNotSchedule constraint makes PodTopologySpread's filter vary: not here), the fused resource
kernels apply, and the only score plugin not constant over the static filters' nodes is
PodTopologySpread itself, with ScheduleAnyway constraints none of which is keyed on
kubernetes.io/hostname (the plugin sizes that key by the number of scored nodes, which this
kernel does not model). The other plugins' weights, the spread weight, several constraints,
nodes lacking a key (ignored; the kernel and its twin also model the "" domain that
system-defaulted constraints give them, though those include a hostname constraint and never
qualify), inclusion policies and selectors that do not match the pod are modelled. Other score
plugins that vary over the nodes (TaintToleration, NodeAffinity preferences, ImageLocality,
InterPodAffinity) send the class to the per-pod cycle: their normalization over the feasible
nodes is not modelled. A class whose nodes fall into
more than MAX_GROUPS distinct domain tuples is left to the per-pod cycle (correct, but slow).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from shoal.native import reference
from shoal.native.reference import go_round, tie_break_hash

from . import _preferred_spread_kernel
from .framework.interface import Cycle
from .framework.runtime import SKIPPED, Framework
from .incremental import MAX_TREES, kernel_profile
from .indices import SpreadMatcher
from .plugins.pod_topology_spread import LABEL_HOSTNAME, PodTopologySpread
from .podinfo import SCHEDULE_ANYWAY

MAX_GROUPS = 256  # distinct domain tuples per run (a range query each, per pod)


@dataclass
class SpreadScoreInputs:
    """PodTopologySpread's scoring inputs for one class, per ScheduleAnyway constraint c:

    node_value int64[C, N]  the node's domain id of the constraint's key (-1: lacks it)
    included   bool[C, N]   the node's pods count toward its domain (has every key when
                            require_all, and passes the inclusion policies)
    counts     int64[C, N]  matching bound pods per node (the selector's count, a copy)
    max_skew   int64[C]
    counted    bool[C]      a bound pod of the class is counted (selector not empty, matches it)
    require_all             nodes lacking any key are ignored (score 0, not normalized over)
    weight                  the profile's PodTopologySpread weight
    """

    node_value: np.ndarray
    included: np.ndarray
    counts: np.ndarray
    max_skew: np.ndarray
    counted: np.ndarray
    require_all: bool
    weight: int


@dataclass
class _Groups:
    perm: np.ndarray  # tree position -> node
    position: np.ndarray  # node -> tree position
    start: np.ndarray  # int64[G + 1]
    domain: np.ndarray  # int64[G, C]


def groups_of(node_value: np.ndarray) -> _Groups | None:
    """Nodes grouped by their domain tuple (None: more than MAX_GROUPS groups)."""
    k, n = node_value.shape
    tuples, group = np.unique(node_value.T, axis=0, return_inverse=True)
    if len(tuples) > MAX_GROUPS:
        return None
    group = group.reshape(-1)
    perm = np.argsort(group, kind="stable").astype(np.int64)
    position = np.empty(n, dtype=np.int64)
    position[perm] = np.arange(n, dtype=np.int64)
    start = np.zeros(len(tuples) + 1, dtype=np.int64)
    start[1:] = np.cumsum(np.bincount(group, minlength=len(tuples)))
    return _Groups(perm, position, start, np.ascontiguousarray(tuples.reshape(len(tuples), k), dtype=np.int64))


def run_inputs(fw: Framework, cycle: Cycle) -> SpreadScoreInputs | None:
    """The class's inputs when its pods qualify for a preferred-spread run (module doc)."""
    plan = run_plan(fw, cycle)
    if plan is None:
        return None
    spread, constraints = plan.spread, plan.constraints
    n = cycle.n_nodes
    counts = np.array([spread._matching_counts(cycle, c) for c in constraints], dtype=np.int64).reshape(len(constraints), n)
    return SpreadScoreInputs(plan.node_value, plan.included, counts, plan.max_skew, plan.counted, plan.require_all, plan.weight)


@dataclass
class RunPlan:
    """What does not change between the pods of a qualifying class (per node and holder
    versions): the plugin, its constraints, the per-node inputs and the node groups."""

    spread: PodTopologySpread
    constraints: tuple
    node_value: np.ndarray
    included: np.ndarray
    max_skew: np.ndarray
    counted: np.ndarray
    require_all: bool
    weight: int
    groups: _Groups
    safe_domain: np.ndarray  # node_value with -1 as 0
    count_on: np.ndarray  # bool[C, N]: a pod of the class bound there moves its domain's count
    log_table: np.ndarray  # math.log(k + 2)


def run_plan(fw: Framework, cycle: Cycle) -> RunPlan | None:
    """The class's RunPlan, or None when its pods do not qualify (module doc)."""
    cls = cycle.cls
    if not fw.fused or cls.error is not None or cls.scheduling_gates or cls.host_ports or cls.has_inter_pod_terms:
        return None
    if not fw.run_pre_filter(cycle).is_success:
        return None
    version = (cycle.snapshot.node_version, cycle.snapshot.holders_version)
    return cycle.cached("preferred-spread/plan", version, lambda: _plan(fw, cycle))


def _plan(fw: Framework, cycle: Cycle) -> RunPlan | None:
    _, dynamic = fw.filter_plan(cycle)
    skipped = cycle.data.get(SKIPPED, ())
    if any(p.NAME not in skipped for p in dynamic):
        return None
    varying = fw.varying_scorers(cycle)
    if len(varying) != 1 or type(varying[0]) is not PodTopologySpread:
        return None
    spread: PodTopologySpread = varying[0]
    constraints = spread.constraints(cycle, SCHEDULE_ANYWAY)
    if not constraints or any(c.topology_key == LABEL_HOSTNAME for c in constraints):
        return None
    s = cycle.snapshot
    k, n = len(constraints), s.n_nodes
    require_all = bool(spread._require_all(cycle))
    has_all = s.has_all_keys(c.topology_key for c in constraints)
    base = has_all if require_all else np.ones(n, dtype=bool)
    node_value = np.array([s.label_column(c.topology_key).node_value for c in constraints], dtype=np.int64).reshape(k, n)
    groups = groups_of(node_value)
    if groups is None:
        return None
    included = np.array([base & spread._inclusion(cycle, c) for c in constraints], dtype=bool).reshape(k, n)
    counted = np.array([not c.selector.empty and c.selector.matches(cycle.cls.label_map) for c in constraints], dtype=bool)
    width = max([1] + [len(s.label_column(c.topology_key).values) for c in constraints])
    return RunPlan(
        spread, constraints, node_value, included, np.array([c.max_skew for c in constraints], dtype=np.int64), counted,
        require_all, int(fw.weights[spread.NAME]), groups, np.where(node_value >= 0, node_value, 0),
        included & (node_value >= 0) & counted[:, None], np.array([math.log(j + 2) for j in range(width + 2)]),
    )


def domain_counts(inputs: SpreadScoreInputs, width: int = 0) -> np.ndarray:
    """int64[C, D]: matching pods on the included nodes of each domain of each constraint."""
    k = inputs.node_value.shape[0]
    width = max(width, 1, int(inputs.node_value.max(initial=-1)) + 1)
    out = np.zeros((k, width), dtype=np.int64)
    for c in range(k):
        src = inputs.included[c] & (inputs.node_value[c] >= 0)
        out[c] = np.bincount(inputs.node_value[c][src], weights=inputs.counts[c][src], minlength=width).astype(np.int64)
    return out


def live_domain_counts(cycle: Cycle, plan: RunPlan) -> np.ndarray:
    """int64[C, D]: domain_counts from the snapshot's domain counters (kept up to date as pods
    are bound), copied."""
    s = cycle.snapshot
    out = np.zeros((len(plan.constraints), len(plan.log_table) - 2), dtype=np.int64)
    for i, c in enumerate(plan.constraints):
        if not c.selector.empty:
            live = s.domain_counts(SpreadMatcher(cycle.cls.namespace, c.selector), c.topology_key, plan.included[i])
            out[i, :len(live)] = live
    return out


@dataclass
class _Tree:
    versions: tuple
    position: int  # the snapshot's touch log position it is current for
    eff: np.ndarray
    tree: np.ndarray
    hashes: np.ndarray


class PreferredSpreadSelector:
    """Per class, the resource totals and the grouped segment tree, kept between runs: a run
    first rescores only the nodes whose requests changed since (the snapshot's touch log)."""

    def __init__(self, fw: Framework, seed: int) -> None:
        self.fw = fw
        self.seed = int(seed)
        self.params = kernel_profile(fw)
        self._trees: OrderedDict[int, _Tree] = OrderedDict()

    def _tree(self, cycle: Cycle, plan: RunPlan, static: np.ndarray, bal_w) -> tuple[_Tree, np.ndarray]:
        s = self.fw.snapshot
        versions = (s.node_version, s.columns_version, id(s.requested), id(static))  # perm: node_version
        key = id(cycle.cls)
        tree = self._trees.get(key)
        n = s.n_nodes
        dirty = np.zeros(0, dtype=np.int64)
        if tree is not None and tree.versions == versions:
            dirty, _ = s.touched_since(tree.position)
            if len(dirty) > max(64, n // 8):
                tree = None
        else:
            tree = None
        if tree is not None:
            self._trees.move_to_end(key)
            return tree, dirty
        size = 1
        while size < max(n, 1):
            size *= 2
        strategy, columns, weights, table, bal_columns, fit_w, _ = self.params
        hashes = tie_break_hash(self.seed, cycle.cls.key, np.arange(n))
        tree = _Tree(versions, s.touched_count, np.empty(max(n, 1), dtype=np.int64), np.full(2 * size, -1, dtype=np.int64), hashes)
        state = cycle.state
        _preferred_spread_kernel.preferred_tree_build(
            s.alloc, s.requested, s.nonzero, state.req, state.nonzero, static, hashes, plan.groups.perm, tree.eff, tree.tree,
            strategy, columns, weights, table, bal_columns, fit_w, bal_w,
        )
        self._trees[key] = tree
        if len(self._trees) > MAX_TREES:
            self._trees.popitem(last=False)
        return tree, dirty

    def place_run(self, cycle: Cycle, plan: RunPlan, static: np.ndarray, terminating: np.ndarray) -> tuple[np.ndarray, np.ndarray, _Tree]:
        """Places a run of pods of the class without binding them: (the chosen nodes, -1 from
        the first that fits nowhere on; the per-domain counts after them; the tree, current
        for the state once they are bound: the caller binds them, then calls synced(tree))."""
        s = self.fw.snapshot
        state = cycle.state
        strategy, columns, weights, table, bal_columns, fit_w, bal_w = self.params
        if reference.balanced_allocation_skipped(state.req, bal_columns):
            bal_w = np.int64(0)
        static = np.asarray(static, dtype=np.bool_)
        tree, dirty = self._tree(cycle, plan, static, bal_w)
        counts = live_domain_counts(cycle, plan)
        g = plan.groups
        # The snapshot's own requested / nonzero, restored by the kernel before it returns.
        chosen = _preferred_spread_kernel.preferred_spread_run(
            s.alloc, s.requested, s.nonzero, state.req, state.nonzero, static, tree.hashes, tree.eff, tree.tree, dirty,
            strategy, columns, weights, table, bal_columns, fit_w, bal_w,
            g.position, g.start, g.domain, plan.safe_domain, plan.count_on, counts,
            plan.max_skew, plan.require_all, plan.log_table, np.int64(plan.weight), terminating, True,
        )
        return chosen, counts, tree

    def synced(self, tree: _Tree) -> None:
        """A run's pods are bound: the tree is current up to the touch log's end."""
        tree.position = self.fw.snapshot.touched_count


def preferred_run_reference(alloc, requested, nonzero, req, nz, static, seed: int, key: int, profile,
                            inputs: SpreadScoreInputs, terminating: np.ndarray) -> np.ndarray:
    """NumPy twin of the kernel (the specification): per pod, the fused resource totals, then
    PodTopologySpread's score and normalize over every node exactly as the plugin computes them,
    the weighted sum and select_node. requested / nonzero / inputs.counts grow in place."""
    node_value = inputs.node_value
    k, n = node_value.shape
    has_all = (node_value >= 0).all(axis=0)
    width = max(1, int(node_value.max(initial=-1)) + 1)
    chosen = np.full(len(terminating), -1, dtype=np.int64)
    for i in range(len(terminating)):
        feasible, totals = reference.fused_totals(alloc, requested, nonzero, req, nz, static, profile)
        if not feasible.any():
            break
        ignored = feasible & ~has_all if inputs.require_all else np.zeros(n, dtype=bool)
        scored = feasible & ~ignored
        total = np.zeros(n, dtype=np.float64)
        for c in range(k):
            domain = node_value[c]
            has = domain >= 0
            size = int(np.count_nonzero(np.bincount(domain[scored] + 1)))
            src = has & inputs.included[c]
            sums = np.bincount(domain[src], weights=inputs.counts[c][src], minlength=width).astype(np.int64)
            cnt = np.where(has, sums[np.where(has, domain, 0)], 0)
            total = np.where(has, total + (cnt.astype(np.float64) * math.log(size + 2) + float(inputs.max_skew[c] - 1)), total)
        raw = np.where(ignored, 0, go_round(total).astype(np.int64))
        if scored.any():
            low = int(raw[scored].min())
            high = max(int(raw[scored].max()), 0)
            norm = np.full(n, 100, dtype=np.int64) if high == 0 else 100 * (high + low - raw) // high
            norm = np.where(scored, norm, 0)
        else:
            norm = np.zeros(n, dtype=np.int64)
        combined = reference.weighted_sum(np.stack([totals, norm]), np.array([1, inputs.weight], dtype=np.int64))
        node = reference.select_node(combined, feasible, seed, key)
        chosen[i] = node
        requested[node] += req
        nonzero[node] += nz
        if not terminating[i]:
            for c in range(k):
                if inputs.counted[c]:
                    inputs.counts[c, node] += 1
    return chosen
