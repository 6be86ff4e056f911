"""The CP-SAT model over pod classes, for batches too big for one Boolean per (pod, node).

    y[c, n] in 0..k   how many pods of class c go to node n (c: pods with the same requests,
                      priority and mask row; the pair exists only where one of them fits alone)
    sum_n y[c, n] <= |c|
    sum_c req[c, r] y[c, n] <= free[n, r] * used[n]     (used[n] fixed to 1 for busy nodes)
    identical empty nodes are opened in index order     (used[n_k] >= used[n_k+1])

A pod's identity never matters to the capacity rows, so counting pods per class loses no
placement: 1,000 pods of the Alibaba trace fall into ~50 classes, and 50 x 1,000 integer
variables build and solve where 1,000 x 1,000 Booleans do not fit a 5 s budget (the
per-pair model's max_pairs cut). It covers the plain case: no gangs, anti-affinity, spreading
or current nodes, and the objectives "nodes" and "priority"; solve() uses it when the pair
model is too big and the problem is plain, and otherwise returns the greedy answer as before.
Lexicographic as the pair model: most priority placed first, then fewest nodes; the greedy hint
is the starting point and the answer is never worse than it.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict

import numpy as np
from ortools.sat.python import cp_model

from .problem import Objective, PlacementProblem, evaluate
from .result import SolverResult, explain_unplaced


def applies(problem: PlacementProblem, objective: Objective) -> bool:
    """Whether the class model says everything the problem asks."""
    plain = not (problem.gangs or problem.anti_affinity or problem.spread) and not np.any(problem.current >= 0)
    return plain and objective in ("nodes", "priority")


def pod_classes(problem: PlacementProblem, feasible: np.ndarray) -> list[np.ndarray]:
    """Pods (index arrays, input order) that no constraint or objective tells apart."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for p in range(problem.n_pods):
        groups[(problem.requests[p].tobytes(), int(problem.priority[p]), feasible[p].tobytes())].append(p)
    return [np.array(g, np.int64) for g in groups.values()]


def n_pairs(problem: PlacementProblem) -> int:
    feasible = problem.feasible_mask()
    return sum(int(feasible[c[0]].sum()) for c in pod_classes(problem, feasible))


def nodes_volume_bound(problem: PlacementProblem, pods: np.ndarray) -> int:
    """A lower bound on the nodes in use once `pods` are placed: per resource, the fewest empty
    nodes (largest first) whose free room holds what the busy nodes cannot, plus the busy ones."""
    busy = problem.nodes_in_use()
    best = 0
    for r in range(problem.n_resources):
        need = int(problem.requests[pods, r].sum()) - int(problem.free[busy, r].sum())
        if need <= 0:
            continue
        room = np.sort(problem.free[~busy, r])[::-1]
        k = int(np.searchsorted(np.cumsum(room), need)) + 1
        best = max(best, min(k, len(room)))
    return best + int(busy.sum())


def _node_groups(problem: PlacementProblem, feasible: np.ndarray, busy: np.ndarray) -> list[list[int]]:
    keys: dict[tuple, list[int]] = defaultdict(list)
    for n in np.flatnonzero(~busy):
        n = int(n)
        keys[(problem.free[n].tobytes(), problem.allocatable[n].tobytes(), feasible[:, n].tobytes())].append(n)
    return [g for g in keys.values() if len(g) > 1]


