"""NumPy reference twins of the scheduling kernels: the specification the native kernels match.

Written for clarity, vectorized over nodes and looping over resources in column order, so the
floating-point operations happen in the same order as in kube-scheduler (and in the native
kernels). Integer division follows Go: it truncates toward zero.

Inputs (see layout.py): alloc / requested int64[N, R], nonzero_requested int64[N, 2],
pod_req int64[R] (pods column 1), pod_nonzero int64[2], static_mask bool[N].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .layout import (
    CPU,
    FIRST_SCALAR,
    FIT_REASON_BASE,
    GOLDEN_GAMMA,
    LEAST_ALLOCATED,
    MAX_CUSTOM_PRIORITY_SCORE,
    MAX_NODE_SCORE,
    MAX_UTILIZATION,
    MEMORY,
    MIX_MUL_1,
    MIX_MUL_2,
    MOST_ALLOCATED,
    NO_NODE,
    PODS,
    REQUESTED_TO_CAPACITY_RATIO,
    UINT64_MASK,
    fit_check_order,
)
from .profile import DEFAULT_PROFILE, ScoringProfile


class FitResult(NamedTuple):
    feasible: np.ndarray  # bool[N]
    insufficient: np.ndarray  # int64[N], bit r: resource column r is short
    unresolvable: np.ndarray  # int64[N], the bits of insufficient where pod_req[r] > alloc[r]
    reason: np.ndarray  # int32[N], 0 feasible / static reason / FIT_REASON_BASE + column


# ---------------------------------------------------------------------------------------------
# Go arithmetic


def go_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero, as Go's `/` on int64 (b must be nonzero)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def go_round(x: np.ndarray) -> np.ndarray:
    """math.Round: half away from zero, on float64 values."""
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.copysign(1.0, x), t)


# ---------------------------------------------------------------------------------------------
# Tie-break hash


def _mix64_int(z: int) -> int:
    z &= UINT64_MASK
    z = ((z ^ (z >> 30)) * MIX_MUL_1) & UINT64_MASK
    z = ((z ^ (z >> 27)) * MIX_MUL_2) & UINT64_MASK
    return z ^ (z >> 31)


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer over a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX_MUL_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX_MUL_2)
    return z ^ (z >> np.uint64(31))


def pod_salt(seed: int, pod_key: int) -> int:
    """The per-pod part of the tie-break hash: mix64(mix64(seed + golden) ^ pod_key)."""
    return _mix64_int(_mix64_int((int(seed) + GOLDEN_GAMMA) & UINT64_MASK) ^ (int(pod_key) & UINT64_MASK))


def tie_break_hash(seed: int, pod_key: int, nodes: np.ndarray) -> np.ndarray:
    """hash64(seed, pod_key, node) = mix64(pod_salt(seed, pod_key) ^ node), uint64[len(nodes)].

    A bijection of the node index for a fixed pod, so the smallest hash names exactly one node.
    """
    salt = np.uint64(pod_salt(seed, pod_key))
    return mix64(np.asarray(nodes).astype(np.uint64) ^ salt)


# ---------------------------------------------------------------------------------------------
# Filter


def fit_filter(
    alloc: np.ndarray,
    requested: np.ndarray,
    pod_req: np.ndarray,
    static_mask: np.ndarray,
    static_reason: np.ndarray,
) -> FitResult:
    """NodeResourcesFit's Filter over all nodes, combined with the static filters' verdict."""
    n_nodes, n_res = alloc.shape
    short = (pod_req > 0) & (pod_req > alloc - requested)
    oversize = short & (pod_req > alloc)
    if n_res > PODS:
        oversize[:, PODS] = False  # "Too many pods" is never unresolvable
    bits = np.left_shift(np.int64(1), np.arange(n_res, dtype=np.int64))
    insufficient = (short * bits).sum(axis=1, dtype=np.int64)
    unresolvable = (oversize * bits).sum(axis=1, dtype=np.int64)
    first = np.full(n_nodes, -1, dtype=np.int64)
    for column in reversed(fit_check_order(n_res)):
        first = np.where(short[:, column], column, first)
    fit_reason = np.where(insufficient != 0, FIT_REASON_BASE + first, 0)
    reason = np.where(static_mask, fit_reason, static_reason).astype(np.int32)
    feasible = static_mask & (insufficient == 0)
    return FitResult(feasible, insufficient, unresolvable, reason)


# ---------------------------------------------------------------------------------------------
# Resource scores


def _resource_inputs(alloc, requested, nonzero_requested, pod_req, pod_nonzero, column, nonzero):
    """(allocatable, requested-with-pod, valid) of one column, as resource_allocation.go builds
    them: a column counts only when allocatable != 0, never for pods, and for scalar resources
    only when the pod requests them."""
    a = alloc[:, column]
    if nonzero and column in (CPU, MEMORY):
        r = nonzero_requested[:, column] + pod_nonzero[column]
    else:
        r = requested[:, column] + pod_req[column]
    skipped = column == PODS or (column >= FIRST_SCALAR and pod_req[column] == 0)
    valid = (a != 0) & (not skipped)
    return a, r, valid


def _weighted_mean(per_resource, alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights):
    n_nodes = alloc.shape[0]
    node_score = np.zeros(n_nodes, dtype=np.int64)
    weight_sum = np.zeros(n_nodes, dtype=np.int64)
    for column, weight in zip(columns, weights):
        a, r, valid = _resource_inputs(alloc, requested, nonzero_requested, pod_req, pod_nonzero, column, True)
        s = per_resource(r, np.where(valid, a, 1))
        node_score += np.where(valid, s * weight, 0)
        weight_sum += np.where(valid, weight, 0)
    return np.where(weight_sum != 0, go_div(node_score, np.where(weight_sum != 0, weight_sum, 1)), 0)


def least_allocated(alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights) -> np.ndarray:
    """LeastAllocated: per resource (alloc-req)*100/alloc (0 when req > alloc), weighted mean."""

    def per_resource(r, a):
        return np.where(r > a, 0, go_div((a - r) * MAX_NODE_SCORE, a))

    return _weighted_mean(per_resource, alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights)


def most_allocated(alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights) -> np.ndarray:
    """MostAllocated: per resource min(req, alloc)*100/alloc, weighted mean."""

    def per_resource(r, a):
        return go_div(np.minimum(r, a) * MAX_NODE_SCORE, a)

    return _weighted_mean(per_resource, alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights)


def broken_linear(u: np.ndarray, shape_utilization: np.ndarray, shape_score: np.ndarray) -> np.ndarray:
    """helper.BuildBrokenLinearFunction over utilizations u, with already scaled scores."""
    out = np.full(u.shape, shape_score[-1], dtype=np.int64)
    done = np.zeros(u.shape, dtype=bool)
    for i in range(len(shape_utilization)):
        here = ~done & (u <= shape_utilization[i])
        if i == 0:
            value = np.full(u.shape, shape_score[0], dtype=np.int64)
        else:
            du = shape_utilization[i] - shape_utilization[i - 1]
            ds = shape_score[i] - shape_score[i - 1]
            value = shape_score[i - 1] + go_div(ds * (u - shape_utilization[i - 1]), np.int64(du))
        out = np.where(here, value, out)
        done |= here
    return out


def requested_to_capacity_ratio(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, columns, weights, shape_utilization, shape_score
) -> np.ndarray:
    """RequestedToCapacityRatio: shape scores x10, only resources scoring > 0 count, Go rounding."""
    scaled = np.asarray(shape_score, dtype=np.int64) * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)
    shape_u = np.asarray(shape_utilization, dtype=np.int64)
    n_nodes = alloc.shape[0]
    node_score = np.zeros(n_nodes, dtype=np.int64)
    weight_sum = np.zeros(n_nodes, dtype=np.int64)
    for column, weight in zip(columns, weights):
        a, r, valid = _resource_inputs(alloc, requested, nonzero_requested, pod_req, pod_nonzero, column, True)
        safe_a = np.where(valid, a, 1)
        u = np.where(r > a, MAX_UTILIZATION, go_div(r * MAX_UTILIZATION, safe_a))
        f = broken_linear(u, shape_u, scaled)
        counted = valid & (f > 0)
        node_score += np.where(counted, f * weight, 0)
        weight_sum += np.where(counted, weight, 0)
    mean = node_score.astype(np.float64) / np.where(weight_sum != 0, weight_sum, 1).astype(np.float64)
    return np.where(weight_sum != 0, go_round(mean), 0).astype(np.int64)


def balanced_allocation(alloc, requested, pod_req, columns) -> np.ndarray:
    """BalancedAllocation over real requests: int64((1 - std(min(1, req/alloc))) * 100).

    Two fractions: std = |f0 - f1| / 2; more: population std; fewer: 0 (score 100).
    """
    n_nodes = alloc.shape[0]
    count = np.zeros(n_nodes, dtype=np.int64)
    total = np.zeros(n_nodes, dtype=np.float64)
    first = np.zeros(n_nodes, dtype=np.float64)
    second = np.zeros(n_nodes, dtype=np.float64)
    fractions = []
    for column in columns:
        a, r, valid = _resource_inputs(alloc, requested, None, pod_req, None, column, False)
        f = np.minimum(1.0, r.astype(np.float64) / np.where(valid, a, 1).astype(np.float64))
        first = np.where(valid & (count == 0), f, first)
        second = np.where(valid & (count == 1), f, second)
        total = total + np.where(valid, f, 0.0)
        count += valid
        fractions.append((f, valid))
    safe_count = np.maximum(count, 1).astype(np.float64)
    mean = total / safe_count
    squares = np.zeros(n_nodes, dtype=np.float64)
    for f, valid in fractions:
        d = f - mean
        squares = squares + np.where(valid, d * d, 0.0)
    std = np.where(
        count == 2,
        np.abs((first - second) / 2),
        np.where(count > 2, np.sqrt(squares / safe_count), 0.0),
    )
    return ((1 - std) * float(MAX_NODE_SCORE)).astype(np.int64)


def balanced_allocation_skipped(pod_req: np.ndarray, columns) -> bool:
    """PreScore Skip for best-effort pods (#129138): no real request on any balanced column."""
    return all(pod_req[c] == 0 for c in columns if c != PODS)


def resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile: ScoringProfile):
    """NodeResourcesFit's score under the profile's strategy."""
    args = (alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile.columns_array, profile.weights_array)
    if profile.strategy == LEAST_ALLOCATED:
        return least_allocated(*args)
    if profile.strategy == MOST_ALLOCATED:
        return most_allocated(*args)
    assert profile.strategy == REQUESTED_TO_CAPACITY_RATIO
    return requested_to_capacity_ratio(*args, profile.shape_utilization_array, profile.shape_score_array)


