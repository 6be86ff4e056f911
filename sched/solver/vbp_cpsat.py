"""The CP-SAT assignment model for vector bin packing, with the symmetry of bins broken.

    x[i, b]  item i in bin b          used[b]  bin b holds something
    ExactlyOne(x[i, *]);  sum_i s[i, r] x[i, b] <= c_r used[b];  used[b+1] => used[b]
    minimize sum_b used[b]  (>= the best lower bound known)

Items are numbered clique first (pairwise conflicting items, each fixed in its own bin: bin k
holds clique item k), then by decreasing size; item k may only use bins 0..k (the bins are
ordered by their first item). The hint is put in that order before it is given.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model


def solve_assignment(capacity: np.ndarray, items: np.ndarray, conflicts: np.ndarray, clique: list[int],
                     hint: np.ndarray, lower_bound: int, deadline: float, workers: int = 8,
                     log: bool = False) -> tuple[np.ndarray | None, int, bool]:
    """(bin per item or None, lower bound proven, optimal)."""
    n, d = items.shape
    ub = int(hint.max()) + 1
    in_clique = set(clique)
    rel = items / capacity
    rest = [int(i) for i in np.lexsort((np.arange(n), -rel.sum(axis=1))) if int(i) not in in_clique]
    order = list(clique) + rest
    c = len(clique)
    K = ub
    model = cp_model.CpModel()
    used = [model.new_bool_var(f"used{b}") for b in range(K)]
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for k, i in enumerate(order):
        if k < c:
            continue
        for b in range(min(k + 1, K)):
            if b < c and conflicts[i, order[b]]:
                continue
            x[k, b] = model.new_bool_var(f"x{i}_{b}")
        model.add_exactly_one([x[k, b] for b in range(K) if (k, b) in x])
    by_bin: list[list[int]] = [[] for _ in range(K)]
    for k, b in x:
        by_bin[b].append(k)
    for b in range(K):
        ks = by_bin[b]
        for r in range(d):
            base = int(items[order[b], r]) if b < c else 0
            coefs = [int(items[order[k], r]) for k in ks]
            if base + sum(v for v in coefs if v > 0) <= capacity[r] and b < c:
                continue
            expr = cp_model.LinearExpr.weighted_sum([x[k, b] for k in ks], coefs)
            model.add(expr + base * used[b] <= int(capacity[r]) * used[b])
        for k in ks:
            model.add_implication(x[k, b], used[b])
    for b in range(c):
        model.add(used[b] == 1)
    for b in range(K - 1):
        model.add_implication(used[b + 1], used[b])
    model.add(sum(used) >= lower_bound)
    model.minimize(sum(used))

    # hint: bins renumbered by their first item in `order`
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    first = {}
    for i in range(n):
        b = int(hint[i])
        first[b] = min(first.get(b, n), int(position[i]))
    rank = {b: r for r, b in enumerate(sorted(first, key=first.get))}
    for (k, b), v in x.items():
        model.add_hint(v, int(rank[int(hint[order[k]])] == b))
    for b in range(K):
        model.add_hint(used[b], int(b < len(rank)))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(deadline - time.perf_counter(), 0.01)
    solver.parameters.num_workers = workers
    solver.parameters.log_search_progress = log
    status = solver.solve(model)
    bound = int(np.ceil(solver.best_objective_bound - 1e-6)) if status != cp_model.INFEASIBLE else K
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, max(bound, lower_bound), False
    out = np.full(n, -1, dtype=np.int64)
    for k in range(c):
        out[order[k]] = k
    for (k, b), v in x.items():
        if solver.boolean_value(v):
            out[order[k]] = b
    return out, max(bound, lower_bound), status == cp_model.OPTIMAL
