"""Fast packing heuristics for vector bin packing: the upper bound every exact method starts from.

    pack(capacity, items, order, rule)   items in order, each into an open bin by rule, else a
                                         new bin: "first" (first fit), "best" (least room left,
                                         summed over dimensions relative to capacity), "dot"
                                         (largest dot product of the item and the room left,
                                         Panigrahy et al.'s DotProduct)
    portfolio(capacity, items)           first/best/dot fit over several decreasing orders
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

RULES = ("first", "best", "dot")


def decreasing_orders(capacity: np.ndarray, items: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    rel = items / capacity
    idx = np.arange(len(items))
    yield "sum", np.lexsort((idx, -rel.sum(axis=1)))
    yield "max", np.lexsort((idx, -rel.sum(axis=1), -rel.max(axis=1)))
    yield "l2", np.lexsort((idx, -(rel**2).sum(axis=1)))
    yield "prod", np.lexsort((idx, -np.prod(np.clip(rel, 1e-3, None), axis=1)))


def pack(capacity: np.ndarray, items: np.ndarray, order: np.ndarray, rule: str = "first") -> np.ndarray:
    """Bin index per item; bins are numbered in the order they were opened."""
    n, d = items.shape
    loads = np.zeros((max(n, 1), d), dtype=np.int64)
    rel_cap = capacity.astype(np.float64)
    out = np.full(n, -1, dtype=np.int64)
    opened = 0
    for i in order:
        s = items[i]
        if opened:
            fits = np.all(loads[:opened] + s <= capacity, axis=1)
        else:
            fits = np.zeros(0, dtype=bool)
        if fits.any():
            idx = np.flatnonzero(fits)
            if rule == "first":
                b = int(idx[0])
            elif rule == "best":
                room = ((capacity - loads[idx] - s) / rel_cap).sum(axis=1)
                b = int(idx[np.argmin(room)])
            else:
                room = (capacity - loads[idx]) / rel_cap
                b = int(idx[np.argmax(room @ (s / rel_cap))])
        else:
            if np.any(s > capacity) and np.all(items.min(axis=0) >= 0):
                raise ValueError(f"item {int(i)} is larger than a bin")
            b = opened
            opened += 1
        loads[b] += s
        out[i] = b
    return out


def portfolio(capacity: np.ndarray, items: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, assignment) for every order x rule, best (fewest bins) first."""
    runs = []
    for oname, order in decreasing_orders(capacity, items):
        for rule in RULES:
            runs.append((f"{rule}-fit-{oname}", pack(capacity, items, order, rule)))
    runs.sort(key=lambda r: n_bins(r[1]))
    return runs


def n_bins(assignment: np.ndarray) -> int:
    return len(np.unique(assignment[assignment >= 0]))


def ffd(capacity: np.ndarray, items: np.ndarray) -> np.ndarray:
    """First-fit decreasing by the sum of relative sizes: the textbook baseline."""
    return pack(capacity, items, next(decreasing_orders(capacity, items))[1], "first")
