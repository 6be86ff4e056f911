"""Gangs (PodGroup minMember): placed whole or not at all, and every member says why."""

from __future__ import annotations

import numpy as np
import pytest
from shoal.sched.solver import Gang, PlacementProblem, check, solve
from shoal.sched.solver.greedy import best_greedy, first_fit_decreasing, one_at_a_time
from shoal.sched.solver.result import REASON_GANG

GIB = 1 << 30
# Three nodes, eight pods that fill them exactly (cpu milli, memory bytes): a planted packing
# (planted_instance(3, 2, 10, (2, 3), seed=21)) that no greedy order finds.
NODES = np.array([[10_000, 10 * GIB]] * 3)
PODS = np.array([[1, 5], [1, 3], [7, 3], [7, 5], [8, 6], [2, 4], [2, 2], [2, 2]]) * np.array([1000, GIB])


def gang_problem(requests: np.ndarray, min_member: int = 0) -> PlacementProblem:
    return PlacementProblem(free=NODES, requests=requests, resource_names=["cpu", "memory"],
                            gangs=[Gang("train", tuple(range(len(requests))), min_member)],
                            pod_names=[f"train-{i}" for i in range(len(requests))])


def test_a_gang_that_fits_only_as_a_whole_is_placed_whole():
    problem = gang_problem(PODS)
    result = solve(problem, "nodes", time_limit=5)
    assert check(problem, result.assignment) == []
    assert result.placed == 8 and result.reasons == {}
    assert result.status == "optimal"


@pytest.mark.parametrize("greedy", [
    lambda p: one_at_a_time(p, "least"),
    lambda p: one_at_a_time(p, "most"),
    lambda p: first_fit_decreasing(p),
    lambda p: best_greedy(p),
], ids=["least-allocated", "most-allocated", "ffd", "best-greedy"])
def test_greedy_placers_leave_that_gang_out_entirely(greedy):
    problem = gang_problem(PODS)
    result = greedy(problem)
    assert check(problem, result.assignment) == []
    assert result.placed == 0  # all or nothing: no half gang holds resources
    assert set(result.reasons) == set(range(8))


def test_a_gang_too_big_for_the_cluster_places_none_and_every_member_says_why():
    problem = gang_problem(np.vstack([PODS, [[1000, GIB]]]))  # one pod more than the room there is
    result = solve(problem, "nodes", time_limit=5)
    assert check(problem, result.assignment) == []
    assert result.placed == 0
    assert sorted(result.reasons) == list(range(9))
    for why in result.reasons.values():
        assert why.startswith(REASON_GANG)
        assert "gang train needs 9 of 9" in why and "cpu" in why and "none placed" in why


def test_a_gang_that_fits_by_volume_but_not_by_shape_is_proven_unplaceable():
    # four pods of 6 cpu on three 10-cpu nodes: 24 <= 30 in total, but one per node
    problem = gang_problem(np.array([[6000, GIB]] * 4))
    result = solve(problem, "nodes", time_limit=5)
    assert result.placed == 0
    assert all("proven" in why for why in result.reasons.values())


def test_min_member_lets_part_of_a_gang_go():
    requests = np.array([[6000, GIB]] * 4)
    problem = gang_problem(requests, min_member=3)
    result = solve(problem, "priority", time_limit=5)
    assert check(problem, result.assignment) == []
    assert result.placed == 3


def test_two_gangs_compete_and_the_higher_priority_one_wins():
    requests = np.array([[5000, GIB]] * 8)
    problem = PlacementProblem(free=NODES, requests=requests, priority=[0] * 4 + [10] * 4,
                               gangs=[Gang("low", (0, 1, 2, 3)), Gang("high", (4, 5, 6, 7))])
    result = solve(problem, "priority", time_limit=5)
    assert check(problem, result.assignment) == []
    assert list(result.assignment[:4]) == [-1] * 4
    assert all(result.assignment[4:] >= 0)
