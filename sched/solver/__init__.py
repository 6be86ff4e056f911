"""Batch and gang placement: a solver-neutral problem, greedy placers, a CP-SAT model, a vector
bin packing solver and an independent checker. See README.md.

    from shoal.sched.solver import PlacementProblem, Gang, solve, check
    result = solve(PlacementProblem(free=..., requests=..., gangs=[Gang("g", (0, 1, 2))]))
"""

from __future__ import annotations

from .checker import assert_feasible, check
from .greedy import best_greedy, first_fit_decreasing, one_at_a_time
from .problem import (
    DEFAULT_TIME_LIMIT,
    OBJECTIVES,
    AntiAffinity,
    Gang,
    Objective,
    ObjectiveValue,
    PlacementProblem,
    Spread,
    evaluate,
)
from .result import SolverResult, explain_unplaced

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "OBJECTIVES",
    "AntiAffinity",
    "Gang",
    "Objective",
    "ObjectiveValue",
    "PlacementProblem",
    "SolverResult",
    "Spread",
    "assert_feasible",
    "best_greedy",
    "check",
    "evaluate",
    "explain_unplaced",
    "first_fit_decreasing",
    "one_at_a_time",
    "solve",
]


def __getattr__(name: str):
    # CP-SAT (OR-Tools, which loads pandas: about 50 MB) is imported when first asked for, so a
    # scheduler that never solves a batch or gang does not carry it.
    if name == "solve":
        from .cpsat import solve

        return solve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
