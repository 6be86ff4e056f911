"""Large neighbourhood search for vector bin packing: empty the lightest bin a few bins at a time.

Each step takes the lightest bin (the "victim", one of the three lightest at random) and a few
other bins, and asks CP-SAT to repack their items into the same bins with as little as possible
left in the victim. Accepted when the victim gets lighter; when it is empty a bin is saved and
the next lightest becomes the victim. The neighbourhood grows when steps stop helping.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

WEIGHT_SCALE = 1000


def _bins(assignment: np.ndarray) -> int:
    return len(np.unique(assignment))


def repack(capacity: np.ndarray, items: np.ndarray, assignment: np.ndarray, lower_bound: int,
           deadline: float, seed: int = 0, step_seconds: float = 0.5) -> np.ndarray:
    """A packing with no more bins than `assignment` (fewer if the search finds them)."""
    rng = np.random.default_rng(seed)
    _, a = np.unique(assignment, return_inverse=True)
    a = a.astype(np.int64)
    weight = np.rint(WEIGHT_SCALE * (np.clip(items, 0, None) / capacity).sum(axis=1)).astype(np.int64)
    size = 6
    stalls = 0
    while time.perf_counter() < deadline and _bins(a) > lower_bound:
        nb = _bins(a)
        fill = np.bincount(a, weights=weight, minlength=nb)
        lightest = np.argsort(fill, kind="stable")
        victim = int(lightest[rng.integers(0, min(3, nb))])
        others = [b for b in range(nb) if b != victim]
        if not others:
            break
        pick = rng.choice(others, size=min(size, len(others)), replace=False)
        group = [victim] + [int(b) for b in pick]
        members = np.flatnonzero(np.isin(a, group))
        slot = {b: k for k, b in enumerate(group)}
        budget = min(step_seconds, deadline - time.perf_counter())
        if budget <= 0.01:
            break
        moved = _repack_group(capacity, items[members], weight[members], [slot[int(b)] for b in a[members]],
                              len(group), budget)
        before = int(fill[victim])
        if moved is not None and int(weight[members][moved == 0].sum()) < before:
            a[members] = np.array(group)[moved]
            _, a = np.unique(a, return_inverse=True)
            stalls = 0
        else:
            stalls += 1
            if stalls >= 8:
                size = min(size + 2, 24)
                stalls = 0
    return a.astype(np.int64)


def _repack_group(capacity: np.ndarray, items: np.ndarray, weight: np.ndarray, current: list[int],
                  n_bins: int, seconds: float) -> np.ndarray | None:
    """Bins 0..n_bins-1 for the items, bin 0 (the victim) as light as possible."""
    model = cp_model.CpModel()
    n, d = items.shape
    x = [[model.new_bool_var(f"x{i}_{b}") for b in range(n_bins)] for i in range(n)]
    for i in range(n):
        model.add_exactly_one(x[i])
        for b in range(n_bins):
            model.add_hint(x[i][b], int(current[i] == b))
    for b in range(n_bins):
        col = [x[i][b] for i in range(n)]
        for r in range(d):
            model.add(cp_model.LinearExpr.weighted_sum(col, [int(v) for v in items[:, r]]) <= int(capacity[r]))
    model.minimize(cp_model.LinearExpr.weighted_sum([x[i][0] for i in range(n)], [int(w) for w in weight]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([next(b for b in range(n_bins) if solver.boolean_value(x[i][b])) for i in range(n)], dtype=np.int64)
