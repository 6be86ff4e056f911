"""Lower bounds for vector bin packing that need no solver.

    volume   max over dimensions of ceil(total size / capacity)
    clique   items that pairwise cannot share a bin each need their own: a clique of the
             conflict graph (found greedily; any clique is a valid bound)

The column-generation LP bound (colgen.py) and CP-SAT's own bound come on top of these.
"""

from __future__ import annotations

import numpy as np


def volume_bound(capacity: np.ndarray, items: np.ndarray) -> int:
    if len(items) == 0:
        return 0
    total = items.sum(axis=0)
    return int(max(0, max(-(-int(t) // int(c)) for t, c in zip(total, capacity))))


def conflict_graph(capacity: np.ndarray, items: np.ndarray) -> np.ndarray:
    """bool[n, n]: i and j can never share a bin. With negative sizes in the instance, a third
    item could make room, so the test subtracts every negative size there is."""
    negative = np.minimum(items, 0).sum(axis=0)
    conf = np.any(items[:, None, :] + items[None, :, :] + negative > capacity, axis=2)
    np.fill_diagonal(conf, False)
    return conf


def greedy_clique(conflicts: np.ndarray, starts: int = 64) -> list[int]:
    """A large clique: from each of the `starts` highest-degree items, add the candidate of
    highest degree until none is left. Returned in the order found (largest degree first)."""
    n = len(conflicts)
    if n == 0:
        return []
    degree = conflicts.sum(axis=1)
    best: list[int] = [int(np.argmax(degree))]
    for start in np.argsort(-degree, kind="stable")[:starts]:
        clique = [int(start)]
        cand = conflicts[start].copy()
        while cand.any():
            idx = np.flatnonzero(cand)
            j = int(idx[np.argmax(degree[idx])])
            clique.append(j)
            cand &= conflicts[j]
        if len(clique) > len(best):
            best = clique
    return best
