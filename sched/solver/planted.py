"""Instances with a planted optimum: bins cut into items, so every bin is exactly full.

Each of `bins` bins is cut, in every dimension independently, at k - 1 random points into k
parts (k drawn from items_per_bin); item j of the bin takes one part per dimension (the parts of
each dimension in a random order). The items of all bins are shuffled. The items' total is
exactly bins x capacity in every dimension, so the volume bound proves that `bins` bins are
optimal, and the planted packing shows they suffice.
"""

from __future__ import annotations

import numpy as np

from .vbp_instance import VbpInstance


def planted_instance(bins: int, dims: int, capacity: int = 100, items_per_bin: tuple[int, int] = (2, 4),
                     seed: int = 0, name: str = "") -> tuple[VbpInstance, np.ndarray]:
    """(instance, the planted bin of every item). Every size is >= 1."""
    lo, hi = items_per_bin
    if not 1 <= lo <= hi or hi > capacity:
        raise ValueError(f"items_per_bin {items_per_bin} must satisfy 1 <= lo <= hi <= capacity")
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    planted: list[int] = []
    for b in range(bins):
        k = int(rng.integers(lo, hi + 1))
        parts = np.empty((k, dims), dtype=np.int64)
        for r in range(dims):
            cuts = np.sort(rng.choice(np.arange(1, capacity), size=k - 1, replace=False))
            sizes = np.diff(np.concatenate(([0], cuts, [capacity])))
            parts[:, r] = rng.permutation(sizes)
        rows.extend(parts)
        planted.extend([b] * k)
    order = rng.permutation(len(rows))
    sizes = np.array(rows, dtype=np.int64)[order]
    instance = VbpInstance(
        name or f"planted_{bins}x{dims}_{lo}-{hi}_s{seed}",
        np.full(dims, capacity, dtype=np.int64),
        sizes,
        np.ones(len(sizes), dtype=np.int64),
    )
    return instance, np.array(planted, dtype=np.int64)[order]
