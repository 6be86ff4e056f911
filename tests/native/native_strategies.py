"""Hypothesis strategies for tests/native: random clusters, pods and scoring profiles.

A cluster is drawn as a few shape parameters (nodes, resources, magnitude, how often values are
zero, overcommitted or identical) plus an RNG seed that fills the matrices, so examples stay
cheap to generate while covering zeros in allocatable, requests larger than allocatable and
many equal scores (ties).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from shoal.native.layout import FLOAT_EXACT_ALLOC_LIMIT, PODS
from shoal.native.profile import ScoringProfile

# Typical magnitudes per column: cpu milli, memory bytes, pods, ephemeral bytes, scalar counts.
_SCALES = (4000, 32 << 30, 110, 100 << 30, 8, 16)


@dataclass
class Cluster:
    alloc: np.ndarray
    requested: np.ndarray
    nonzero_requested: np.ndarray
    static_mask: np.ndarray
    static_reason: np.ndarray

    @property
    def n_nodes(self) -> int:
        return self.alloc.shape[0]

    @property
    def n_res(self) -> int:
        return self.alloc.shape[1]

    def copy(self) -> Cluster:
        return Cluster(*(a.copy() for a in (self.alloc, self.requested, self.nonzero_requested, self.static_mask, self.static_reason)))


@dataclass
class Pods:
    reqs: np.ndarray  # int64[P, R]
    nonzeros: np.ndarray  # int64[P, 2]
    keys: np.ndarray  # uint64[P]


def _grid(rng: np.random.Generator, scale: int, shape, coarse: bool) -> np.ndarray:
    """Values on a coarse grid (many equal values, hence ties) or anywhere in 0..scale."""
    if coarse:
        return rng.integers(0, 9, size=shape) * max(scale // 8, 1)
    return rng.integers(0, scale + 1, size=shape)


@st.composite
def clusters(draw, max_nodes: int = 200) -> Cluster:
    n_nodes = draw(st.integers(1, max_nodes))
    n_res = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    coarse = draw(st.booleans())
    identical = draw(st.booleans())
    zero_rate = draw(st.sampled_from([0.0, 0.1, 0.4]))
    overcommit = draw(st.sampled_from([0.0, 0.2]))
    huge = draw(st.integers(0, 9)) == 0  # beyond the float fast path's exact bounds
    rng = np.random.default_rng(seed)

    scales = np.array(_SCALES[:n_res], dtype=np.int64)
    if huge:
        scales[1] = FLOAT_EXACT_ALLOC_LIMIT * 8
    rows = 1 if identical else n_nodes
    alloc = np.stack([_grid(rng, int(s), rows, coarse) for s in scales], axis=1)
    alloc = np.where(rng.random(alloc.shape) < zero_rate, 0, alloc)
    alloc = np.repeat(alloc, n_nodes, axis=0) if identical else alloc
    used = rng.random((n_nodes, n_res)) * np.where(rng.random((n_nodes, n_res)) < overcommit, 1.5, 1.0)
    requested = np.floor(alloc * used).astype(np.int64)
    if coarse:
        requested = (requested // np.maximum(scales // 8, 1)) * np.maximum(scales // 8, 1)
    if n_res > PODS:
        requested[:, PODS] = rng.integers(0, np.maximum(alloc[:, PODS], 0) + 2)
    # Non-zero requested: real requests plus the defaults of pods that omitted them.
    defaults = rng.integers(0, 3, size=(n_nodes, 1)) * np.array([[100, 200 << 20]])
    nonzero_requested = requested[:, :2] + defaults
    static_mask = rng.random(n_nodes) >= draw(st.sampled_from([0.0, 0.2, 1.0]))
    static_reason = np.where(static_mask, 0, rng.integers(1, 20, size=n_nodes)).astype(np.int32)
    return Cluster(alloc.astype(np.int64), requested, nonzero_requested.astype(np.int64), static_mask, static_reason)


@st.composite
def pods_for(draw, n_res: int, max_pods: int = 1) -> Pods:
    n_pods = draw(st.integers(1, max_pods))
    seed = draw(st.integers(0, 2**32 - 1))
    identical = draw(st.booleans())
    rng = np.random.default_rng(seed)
    rows = 1 if identical else n_pods
    scales = np.array(_SCALES[:n_res], dtype=np.int64)
    reqs = np.where(
        rng.random((rows, n_res)) < 0.3, 0, (rng.random((rows, n_res)) * scales / rng.choice([4, 16, 64])).astype(np.int64)
    )
    if n_res > PODS:
        reqs[:, PODS] = 1
    missing = rng.random((rows, 2)) < 0.3  # containers without a cpu / memory request
    nonzeros = np.where(missing, reqs[:, :2] + np.array([100, 200 << 20]), reqs[:, :2])
    if identical:
        reqs, nonzeros = np.repeat(reqs, n_pods, axis=0), np.repeat(nonzeros, n_pods, axis=0)
    keys = rng.integers(0, 2**63, size=n_pods, dtype=np.int64).astype(np.uint64)
    return Pods(reqs.astype(np.int64), nonzeros.astype(np.int64), keys)


@st.composite
def profiles(draw, n_res: int) -> ScoringProfile:
    strategy = draw(st.sampled_from([0, 0, 1, 2]))
    default_columns = draw(st.booleans())
    if default_columns:
        columns, balanced = draw(st.sampled_from([(0, 1), (1, 0)])), (0, 1)
    else:
        columns = tuple(draw(st.lists(st.integers(0, n_res - 1), min_size=1, max_size=n_res, unique=True)))
        balanced = tuple(draw(st.lists(st.integers(0, n_res - 1), min_size=0, max_size=n_res, unique=True)))
    weights = tuple(draw(st.integers(1, 5)) for _ in columns)
    shape_u: tuple[int, ...] = ()
    shape_s: tuple[int, ...] = ()
    if strategy == 2:
        shape_u = tuple(sorted(draw(st.sets(st.integers(0, 100), min_size=1, max_size=4))))
        shape_s = tuple(draw(st.integers(0, 10)) for _ in shape_u)
    return ScoringProfile(
        strategy=strategy,
        columns=columns,
        weights=weights,
        balanced_columns=balanced,
        fit_weight=draw(st.integers(0, 3)),
        balanced_weight=draw(st.integers(0, 3)),
        shape_utilization=shape_u,
        shape_score=shape_s,
    )
