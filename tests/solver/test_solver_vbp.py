"""Vector bin packing against the known optima of ../shared/data/vbp (known_optima.csv)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from shared_data import SHARED_DATA
from shoal.sched.solver import check, solve
from shoal.sched.solver.vbp import format_vbp, parse_vbp, read_vbp, solve_vbp
from shoal.sched.solver.vbp_bounds import conflict_graph, greedy_clique, volume_bound

VBP = SHARED_DATA / "vbp"


def known(filter_) -> list[tuple[str, int]]:
    """(file, optimum) for instances whose optimum is known: the OPT column, or LB when the
    source's best solution meets it."""
    out = []
    with open(VBP / "known_optima.csv") as f:
        for row in csv.DictReader(f):
            opt = int(row["OPT(-1=unknown)"])
            if opt < 0 and row["LB"] == row["best_known_UB"]:
                opt = int(row["LB"])
            if opt >= 0 and filter_(row["file"], int(row["n_items"])):
                out.append((row["file"], opt))
    return out


def assert_packing(instance, solution):
    problem = instance.to_problem(solution.bins)
    assert check(problem, solution.assignment) == []
    assert sorted(set(solution.assignment.tolist())) == list(range(solution.bins))
    assert solution.lower_bound <= solution.bins


SMALL = known(lambda f, n: n <= 21)
MEDIUM = known(lambda f, n: 21 < n <= 61)
LARGE = known(lambda f, n: n > 61 and "Panigrahy" in f)
TRIPLET_120 = known(lambda f, n: "Triplet" in f and n == 120)


def test_format_round_trip_and_errors():
    inst = read_vbp(VBP / "Panigrahy_multidim" / "class1_20_3_0.vbp")
    assert inst.dims == 3 and inst.n_items == 20 and list(inst.capacity) == [1000] * 3
    again = parse_vbp(format_vbp(inst), inst.name)
    assert np.array_equal(again.items, inst.items) and np.array_equal(again.capacity, inst.capacity)
    assert parse_vbp("2\n10 10\n2\n3 4 2\n5 5 1\n").n_items == 3
    for bad in ("", "2\n10\n", "1\n10\n2\n3 1\n", "1\n0\n1\n3 1\n"):
        with pytest.raises(ValueError):
            parse_vbp(bad)


def test_bounds_are_valid_on_a_tiny_instance():
    cap = np.array([10, 10])
    items = np.array([[6, 1], [6, 1], [6, 1], [1, 6], [2, 2]])
    assert volume_bound(cap, items) == 3  # 21 / 10
    clique = greedy_clique(conflict_graph(cap, items))
    assert sorted(clique) == [0, 1, 2]


@pytest.mark.parametrize("file,optimum", SMALL, ids=[f for f, _ in SMALL])
def test_n20_instances_reach_the_known_optimum(file, optimum):
    inst = read_vbp(VBP / file)
    solution = solve_vbp(inst, time_limit=20)
    assert_packing(inst, solution)
    assert solution.bins == optimum and solution.optimal


@pytest.mark.parametrize("file,optimum", SMALL, ids=[f for f, _ in SMALL])
def test_n20_instances_reach_the_optimum_through_the_batch_placer_too(file, optimum):
    """The general CP-SAT placement model (items as pods, bins as nodes), FFD hint."""
    inst = read_vbp(VBP / file)
    problem = inst.to_problem(optimum + 2)
    result = solve(problem, "nodes", time_limit=5, workers=4)
    assert check(problem, result.assignment) == []
    assert result.value.placed == inst.n_items and result.value.secondary == optimum


@pytest.mark.parametrize("file,optimum", TRIPLET_120, ids=[f for f, _ in TRIPLET_120])
def test_triplet_n120_reaches_40(file, optimum):
    inst = read_vbp(VBP / file)
    solution = solve_vbp(inst, time_limit=30)
    assert_packing(inst, solution)
    assert solution.bins == optimum == 40 and solution.method == "exact-fill"


@pytest.mark.slow
@pytest.mark.parametrize("file,optimum", MEDIUM, ids=[f for f, _ in MEDIUM])
def test_n60_instances_reach_the_known_optimum(file, optimum):
    inst = read_vbp(VBP / file)
    solution = solve_vbp(inst, time_limit=60)
    assert_packing(inst, solution)
    assert solution.bins == optimum


@pytest.mark.slow
@pytest.mark.parametrize("file,optimum", LARGE, ids=[f for f, _ in LARGE])
def test_n250_instances_within_one_bin_of_the_optimum(file, optimum):
    inst = read_vbp(VBP / file)
    solution = solve_vbp(inst, time_limit=60)
    assert_packing(inst, solution)
    assert solution.bins <= optimum + 1
