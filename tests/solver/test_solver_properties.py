"""Properties on small random problems: every placer's answer passes the independent checker,
CP-SAT is never worse than its greedy hint, and symmetry breaking never loses the optimum."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shoal.sched.solver import OBJECTIVES, check, evaluate, solve
from shoal.sched.solver.cpsat import _beyond_first_nodes, canonical_hint, pod_classes
from shoal.sched.solver.greedy import best_greedy, first_fit_decreasing, one_at_a_time
from solver_strategies import placement_problems

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(placement_problems())
def test_greedy_placers_are_feasible(problem):
    for result in (first_fit_decreasing(problem), one_at_a_time(problem, "most"), one_at_a_time(problem, "least"),
                   one_at_a_time(problem, "least", scale_up=True), best_greedy(problem)):
        assert check(problem, result.assignment) == [], result.solver


@FAST
@given(placement_problems(), st.sampled_from(OBJECTIVES))
def test_cpsat_is_feasible_and_never_worse_than_its_hint(problem, objective):
    hint = best_greedy(problem, objective)
    result = solve(problem, objective, time_limit=2, hint=hint, workers=2)
    assert check(problem, result.assignment) == []
    assert result.value.key <= evaluate(problem, hint.assignment, objective).key
    assert set(result.reasons) == {int(p) for p in np.flatnonzero(result.assignment < 0)}
    if result.status == "optimal" and result.bound is not None and objective != "priority":
        assert result.bound == result.value.secondary and result.gap == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_problems(max_nodes=4, max_pods=6), st.sampled_from(OBJECTIVES))
def test_symmetry_breaking_keeps_the_optimum(problem, objective):
    with_rules = solve(problem, objective, time_limit=5, workers=2)
    without = solve(problem, objective, time_limit=5, workers=2, symmetry_breaking=False)
    if with_rules.status == "optimal" and without.status == "optimal":
        assert with_rules.value.key == without.value.key


@FAST
@given(placement_problems(constraints=False))
def test_canonical_hint_is_the_same_placement_in_the_kept_form(problem):
    greedy = best_greedy(problem)
    canon = canonical_hint(problem, greedy.assignment)
    assert check(problem, canon) == []
    for objective in OBJECTIVES:
        assert evaluate(problem, canon, objective) == evaluate(problem, greedy.assignment, objective)
    excluded = _beyond_first_nodes(problem, problem.feasible_mask())
    assert not any(excluded[p, n] for p, n in enumerate(canon) if n >= 0)
    for pods in pod_classes(problem, problem.feasible_mask()):
        spots = [n if n >= 0 else problem.n_nodes for n in canon[pods]]
        assert spots == sorted(spots)
