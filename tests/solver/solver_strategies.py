"""Hypothesis strategies for small random placement problems, every constraint kind included."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from shoal.sched.solver import AntiAffinity, Gang, PlacementProblem, Spread


@st.composite
def placement_problems(draw, max_nodes: int = 5, max_pods: int = 8, constraints: bool = True) -> PlacementProblem:
    n = draw(st.integers(1, max_nodes))
    p = draw(st.integers(1, max_pods))
    r = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    free = rng.integers(0, 11, size=(n, r))
    requests = rng.integers(0, 7, size=(p, r))
    mask = rng.random((p, n)) < draw(st.sampled_from([1.0, 0.8, 0.5]))
    priority = rng.integers(0, 3, size=p) if draw(st.booleans()) else None
    current = np.where(rng.random(p) < 0.3, rng.integers(0, n, size=p), -1) if draw(st.booleans()) else None
    allocatable = free + rng.integers(0, 4, size=(n, r)) if draw(st.booleans()) else None
    gangs, anti, spread = [], [], []
    if constraints:
        pods = list(rng.permutation(p))
        while pods and draw(st.booleans()):
            size = int(rng.integers(1, len(pods) + 1))
            members = tuple(int(x) for x in pods[:size])
            pods = pods[size:]
            gangs.append(Gang(f"g{len(gangs)}", members, int(rng.integers(0, size + 1))))
        if draw(st.booleans()):
            members = tuple(int(x) for x in rng.choice(p, size=int(rng.integers(1, p + 1)), replace=False))
            domains = None if draw(st.booleans()) else rng.integers(-1, 2, size=n)
            anti.append(AntiAffinity("aa", members, int(rng.integers(1, 3)), domains))
        if draw(st.booleans()):
            members = tuple(int(x) for x in rng.choice(p, size=int(rng.integers(1, p + 1)), replace=False))
            domains = rng.integers(-1, 3, size=n)
            existing = rng.integers(0, 2, size=3) if draw(st.booleans()) else None
            spread.append(Spread("sp", members, int(rng.integers(1, 3)), domains, existing))
    return PlacementProblem(free=free, requests=requests, mask=mask, priority=priority, current=current,
                            allocatable=allocatable, gangs=gangs, anti_affinity=anti, spread=spread)
