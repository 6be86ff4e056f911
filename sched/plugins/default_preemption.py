"""DefaultPreemption (PostFilter): which lower-priority pods would have to go, and where.

1. Eligibility: preemptionPolicy Never, or a terminating preempted pod still on the nominated
   node, end it here.
2. Candidates: nodes whose filter status is Unschedulable (not unresolvable), dry-run from a
   seeded offset until max(n * minCandidateNodesPercentage / 100, minCandidateNodesAbsolute)
   candidates are found.
3. On each node (SelectVictimsOnNode): remove every lower-priority pod; if the pod still does not
   fit, the filter's status is the node's; else reprieve victims, most important first
   (priority, then earlier start), keeping each one the pod still fits beside.
4. Node choice: fewest PDB violations (none offline), lowest top victim priority, smallest sum
   of (priority + MaxInt32 + 1), fewest victims, latest start among the top-priority victims,
   then the first in dry-run order.

Offline nothing is evicted: the result is the nominated node and its victims. The dry runs
really remove pods from the snapshot and put them back, so every filter sees the node as it
would be. When every filter but NodeResourcesFit is static for the pod (its verdict does not
depend on the bound pods: no ports, no pod (anti-)affinity or spread in play), the dry run is
arithmetic on the node's request vectors instead, with the same victims and statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shoal.native.reference import pod_salt

from ..framework.fit_error import Diagnosis, fit_error_message
from ..framework.interface import POST_FILTER, Cycle, Plugin, PluginArgsError
from ..framework.status import Code, Status
from ..podinfo import PodInfo
from .node_resources_fit import NodeResourcesFit, fit_status
from ._args import check_fields, int_field

NAME = "DefaultPreemption"
PREFIX = "preemption: "
REASON_NEVER = "not eligible due to preemptionPolicy=Never."
REASON_TERMINATING = "not eligible due to a terminating pod on the nominated node."
REASON_NO_VICTIMS = "No preemption victims found for incoming pod"
REASON_NOT_HELPFUL = "Preemption is not helpful for scheduling"
MAX_INT32 = 2**31 - 1


@dataclass
class Candidate:
    node: int
    victims: list[PodInfo]  # most important first


class DefaultPreemption(Plugin):
    NAME = NAME
    POINTS = frozenset({POST_FILTER})

    def __init__(self, args=None, profile=None, min_percentage: int = 10, min_absolute: int = 100) -> None:
        super().__init__(args, profile)
        self.min_percentage = min_percentage
        self.min_absolute = min_absolute
        self.arithmetic_dry_runs = True  # tests turn it off to compare against the snapshot's

    def post_filter(self, cycle: Cycle, diagnosis: Diagnosis, framework) -> tuple[object, Status]:
        from ..framework.runtime import PostFilterResult

        eligible, reason = self.eligible(cycle, diagnosis)
        if not eligible:
            return None, Status.unschedulable(PREFIX + reason, plugin=NAME)
        candidates, statuses = self.find_candidates(cycle, diagnosis, framework)
        if not candidates:
            message = fit_error_message(cycle.n_nodes, statuses)
            return None, Status.unschedulable(PREFIX + message, plugin=NAME)
        best = self.select_candidate(cycle.snapshot, candidates)
        name = cycle.snapshot.nodes[best.node].name
        return PostFilterResult(name, best.victims), Status()

    # -- 1 ---------------------------------------------------------------------------------------

    def eligible(self, cycle: Cycle, diagnosis: Diagnosis) -> tuple[bool, str]:
        pod = cycle.pod
        if pod.cls.preempt_never:
            return False, REASON_NEVER
        nominated = pod.nominated_node_name
        n = cycle.snapshot.node_index.get(nominated) if nominated else None
        if n is not None:
            status = diagnosis.status_of(n)
            if status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            for other in cycle.snapshot.pods_on(n):
                if other.priority < pod.priority and other.terminating and other.preempted_by_scheduler:
                    return False, REASON_TERMINATING
        return True, ""

    # -- 2 and 3 -----------------------------------------------------------------------------------

    def candidates_wanted(self, n: int) -> int:
        k = n * self.min_percentage // 100
        return min(max(k, self.min_absolute), n)

    def find_candidates(self, cycle: Cycle, diagnosis: Diagnosis, framework) -> tuple[list[Candidate], Diagnosis]:
        codes = diagnosis.codes()
        potential = np.flatnonzero(codes == Code.UNSCHEDULABLE)
        n_all = cycle.n_nodes
        statuses = Diagnosis(np.full(n_all, -1, dtype=np.int32), [], Status.unresolvable(REASON_NOT_HELPFUL))
        if len(potential) == 0:
            return [], statuses
        wanted = self.candidates_wanted(len(potential))
        offset = pod_salt(framework.seed, cycle.cls.key) % len(potential)
        found: list[Candidate] = []
        filters = self.resource_only_filters(cycle, framework) if self.arithmetic_dry_runs else None
        # Arithmetic dry runs: the nodes where the pod fits not even with every lower-priority pod
        # gone, or that hold none, are known up front; their statuses make the message only when
        # no node has candidates, so they are built then, not in the dry runs (where most nodes of
        # a full cluster end).
        promising = filters.nodes_with_victims() if filters is not None else None
        skipped: list[int] = []
        for i in range(len(potential)):
            node = int(potential[(offset + i) % len(potential)])
            if filters is not None:
                if not promising[node]:  # type: ignore[index]
                    skipped.append(node)
                    continue
                victims, status = self.select_victims_by_resources(cycle, node, filters)
            else:
                victims, status = self.select_victims(cycle, node, framework)
            if status.is_success and victims:
                found.append(Candidate(node, victims))
                if len(found) >= wanted:
                    break
                continue
            statuses.status_index[node] = len(statuses.statuses)
            statuses.statuses.append(status)
        if not found:
            for node in skipped:
                victims, status = self.select_victims_by_resources(cycle, node, filters)
                statuses.status_index[node] = len(statuses.statuses)
                statuses.statuses.append(status)
        return found, statuses

    def select_victims(self, cycle: Cycle, node: int, framework) -> tuple[list[PodInfo], Status]:
        snapshot = cycle.snapshot
        pod = cycle.pod
        potential = [p for p in snapshot.pods_on(node) if p.priority < pod.priority]
        if not potential:
            return [], Status.unresolvable(REASON_NO_VICTIMS, plugin=NAME)
        starts = {id(p): snapshot.start_of(p) for p in potential}
        order = sorted(potential, key=lambda p: (-p.priority, starts[id(p)], p.order))
        for victim in potential:
            snapshot.remove_pod(victim)
        victims: list[PodInfo] = []
        try:
            status = framework.node_status(cycle, node)
            if not status.is_success:
                victims = list(potential)
                return [], status
            for candidate in order:
                snapshot.add_pod(candidate, node)
                if not framework.node_status(cycle, node).is_success:
                    snapshot.remove_pod(candidate)
                    victims.append(candidate)
            return victims, Status()
        finally:
            for victim in victims:
                snapshot.add_pod(victim, node)

    def resource_only_filters(self, cycle: Cycle, framework) -> "_ResourceDryRun | None":
        """A dry run by arithmetic when only NodeResourcesFit's verdict among the pod's active
        filters depends on the bound pods (else None: dry runs go through the snapshot)."""
        from ..framework.runtime import SKIPPED

        skipped = cycle.data.get(SKIPPED, ())
        active = [p for p in framework.filters if p.NAME not in skipped]
        fits = [p for p in active if isinstance(p, NodeResourcesFit)]
        if len(fits) != 1 or not all(p.filter_static(cycle) for p in active if p is not fits[0]):
            return None
        return _ResourceDryRun(cycle, active, fits[0])

    def select_victims_by_resources(self, cycle: Cycle, node: int, dry: "_ResourceDryRun") -> tuple[list[PodInfo], Status]:
        """select_victims, for a pod whose filters are static but for the resources."""
        snapshot = cycle.snapshot
        pod = cycle.pod
        potential = [p for p in snapshot.pods_on(node) if p.priority < pod.priority]
        if not potential:
            return [], Status.unresolvable(REASON_NO_VICTIMS, plugin=NAME)
        requested = snapshot.requested[node].tolist()
        for p in potential:
            requested = [a - b for a, b in zip(requested, dry.req_of(p))]
        status = dry.status(node, requested)
        if status is not None:
            return [], status
        starts = {id(p): snapshot.start_of(p) for p in potential}
        order = sorted(potential, key=lambda p: (-p.priority, starts[id(p)], p.order))
        victims: list[PodInfo] = []
        free = [a - r for a, r in zip(dry.alloc(node), requested)]
        want = dry.want
        for candidate in order:
            c = dry.req_of(candidate)
            after = [f - x for f, x in zip(free, c)]
            if all(w <= 0 or w <= f for w, f in zip(want, after)):
                free = after  # the pod still fits beside it: reprieved
            else:
                victims.append(candidate)
        return victims, Status()

    # -- 4 ---------------------------------------------------------------------------------------

    def select_candidate(self, snapshot, candidates: list[Candidate]) -> Candidate:
        def top_priority(c: Candidate) -> int:
            return c.victims[0].priority

        def earliest_start_of_top(c: Candidate) -> int:
            top = top_priority(c)
            return min(snapshot.start_of(v) for v in c.victims if v.priority == top)

        criteria = (
            lambda c: 0,  # fewest PDB violations: no PodDisruptionBudgets offline
            lambda c: -top_priority(c),
            lambda c: -sum(v.priority + MAX_INT32 + 1 for v in c.victims),
            lambda c: -len(c.victims),
            earliest_start_of_top,
        )
        remaining = candidates
        for score in criteria:
            values = [score(c) for c in remaining]
            best = max(values)
            remaining = [c for c, v in zip(remaining, values) if v == best]
            if len(remaining) == 1:
                break
        return remaining[0]


class _ResourceDryRun:
    """What select_victims_by_resources needs for one pod, as plain ints (vectors of a few
    resources: Python arithmetic beats NumPy's per-call overhead here)."""

    def __init__(self, cycle: Cycle, filters: list, fit: NodeResourcesFit) -> None:
        self.cycle = cycle
        self.filters = filters
        self.fit = fit
        self.request = fit.filter_request(cycle)
        self.want = self.request.tolist()
        self._reqs: dict[int, list[int]] = {}
        # The static filters' verdicts over all nodes, computed once: they hold for every dry run.
        self._verdicts = {id(p): p.filter(cycle) for p in filters if p is not fit}

    def req_of(self, pod: PodInfo) -> list[int]:
        req = self._reqs.get(id(pod.cls))
        if req is None:
            req = self._reqs[id(pod.cls)] = self.cycle.snapshot.class_state(pod.cls).req.tolist()
        return req

    def alloc(self, node: int) -> list[int]:
        return self.cycle.snapshot.alloc[node].tolist()

    def nodes_with_victims(self) -> np.ndarray:
        """bool[N]: the node holds a pod of lower priority than the pod, and with all of those gone
        the pod passes every filter there; exactly the nodes where select_victims_by_resources
        succeeds (the same integer arithmetic, over every node at once)."""
        snapshot = self.cycle.snapshot
        table = snapshot.pods
        rows = np.flatnonzero(table.alive[: table.n] & (table.priority[: table.n] < self.cycle.pod.priority))
        cids, of_row = np.unique(table.cls[rows], return_inverse=True)
        classes = [snapshot.class_of_id(int(c)) for c in cids.tolist()]
        for cls in classes:
            snapshot.class_state(cls)  # may add resource columns: widths settle before any is read
        n = snapshot.n_nodes
        after = snapshot.requested.copy()
        if len(rows):
            reqs = np.array([snapshot.class_state(cls).req for cls in classes], dtype=np.int64)
            np.subtract.at(after, table.node[rows], reqs[of_row])
        # As the per-node arithmetic (zip), over the columns the pod's request has.
        want = self.request
        width = min(len(want), after.shape[1])
        promising = np.bincount(table.node[rows], minlength=n)[:n] > 0
        promising &= ((want[:width] <= 0) | (want[:width] <= snapshot.alloc[:, :width] - after[:, :width])).all(axis=1)
        for plugin in self.filters:
            verdict = None if plugin is self.fit else self._verdicts[id(plugin)]
            if verdict is not None:
                promising &= ~verdict.fail
        return promising

    def status(self, node: int, requested: list[int]) -> Status | None:
        """The first failing filter's status on the node with `requested` bound."""
        snapshot = self.cycle.snapshot
        for plugin in self.filters:
            if plugin is self.fit:
                alloc = self.alloc(node)
                if all(w <= 0 or w <= a - r for w, a, r in zip(self.want, alloc, requested)):
                    continue
                status = fit_status(self.request, snapshot.alloc[node], np.array(requested, dtype=np.int64),
                                    snapshot.columns.names)
            else:
                verdict = self._verdicts[id(plugin)]
                status = verdict.status_of(node) if verdict is not None and verdict.fail[node] else None
            if status is not None:
                return status
        return None


def new(args, profile) -> DefaultPreemption:
    fields = check_fields(NAME, args, ("minCandidateNodesPercentage", "minCandidateNodesAbsolute"))
    pct = int_field(NAME, "minCandidateNodesPercentage", fields.get("minCandidateNodesPercentage", 10), 0, 100)
    absolute = int_field(NAME, "minCandidateNodesAbsolute", fields.get("minCandidateNodesAbsolute", 100), 0)
    if pct == 0 and absolute == 0:
        raise PluginArgsError(f"{NAME} args: minCandidateNodesPercentage and minCandidateNodesAbsolute cannot both be 0")
    return DefaultPreemption(args, profile, pct, absolute)
