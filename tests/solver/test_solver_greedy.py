"""The greedy placers: kube-scheduler's scores, queue order, scale-up, spread and gangs."""

from __future__ import annotations

import numpy as np
from shoal.sched.solver import Gang, PlacementProblem, Spread, check
from shoal.sched.solver.greedy import (
    first_fit_decreasing,
    one_at_a_time,
    resource_scores,
)


def test_scores_follow_kube_scheduler_formulas():
    alloc = np.array([[4000, 8000]])
    free = np.array([[3000, 4000]])  # 1000 cpu, 4000 memory requested already
    pod = np.array([1000, 2000])
    # MostAllocated: ((2000*100)//4000 + (6000*100)//8000) // 2 = (50 + 75) // 2
    assert resource_scores(alloc, free, pod, "most")[0] == 62
    # LeastAllocated: ((2000*100)//4000 + (2000*100)//8000) // 2 = (50 + 25) // 2
    assert resource_scores(alloc, free, pod, "least")[0] == 37


def test_most_allocated_packs_and_least_allocated_spreads():
    problem = PlacementProblem(free=[[4000, 8]] * 3, requests=[[1000, 2]] * 3)
    assert list(one_at_a_time(problem, "most").assignment) == [0, 0, 0]
    assert list(one_at_a_time(problem, "least").assignment) == [0, 1, 2]


def test_scale_up_opens_a_node_only_when_no_busy_one_has_room():
    problem = PlacementProblem(free=[[4000, 8]] * 4, requests=[[3000, 2], [1000, 2], [2000, 2]])
    result = one_at_a_time(problem, "least", scale_up=True)
    assert list(result.assignment) == [0, 0, 1] and result.value.secondary == 2


def test_queue_order_is_priority_then_input_order():
    problem = PlacementProblem(free=[[4000, 8]], requests=[[3000, 1], [3000, 1]], priority=[0, 1])
    assert list(one_at_a_time(problem, "least").assignment) == [-1, 0]


def test_ffd_places_bigger_pods_first():
    problem = PlacementProblem(free=[[10, 10]] * 2, requests=[[3, 3], [3, 3], [7, 7], [7, 7]])
    assert first_fit_decreasing(problem).value.placed == 4
    assert one_at_a_time(problem, "most").value.placed == 3  # arrival order strands a 7


def test_spread_is_checked_at_each_pods_turn():
    problem = PlacementProblem(free=[[10, 10]] * 3, requests=[[1, 1]] * 4,
                               spread=[Spread("web", (0, 1, 2, 3), 1, np.array([0, 0, 1]))])
    result = one_at_a_time(problem, "most")
    assert check(problem, result.assignment) == []
    zones = [0 if n in (0, 1) else 1 for n in result.assignment]
    assert sorted(zones) == [0, 0, 1, 1]


def test_a_gang_that_does_not_fit_is_rolled_back_and_later_pods_still_fit():
    problem = PlacementProblem(free=[[4, 4]] * 2, requests=[[3, 3]] * 3 + [[4, 4], [4, 4]],
                               gangs=[Gang("g", (0, 1, 2))])
    result = one_at_a_time(problem, "least")
    assert check(problem, result.assignment) == []
    assert list(result.assignment) == [-1, -1, -1, 0, 1]
