"""Random node resources for the run kernels' tests against their NumPy twins (shared by
test_spread_runs.py and test_preferred_spread_runs.py; the draws are in one fixed order, so a
seed gives the same instance in both)."""

from __future__ import annotations

import numpy as np


def random_resources(rng: np.random.Generator, fortran: bool = False):
    """n nodes' alloc / requested / nonzero, one pod's req / nz, and the static filter mask."""
    n = int(rng.integers(1, 40))
    alloc = np.zeros((n, 4), dtype=np.int64)
    alloc[:, 0] = rng.choice([1000, 2000, 4000], n)
    alloc[:, 1] = rng.choice([2, 4, 8], n) << 30
    alloc[:, 2] = rng.choice([3, 10, 110], n)
    requested = np.zeros_like(alloc)
    requested[:, 0] = rng.integers(0, 4, n) * 250
    requested[:, 1] = rng.integers(0, 4, n) << 28
    requested[:, 2] = rng.integers(0, 3, n)
    if fortran:
        requested = np.asfortranarray(requested)
    nonzero = requested[:, :2].copy()
    if fortran:
        nonzero = np.asfortranarray(nonzero)
    req = np.array([int(rng.choice([0, 100, 500])), int(rng.choice([0, 1 << 27, 1 << 29])), 1, 0], dtype=np.int64)
    nz = np.array([req[0] or 100, req[1] or 200 << 20], dtype=np.int64)
    static = rng.random(n) < 0.85
    return n, alloc, requested, nonzero, req, nz, static
