"""A batch of pods (and gangs) placed together by CP-SAT on the scheduler's snapshot.

    place_batch(scheduler, pods, gangs, objective, time_limit)
        1. split: pods the solver can take (fit depends on nodes and resources only; gangs whose
           members all are) vs the rest
        2. hint: kube-scheduler's own one-at-a-time answer (Scheduler.place, then released),
           gangs short of min_member emptied; the better of it and the solver package's greedy
           placers is CP-SAT's hint and fallback, so the answer is never worse than either
        3. CP-SAT on the PlacementProblem (filters as the mask, free room, gangs)
        4. the independent checker on the answer, then each placement re-checked by the real
           filters as it is bound into the snapshot (a gang all or nothing)
    -> BatchPlacement: what is bound, the solver's result and figures, and the pods left for
       the per-pod path (not eligible, refused by the filters, or unplaced outside a gang)

The caller decides what to do with those: `shoal place --solver cpsat` and the in-cluster batch
window send them through the per-pod cycle (kube-scheduler's messages and preemption); gang
members left out get the solver's gang reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .podinfo import PodInfo
from .scheduler import Scheduler
from .solver import checker
from .solver.greedy import best_greedy
from .solver.problem import DEFAULT_TIME_LIMIT, Gang, Objective, PlacementProblem, evaluate
from .solver.result import SolverResult, explain_unplaced
from .solver_bridge import (
    commit_verified,
    problem_from_snapshot,
    release,
    solver_eligible,
)

KUBE_GREEDY = "kube-scheduler"  # the hint's name when the per-pod scheduler's answer wins
REASON_GANG_REFUSED = "gang not placed: the scheduler's filters refused a member on the node the solver chose"


@dataclass(frozen=True)
class GangSpec:
    """A gang among the batch's pods: indices into the pods, and how many must be placed."""

    name: str
    members: tuple[int, ...]
    min_member: int


@dataclass
class BatchPlacement:
    nodes: np.ndarray  # node index per pod (-1: not bound by this batch)
    rest: list[int]  # pods for the per-pod path
    gang_reasons: dict[int, str]  # gang members left out: why
    result: SolverResult | None = None
    problem: PlacementProblem | None = None
    greedy: SolverResult | None = None  # the hint the solver started from
    kube_greedy_value: Any = None  # kube-scheduler's own answer, evaluated (None: not run)
    problems: list[str] = field(default_factory=list)  # checker violations (a solver bug)
    refused: int = 0  # placements the real filters refused when binding

    @property
    def improved(self) -> bool:
        """The solver's answer is strictly better than kube-scheduler's one-at-a-time answer."""
        if self.result is None or self.kube_greedy_value is None:
            return False
        return self.result.value.key < self.kube_greedy_value.key

    @property
    def places_more(self) -> bool:
        """The solver's answer places more (priority-weighted) pods than kube-scheduler's."""
        if self.result is None or self.kube_greedy_value is None:
            return False
        return self.result.value.placed_weight > self.kube_greedy_value.placed_weight

    def stats(self) -> dict[str, Any]:
        """Solver figures for `stats` (the optimality gap, the hint, the time)."""
        if self.result is None:
            return {"solver": "cpsat", "solver_pods": 0}
        r = self.result
        out: dict[str, Any] = {
            "solver": "cpsat",
            "objective": r.objective,
            "status": r.status,
            "value": r.value.secondary if r.objective != "priority" else r.value.placed_weight,
            "bound": r.bound,
            "gap": None if r.gap is None else round(r.gap, 6),
            "solver_pods": int(self.problem.n_pods) if self.problem is not None else 0,
            "solver_placed": r.placed,
            "solver_seconds": round(r.seconds, 3),
            "hint": self.greedy.solver if self.greedy is not None else None,
        }
        if self.kube_greedy_value is not None:
            v = self.kube_greedy_value
            out["greedy_value"] = v.secondary if r.objective != "priority" else v.placed_weight
            out["greedy_placed"] = v.placed
        if r.notes:
            out["notes"] = list(r.notes)
        return out


