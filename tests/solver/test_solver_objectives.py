"""Each objective on a case small enough to know the answer; the time limit and the fallback."""

from __future__ import annotations

import time

import numpy as np
import pytest
from shoal.sched.solver import PlacementProblem, check, evaluate, solve
from shoal.sched.solver.greedy import best_greedy

FOUR_NODES = np.array([[4000, 8]] * 4)


def solved(problem, objective, **kw):
    result = solve(problem, objective, time_limit=5, **kw)
    assert check(problem, result.assignment) == []
    return result


def test_nodes_packs_onto_as_few_nodes_as_possible():
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]] * 4 + [[2000, 1]] * 2)
    result = solved(problem, "nodes")
    assert result.value.secondary == 2 and result.status == "optimal" and result.gap == 0


def test_nodes_prefers_nodes_already_in_use():
    problem = PlacementProblem(free=[[4000, 8], [2000, 4]], allocatable=[[4000, 8], [4000, 8]],
                               requests=[[1000, 2]] * 2)
    result = solved(problem, "nodes")
    assert list(result.assignment) == [1, 1] and result.value.secondary == 1


def test_balanced_spreads_to_lower_the_peak():
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]] * 4)
    result = solved(problem, "balanced")
    assert sorted(result.assignment) == [0, 1, 2, 3]
    assert result.value.secondary == 250  # 1000 / 4000 = 2 / 8 = 25%


def test_disruption_keeps_pods_where_they_run():
    current = np.array([0, 1, 2, 3])
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]] * 4, current=current)
    assert list(solved(problem, "disruption").assignment) == [0, 1, 2, 3]
    assert solved(problem, "nodes").value.secondary == 1  # the same pods, packed


def test_disruption_moves_only_the_pod_whose_node_is_gone():
    mask = np.ones((4, 4), dtype=bool)
    mask[2, 2] = False  # node 2 no longer accepts pod 2 (a taint, say)
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]] * 4, current=[0, 1, 2, 3], mask=mask)
    result = solved(problem, "disruption")
    assert result.value.secondary == 1
    assert [int(result.assignment[p]) for p in (0, 1, 3)] == [0, 1, 3]


def test_priority_places_the_higher_priority_pod_when_only_one_fits():
    problem = PlacementProblem(free=[[4000, 8]], requests=[[3000, 1], [3000, 1], [3000, 1]], priority=[0, 100, 5])
    result = solved(problem, "priority")
    assert list(result.assignment) == [-1, 0, -1]
    assert result.reasons[0].startswith("no room left")


def test_one_higher_priority_pod_outweighs_many_lower_ones():
    problem = PlacementProblem(free=[[4000, 8]], requests=[[4000, 1]] + [[1000, 1]] * 4, priority=[10] + [0] * 4)
    assert list(solved(problem, "priority").assignment) == [0, -1, -1, -1, -1]


def test_pods_no_node_accepts_say_so():
    problem = PlacementProblem(free=[[4000, 8]], requests=[[8000, 1], [1000, 1]], mask=[[True], [False]],
                               resource_names=["cpu", "memory"])
    result = solved(problem, "nodes")
    assert result.reasons[0] == "no node has room for it alone: 0/1 nodes are available: 1 Insufficient cpu."
    assert result.reasons[1].startswith("no node passes the filters")


def test_time_limit_bounds_the_solve_and_the_answer_is_never_worse_than_the_hint():
    rng = np.random.default_rng(3)
    problem = PlacementProblem(free=rng.integers(8000, 16000, size=(40, 2)), requests=rng.integers(500, 4000, size=(150, 2)))
    hint = best_greedy(problem, "nodes")
    t0 = time.perf_counter()
    result = solve(problem, "nodes", time_limit=1.0, hint=hint)
    assert time.perf_counter() - t0 < 3.0  # the limit covers building the model too (plus reasons)
    assert check(problem, result.assignment) == []
    assert result.value.key <= evaluate(problem, hint.assignment, "nodes").key
    assert result.bound is not None and result.gap is not None and 0 <= result.gap < 1


def test_too_large_a_model_falls_back_to_the_hint_and_says_so():
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]] * 4)
    result = solve(problem, "nodes", max_pairs=3)
    assert result.status == "hint" and "greedy answer returned" in result.notes[0]
    assert check(problem, result.assignment) == []


@pytest.mark.parametrize("objective", ["nodes", "balanced", "disruption", "priority"])
def test_result_to_dict_names_pods_and_nodes(objective):
    problem = PlacementProblem(free=FOUR_NODES, requests=[[1000, 2]], node_names=list("abcd"), pod_names=["web"])
    d = solved(problem, objective).to_dict(problem)
    assert d["assignments"]["web"] in "abcd" and d["objective"] == objective and d["unplaced"] == {}
