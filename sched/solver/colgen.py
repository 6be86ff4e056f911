"""Column generation for vector bin packing: the LP bound and a pool of good bins (patterns).

The master LP (Gilmore-Gomory) covers every item with bins drawn from a pool of patterns:

    min sum_p lambda_p   s.t.  sum_{p ∋ i} lambda_p >= 1 for every item i,  lambda >= 0

Its duals pi price new patterns: a bin worth more than 1 (sum of pi over its items) improves the
LP. Pricing is a d-dimensional 0-1 knapsack, tried greedily first, then exactly (branch and
bound, CP-SAT when that runs too long); a bound kappa on the best bin's value gives Farley's
bound LP / max(1, kappa) at every round:
a valid lower bound on the optimum long before the LP converges. ceil(LP) is, on almost every
known instance, the optimum itself.

The integer master then picks whole bins from the pool with CP-SAT (set covering; a partition
when some sizes are negative, since dropping an item from a bin could then overfill it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

PROFIT_SCALE = 1_000_000
EPS = 1e-6

Pattern = tuple[int, ...]


@dataclass
class ColumnGeneration:
    lp_value: float = math.inf
    lower_bound: float = 0.0  # Farley's bound, or the LP value once pricing proves nothing is left
    converged: bool = False
    rounds: int = 0
    patterns: list[Pattern] = field(default_factory=list)


def greedy_pricing(capacity: np.ndarray, items: np.ndarray, duals: np.ndarray) -> list[Pattern]:
    """Fill a bin greedily by dual value per size, under three size measures."""
    pos = np.flatnonzero(duals > EPS)
    if len(pos) == 0:
        return []
    rel = items[pos] / capacity
    measures = (np.clip(rel, 0, None).sum(axis=1), np.clip(rel, 0, None).max(axis=1), np.ones(len(pos)))
    out = []
    for size in measures:
        order = pos[np.argsort(-duals[pos] / np.maximum(size, 1e-9), kind="stable")]
        load = np.zeros_like(capacity)
        chosen = []
        for i in order:
            if np.all(load + items[i] <= capacity):
                load += items[i]
                chosen.append(int(i))
        if duals[chosen].sum() > 1 + EPS:
            out.append(tuple(sorted(chosen)))
    return out


@njit(cache=True)
def _knapsack_bnb(items, cap, profit, order, weight, max_nodes, threshold, max_out):
    """Depth-first branch and bound for the d-dimensional 0-1 knapsack over items in `order`
    (decreasing profit per surrogate weight). Bound: Dantzig's fractional knapsack on the
    surrogate constraint sum_r size_r / cap_r <= room. Returns the improving sets met (each
    better than the last, the first better than threshold), the best value, the root bound and
    whether the search finished. Sizes must be non-negative."""
    d = items.shape[1]
    m = len(order)
    nxt = np.empty(m + 1, np.int64)
    chosen = np.empty(m + 1, np.int64)
    load = np.zeros((m + 1, d), np.int64)
    value = np.zeros(m + 1)
    out = np.full((max_out, m), -1, np.int64)
    out_len = np.zeros(max_out, np.int64)
    n_out = 0
    best = threshold
    nodes = 0
    complete = True
    root = 0.0
    room = float(d)
    for k in range(m):
        w = weight[order[k]]
        if w <= room:
            room -= w
            root += profit[order[k]]
        else:
            root += profit[order[k]] * room / w
            break
    depth = 0
    nxt[0] = 0
    while depth >= 0:
        j = nxt[depth]
        if j >= m:
            depth -= 1
            continue
        nxt[depth] = j + 1
        i = order[j]
        fits = True
        for r in range(d):
            if load[depth, r] + items[i, r] > cap[r]:
                fits = False
                break
        if not fits:
            continue
        nodes += 1
        if nodes > max_nodes:
            complete = False
            break
        v = value[depth] + profit[i]
        room = 0.0
        for r in range(d):
            load[depth + 1, r] = load[depth, r] + items[i, r]
            room += (cap[r] - load[depth + 1, r]) / cap[r]
        value[depth + 1] = v
        chosen[depth] = i
        if v > best + 1e-12:
            best = v
            k = n_out if n_out < max_out else max_out - 1
            out[k, :] = -1
            for t in range(depth + 1):
                out[k, t] = chosen[t]
            out_len[k] = depth + 1
            n_out = min(n_out + 1, max_out)
        bound = v
        k = j + 1
        while k < m and room > 0:
            w = weight[order[k]]
            if w <= room:
                room -= w
                bound += profit[order[k]]
            else:
                bound += profit[order[k]] * room / w
                room = 0.0
            k += 1
        if bound > best + 1e-12:
            depth += 1
            nxt[depth] = j + 1
    return out[:n_out], out_len[:n_out], best, root, complete


def knapsack_pricing(capacity: np.ndarray, items: np.ndarray, duals: np.ndarray,
                     max_nodes: int = 2_000_000) -> tuple[list[Pattern], float, bool]:
    """(improving bins, an upper bound on the best bin's value, exact?) by branch and bound."""
    pos = np.flatnonzero(duals > EPS)
    if len(pos) == 0:
        return [], 0.0, True
    weight = np.maximum((items / capacity).sum(axis=1), 1e-9)
    order = pos[np.argsort(-duals[pos] / weight[pos], kind="stable")].astype(np.int64)
    out, lengths, best, root, complete = _knapsack_bnb(items, capacity.astype(np.int64), duals.astype(np.float64),
                                                       order, weight, max_nodes, 1.0 + EPS, 64)
    found = [tuple(sorted(int(i) for i in out[k, : lengths[k]])) for k in range(len(lengths))]
    return found, (max(best, 1.0) if complete else root) + 1e-9, complete


def exact_pricing(capacity: np.ndarray, items: np.ndarray, duals: np.ndarray, seconds: float,
                  workers: int) -> tuple[list[Pattern], float]:
    """Every improving bin met and an upper bound on the best bin's value: branch and bound
    first (sizes >= 0), CP-SAT when that does not finish without finding anything."""
    if not np.any(items < 0):
        found, kappa, complete = knapsack_pricing(capacity, items, duals)
        if complete or found:
            return found, kappa
    return cpsat_pricing(capacity, items, duals, seconds, workers)


def cpsat_pricing(capacity: np.ndarray, items: np.ndarray, duals: np.ndarray, seconds: float,
                  workers: int) -> tuple[list[Pattern], float]:
    """The knapsack by CP-SAT: every improving bin it meets, and an upper bound on the best value."""
    cand = [int(i) for i in np.flatnonzero((duals > EPS) | np.any(items < 0, axis=1))]
    if not cand:
        return [], 0.0
    model = cp_model.CpModel()
    z = [model.new_bool_var(f"z{i}") for i in cand]
    for r in range(items.shape[1]):
        model.add(cp_model.LinearExpr.weighted_sum(z, [int(items[i, r]) for i in cand]) <= int(capacity[r]))
    profit = [round(duals[i] * PROFIT_SCALE) for i in cand]
    model.maximize(cp_model.LinearExpr.weighted_sum(z, profit))
    found: list[Pattern] = []

    class Collect(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            found.append(tuple(i for i, v in zip(cand, z) if self.boolean_value(v)))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.01)
    solver.parameters.num_workers = workers
    status = solver.solve(model, Collect())
    rounding = len(cand) * 0.5 / PROFIT_SCALE
    if status == cp_model.OPTIMAL:
        kappa = solver.objective_value / PROFIT_SCALE + rounding
    elif status in (cp_model.FEASIBLE, cp_model.UNKNOWN):
        kappa = solver.best_objective_bound / PROFIT_SCALE + rounding
    else:
        kappa = 0.0
    return [p for p in found if duals[list(p)].sum() > 1 + EPS], kappa


def column_generation(capacity: np.ndarray, items: np.ndarray, initial: Iterable[Pattern], deadline: float,
                      workers: int = 2, target: int | None = None, log: list[str] | None = None) -> ColumnGeneration:
    """Run until the LP converges, the deadline passes, or ceil(bound) reaches `target`."""
    n = len(items)
    lp = pywraplp.Solver.CreateSolver("GLOP")
    rows = [lp.Constraint(1, lp.infinity()) for _ in range(n)]
    objective = lp.Objective()
    objective.SetMinimization()
    result = ColumnGeneration()
    seen: set[Pattern] = set()
    variables = []

    def add(p: Pattern) -> bool:
        p = tuple(sorted(p))
        if not p or p in seen:
            return False
        seen.add(p)
        v = lp.NumVar(0, lp.infinity(), "")
        for i in p:
            rows[i].SetCoefficient(v, 1)
        objective.SetCoefficient(v, 1)
        result.patterns.append(p)
        variables.append(v)
        return True

    for i in range(n):
        add((i,))
    for p in initial:
        add(p)
    while True:
        result.rounds += 1
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            break
        result.lp_value = objective.Value()
        duals = np.array([c.dual_value() for c in rows])
        if sum(add(p) for p in greedy_pricing(capacity, items, duals)) and time.perf_counter() < deadline:
            continue
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        found, kappa = exact_pricing(capacity, items, duals, min(left, max(1.0, left / 4)), workers)
        result.lower_bound = max(result.lower_bound, result.lp_value / max(1.0, kappa))
        added = sum(add(p) for p in found)
        if kappa <= 1 + 1e-4:
            result.lower_bound = max(result.lower_bound, result.lp_value)
            result.converged = True
            break
        if not added or (target is not None and math.ceil(result.lower_bound - 1e-6) >= target):
            break
    if log is not None:
        log.append(f"colgen: {result.rounds} rounds, {len(result.patterns)} patterns, LP {result.lp_value:.4f}, "
                   f"bound {result.lower_bound:.4f}{' (converged)' if result.converged else ''}")
    return result


def integer_master(n_items: int, patterns: list[Pattern], deadline: float, lower_bound: int = 0,
                   hint: list[Pattern] | None = None, partition: bool = False,
                   workers: int = 8) -> tuple[np.ndarray | None, bool]:
    """Whole bins from the pool: (bin per item or None, proven optimal over the pool)."""
    model = cp_model.CpModel()
    y = [model.new_bool_var(f"y{k}") for k in range(len(patterns))]
    cover: list[list[cp_model.IntVar]] = [[] for _ in range(n_items)]
    for k, p in enumerate(patterns):
        for i in p:
            cover[i].append(y[k])
    for i in range(n_items):
        if not cover[i]:
            return None, False
        if partition:
            model.add_exactly_one(cover[i])
        else:
            model.add_bool_or(cover[i])
    total = sum(y)
    # No upper bound beside it: with both bounds on the objective, CP-SAT 9.15's LNS workers
    # report "Infeasible LNS solution!" on these models.
    model.add(total >= lower_bound)
    model.minimize(total)
    if hint:
        chosen = {tuple(sorted(p)) for p in hint}
        for k, p in enumerate(patterns):
            model.add_hint(y[k], int(p in chosen))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(deadline - time.perf_counter(), 0.01)
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    out = np.full(n_items, -1, dtype=np.int64)
    b = 0
    for k, p in enumerate(patterns):
        if solver.boolean_value(y[k]):
            for i in p:
                if out[i] < 0:
                    out[i] = b
            b += 1
    return _renumber(out), status == cp_model.OPTIMAL


def _renumber(assignment: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(assignment, return_inverse=True)
    return inverse.astype(np.int64)


def patterns_of(assignment: np.ndarray) -> list[Pattern]:
    return [tuple(int(i) for i in np.flatnonzero(assignment == b)) for b in np.unique(assignment)]