def _eligible_sets(pods: Sequence[PodInfo], gangs: Sequence[GangSpec]) -> tuple[list[int], list[GangSpec]]:
    ok = [solver_eligible(p) and not p.cls.host_ports for p in pods]
    for g in gangs:
        if not all(ok[m] for m in g.members):
            for m in g.members:
                ok[m] = False
    chosen = [i for i, good in enumerate(ok) if good]
    return chosen, [g for g in gangs if ok[g.members[0]]] if gangs else []


def kube_greedy(scheduler: Scheduler, pods: Sequence[PodInfo], gangs: Sequence[Gang]) -> np.ndarray:
    """kube-scheduler's one-at-a-time answer for `pods` (indices into them), the snapshot left
    as it was; gangs it could not fill are emptied (the hint must keep them whole)."""
    placements = scheduler.place(list(pods))
    position = {id(p): i for i, p in enumerate(pods)}
    out = np.full(len(pods), -1, np.int64)
    bound = []
    for info, n in zip(placements.pods, placements.nodes.tolist()):
        if n >= 0:
            out[position[id(info)]] = n
            bound.append(info)
    release(scheduler.snapshot, bound)
    for g in gangs:
        members = list(g.members)
        if int(np.sum(out[members] >= 0)) < g.required:
            out[members] = -1
    return out


def place_batch(scheduler: Scheduler, pods: Sequence[PodInfo], gangs: Sequence[GangSpec] = (),
                objective: Objective = "nodes", time_limit: float = DEFAULT_TIME_LIMIT,
                workers: int | None = None, kube_hint: bool = True) -> BatchPlacement:
    """Place `pods` (with `gangs` among them) by CP-SAT; see the module docstring."""
    from .solver import cpsat  # OR-Tools loads on the first batch, not with the scheduler
    snapshot = scheduler.snapshot
    nodes = np.full(len(pods), -1, np.int64)
    chosen, solver_gangs = _eligible_sets(pods, gangs)
    taken = set(chosen)
    rest = [i for i in range(len(pods)) if i not in taken]
    out = BatchPlacement(nodes, rest, {})
    if not chosen or not snapshot.n_nodes:
        out.rest = list(range(len(pods)))
        return out
    local = {g: i for i, g in enumerate(chosen)}
    batch = [pods[i] for i in chosen]
    problem_gangs = [Gang(g.name, tuple(local[m] for m in g.members), min(g.min_member, len(g.members)))
                     for g in solver_gangs]
    t0 = time.perf_counter()
    problem = problem_from_snapshot(snapshot, scheduler.framework_for, batch, problem_gangs)
    hint = best_greedy(problem, objective)
    if kube_hint:
        kube = kube_greedy(scheduler, batch, problem.gangs)
        if not checker.check(problem, kube):
            out.kube_greedy_value = evaluate(problem, kube, objective)
            if out.kube_greedy_value.key <= hint.value.key:
                hint = SolverResult(kube, KUBE_GREEDY, objective, out.kube_greedy_value, "greedy",
                                    reasons=explain_unplaced(problem, kube))
    remaining = max(0.1, time_limit - (time.perf_counter() - t0))
    result = cpsat.solve(problem, objective, remaining, hint=hint, workers=workers)
    out.problems = checker.check(problem, result.assignment)
    if out.problems:  # never bind what the checker refuses: the hint is feasible by construction
        result = hint
    out.result, out.problem, out.greedy = result, problem, hint
    _, refused = commit_verified(snapshot, scheduler.framework_for, batch, result.assignment)
    refused_ids = {id(p) for p in refused}
    failed_gang = np.zeros(len(batch), bool)
    for g in problem.gangs:
        members = [batch[m] for m in g.members]
        kept = [m for m in members if m.row >= 0]
        if len(kept) < g.required:  # refused members broke it: the gang goes whole or not at all
            release(snapshot, kept)
            failed_gang[list(g.members)] = True
    for p_local, pod in enumerate(batch):
        i = chosen[p_local]
        if pod.row >= 0:
            nodes[i] = int(result.assignment[p_local])
        elif failed_gang[p_local]:
            out.gang_reasons[i] = result.reasons.get(p_local) or REASON_GANG_REFUSED
        else:
            out.rest.append(i)
    out.rest.sort()
    out.refused = len(refused_ids)
    return out
