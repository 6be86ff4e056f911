"""Numba twins of reference.py's per-plugin kernels: filter, scores, normalize, combine, select.

Exact integer math in per-node loops, written the way kube-scheduler's Go reads, so the
correspondence can be checked line by line. The fused hot path lives in _numba_fused.py.

Compiled lazily on first call; cache=True keeps the machine code in __pycache__ between runs.
error_model="numpy" keeps division free of Python's ZeroDivisionError branch (every division
below has a nonzero divisor), which also lets LLVM vectorize the loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

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
    MIX_MUL_1_INV,
    MIX_MUL_2,
    MIX_MUL_2_INV,
    MOST_ALLOCATED,
    PODS,
)

NJIT = {"cache": True, "nogil": True, "error_model": "numpy"}

_M1 = np.uint64(MIX_MUL_1)
_M2 = np.uint64(MIX_MUL_2)
_M1_INV = np.uint64(MIX_MUL_1_INV)
_M2_INV = np.uint64(MIX_MUL_2_INV)
_GOLDEN = np.uint64(GOLDEN_GAMMA)
_SHAPE_SCALE = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE


# ---------------------------------------------------------------------------------------------
# Tie-break hash (uint64 throughout: numba turns uint64 mixed with int64 into float64)


@njit(inline="always")
def mix64(z):
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(inline="always")
def unmix64(z):
    """Inverse of mix64: xorshifts undone by repeated shifts, multipliers by their inverses."""
    z = z ^ (z >> uint64(31)) ^ (z >> uint64(62))
    z = z * _M2_INV
    z = z ^ (z >> uint64(27)) ^ (z >> uint64(54))
    z = z * _M1_INV
    return z ^ (z >> uint64(30)) ^ (z >> uint64(60))


@njit(inline="always")
def pod_salt(seed, pod_key):
    return mix64(mix64(uint64(seed) + _GOLDEN) ^ uint64(pod_key))


@njit(**NJIT)
def tie_break_hash(seed, pod_key, nodes):
    salt = pod_salt(seed, pod_key)
    out = np.empty(nodes.shape[0], dtype=np.uint64)
    for i in range(nodes.shape[0]):
        out[i] = mix64(salt ^ uint64(nodes[i]))
    return out


# ---------------------------------------------------------------------------------------------
# Go arithmetic


@njit(inline="always")
def go_div(a, b):
    """int64 division truncating toward zero (numba's // floors, as Python's does)."""
    q = a // b
    if q < 0 and q * b != a:
        q += 1
    return q


@njit(inline="always")
def go_round(x):
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        t += 1.0 if x > 0 else -1.0
    return t


# ---------------------------------------------------------------------------------------------
# Filter


@njit(**NJIT)
def fit_filter(alloc, requested, pod_req, static_mask, static_reason):
    n_nodes, n_res = alloc.shape
    feasible = np.empty(n_nodes, dtype=np.bool_)
    insufficient = np.empty(n_nodes, dtype=np.int64)
    unresolvable = np.empty(n_nodes, dtype=np.int64)
    reason = np.empty(n_nodes, dtype=np.int32)
    for n in range(n_nodes):
        bits = 0
        unres = 0
        first = -1
        for r in range(n_res):
            p = pod_req[r]
            if p > 0 and p > alloc[n, r] - requested[n, r]:
                bits |= 1 << r
                if r != PODS:
                    if p > alloc[n, r]:
                        unres |= 1 << r
                    if first < 0:
                        first = r
        if (bits >> PODS) & 1:
            first = PODS  # "Too many pods" is reported first
        insufficient[n] = bits
        unresolvable[n] = unres
        if not static_mask[n]:
            reason[n] = static_reason[n]
        elif bits != 0:
            reason[n] = FIT_REASON_BASE + first
        else:
            reason[n] = 0
        feasible[n] = static_mask[n] and bits == 0
    return feasible, insufficient, unresolvable, reason


# ---------------------------------------------------------------------------------------------
# Resource scores
#
# Helpers called inside node loops take scalars only: an array passed to a helper in a hot loop
# costs a reference-count increment and decrement per call, which numba does not always prune.


@njit(**NJIT)
def scored_columns(pod_req, columns):
    """Which scored columns count at all (resource_allocation.go): never pods; a scalar resource
    only when the pod requests it. Per node, a column also needs allocatable != 0."""
    out = np.empty(columns.shape[0], dtype=np.bool_)
    for k in range(columns.shape[0]):
        c = columns[k]
        out[k] = c != PODS and not (c >= FIRST_SCALAR and pod_req[c] == 0)
    return out


@njit(inline="always")
def least_requested_score(r, a):
    if r > a:
        return 0
    return go_div((a - r) * MAX_NODE_SCORE, a)


@njit(inline="always")
def most_requested_score(r, a):
    r = min(r, a)
    return go_div(r * MAX_NODE_SCORE, a)


@njit(**NJIT)
def shape_table(shape_u, shape_score):
    """helper.BuildBrokenLinearFunction tabulated at utilizations 0..100 (scores scaled x10)."""
    table = np.empty(MAX_UTILIZATION + 1, dtype=np.int64)
    last = shape_u.shape[0] - 1
    for u in range(MAX_UTILIZATION + 1):
        value = shape_score[last] * _SHAPE_SCALE
        for i in range(shape_u.shape[0]):
            if u <= shape_u[i]:
                if i == 0:
                    value = shape_score[0] * _SHAPE_SCALE
                else:
                    s0 = shape_score[i - 1] * _SHAPE_SCALE
                    s1 = shape_score[i] * _SHAPE_SCALE
                    value = s0 + go_div((s1 - s0) * (u - shape_u[i - 1]), shape_u[i] - shape_u[i - 1])
                break
        table[u] = value
    return table


@njit(**NJIT)
def resource_fit_scores(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, strategy, columns, weights, shape_u,
    shape_score
):
    """NodeResourcesFit's score per node under one strategy (see reference.resource_fit_score)."""
    n_nodes = alloc.shape[0]
    scored = scored_columns(pod_req, columns)
    ratio = strategy != LEAST_ALLOCATED and strategy != MOST_ALLOCATED
    table = shape_table(shape_u, shape_score) if ratio else np.zeros(1, dtype=np.int64)
    out = np.empty(n_nodes, dtype=np.int64)
    for n in range(n_nodes):
        node_score = 0
        weight_sum = 0
        for k in range(columns.shape[0]):
            c = columns[k]
            a = alloc[n, c]
            if a == 0 or not scored[k]:
                continue
            if c == CPU or c == MEMORY:
                r = nonzero_requested[n, c] + pod_nonzero[c]
            else:
                r = requested[n, c] + pod_req[c]
            if strategy == LEAST_ALLOCATED:
                s = least_requested_score(r, a)
            elif strategy == MOST_ALLOCATED:
                s = most_requested_score(r, a)
            else:
                s = table[MAX_UTILIZATION if r > a else go_div(r * MAX_UTILIZATION, a)]
                if s <= 0:
                    continue  # only resources scoring above 0 count
            node_score += s * weights[k]
            weight_sum += weights[k]
        if weight_sum == 0:
            out[n] = 0
        elif ratio:
            out[n] = np.int64(go_round(np.float64(node_score) / np.float64(weight_sum)))
        else:
            out[n] = go_div(node_score, weight_sum)
    return out


