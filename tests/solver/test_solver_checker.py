"""The checker itself: each rule it enforces, caught on a hand-made violation."""

from __future__ import annotations

import numpy as np
import pytest
from shoal.sched.solver import AntiAffinity, Gang, PlacementProblem, Spread, check

FREE = np.array([[4, 4], [4, 4], [4, 4]])
REQ = np.array([[2, 1], [2, 1], [2, 1], [2, 1]])


def problem(**kw):
    return PlacementProblem(free=FREE, requests=REQ, **kw)


CASES = [
    ("feasible", problem(), [0, 0, 1, 2], None),
    ("shape", problem(), [0, 0, 1], "shape"),
    ("node out of range", problem(), [0, 0, 1, 3], "shape"),
    ("mask", problem(mask=np.array([[True, False, True]] * 4)), [1, 0, 0, 2], "mask"),
    ("capacity", problem(), [0, 0, 0, 1], "capacity"),
    ("gang half placed", problem(gangs=[Gang("g", (0, 1, 2))]), [0, 1, -1, -1], "gang g"),
    ("gang min member met", problem(gangs=[Gang("g", (0, 1, 2), 2)]), [0, 1, -1, -1], None),
    ("anti-affinity per node", problem(anti_affinity=[AntiAffinity("a", (0, 1))]), [0, 0, 1, 2], "anti-affinity a"),
    ("anti-affinity with existing", problem(anti_affinity=[AntiAffinity("a", (0,), 1, None, np.array([1, 0, 0]))]),
     [0, -1, -1, -1], "anti-affinity a"),
    ("anti-affinity zones", problem(anti_affinity=[AntiAffinity("a", (0, 1), 1, np.array([0, 0, 1]))]),
     [0, 1, -1, -1], "anti-affinity a"),
    ("anti-affinity node without key", problem(anti_affinity=[AntiAffinity("a", (0, 1), 1, np.array([-1, -1, 1]))]),
     [0, 1, -1, -1], None),
    ("spread skew", problem(spread=[Spread("s", (0, 1, 2), 1, np.array([0, 1, 2]))]), [0, 0, 1, -1], "spread s"),
    ("spread node without key", problem(spread=[Spread("s", (0,), 1, np.array([-1, 0, 1]))]), [0, -1, -1, -1],
     "spread s"),
    ("spread with existing", problem(spread=[Spread("s", (0,), 1, np.array([0, 1, 2]), np.array([0, 1, 1]))]),
     [0, -1, -1, -1], None),
]


@pytest.mark.parametrize("prob,assignment,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_checker(prob, assignment, expected):
    errors = check(prob, assignment)
    if expected is None:
        assert errors == []
    else:
        assert errors and all(e.startswith(expected) for e in errors), errors
