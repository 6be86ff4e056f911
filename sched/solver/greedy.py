"""Greedy placers: how kube-scheduler would pack, and the CP-SAT model's hint and fallback.

    first_fit_decreasing   biggest pods first, each on the first node (by index) with room
    one_at_a_time          queue order (priority, then input order, as PrioritySort), each pod on
                           the best-scored feasible node: "most" (MostAllocated: pack) or
                           "least" (LeastAllocated: spread, kube-scheduler's default)
    best_greedy            the best of them under an objective: the hint

Every placer honours every hard constraint of the problem: a gang is placed as one unit and
rolled back whole if it does not fit; spread uses kube-scheduler's check (count + 1 - min <=
maxSkew) at each pod's turn; scale_up=True only opens an empty node when no busy one has room
(kube-scheduler in front of a cluster autoscaler).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal

import numpy as np

from .problem import Objective, PlacementProblem, evaluate
from .result import SolverResult, explain_unplaced

Scoring = Literal["first", "most", "least"]
SizeKey = Literal["sum", "max", "prod"]

MAX_NODE_SCORE = 100


class PackingState:
    """Free capacity and constraint counters while pods are placed one by one."""

    def __init__(self, problem: PlacementProblem) -> None:
        self.problem = problem
        self.feasible = problem.feasible_mask()
        self.free = problem.free.copy()
        self.busy = problem.nodes_in_use().copy()
        self.assignment = np.full(problem.n_pods, -1, np.int64)
        self.aa = []  # (group, domain per node, counts per domain)
        self.spread = []
        self.aa_of: dict[int, list[int]] = {}
        self.spread_of: dict[int, list[int]] = {}
        for i, a in enumerate(problem.anti_affinity):
            dom, existing = problem.anti_affinity_domains(a)
            self.aa.append((a, dom, existing.copy()))
            for m in a.members:
                self.aa_of.setdefault(m, []).append(i)
        for i, s in enumerate(problem.spread):
            dom, existing = problem.spread_counts(s)
            self.spread.append((s, dom, existing.copy(), problem.spread_domain_ids(s)))
            for m in s.members:
                self.spread_of.setdefault(m, []).append(i)

    def candidates(self, p: int) -> np.ndarray:
        ok = self.feasible[p] & np.all(self.problem.requests[p] <= self.free, axis=1)
        for i in self.aa_of.get(p, ()):
            a, dom, counts = self.aa[i]
            ok &= (dom < 0) | (counts[np.maximum(dom, 0)] < a.max_per_domain)
        for i in self.spread_of.get(p, ()):
            s, dom, counts, ids = self.spread[i]
            low = counts[ids].min() if len(ids) else 0
            ok &= (dom >= 0) & (counts[np.maximum(dom, 0)] + 1 - low <= s.max_skew)
        return ok

    def place(self, p: int, n: int) -> None:
        self.assignment[p] = n
        self.free[n] -= self.problem.requests[p]
        self.busy[n] = True
        for i in self.aa_of.get(p, ()):
            _, dom, counts = self.aa[i]
            if dom[n] >= 0:
                counts[dom[n]] += 1
        for i in self.spread_of.get(p, ()):
            _, dom, counts, _ = self.spread[i]
            counts[dom[n]] += 1

    def save(self) -> tuple:
        return (
            self.free.copy(),
            self.busy.copy(),
            self.assignment.copy(),
            [c.copy() for _, _, c in self.aa],
            [c.copy() for _, _, c, _ in self.spread],
        )

    def restore(self, saved: tuple) -> None:
        self.free, self.busy, self.assignment = saved[0], saved[1], saved[2]
        self.aa = [(a, d, c) for (a, d, _), c in zip(self.aa, saved[3])]
        self.spread = [(s, d, c, ids) for (s, d, _, ids), c in zip(self.spread, saved[4])]


def resource_scores(alloc: np.ndarray, free: np.ndarray, request: np.ndarray, scoring: Scoring) -> np.ndarray:
    """kube-scheduler's NodeResourcesFit scores, 0..100 per node, mean over resources with
    allocatable > 0: MostAllocated = requested * 100 / allocatable after placing the pod,
    LeastAllocated = (allocatable - requested) * 100 / allocatable."""
    requested = alloc - free + request[None, :]
    has = alloc > 0
    safe = np.where(has, alloc, 1)
    if scoring == "most":
        per = np.minimum(requested, alloc) * MAX_NODE_SCORE // safe
    else:
        per = np.maximum(alloc - requested, 0) * MAX_NODE_SCORE // safe
    per = np.where(has, per, 0)
    return per.sum(axis=1) // np.maximum(has.sum(axis=1), 1)


def pod_sizes(problem: PlacementProblem, key: SizeKey = "sum") -> np.ndarray:
    """A scalar size per pod for "decreasing" orders: requests over the largest node's free
    capacity per resource, summed, maxed or multiplied."""
    scale = np.maximum(problem.free.max(axis=0) if problem.n_nodes else 1, 1).astype(np.float64)
    rel = problem.requests / scale
    if key == "sum":
        return rel.sum(axis=1)
    if key == "max":
        return rel.max(axis=1) + 1e-6 * rel.sum(axis=1)
    return np.prod(np.maximum(rel, 1e-9), axis=1)


def _units(problem: PlacementProblem, pod_order: np.ndarray) -> list[list[int]]:
    """Gangs as one unit each, at the position of their first member in pod_order."""
    gang_of = problem.gang_of()
    members: dict[int, list[int]] = {}
    for p in pod_order:
        if gang_of[p] >= 0:
            members.setdefault(int(gang_of[p]), []).append(int(p))
    units: list[list[int]] = []
    for p in pod_order:
        g = int(gang_of[p])
        if g < 0:
            units.append([int(p)])
        elif g in members:
            units.append(members.pop(g))
    return units


def _choose(state: PackingState, p: int, scoring: Scoring, scale_up: bool, prefer_current: bool) -> int:
    ok = state.candidates(p)
    if not ok.any():
        return -1
    home = int(state.problem.current[p])
    if prefer_current and home >= 0 and ok[home]:
        return home
    if scale_up:
        busy_ok = ok & state.busy
        if busy_ok.any():
            ok = busy_ok
        else:
            return int(np.argmax(ok))  # the first empty node with room
    if scoring == "first":
        return int(np.argmax(ok))
    idx = np.flatnonzero(ok)
    scores = resource_scores(state.problem.allocatable[idx], state.free[idx], state.problem.requests[p], scoring)
    return int(idx[int(np.argmax(scores))])  # ties: the lowest node index


def place_in_order(
    problem: PlacementProblem,
    pod_order: Iterable[int],
    scoring: Scoring = "first",
    scale_up: bool = False,
    prefer_current: bool = False,
) -> np.ndarray:
    """Place pods in the given order (gangs as units), returning the assignment."""
    state = PackingState(problem)
    for unit in _units(problem, np.asarray(list(pod_order), dtype=np.int64)):
        saved = state.save() if len(unit) > 1 else None
        placed = 0
        for p in unit:
            n = _choose(state, p, scoring, scale_up, prefer_current)
            if n >= 0:
                state.place(p, n)
                placed += 1
        if saved is not None:
            g = problem.gangs[int(problem.gang_of()[unit[0]])]
            if placed < g.required:
                state.restore(saved)
    return state.assignment


def queue_order(problem: PlacementProblem) -> np.ndarray:
    """PrioritySort: higher priority first, then input order."""
    return np.lexsort((np.arange(problem.n_pods), -problem.priority))


def decreasing_order(problem: PlacementProblem, key: SizeKey = "sum") -> np.ndarray:
    """Higher priority first, then bigger first, then input order."""
    return np.lexsort((np.arange(problem.n_pods), -pod_sizes(problem, key), -problem.priority))


def _result(problem: PlacementProblem, assignment: np.ndarray, solver: str, objective: Objective, t0: float) -> SolverResult:
    return SolverResult(
        assignment=assignment,
        solver=solver,
        objective=objective,
        value=evaluate(problem, assignment, objective),
        status="greedy",
        seconds=time.perf_counter() - t0,
        reasons=explain_unplaced(problem, assignment),
    )


def first_fit_decreasing(problem: PlacementProblem, objective: Objective = "nodes", key: SizeKey = "sum", scale_up: bool = False) -> SolverResult:
    t0 = time.perf_counter()
    assignment = place_in_order(problem, decreasing_order(problem, key), "first", scale_up=scale_up)
    return _result(problem, assignment, f"ffd-{key}", objective, t0)


def one_at_a_time(problem: PlacementProblem, scoring: Scoring = "least", objective: Objective = "nodes", scale_up: bool = False) -> SolverResult:
    t0 = time.perf_counter()
    assignment = place_in_order(problem, queue_order(problem), scoring, scale_up=scale_up)
    name = {"most": "greedy-most-allocated", "least": "greedy-least-allocated", "first": "greedy-first-fit"}[scoring]
    return _result(problem, assignment, name, objective, t0)


def best_greedy(problem: PlacementProblem, objective: Objective = "nodes") -> SolverResult:
    """The best of several greedy placers under the objective (ties: the first tried)."""
    t0 = time.perf_counter()
    tries: list[tuple[str, np.ndarray]] = []
    prefer = objective == "disruption"
    for key in ("sum", "max"):
        tries.append((f"ffd-{key}", place_in_order(problem, decreasing_order(problem, key), "first", prefer_current=prefer)))
    tries.append(("ffd-most-allocated", place_in_order(problem, decreasing_order(problem), "most", prefer_current=prefer)))
    if objective in ("balanced", "disruption", "priority"):
        tries.append(("ffd-least-allocated", place_in_order(problem, decreasing_order(problem), "least", prefer_current=prefer)))
    best_name, best = min(tries, key=lambda t: evaluate(problem, t[1], objective).key)
    return _result(problem, best, best_name, objective, t0)