@njit(**NJIT)
def balanced_allocation(alloc, requested, pod_req, columns):
    """BalancedAllocation per node (see reference.balanced_allocation)."""
    n_nodes = alloc.shape[0]
    scored = scored_columns(pod_req, columns)
    out = np.empty(n_nodes, dtype=np.int64)
    for n in range(n_nodes):
        count = 0
        total = 0.0
        first = 0.0
        second = 0.0
        for k in range(columns.shape[0]):
            c = columns[k]
            if alloc[n, c] == 0 or not scored[k]:
                continue
            f = min(1.0, np.float64(requested[n, c] + pod_req[c]) / np.float64(alloc[n, c]))
            if count == 0:
                first = f
            elif count == 1:
                second = f
            total += f
            count += 1
        std = 0.0
        if count == 2:
            std = abs((first - second) / 2)
        elif count > 2:
            mean = total / np.float64(count)
            squares = 0.0
            for k in range(columns.shape[0]):
                c = columns[k]
                if alloc[n, c] == 0 or not scored[k]:
                    continue
                d = min(1.0, np.float64(requested[n, c] + pod_req[c]) / np.float64(alloc[n, c])) - mean
                squares = squares + d * d
            std = np.sqrt(squares / np.float64(count))
        out[n] = np.int64((1 - std) * np.float64(MAX_NODE_SCORE))
    return out


# ---------------------------------------------------------------------------------------------
# Normalize, combine, select


@njit(**NJIT)
def normalize_scores(scores, feasible, reverse):
    top = 0
    for n in range(scores.shape[0]):
        if feasible[n] and scores[n] > top:
            top = scores[n]
    out = np.zeros(scores.shape[0], dtype=np.int64)
    for n in range(scores.shape[0]):
        if not feasible[n]:
            continue
        if top == 0:
            out[n] = MAX_NODE_SCORE if reverse else scores[n]
        else:
            s = go_div(MAX_NODE_SCORE * np.int64(scores[n]), top)
            out[n] = MAX_NODE_SCORE - s if reverse else s
    return out


@njit(**NJIT)
def weighted_sum(scores, weights):
    total = np.zeros(scores.shape[1], dtype=np.int64)
    for p in range(scores.shape[0]):
        w = np.int64(weights[p])
        for n in range(scores.shape[1]):
            total[n] += np.int64(scores[p, n]) * w
    return total


@njit(**NJIT)
def select_node(total, feasible, seed, pod_key):
    salt = pod_salt(seed, pod_key)
    best = -1
    best_total = np.int64(0)
    best_hash = uint64(0)
    for n in range(total.shape[0]):
        if not feasible[n]:
            continue
        t = total[n]
        if best >= 0 and t < best_total:
            continue
        h = mix64(salt ^ uint64(n))
        if best < 0 or t > best_total or h < best_hash:
            best = n
            best_total = t
            best_hash = h
    return best
