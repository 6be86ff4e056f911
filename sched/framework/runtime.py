"""One profile run over the snapshot: PreFilter -> Filter -> Score -> NormalizeScore x weight ->
select, PostFilter when nothing fits.

    schedule(pod)        one scheduling cycle; the node chosen, or the FitError message and what
                         preemption would do
    batch_mask(pod)      for equivalence-class and batched placement: the pod's node mask when
                         everything but the resources is fixed for its class (static filters,
                         scores constant over the nodes that pass them), else None
    diagnose(cycle)      every node's first failing filter, in profile order (for messages)
    node_status(cycle,n) the filters on one node, after the snapshot changed (preemption)

The resource plugins (NodeResourcesFit's filter and score, BalancedAllocation) go through
shoal.native's fused kernels when the profile allows, which filter, score, sum and select in
one pass; otherwise each plugin runs on its own. Filters whose verdict depends only on nodes
are evaluated once per equivalence class and node version, and score plugins that give every
candidate node the same value are left out of the sum (they cannot change the choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from shoal.native import kernels
from shoal.native.profile import ScoringProfile

from ..plugins import balanced_allocation, node_resources_fit
from ..podinfo import PodInfo
from ..snapshot import ClusterSnapshot
from .config import Profile
from .fit_error import Diagnosis, fit_error_message
from .interface import (
    FILTER,
    POST_FILTER,
    PRE_ENQUEUE,
    PRE_FILTER,
    SCORE,
    Cycle,
    Plugin,
)
from .status import Code, Status

FIT = node_resources_fit.NAME
BALANCED = balanced_allocation.NAME
SKIPPED = "runtime/skipped"


@dataclass
class ScheduleResult:
    """The outcome of one cycle: `node` >= 0, or -1 with the message (and preemption's plan)."""

    node: int
    message: str = ""
    diagnosis: Diagnosis | None = None
    nominated_node: str = ""
    victims: list[PodInfo] = field(default_factory=list)
    error: bool = False


@dataclass
class PostFilterResult:
    nominated_node: str
    victims: list[PodInfo]


class Framework:
    def __init__(self, profile: Profile, snapshot: ClusterSnapshot, seed: int = 0) -> None:
        self.profile = profile
        self.snapshot = snapshot
        self.seed = int(seed)
        self.pre_enqueue = profile.at(PRE_ENQUEUE)
        self.pre_filters = profile.at(PRE_FILTER)
        self.filters = profile.at(FILTER)
        self.post_filters = profile.at(POST_FILTER)
        scorers = profile.at(SCORE)
        self.weights = profile.weights
        self.fit: node_resources_fit.NodeResourcesFit | None = profile.plugin(FIT)  # type: ignore[assignment]
        self.fit_filter = self.fit is not None and self.fit in self.filters
        self.fit_weight = self.weights.get(FIT, 0) if any(p.NAME == FIT for p in scorers) else 0
        balanced = next((p for p in scorers if p.NAME == BALANCED), None)
        self.balanced: balanced_allocation.BalancedAllocation | None = balanced  # type: ignore[assignment]
        self.balanced_weight = self.weights.get(BALANCED, 0) if balanced is not None else 0
        self.other_filters = [p for p in self.filters if p.NAME != FIT]
        self.other_scorers = [p for p in scorers if p.NAME not in (FIT, BALANCED)]
        # The fused kernels filter on the request itself, so ignored resources need the slow path.
        self.fused = bool(self.fit_filter and self.fit is not None and not self.fit.ignored and not self.fit.ignored_groups)
        self._scoring: ScoringProfile | None = None
        if self.fit is not None:
            columns = self.balanced.columns(snapshot) if self.balanced is not None else (0, 1)
            self._scoring = self.fit.scoring_profile(snapshot, self.fit_weight, tuple(columns), self.balanced_weight)

    # -- cycle ---------------------------------------------------------------------------------

    def cycle(self, pod: PodInfo) -> Cycle:
        return Cycle(self.snapshot, pod, self.snapshot.class_state(pod.cls))

    def scoring_profile(self) -> ScoringProfile:
        """The fused kernels' view of NodeResourcesFit + BalancedAllocation (column indices are
        resolved once: the snapshot only ever appends columns)."""
        assert self._scoring is not None
        return self._scoring

    def gated(self, pod: PodInfo) -> Status:
        for plugin in self.pre_enqueue:
            status = plugin.pre_enqueue(pod)  # type: ignore[attr-defined]
            if not status.is_success:
                return status
        return Status()

    # -- prefilter and filter ------------------------------------------------------------------

    def run_pre_filter(self, cycle: Cycle) -> Status:
        """PreFilter of every plugin. Their outcome depends on the pod's class, the nodes and the
        bound pods' terms only, so it is computed once per class and versions."""
        version = (self.snapshot.node_version, self.snapshot.holders_version)
        status, skipped, mask, plugins = cycle.cached("runtime/prefilter", version, lambda: self._pre_filter(cycle))
        cycle.data[SKIPPED] = skipped
        cycle.prefilter_mask = mask
        cycle.prefilter_plugins = plugins
        return status

    def _pre_filter(self, cycle: Cycle) -> tuple[Status, frozenset[str], np.ndarray | None, list[str]]:
        skipped: set[str] = set()
        status = Status()
        for plugin in self.pre_filters:
            result = plugin.pre_filter(cycle)
            if result.is_skip:
                skipped.add(plugin.NAME)
            elif not result.is_success:
                status = Status(result.code, result.reasons, plugin.NAME)
                break
        return status, frozenset(skipped), cycle.prefilter_mask, list(cycle.prefilter_plugins)

    def _filter_plan(self, cycle: Cycle) -> tuple[np.ndarray, list[Plugin]]:
        """(mask of nodes passing every static filter, the dynamic filters)."""
        mask = np.ones(cycle.n_nodes, dtype=bool)
        dynamic = []
        for plugin in self.other_filters:
            if plugin.filter_static(cycle):
                verdict = plugin.filter(cycle)
                if verdict is not None:
                    mask &= ~verdict.fail
            else:
                dynamic.append(plugin)
        return mask, dynamic

    def filter_plan(self, cycle: Cycle) -> tuple[np.ndarray, list[Plugin]]:
        version = (self.snapshot.node_version, self.snapshot.holders_version)
        return cycle.cached("runtime/filter-plan", version, lambda: self._filter_plan(cycle))

    def static_mask(self, cycle: Cycle) -> np.ndarray:
        """Nodes passing the static filters and PreFilter's narrowing (one array per class and
        versions, so its identity tells when it changed)."""

        def compute() -> np.ndarray:
            mask, _ = self.filter_plan(cycle)
            return mask & cycle.prefilter_mask if cycle.prefilter_mask is not None else mask

        version = (self.snapshot.node_version, self.snapshot.holders_version)
        return cycle.cached("runtime/static-mask", version, compute)

    def filter_mask(self, cycle: Cycle) -> np.ndarray:
        """Nodes passing every filter but NodeResourcesFit (and PreFilter's narrowing)."""
        mask, dynamic = self.filter_plan(cycle)
        skipped = cycle.data.get(SKIPPED, ())
        for plugin in dynamic:
            if plugin.NAME in skipped:
                continue
            verdict = plugin.filter(cycle)
            if verdict is not None:
                mask = mask & ~verdict.fail
        if cycle.prefilter_mask is not None:
            mask = mask & cycle.prefilter_mask
        return mask

    # -- score and select ----------------------------------------------------------------------

    def varying_scorers(self, cycle: Cycle) -> list[Plugin]:
        """Score plugins (besides the resource ones) not constant over the static filters' nodes;
        a plugin constant there is constant on every subset, whatever the dynamic filters do."""

        def compute() -> list[Plugin]:
            mask, _ = self.filter_plan(cycle)
            if cycle.prefilter_mask is not None:
                mask = mask & cycle.prefilter_mask
            return [p for p in self.other_scorers if not p.score_constant(cycle, mask)]

        version = (self.snapshot.node_version, self.snapshot.holders_version)
        return cycle.cached("runtime/varying", version, compute)

    def choose(self, cycle: Cycle, mask: np.ndarray) -> int:
        """The chosen node among `mask` after the resource filter, or -1."""
        s = self.snapshot
        state = cycle.state
        key = cycle.cls.key
        active = [p for p in self.varying_scorers(cycle) if not p.score_constant(cycle, mask)]
        if self.fused:
            profile = self.scoring_profile()
            if not active:
                return kernels.fused_select(s.alloc, s.requested, s.nonzero, state.req, state.nonzero, mask, self.seed, key, profile)
            feasible, totals = kernels.fused_totals(s.alloc, s.requested, s.nonzero, state.req, state.nonzero, mask, profile)
            if not feasible.any():
                return -1
        else:
            feasible = mask.copy()
            if self.fit_filter:
                assert self.fit is not None
                verdict = self.fit.filter(cycle)
                if verdict is not None:
                    feasible &= ~verdict.fail
            if not feasible.any():
                return -1
            totals = np.zeros(cycle.n_nodes, dtype=np.int64)
            if self.fit_weight:
                assert self.fit is not None
                totals += self.fit_weight * self.fit.score(cycle, feasible)
            if self.balanced is not None and self.balanced_weight and not self.balanced.pre_score(cycle, feasible).is_skip:
                totals += self.balanced_weight * self.balanced.score(cycle, feasible)
        rows = [totals]
        weights = [1]
        for plugin in active:
            if plugin.pre_score(cycle, feasible).is_skip:
                continue
            rows.append(plugin.normalize(cycle, plugin.score(cycle, feasible), feasible))
            weights.append(self.weights[plugin.NAME])
        if len(rows) > 1:
            totals = kernels.weighted_sum(np.stack(rows), np.array(weights, dtype=np.int64))
        return kernels.select_node(totals, feasible, self.seed, key)

    # -- the cycle -----------------------------------------------------------------------------

    def schedule(self, pod: PodInfo) -> ScheduleResult:
        cycle = self.cycle(pod)
        if pod.cls.error is not None:
            return ScheduleResult(-1, f"error parsing pod {pod.key}: {pod.cls.error}", error=True)
        status = self.run_pre_filter(cycle)
        if status.code == Code.ERROR:
            return ScheduleResult(-1, status.message, error=True)
        if status.is_rejected:
            diagnosis = Diagnosis.uniform(cycle.n_nodes, status, prefilter_msg=status.message)
            return self.fail(cycle, diagnosis)
        if self.snapshot.n_nodes == 0:
            return ScheduleResult(-1, fit_error_message(0, Diagnosis.uniform(0, status)))
        node = self.choose(cycle, self.filter_mask(cycle))
        if node >= 0:
            return ScheduleResult(node)
        return self.fail(cycle, self.diagnose(cycle))

    def fail(self, cycle: Cycle, diagnosis: Diagnosis) -> ScheduleResult:
        reasons: list[str] = []
        for plugin in self.post_filters:
            result, status = plugin.post_filter(cycle, diagnosis, self)  # type: ignore[attr-defined]
            if status.is_success:
                message = fit_error_message(self.snapshot.n_nodes, diagnosis)
                return ScheduleResult(-1, message, diagnosis, result.nominated_node, result.victims)
            if status.code == Code.ERROR:
                return ScheduleResult(-1, status.message, diagnosis, error=True)
            reasons.extend(status.reasons)
            if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                break
        message = fit_error_message(self.snapshot.n_nodes, diagnosis, ", ".join(reasons))
        return ScheduleResult(-1, message, diagnosis)

    def diagnose(self, cycle: Cycle) -> Diagnosis:
        """Each node's status from the first filter (in profile order) that rejects it; nodes
        PreFilter ruled out get the absent status "node(s) didn't satisfy plugin(s) [...]"."""
        n = cycle.n_nodes
        index = np.full(n, -1, dtype=np.int32)
        statuses: list[Status] = []
        inside = cycle.prefilter_mask if cycle.prefilter_mask is not None else np.ones(n, dtype=bool)
        skipped = cycle.data.get(SKIPPED, ())
        for plugin in self.filters:
            if plugin.NAME in skipped:
                continue
            verdict = plugin.filter(cycle)
            if verdict is None:
                continue
            newly = verdict.fail & (index < 0) & inside
            if newly.any():
                base = len(statuses)
                statuses.extend(verdict.statuses)
                reason = verdict.reasons()
                index[newly] = base + (reason[newly] if reason is not None else 0)
        absent = None
        if cycle.prefilter_mask is not None:
            names = " ".join(sorted(set(cycle.prefilter_plugins)))
            absent = Status.unresolvable(f"node(s) didn't satisfy plugin(s) [{names}]")
        return Diagnosis(index, statuses, absent)

    def node_status(self, cycle: Cycle, n: int) -> Status:
        """The filters (in order) on node n against the snapshot as it is now."""
        skipped = cycle.data.get(SKIPPED, ())
        for plugin in self.filters:
            if plugin.NAME in skipped:
                continue
            status = plugin.filter_node(cycle, n)
            if status is not None:
                return status
        return Status()

    # -- equivalence classes and batches -------------------------------------------------------

    def mask_only(self, cycle: Cycle) -> bool:
        """Whether only filters vary for this class: its choice is the best resource total over
        the nodes its filters pass (after run_pre_filter)."""
        cls = cycle.cls
        return self.fused and cls.error is None and not cls.scheduling_gates and not self.varying_scorers(cycle)

    def batch_mask(self, pod: PodInfo) -> np.ndarray | None:
        """The node mask of a pod whose placement depends on resources only (see module doc)."""
        cycle = self.cycle(pod)
        version = (self.snapshot.node_version, self.snapshot.holders_version, self.snapshot.columns_version)
        return cycle.cached("runtime/batch", version, lambda: self._batch_mask(cycle))

    def _batch_mask(self, cycle: Cycle) -> np.ndarray | None:
        cls = cycle.cls
        if not self.fused or cls.error is not None or cls.scheduling_gates:
            return None
        if not self.run_pre_filter(cycle).is_success:
            return None
        mask, dynamic = self.filter_plan(cycle)
        skipped = cycle.data[SKIPPED]
        if any(p.NAME not in skipped for p in dynamic):
            return None
        if cycle.prefilter_mask is not None:
            mask = mask & cycle.prefilter_mask
        if self.varying_scorers(cycle):
            return None
        mask.setflags(write=False)
        return mask
