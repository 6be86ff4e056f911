"""Vector bin packing instances: the VPSolver .vbp format, and their face as a placement problem.

    d                      dimensions
    c_1 .. c_d             bin capacity per dimension
    m                      item types
    s_1 .. s_d  demand     m lines: the type's size per dimension and how many items have it

Tokens are whitespace-separated, so the line breaks do not matter. Sizes may be negative (the
Triplet instances have a few): every rule here is a linear sum and holds for them too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .problem import PlacementProblem


@dataclass(frozen=True)
class VbpInstance:
    name: str
    capacity: np.ndarray  # int64[d]
    sizes: np.ndarray  # int64[m, d], one row per item type
    demand: np.ndarray  # int64[m]

    @property
    def dims(self) -> int:
        return int(self.capacity.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.demand.sum())

    @property
    def items(self) -> np.ndarray:
        """int64[n, d]: one row per item (types expanded by demand, in file order)."""
        return np.repeat(self.sizes, self.demand, axis=0)

    @property
    def item_type(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.demand)), self.demand)

    def to_problem(self, n_nodes: int | None = None) -> PlacementProblem:
        """Items as pods, bins as identical empty nodes (n_nodes, default one per item)."""
        n = self.n_items if n_nodes is None else n_nodes
        return PlacementProblem(
            free=np.tile(self.capacity, (n, 1)),
            requests=self.items,
            node_names=[f"bin-{b}" for b in range(n)],
            pod_names=[f"item-{i}" for i in range(self.n_items)],
            resource_names=[f"dim-{r}" for r in range(self.dims)],
        )


def parse_vbp(text: str, name: str = "") -> VbpInstance:
    try:
        tokens = [int(t) for t in text.split()]
        d = tokens[0]
        capacity = np.array(tokens[1 : 1 + d], dtype=np.int64)
        m = tokens[1 + d]
        body = np.array(tokens[2 + d : 2 + d + m * (d + 1)], dtype=np.int64).reshape(m, d + 1)
    except (IndexError, ValueError) as e:
        raise ValueError(f"{name or 'vbp'}: not a .vbp instance ({e})") from None
    if len(tokens) != 2 + d + m * (d + 1):
        raise ValueError(f"{name or 'vbp'}: expected {2 + d + m * (d + 1)} numbers, found {len(tokens)}")
    if d < 1 or np.any(capacity <= 0) or np.any(body[:, d] < 0):
        raise ValueError(f"{name or 'vbp'}: dimensions, capacities and demands must be positive")
    return VbpInstance(name, capacity, body[:, :d].copy(), body[:, d].copy())


def read_vbp(path: str | os.PathLike[str]) -> VbpInstance:
    with open(path) as f:
        return parse_vbp(f.read(), os.path.splitext(os.path.basename(os.fspath(path)))[0])


def format_vbp(instance: VbpInstance) -> str:
    lines = [str(instance.dims), " ".join(map(str, instance.capacity)), str(len(instance.demand))]
    lines += [" ".join(map(str, row)) + f" {int(q)}" for row, q in zip(instance.sizes, instance.demand)]
    return "\n".join(lines) + "\n"
