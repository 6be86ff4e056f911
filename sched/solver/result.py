"""What a placer returns, and why each pod it left out was left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .problem import Objective, ObjectiveValue, PlacementProblem

# Reasons, as constants so callers can match on them (the message after the colon varies).
REASON_FILTERED = "no node passes the filters"
REASON_TOO_BIG = "no node has room for it alone"
REASON_GANG = "gang not placed"
REASON_SPREAD = "topology spread"
REASON_NO_ROOM = "no room left"


@dataclass
class SolverResult:
    """assignment[p] is the node index of pod p, or -1 (not placed).

    status: "optimal" (proven), "feasible" (the solver's best, not proven), "hint" (the solver
    found nothing better than the greedy hint, which is returned), "greedy" (a greedy placer,
    nothing to prove). bound and gap concern `value.secondary` for the objective (for
    "priority": the placed weight); gap = |value - bound| / max(1, |value|) as CP-SAT reports it.
    """

    assignment: np.ndarray
    solver: str
    objective: Objective
    value: ObjectiveValue
    status: str
    bound: int | None = None
    gap: float | None = None
    seconds: float = 0.0
    reasons: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def placed(self) -> int:
        return int(np.sum(self.assignment >= 0))

    def to_dict(self, problem: PlacementProblem | None = None) -> dict[str, Any]:
        def pod(p: int) -> str:
            return problem.pod_name(p) if problem is not None else str(p)

        def node(n: int) -> str:
            return problem.node_name(n) if problem is not None else str(n)

        return {
            "solver": self.solver,
            "objective": self.objective,
            "status": self.status,
            "value": self.value.secondary if self.objective != "priority" else self.value.placed_weight,
            "bound": self.bound,
            "gap": self.gap,
            "placed": self.placed,
            "placed_weight": self.value.placed_weight,
            "seconds": round(self.seconds, 3),
            "assignments": {pod(p): node(int(n)) for p, n in enumerate(self.assignment) if n >= 0},
            "unplaced": {pod(p): why for p, why in sorted(self.reasons.items())},
            "notes": list(self.notes),
        }


def remaining_free(problem: PlacementProblem, assignment: np.ndarray) -> np.ndarray:
    free = problem.free.copy()
    placed = assignment >= 0
    np.subtract.at(free, assignment[placed], problem.requests[placed])
    return free


def explain_unplaced(problem: PlacementProblem, assignment: np.ndarray, proven: bool = False) -> dict[int, str]:
    """A message for every pod left out, in kube-scheduler's words where they apply.

    proven: the solver proved that no assignment places more (priority-weighted) pods."""
    assignment = np.asarray(assignment, dtype=np.int64)
    feasible = problem.feasible_mask()
    gang_of = problem.gang_of()
    free_after = remaining_free(problem, assignment)
    out: dict[int, str] = {}
    gang_msgs: dict[int, str] = {}
    for p in np.flatnonzero(assignment < 0):
        p = int(p)
        g = int(gang_of[p])
        if not problem.mask[p].any():
            out[p] = f"{REASON_FILTERED}: 0/{problem.n_nodes} nodes pass the scheduler's filters"
        elif not feasible[p].any():
            out[p] = f"{REASON_TOO_BIG}: {_insufficient(problem, p, problem.free, problem.mask[p])}"
        elif g >= 0:
            if g not in gang_msgs:
                gang_msgs[g] = _gang_message(problem, g, assignment, proven)
            out[p] = gang_msgs[g]
        else:
            cand = feasible[p]
            spread_block = _spread_blocked(problem, p, assignment, cand)
            fits_now = cand & np.all(problem.requests[p] <= free_after, axis=1)
            if fits_now.any() and spread_block:
                out[p] = f"{REASON_SPREAD}: {spread_block}"
            else:
                msg = _insufficient(problem, p, free_after, cand)
                if fits_now.any():
                    msg = "the nodes with room break its anti-affinity or spread constraints"
                tail = " (proven: no placement holds more)" if proven else ""
                out[p] = f"{REASON_NO_ROOM} after placing the batch: {msg}{tail}"
    return out


def _insufficient(problem: PlacementProblem, p: int, free: np.ndarray, candidates: np.ndarray) -> str:
    idx = np.flatnonzero(candidates)
    counts: Counter[str] = Counter()
    for r in range(problem.n_resources):
        short = int(np.sum(problem.requests[p, r] > free[idx, r]))
        if short:
            counts[f"Insufficient {problem.resource_name(r)}"] = short
    filtered = problem.n_nodes - len(idx)
    parts = [f"{c} {why}" for why, c in sorted(counts.items())]
    if filtered:
        parts.append(f"{filtered} filtered out")
    return f"0/{problem.n_nodes} nodes are available: " + ", ".join(parts) + "."


def _gang_message(problem: PlacementProblem, g: int, assignment: np.ndarray, proven: bool) -> str:
    gang = problem.gangs[g]
    members = list(gang.members)
    need = problem.requests[members].sum(axis=0)
    reachable = problem.feasible_mask()[members].any(axis=0)
    have = problem.free[reachable].sum(axis=0)
    short = [problem.resource_name(r) for r in range(problem.n_resources) if need[r] > have[r]]
    unfit = [m for m in members if not problem.feasible_mask()[m].any()]
    head = f"{REASON_GANG}: gang {gang.name} needs {gang.required} of {len(members)} members placed together"
    if len(members) - len(unfit) < gang.required:
        why = f"{len(unfit)} member(s) fit no node"
    elif short:
        why = "its members request more " + ", ".join(short) + " than all the nodes they may use have free"
    elif proven:
        why = "no assignment fits that many members at once (proven by the solver)"
    else:
        why = "no assignment found fits that many members at once"
    return f"{head}; {why}; none placed"


def _spread_blocked(problem: PlacementProblem, p: int, assignment: np.ndarray, cand: np.ndarray) -> str:
    for s in problem.spread:
        if p not in s.members:
            continue
        dom, counts = problem.spread_counts(s)
        counts = counts.copy()
        for m in s.members:
            if assignment[m] >= 0 and dom[assignment[m]] >= 0:
                counts[dom[assignment[m]]] += 1
        ids = problem.spread_domain_ids(s)
        low = int(counts[ids].min()) if len(ids) else 0
        doms = {int(dom[n]) for n in np.flatnonzero(cand)}
        if doms and all(counts[d] + 1 - low > s.max_skew for d in doms):
            return f"spread {s.name}: every domain it may use would exceed maxSkew {s.max_skew}"
    return ""
