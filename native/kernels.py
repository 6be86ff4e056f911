"""The scheduler's kernels behind one door: native when possible, the NumPy reference otherwise.

    from shoal.native import kernels
    chosen = kernels.place_sequence(alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros,
                                    static_mask, seed=7, pod_keys=keys)

Backends, in order of preference: "numba" (JIT for the host CPU, cached on disk), "cython"
(built with the package), "reference" (NumPy, always there). SHOAL_NATIVE=reference|numba|cython
forces one; a kernel the forced backend lacks, or one that cannot load, falls back to the next
in that order and finally to the reference. Nothing is imported or compiled until a kernel is
first called, so importing this module is cheap.

All backends return identical results (tests/native compare them on random clusters).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import reference
from .layout import (
    CPU,
    LEAST_ALLOCATED,
    MAX_RESOURCES,
    MEMORY,
    MOST_ALLOCATED,
    REQUESTED_TO_CAPACITY_RATIO,
    UINT64_MASK,
)
from .profile import DEFAULT_PROFILE, ScoringProfile

BACKENDS = ("numba", "cython", "reference")
ENV_VAR = "SHOAL_NATIVE"


FitResult = reference.FitResult  # (feasible, insufficient, unresolvable, reason)


_override: str | None = None


def _preference() -> tuple[str, ...]:
    forced = _override or os.environ.get(ENV_VAR, "").strip().lower()
    if not forced or forced == "auto":
        return BACKENDS
    if forced not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={forced!r}: expected one of {', '.join(BACKENDS)} (or auto)")
    return (forced,) + tuple(b for b in BACKENDS if b != forced)


# kernel name -> (module of each native backend, attribute)
_NATIVE: dict[str, dict[str, tuple[str, str]]] = {
    "fit_filter": {"numba": ("_numba_kernels", "fit_filter"), "cython": ("_fit", "fit_filter")},
    "resource_fit_scores": {
        "numba": ("_numba_kernels", "resource_fit_scores"),
        "cython": ("_score", "resource_fit_scores"),
    },
    "balanced_allocation": {
        "numba": ("_numba_kernels", "balanced_allocation"),
        "cython": ("_score", "balanced_allocation"),
    },
    "normalize_scores": {"numba": ("_numba_kernels", "normalize_scores"), "cython": ("_select", "normalize_scores")},
    "weighted_sum": {"numba": ("_numba_kernels", "weighted_sum"), "cython": ("_select", "weighted_sum")},
    "select_node": {"numba": ("_numba_kernels", "select_node"), "cython": ("_select", "select_node")},
    "tie_break_hash": {"numba": ("_numba_kernels", "tie_break_hash"), "cython": ("_select", "tie_break_hash")},
    "fused_totals": {"numba": ("_numba_fused", "fused_totals"), "cython": ("_fused", "fused_totals")},
    "fused_select": {"numba": ("_numba_fused", "fused_select"), "cython": ("_fused", "fused_select")},
    "place_sequence": {"numba": ("_numba_fused", "place_sequence"), "cython": ("_fused", "place_sequence")},
}

_resolved: dict[str, tuple[str, Callable[..., Any] | None]] = {}


def _load(backend: str, kernel: str) -> Callable[..., Any] | None:
    where = _NATIVE[kernel].get(backend)
    if where is None:
        return None
    module_name, attr = where
    try:
        module = __import__(f"{__package__}.{module_name}", fromlist=[attr])
    except ImportError:  # numba missing, or the Cython extensions not built
        return None
    return getattr(module, attr, None)


def _kernel(name: str) -> tuple[str, Callable[..., Any] | None]:
    """(backend, native function or None for the reference), resolved once per kernel."""
    hit = _resolved.get(name)
    if hit is None:
        hit = ("reference", None)
        for backend in _preference():
            if backend == "reference":
                break
            fn = _load(backend, name)
            if fn is not None:
                hit = (backend, fn)
                break
        _resolved[name] = hit
    return hit


def backend_of(kernel: str) -> str:
    """The backend that serves `kernel` ("numba", "cython" or "reference")."""
    return _kernel(kernel)[0]


def reset_backends() -> None:
    """Forget resolved backends (after changing SHOAL_NATIVE)."""
    _resolved.clear()


@contextlib.contextmanager
def using(backend: str) -> Iterator[None]:
    """Force `backend` (as SHOAL_NATIVE would) inside the block; for tests and benchmarks."""
    global _override
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    previous = _override
    _override = backend
    reset_backends()
    try:
        yield
    finally:
        _override = previous
        reset_backends()


# ---------------------------------------------------------------------------------------------
# Argument normalization


def _i64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def _mask(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.bool_)


def _u64(x: int) -> int:
    return int(x) & UINT64_MASK


def _seed_args(backend: str, seed: int, pod_key: int) -> tuple[Any, Any]:
    if backend == "numba":
        return np.uint64(_u64(seed)), np.uint64(_u64(pod_key))
    return _u64(seed), _u64(pod_key)


def _check_columns(n_res: int, max_column: int = -1) -> None:
    if n_res > MAX_RESOURCES:
        raise ValueError(f"alloc: at most {MAX_RESOURCES} resource columns (one bit each), got {n_res}")
    if max_column >= n_res:
        raise ValueError(f"columns: column {max_column} outside the matrix's {n_res} columns")


def _in_place(name: str, a: Any) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.int64 or not a.flags.writeable:
        raise TypeError(f"{name}: must be a writeable int64 ndarray (it is updated in place)")
    return a


def _profile_args(profile: ScoringProfile) -> tuple[Any, ...]:
    return (
        profile.strategy,
        profile.columns_array,
        profile.weights_array,
        profile.shape_utilization_array,
        profile.shape_score_array,
        profile.balanced_columns_array,
        profile.fit_weight,
        profile.balanced_weight,
    )


# ---------------------------------------------------------------------------------------------
# Filter


def fit_filter(
    alloc: np.ndarray,
    requested: np.ndarray,
    pod_req: np.ndarray,
    static_mask: np.ndarray,
    static_reason: np.ndarray | None = None,
) -> FitResult:
    """NodeResourcesFit's Filter over all nodes, combined with the static filters' verdict.

    Bit r of `insufficient` is set when 0 < pod_req[r] > alloc[r] - requested[r] (the pods column
    with pod_req 1 gives "Too many pods"). See layout.py for the reason codes.
    """
    alloc, requested, pod_req, static_mask = _i64(alloc), _i64(requested), _i64(pod_req), _mask(static_mask)
    _check_columns(alloc.shape[1])
    if static_reason is None:
        static_reason = np.zeros(alloc.shape[0], dtype=np.int32)
    static_reason = np.asarray(static_reason, dtype=np.int32)
    _, fn = _kernel("fit_filter")
    if fn is None:
        return FitResult(*reference.fit_filter(alloc, requested, pod_req, static_mask, static_reason))
    return FitResult(*fn(alloc, requested, pod_req, static_mask, static_reason))


# ---------------------------------------------------------------------------------------------
# Scores


def resource_fit_score(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    profile: ScoringProfile = DEFAULT_PROFILE,
) -> np.ndarray:
    """NodeResourcesFit's score (0..100) per node under the profile's strategy."""
    alloc, requested, nonzero_requested = _i64(alloc), _i64(requested), _i64(nonzero_requested)
    pod_req, pod_nonzero = _i64(pod_req), _i64(pod_nonzero)
    _check_columns(alloc.shape[1], profile.max_column)
    _, fn = _kernel("resource_fit_scores")
    if fn is None:
        return reference.resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile)
    return fn(
        alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile.strategy, profile.columns_array,
        profile.weights_array, profile.shape_utilization_array, profile.shape_score_array,
    )


def least_allocated(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    columns: Sequence[int] = (CPU, MEMORY),
    weights: Sequence[int] = (1, 1),
) -> np.ndarray:
    """LeastAllocated: sum_r w_r * ((alloc-req)*100/alloc) / sum_r w_r, integer division."""
    profile = ScoringProfile(strategy=LEAST_ALLOCATED, columns=columns, weights=weights)
    return resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile)


def most_allocated(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    columns: Sequence[int] = (CPU, MEMORY),
    weights: Sequence[int] = (1, 1),
) -> np.ndarray:
    """MostAllocated: sum_r w_r * (min(req, alloc)*100/alloc) / sum_r w_r, integer division."""
    profile = ScoringProfile(strategy=MOST_ALLOCATED, columns=columns, weights=weights)
    return resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile)


def requested_to_capacity_ratio(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    shape_utilization: Sequence[int],
    shape_score: Sequence[int],
    columns: Sequence[int] = (CPU, MEMORY),
    weights: Sequence[int] = (1, 1),
) -> np.ndarray:
    """RequestedToCapacityRatio over a shape of (utilization 0..100, score 0..10) points."""
    profile = ScoringProfile(
        strategy=REQUESTED_TO_CAPACITY_RATIO,
        columns=columns,
        weights=weights,
        shape_utilization=shape_utilization,
        shape_score=shape_score,
    )
    return resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile)


def balanced_allocation(
    alloc: np.ndarray, requested: np.ndarray, pod_req: np.ndarray, columns: Sequence[int] = (CPU, MEMORY)
) -> np.ndarray:
    """BalancedAllocation over real requests: int64((1 - std of min(1, req/alloc)) * 100)."""
    alloc, requested, pod_req, columns = _i64(alloc), _i64(requested), _i64(pod_req), _i64(columns)
    if columns.size and columns.min() < 0:
        raise ValueError(f"columns: {columns.tolist()} must be non-negative")
    _check_columns(alloc.shape[1], int(columns.max()) if columns.size else -1)
    _, fn = _kernel("balanced_allocation")
    if fn is None:
        return reference.balanced_allocation(alloc, requested, pod_req, columns)
    return fn(alloc, requested, pod_req, columns)


balanced_allocation_skipped = reference.balanced_allocation_skipped


# ---------------------------------------------------------------------------------------------
# Normalize, combine, select


def normalize_scores(scores: np.ndarray, feasible: np.ndarray, reverse: bool = False) -> np.ndarray:
    """DefaultNormalizeScore over the feasible nodes (infeasible nodes get 0)."""
    scores, feasible = _i64(scores), _mask(feasible)
    _, fn = _kernel("normalize_scores")
    if fn is None:
        return reference.normalize_scores(scores, feasible, reverse)
    return fn(scores, feasible, bool(reverse))


def weighted_sum(scores: np.ndarray, weights: Sequence[int]) -> np.ndarray:
    """total[n] = sum_p scores[p, n] * weights[p] over plugin score rows."""
    scores, weights = _i64(scores), _i64(weights)
    if scores.ndim != 2 or scores.shape[0] != weights.shape[0]:
        raise ValueError("weighted_sum: scores must be [P, N] with one weight per row")
    _, fn = _kernel("weighted_sum")
    if fn is None:
        return reference.weighted_sum(scores, weights)
    return fn(scores, weights)


def select_node(total: np.ndarray, feasible: np.ndarray, seed: int, pod_key: int) -> int:
    """argmax of total over feasible nodes; ties go to the smallest tie_break_hash; -1 if none."""
    total, feasible = _i64(total), _mask(feasible)
    backend, fn = _kernel("select_node")
    if fn is None:
        return reference.select_node(total, feasible, seed, pod_key)
    return int(fn(total, feasible, *_seed_args(backend, seed, pod_key)))


def tie_break_hash(seed: int, pod_key: int, nodes: np.ndarray) -> np.ndarray:
    """hash64(seed, pod_key, node) = mix64(mix64(mix64(seed + golden) ^ pod_key) ^ node), uint64."""
    nodes = _i64(nodes)
    backend, fn = _kernel("tie_break_hash")
    if fn is None:
        return reference.tie_break_hash(seed, pod_key, nodes)
    return fn(*_seed_args(backend, seed, pod_key), nodes)


# ---------------------------------------------------------------------------------------------
# Fused hot path


def fused_totals(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    static_mask: np.ndarray,
    profile: ScoringProfile = DEFAULT_PROFILE,
) -> tuple[np.ndarray, np.ndarray]:
    """(feasible bool[N], total int64[N]) for one pod: fit filter, then fit score x fit_weight +
    balanced x balanced_weight (BalancedAllocation skips best-effort pods); total 0 if infeasible."""
    alloc, requested, nonzero_requested = _i64(alloc), _i64(requested), _i64(nonzero_requested)
    pod_req, pod_nonzero, static_mask = _i64(pod_req), _i64(pod_nonzero), _mask(static_mask)
    _check_columns(alloc.shape[1], profile.max_column)
    _, fn = _kernel("fused_totals")
    if fn is None:
        return reference.fused_totals(alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, profile)
    encoded = fn(alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, *_profile_args(profile))
    feasible = encoded >= 0
    return feasible, np.where(feasible, encoded, 0)


def fused_select(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_req: np.ndarray,
    pod_nonzero: np.ndarray,
    static_mask: np.ndarray,
    seed: int,
    pod_key: int,
    profile: ScoringProfile = DEFAULT_PROFILE,
) -> int:
    """The node chosen for one pod (fit, score, sum, select in one pass); -1 if none fits.

    Column-major (order="F") matrices read fastest here; place_sequence does not care.
    """
    alloc, requested, nonzero_requested = _i64(alloc), _i64(requested), _i64(nonzero_requested)
    pod_req, pod_nonzero, static_mask = _i64(pod_req), _i64(pod_nonzero), _mask(static_mask)
    _check_columns(alloc.shape[1], profile.max_column)
    backend, fn = _kernel("fused_select")
    if fn is None:
        return reference.fused_select(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, seed, pod_key, profile
        )
    return int(
        fn(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask,
            *_seed_args(backend, seed, pod_key), *_profile_args(profile),
        )
    )


def place_sequence(
    alloc: np.ndarray,
    requested: np.ndarray,
    nonzero_requested: np.ndarray,
    pod_reqs: np.ndarray,
    pod_nonzeros: np.ndarray,
    static_mask: np.ndarray,
    seed: int,
    pod_keys: Sequence[int] | np.ndarray,
    profile: ScoringProfile = DEFAULT_PROFILE,
    reuse_totals: bool = False,
) -> np.ndarray:
    """Place P pods one after another; returns the chosen node per pod (-1 if none fitted).

    `requested` and `nonzero_requested` (writeable int64) grow in place by each placed pod's
    pod_reqs / pod_nonzeros row. `static_mask` is bool[N] for all pods or bool[P, N] per pod.
    Equivalent to calling fused_select for each pod and applying the placement in between.

    reuse_totals=True lets the numba backend rescore only the node the previous placement
    changed when consecutive pods are identical (same requests, shared mask); every node is
    still considered for selection and the choices are unchanged. Other backends ignore it.
    """
    alloc = _i64(alloc)
    requested = _in_place("requested", requested)
    nonzero_requested = _in_place("nonzero_requested", nonzero_requested)
    pod_reqs, pod_nonzeros = _i64(pod_reqs), _i64(pod_nonzeros)
    n_nodes, n_res = alloc.shape
    n_pods = pod_reqs.shape[0]
    if requested.shape != alloc.shape or nonzero_requested.shape != (n_nodes, 2):
        raise ValueError("requested must match alloc [N, R]; nonzero_requested must be [N, 2]")
    if pod_reqs.shape != (n_pods, n_res) or pod_nonzeros.shape != (n_pods, 2):
        raise ValueError("pod_reqs must be [P, R] and pod_nonzeros [P, 2]")
    static_mask = _mask(static_mask)
    masks = static_mask.reshape(1, n_nodes) if static_mask.ndim == 1 else static_mask
    if masks.shape not in ((1, n_nodes), (n_pods, n_nodes)):
        raise ValueError("static_mask must be bool[N] or bool[P, N]")
    keys = np.asarray(pod_keys)
    keys = (keys.astype(np.int64) if keys.dtype.kind == "i" else keys).astype(np.uint64).reshape(-1)
    if keys.shape[0] != n_pods:
        raise ValueError("pod_keys: one key per pod")
    _check_columns(n_res, profile.max_column)
    backend, fn = _kernel("place_sequence")
    if fn is None:
        return reference.place_sequence(
            alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros, static_mask, seed, keys, profile
        )
    seed_arg = _seed_args(backend, seed, 0)[0]
    args = (alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros, masks, seed_arg, keys, *_profile_args(profile))
    if backend == "numba":
        return fn(*args, bool(reuse_totals))
    return fn(*args)
