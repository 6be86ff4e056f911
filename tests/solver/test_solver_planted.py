"""Planted optima: bins cut into items (every bin exactly full); the solver must find them."""

from __future__ import annotations

import numpy as np
import pytest
from shoal.sched.solver import check
from shoal.sched.solver.planted import planted_instance
from shoal.sched.solver.vbp import solve_vbp


@pytest.mark.parametrize("seed", range(5))
def test_generator_plants_exactly_full_bins(seed):
    inst, planted = planted_instance(bins=7, dims=3, capacity=50, items_per_bin=(2, 5), seed=seed)
    items = inst.items
    assert items.min() >= 1
    assert np.array_equal(items.sum(axis=0), 7 * inst.capacity)
    loads = np.zeros((7, 3), dtype=np.int64)
    np.add.at(loads, planted, items)
    assert np.array_equal(loads, np.tile(inst.capacity, (7, 1)))
    again, _ = planted_instance(bins=7, dims=3, capacity=50, items_per_bin=(2, 5), seed=seed)
    assert np.array_equal(again.items, items)


CASES = [
    # (bins, dims, capacity, items per bin)
    (6, 1, 100, (2, 4)),
    (8, 2, 100, (2, 3)),
    (10, 3, 100, (3, 3)),
    (12, 3, 1000, (2, 4)),
    (10, 5, 100, (2, 5)),
    (15, 10, 100, (3, 3)),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("bins,dims,capacity,per_bin", CASES, ids=[f"{b}x{d}d-c{c}-{k[0]}to{k[1]}" for b, d, c, k in CASES])
def test_solver_finds_the_planted_optimum(bins, dims, capacity, per_bin, seed):
    inst, _ = planted_instance(bins, dims, capacity, per_bin, seed=seed)
    solution = solve_vbp(inst, time_limit=20)
    assert check(inst.to_problem(solution.bins), solution.assignment) == []
    assert solution.bins == bins and solution.lower_bound == bins


LARGE = [(40, 3, 100, (2, 5)), (40, 5, 100, (3, 6)), (40, 2, 1000, (3, 3))]


@pytest.mark.slow
@pytest.mark.parametrize("bins,dims,capacity,per_bin", LARGE, ids=[f"{b}x{d}d-c{c}-{k[0]}to{k[1]}" for b, d, c, k in LARGE])
def test_solver_finds_larger_planted_optima(bins, dims, capacity, per_bin):
    inst, _ = planted_instance(bins, dims, capacity, per_bin, seed=7)
    solution = solve_vbp(inst, time_limit=60)
    assert check(inst.to_problem(solution.bins), solution.assignment) == []
    assert solution.bins == bins