# ---------------------------------------------------------------------------------------------
# Normalize, combine, select


def normalize_scores(scores: np.ndarray, feasible: np.ndarray, reverse: bool) -> np.ndarray:
    """DefaultNormalizeScore over the feasible nodes; infeasible nodes get 0."""
    s = np.where(feasible, scores, 0).astype(np.int64)
    top = max(0, int(s[feasible].max())) if feasible.any() else 0
    if top == 0:
        out = np.full_like(s, MAX_NODE_SCORE) if reverse else s
    else:
        out = go_div(MAX_NODE_SCORE * s, np.int64(top))
        if reverse:
            out = MAX_NODE_SCORE - out
    return np.where(feasible, out, 0)


def weighted_sum(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """total[n] = sum_p scores[p, n] * weights[p], int64."""
    total = np.zeros(scores.shape[1], dtype=np.int64)
    for p in range(scores.shape[0]):
        total += scores[p].astype(np.int64) * np.int64(weights[p])
    return total


def select_node(total: np.ndarray, feasible: np.ndarray, seed: int, pod_key: int) -> int:
    """argmax of total over feasible nodes; among equal tops, the smallest tie-break hash."""
    if not feasible.any():
        return NO_NODE
    top = total[feasible].max()
    candidates = np.flatnonzero(feasible & (total == top))
    hashes = tie_break_hash(seed, pod_key, candidates)
    return int(candidates[np.argmin(hashes)])


# ---------------------------------------------------------------------------------------------
# The whole resource pipeline for one pod, and for a sequence of pods


def fused_totals(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, profile: ScoringProfile = DEFAULT_PROFILE
) -> tuple[np.ndarray, np.ndarray]:
    """(feasible, total): fit filter, then fit score x fit_weight + balanced x balanced_weight
    (BalancedAllocation skips best-effort pods); total is 0 where the node is infeasible.

    Neither plugin normalizes (their scores already lie in 0..100), so none is applied.
    """
    fit = fit_filter(alloc, requested, pod_req, static_mask, np.zeros(alloc.shape[0], dtype=np.int32))
    total = resource_fit_score(alloc, requested, nonzero_requested, pod_req, pod_nonzero, profile) * profile.fit_weight
    if profile.balanced_weight and not balanced_allocation_skipped(pod_req, profile.balanced_columns_array):
        balanced = balanced_allocation(alloc, requested, pod_req, profile.balanced_columns_array)
        total = total + balanced * profile.balanced_weight
    return fit.feasible, np.where(fit.feasible, total, 0)


def fused_select(
    alloc,
    requested,
    nonzero_requested,
    pod_req,
    pod_nonzero,
    static_mask,
    seed: int,
    pod_key: int,
    profile: ScoringProfile = DEFAULT_PROFILE,
) -> int:
    """The node chosen for one pod (NO_NODE if none is feasible)."""
    feasible, total = fused_totals(alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, profile)
    return select_node(total, feasible, seed, pod_key)


def place_sequence(
    alloc,
    requested,
    nonzero_requested,
    pod_reqs,
    pod_nonzeros,
    static_mask,
    seed: int,
    pod_keys,
    profile: ScoringProfile = DEFAULT_PROFILE,
) -> np.ndarray:
    """Place pods one after another, adding each to its node's requested rows in place.

    static_mask is bool[N] (shared by all pods) or bool[P, N] (one row per pod).
    """
    chosen = np.full(len(pod_reqs), NO_NODE, dtype=np.int64)
    for i in range(len(pod_reqs)):
        mask = static_mask if static_mask.ndim == 1 else static_mask[i]
        node = fused_select(
            alloc, requested, nonzero_requested, pod_reqs[i], pod_nonzeros[i], mask, seed, int(pod_keys[i]), profile
        )
        chosen[i] = node
        if node != NO_NODE:
            requested[node] += pod_reqs[i]
            nonzero_requested[node] += pod_nonzeros[i]
    return chosen