def solve_by_classes(problem: PlacementProblem, objective: Objective, time_limit: float, hint: SolverResult,
                     workers: int, seed: int = 0) -> SolverResult:
    t0 = time.perf_counter()
    feasible = problem.feasible_mask()
    classes = pod_classes(problem, feasible)
    busy = problem.nodes_in_use()
    model = cp_model.CpModel()
    y: list[dict[int, cp_model.IntVar]] = []
    by_node: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for c, pods in enumerate(classes):
        row: dict[int, cp_model.IntVar] = {}
        req = problem.requests[pods[0]]
        for n in np.flatnonzero(feasible[pods[0]]).tolist():
            fit = min((int(problem.free[n, r]) // int(req[r]) for r in range(problem.n_resources) if req[r] > 0),
                      default=len(pods))
            v = model.new_int_var(0, min(len(pods), fit), f"y_{c}_{n}")
            row[n] = v
            by_node[n].append((c, v))
        y.append(row)
        if row:
            model.add(sum(row.values()) <= len(pods))
    used: dict[int, cp_model.IntVar] = {}
    for n, terms in by_node.items():
        u = None if busy[n] else model.new_bool_var(f"used_{n}")
        if u is not None:
            used[n] = u
        for r in range(problem.n_resources):
            coefs = [int(problem.requests[classes[c][0], r]) for c, _ in terms]
            expr = cp_model.LinearExpr.weighted_sum([v for _, v in terms], coefs)
            cap = int(problem.free[n, r])
            model.add(expr <= (cap * u if u is not None and objective == "nodes" else cap))
        if u is not None and objective == "nodes":
            for _, v in terms:  # a pod of zero requests still opens the node
                model.add(v == 0).only_enforce_if(u.Not())
    for group in _node_groups(problem, feasible, busy):
        us = [used[n] for n in group if n in used]
        for a, b in itertools.pairwise(us):
            model.add_implication(b, a)

    weights = problem.priority_weights()
    class_weight = [int(weights[pods[0]]) for pods in classes]
    placed = [sum(row.values()) if row else 0 for row in y]
    weight_expr = sum(w * p for w, p in zip(class_weight, placed) if not isinstance(p, int))
    max_weight = sum(int(weights[p]) for pods in classes for p in pods if feasible[p].any())

    def add_hint(assignment: np.ndarray) -> None:
        model.clear_hints()
        for c, pods in enumerate(classes):
            counts = np.bincount(assignment[pods][assignment[pods] >= 0], minlength=problem.n_nodes)
            for n, v in y[c].items():
                model.add_hint(v, int(counts[n]))
        for n, u in used.items():
            model.add_hint(u, int(np.any(assignment == n)))

    def run(seconds: float) -> tuple[int, cp_model.CpSolver]:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, seconds)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        # Presolve's probing would eat the budget on tens of thousands of integer variables:
        # start the search from the hint at once.
        solver.parameters.cp_model_presolve = False
        solver.parameters.symmetry_level = 0
        return solver.solve(model), solver

    def remaining() -> float:
        # What is left, less a margin for reading the answer back (the limit covers it all).
        return 0.85 * time_limit - 0.2 - (time.perf_counter() - t0)

    if objective == "priority" and hint.value.placed_weight >= max_weight:
        # Every pod that fits some node alone is placed: nothing can place more.
        return SolverResult(
            assignment=hint.assignment.copy(), solver=hint.solver, objective=objective, value=hint.value,
            status="optimal", bound=max_weight, gap=0.0, seconds=time.perf_counter() - t0,
            reasons=explain_unplaced(problem, hint.assignment, proven=True),
            notes=[f"pod-class model: {len(classes)} classes; the hint places every pod that fits alone"])
    add_hint(hint.assignment)
    best: np.ndarray | None = None
    bound: int | None = None
    status_name = "UNKNOWN"
    notes = [f"pod-class model: {len(classes)} classes x {len(by_node)} nodes"]
    if objective == "priority" or hint.value.placed_weight < max_weight:
        model.maximize(weight_expr)
        status, solver = run(remaining() if objective == "priority" else remaining() / 2)
        status_name = solver.status_name(status)
        keep = hint.value.placed_weight
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = _decode(problem, classes, y, solver)
            bound = math.floor(solver.best_objective_bound + 1e-6)
            keep = max(keep, evaluate(problem, best, objective).placed_weight)
            add_hint(best)
        if objective != "priority":
            model.add(weight_expr >= keep)
    else:
        for c, row in enumerate(y):
            if row:
                model.add(sum(row.values()) == len(classes[c]))
    if objective == "nodes":
        model.minimize(sum(used.values()) + int(busy.sum()))
        status, solver = run(remaining())
        status_name = solver.status_name(status)
        bound = None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = _decode(problem, classes, y, solver)
            bound = math.ceil(solver.best_objective_bound - 1e-6)
        # Without presolve and LP the solver's bound is weak: the volume bound of what is placed.
        # Valid when the placed weight is the most there is (else only for that weight).
        if best is not None and np.all((best >= 0) | ~feasible.any(axis=1)):
            bound = max(bound or 0, nodes_volume_bound(problem, np.flatnonzero(best >= 0)))
    hint_value = evaluate(problem, hint.assignment, objective)
    if best is None or evaluate(problem, best, objective).key > hint_value.key:
        notes.append(f"CP-SAT found nothing better than the hint in {time_limit:g} s ({status_name})")
        best, status, solver_name = hint.assignment.copy(), "hint", hint.solver
    else:
        status, solver_name = ("optimal" if status_name == "OPTIMAL" else "feasible"), "cpsat"
    value = evaluate(problem, best, objective)
    measure = value.placed_weight if objective == "priority" else value.secondary
    return SolverResult(
        assignment=best, solver=solver_name, objective=objective, value=value, status=status, bound=bound,
        gap=None if bound is None else abs(measure - bound) / max(1, abs(measure)),
        seconds=time.perf_counter() - t0, reasons=explain_unplaced(problem, best), notes=notes + [f"hint: {hint.solver}"],
    )


def _decode(problem: PlacementProblem, classes: list[np.ndarray], y, solver: cp_model.CpSolver) -> np.ndarray:
    out = np.full(problem.n_pods, -1, np.int64)
    for c, pods in enumerate(classes):
        i = 0
        for n, v in y[c].items():
            k = int(solver.value(v))
            out[pods[i:i + k]] = n
            i += k
    return out
