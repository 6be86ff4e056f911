"""The fused hot path in Numba: fit + NodeResourcesFit + BalancedAllocation + sum + select.

Two ways to compute the same totals:

- the fast path, for the default resource set (cpu and memory scored, cpu and memory balanced)
  with LeastAllocated or MostAllocated: one branch-free loop over nodes in float64 that LLVM
  vectorizes. Integer divisions become `trunc((x + 0.5) * (1 / a))`, exact for the bounded
  magnitudes checked in layout.FLOAT_EXACT_* (see README.md); BalancedAllocation's fractions are
  true float64 divisions, as in Go.
- the exact path, for everything else: per-node integer math shared with _numba_kernels.

Nodes are then selected in two vectorized passes: the top total, then the smallest tie-break
hash among the nodes holding it; the hash is a bijection of the node index, so the winner is
recovered by inverting it instead of scanning again.

place_sequence keeps the scored columns as contiguous float64 rows ([2, N], built once per call),
so the node loop reads unit-stride memory and the reciprocals of allocatable are computed once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ._numba_kernels import (
    NJIT,
    balanced_allocation,
    mix64,
    pod_salt,
    resource_fit_scores,
    unmix64,
)
from .layout import (
    FLOAT_EXACT_ALLOC_LIMIT,
    FLOAT_EXACT_REQUEST_LIMIT,
    LEAST_ALLOCATED,
    MOST_ALLOCATED,
    PODS,
)

_NO_HASH = np.uint64(0xFFFFFFFFFFFFFFFF)


# ---------------------------------------------------------------------------------------------
# Selection over encoded totals (-1 = infeasible)


@njit(**NJIT)
def _select_encoded(total, salt):
    best = np.int64(-1)
    for n in range(total.shape[0]):
        best = max(best, total[n])
    if best < 0:
        return -1
    smallest = _NO_HASH
    for n in range(total.shape[0]):
        h = mix64(salt ^ uint64(n))
        smallest = min(smallest, h if total[n] == best else _NO_HASH)
    return np.int64(unmix64(smallest) ^ salt)


# ---------------------------------------------------------------------------------------------
# Path choice


@njit(**NJIT)
def _is_cpu_memory(columns):
    if columns.shape[0] != 2:
        return False
    return (columns[0] == 0 and columns[1] == 1) or (columns[0] == 1 and columns[1] == 0)


@njit(**NJIT)
def fast_path_fits_profile(n_res, strategy, columns, balanced_columns, balanced_weight):
    if n_res < 2 or not (strategy == LEAST_ALLOCATED or strategy == MOST_ALLOCATED):
        return False
    if not _is_cpu_memory(columns):
        return False
    return balanced_weight == 0 or _is_cpu_memory(balanced_columns)


@njit(**NJIT)
def _fast_weights(columns, weights):
    if columns[0] == 0:
        return np.float64(weights[0]), np.float64(weights[1])
    return np.float64(weights[1]), np.float64(weights[0])


@njit(**NJIT)
def _balanced_skipped(pod_req, balanced_columns):
    for k in range(balanced_columns.shape[0]):
        c = balanced_columns[k]
        if c != PODS and pod_req[c] != 0:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Fast path: one node's total in float64


@njit(inline="always")
def _fast_node_total(a0, a1, inv0, inv1, z0, z1, q0, q1, most, w0, w1, inv_w0, inv_w1, inv_w01, fit_w, bal_w):
    """Total of one node from allocatable a*, its reciprocal inv*, non-zero requested z* and real
    requested q* (each already including the pod). Every value is an exact integer in float64."""
    v0 = a0 != 0.0
    v1 = a1 != 0.0
    if most:
        s0 = np.trunc((min(z0, a0) * 100.0 + 0.5) * inv0)
        s1 = np.trunc((min(z1, a1) * 100.0 + 0.5) * inv1)
    else:
        s0 = np.trunc(((a0 - z0) * 100.0 + 0.5) * inv0) if z0 <= a0 else 0.0
        s1 = np.trunc(((a1 - z1) * 100.0 + 0.5) * inv1) if z1 <= a1 else 0.0
    node_score = (s0 * w0 if v0 else 0.0) + (s1 * w1 if v1 else 0.0)
    inv_w = inv_w01 if (v0 and v1) else (inv_w0 if v0 else inv_w1)
    fit = np.trunc((node_score + 0.5) * inv_w) if (v0 or v1) else 0.0
    f0 = min(1.0, q0 / a0)
    f1 = min(1.0, q1 / a1)
    std = abs((f0 - f1) / 2) if (v0 and v1) else 0.0
    balanced = np.trunc((1 - std) * 100.0)
    return fit * fit_w + balanced * bal_w


@njit(**NJIT)
def _fast_totals_columns(
    free, allocf, invf, nzf, reqf, pod_req, pod_nonzero, static_row, most, w0, w1, fit_w, bal_w,
    gate, total
):
    """Fast totals over the columnar state of place_sequence (all rows unit-stride).

    cpu and memory are checked in float64 (exact: integers below 2^53), pods from `free`; other
    requested columns (rare) narrow the static mask into `gate` first.
    """
    n_res, n_nodes = free.shape
    inv_w0, inv_w1, inv_w01 = 1.0 / w0, 1.0 / w1, 1.0 / (w0 + w1)
    extra = False
    for r in range(PODS + 1, n_res):
        extra |= pod_req[r] > 0
    if extra:
        for n in range(n_nodes):
            gate[n] = static_row[n]
        for r in range(PODS + 1, n_res):
            p = pod_req[r]
            if p > 0:
                fr = free[r]
                for n in range(n_nodes):
                    gate[n] = gate[n] & (p <= fr[n])
        static_row = gate
    pq0 = np.float64(pod_req[0])
    pq1 = np.float64(pod_req[1])
    check0 = pq0 > 0.0
    check1 = pq1 > 0.0
    # Without a pods column there is nothing to check (check2 is False; row 0 is a stand-in).
    pods_free = free[PODS] if n_res > PODS else free[0]
    p2 = pod_req[PODS] if n_res > PODS else np.int64(-(1 << 62))
    check2 = p2 > 0
    pz0 = np.float64(pod_nonzero[0])
    pz1 = np.float64(pod_nonzero[1])
    a0s, a1s, i0s, i1s = allocf[0], allocf[1], invf[0], invf[1]
    z0s, z1s, q0s, q1s = nzf[0], nzf[1], reqf[0], reqf[1]
    for n in range(n_nodes):
        a0 = a0s[n]
        a1 = a1s[n]
        q0 = q0s[n]
        q1 = q1s[n]
        fits = (
            static_row[n]
            & ((not check0) | (pq0 <= a0 - q0))
            & ((not check1) | (pq1 <= a1 - q1))
            & ((not check2) | (p2 <= pods_free[n]))
        )
        t = _fast_node_total(
            a0, a1, i0s[n], i1s[n], z0s[n] + pz0, z1s[n] + pz1, q0 + pq0, q1 + pq1,
            most, w0, w1, inv_w0, inv_w1, inv_w01, fit_w, bal_w,
        )
        total[n] = np.int64(t) if fits else np.int64(-1)


@njit(**NJIT)
def _fast_totals_rows(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, most, w0, w1, fit_w,
    bal_w, gate, total
):
    """Fast totals straight from the [N, R] matrices (one pod, no columnar state to build).

    Returns False, leaving `total` unusable, when some value lies outside the bounds that keep
    float64 exact; the caller then takes the exact path. Column-major (order="F") matrices
    make every read here unit-stride; row-major ones work too, several times slower.
    """
    n_nodes, n_res = alloc.shape
    inv_w0, inv_w1, inv_w01 = 1.0 / w0, 1.0 / w1, 1.0 / (w0 + w1)
    extra = False
    for r in range(PODS + 1, n_res):
        extra |= pod_req[r] > 0
    if extra:
        for n in range(n_nodes):
            gate[n] = static_mask[n]
        for r in range(PODS + 1, n_res):
            p = pod_req[r]
            if p > 0:
                for n in range(n_nodes):
                    gate[n] = gate[n] & (p <= alloc[n, r] - requested[n, r])
        static_mask = gate
    p0 = pod_req[0]
    p1 = pod_req[1]
    z0 = pod_nonzero[0]
    z1 = pod_nonzero[1]
    has_pods = n_res > PODS
    p2 = pod_req[PODS] if has_pods else np.int64(0)
    check0 = p0 > 0
    check1 = p1 > 0
    check2 = p2 > 0
    pods_column = PODS if has_pods else 0
    pq0, pq1, pz0, pz1 = np.float64(p0), np.float64(p1), np.float64(z0), np.float64(z1)
    request_limit0 = FLOAT_EXACT_REQUEST_LIMIT - max(p0, z0)
    request_limit1 = FLOAT_EXACT_REQUEST_LIMIT - max(p1, z1)
    inexact = min(p0, p1, z0, z1) < 0
    for n in range(n_nodes):
        A0 = alloc[n, 0]
        A1 = alloc[n, 1]
        R0 = requested[n, 0]
        R1 = requested[n, 1]
        Z0 = nonzero_requested[n, 0]
        Z1 = nonzero_requested[n, 1]
        inexact |= (
            (A0 < 0) | (A0 > FLOAT_EXACT_ALLOC_LIMIT) | (A1 < 0) | (A1 > FLOAT_EXACT_ALLOC_LIMIT)
            | (R0 < 0) | (R0 > request_limit0) | (R1 < 0) | (R1 > request_limit1)
            | (Z0 < 0) | (Z0 > request_limit0) | (Z1 < 0) | (Z1 > request_limit1)
        )
        fits = (
            static_mask[n]
            & ((not check0) | (p0 <= A0 - R0))
            & ((not check1) | (p1 <= A1 - R1))
            & ((not check2) | (p2 <= alloc[n, pods_column] - requested[n, pods_column]))
        )
        a0 = np.float64(A0)
        a1 = np.float64(A1)
        t = _fast_node_total(
            a0, a1, 1.0 / a0, 1.0 / a1,
            np.float64(Z0) + pz0, np.float64(Z1) + pz1, np.float64(R0) + pq0, np.float64(R1) + pq1,
            most, w0, w1, inv_w0, inv_w1, inv_w01, fit_w, bal_w,
        )
        total[n] = np.int64(t) if fits else np.int64(-1)
    return not inexact


@njit(**NJIT)
def _fast_total_one(
    free, allocf, invf, nzf, reqf, pod_req, pod_nonzero, static_row, n, most, w0, w1, fit_w, bal_w
):
    """_fast_totals_columns for node n alone (the node the previous placement changed)."""
    fits = static_row[n]
    for r in range(free.shape[0]):
        p = pod_req[r]
        if p > 0 and p > free[r, n]:
            fits = False
    if not fits:
        return np.int64(-1)
    t = _fast_node_total(
        allocf[0, n], allocf[1, n], invf[0, n], invf[1, n],
        nzf[0, n] + np.float64(pod_nonzero[0]), nzf[1, n] + np.float64(pod_nonzero[1]),
        reqf[0, n] + np.float64(pod_req[0]), reqf[1, n] + np.float64(pod_req[1]),
        most, w0, w1, 1.0 / w0, 1.0 / w1, 1.0 / (w0 + w1), fit_w, bal_w,
    )
    return np.int64(t)


@njit(**NJIT)
def _same_pod(pod_reqs, pod_nonzeros, i):
    """Whether pod i asks for exactly what pod i - 1 asked for."""
    for r in range(pod_reqs.shape[1]):
        if pod_reqs[i, r] != pod_reqs[i - 1, r]:
            return False
    return pod_nonzeros[i, 0] == pod_nonzeros[i - 1, 0] and pod_nonzeros[i, 1] == pod_nonzeros[i - 1, 1]


# ---------------------------------------------------------------------------------------------
# Exact path


@njit(**NJIT)
def _exact_totals(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns,
    weights, shape_u, shape_score, balanced_columns, fit_w, bal_w, total
):
    """Totals from the per-plugin integer kernels, for profiles or magnitudes the fast path
    does not take."""
    n_nodes, n_res = alloc.shape
    fit = resource_fit_scores(
        alloc, requested, nonzero_requested, pod_req, pod_nonzero, strategy, columns, weights, shape_u, shape_score
    )
    if bal_w != 0:
        balanced = balanced_allocation(alloc, requested, pod_req, balanced_columns)
    else:
        balanced = np.zeros(n_nodes, dtype=np.int64)
    for n in range(n_nodes):
        ok = static_mask[n]
        for r in range(n_res):
            p = pod_req[r]
            if p > 0 and p > alloc[n, r] - requested[n, r]:
                ok = False
        total[n] = fit_w * fit[n] + bal_w * balanced[n] if ok else -1


# ---------------------------------------------------------------------------------------------
# Bounds under which the fast path is exact


@njit(**NJIT)
def _within_float_bounds(alloc, requested, nonzero_requested, headroom0, headroom1):
    """alloc of cpu/memory in [0, 2^44]; requested + headroom and non-zero requested + headroom in
    [0, 2^52] (headroom: what the pods still to be placed may add)."""
    ok = True
    for n in range(alloc.shape[0]):
        ok &= (alloc[n, 0] >= 0) & (alloc[n, 0] <= FLOAT_EXACT_ALLOC_LIMIT)
        ok &= (alloc[n, 1] >= 0) & (alloc[n, 1] <= FLOAT_EXACT_ALLOC_LIMIT)
        ok &= (requested[n, 0] >= 0) & (requested[n, 0] <= FLOAT_EXACT_REQUEST_LIMIT - headroom0)
        ok &= (requested[n, 1] >= 0) & (requested[n, 1] <= FLOAT_EXACT_REQUEST_LIMIT - headroom1)
        ok &= (nonzero_requested[n, 0] >= 0) & (nonzero_requested[n, 0] <= FLOAT_EXACT_REQUEST_LIMIT - headroom0)
        ok &= (nonzero_requested[n, 1] >= 0) & (nonzero_requested[n, 1] <= FLOAT_EXACT_REQUEST_LIMIT - headroom1)
    return ok


@njit(**NJIT)
def _pod_headroom(pod_reqs, pod_nonzeros, column):
    """Sum over pods of max(request, non-zero request) of a column; -1 if any is negative."""
    room = np.int64(0)
    for i in range(pod_reqs.shape[0]):
        a = pod_reqs[i, column]
        b = pod_nonzeros[i, column]
        if a < 0 or b < 0:
            return np.int64(-1)
        room += max(a, b)
    return room


# ---------------------------------------------------------------------------------------------
# Entry points


@njit(**NJIT)
def fused_totals(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns,
    weights, shape_u, shape_score, balanced_columns, fit_weight, balanced_weight
):
    """Encoded totals for one pod: -1 where infeasible, else fit x weight + balanced x weight."""
    n_nodes, n_res = alloc.shape
    total = np.empty(n_nodes, dtype=np.int64)
    bal_w = 0 if _balanced_skipped(pod_req, balanced_columns) else balanced_weight
    done = False
    if fast_path_fits_profile(n_res, strategy, columns, balanced_columns, bal_w):
        w0, w1 = _fast_weights(columns, weights)
        gate = np.empty(n_nodes, dtype=np.bool_)
        done = _fast_totals_rows(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask,
            strategy == MOST_ALLOCATED, w0, w1, np.float64(fit_weight), np.float64(bal_w), gate, total,
        )
    if not done:
        _exact_totals(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns, weights,
            shape_u, shape_score, balanced_columns, fit_weight, bal_w, total,
        )
    return total


@njit(**NJIT)
def fused_select(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, seed, pod_key, strategy,
    columns, weights, shape_u, shape_score, balanced_columns, fit_weight, balanced_weight
):
    total = fused_totals(
        alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns, weights,
        shape_u, shape_score, balanced_columns, fit_weight, balanced_weight,
    )
    return _select_encoded(total, pod_salt(seed, pod_key))


@njit(**NJIT)
def place_sequence(
    alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros, static_masks, seed, pod_keys,
    strategy, columns, weights, shape_u, shape_score, balanced_columns, fit_weight, balanced_weight,
    reuse_totals
):
    """Place pods in order; requested / nonzero_requested rows of each chosen node grow in place.

    static_masks is bool[S, N] with S == 1 (shared) or S == P (one row per pod).
    reuse_totals: when a pod asks for exactly what the previous one did (and the static mask is
    shared), only the node the previous placement changed is rescored; the other totals are
    still valid. Selection still scans every node, so the choices are those of a full pass.
    """
    n_nodes, n_res = alloc.shape
    n_pods = pod_reqs.shape[0]
    chosen = np.full(n_pods, -1, dtype=np.int64)
    total = np.empty(n_nodes, dtype=np.int64)
    fast = fast_path_fits_profile(n_res, strategy, columns, balanced_columns, balanced_weight)
    if fast:
        headroom0 = _pod_headroom(pod_reqs, pod_nonzeros, 0)
        headroom1 = _pod_headroom(pod_reqs, pod_nonzeros, 1)
        fast = (
            headroom0 >= 0
            and headroom1 >= 0
            and _within_float_bounds(alloc, requested, nonzero_requested, headroom0, headroom1)
        )
    # Columnar state of the fast path: rows of unit stride for the vectorized node loop.
    width = n_nodes if fast else 0
    free = np.empty((n_res, width), dtype=np.int64)
    allocf = np.empty((2, width), dtype=np.float64)
    invf = np.empty((2, width), dtype=np.float64)
    nzf = np.empty((2, width), dtype=np.float64)
    reqf = np.empty((2, width), dtype=np.float64)
    gate = np.empty(width, dtype=np.bool_)
    w0, w1 = _fast_weights(columns, weights) if columns.shape[0] >= 2 else (1.0, 1.0)
    most = strategy == MOST_ALLOCATED
    if fast:
        for n in range(n_nodes):
            for r in range(n_res):
                free[r, n] = alloc[n, r] - requested[n, r]
            for c in range(2):
                a = np.float64(alloc[n, c])
                allocf[c, n] = a
                invf[c, n] = 1.0 / a if a != 0.0 else 0.0
                nzf[c, n] = np.float64(nonzero_requested[n, c])
                reqf[c, n] = np.float64(requested[n, c])
    changed = -1  # the node the previous placement changed, -1 if none
    for i in range(n_pods):
        pod_req = pod_reqs[i]
        pod_nonzero = pod_nonzeros[i]
        static_row = static_masks[i if static_masks.shape[0] > 1 else 0]
        bal_w = 0 if _balanced_skipped(pod_req, balanced_columns) else balanced_weight
        reuse = reuse_totals and i > 0 and static_masks.shape[0] == 1 and _same_pod(pod_reqs, pod_nonzeros, i)
        if reuse and changed < 0:
            pass  # nothing changed since the identical previous pod: every total stands
        elif reuse and fast:
            total[changed] = _fast_total_one(
                free, allocf, invf, nzf, reqf, pod_req, pod_nonzero, static_row, changed,
                most, w0, w1, np.float64(fit_weight), np.float64(bal_w),
            )
        elif reuse:
            _exact_totals(
                alloc[changed:changed + 1], requested[changed:changed + 1], nonzero_requested[changed:changed + 1],
                pod_req, pod_nonzero, static_row[changed:changed + 1], strategy, columns, weights,
                shape_u, shape_score, balanced_columns, fit_weight, bal_w, total[changed:changed + 1],
            )
        elif fast:
            _fast_totals_columns(
                free, allocf, invf, nzf, reqf, pod_req, pod_nonzero, static_row,
                most, w0, w1, np.float64(fit_weight), np.float64(bal_w), gate, total,
            )
        else:
            _exact_totals(
                alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_row, strategy, columns, weights,
                shape_u, shape_score, balanced_columns, fit_weight, bal_w, total,
            )
        node = _select_encoded(total, pod_salt(seed, pod_keys[i]))
        chosen[i] = node
        changed = node
        if node < 0:
            continue
        for r in range(n_res):
            requested[node, r] += pod_req[r]
        for c in range(2):
            nonzero_requested[node, c] += pod_nonzero[c]
        if fast:
            for r in range(n_res):
                free[r, node] -= pod_req[r]
            for c in range(2):
                nzf[c, node] += np.float64(pod_nonzero[c])
                reqf[c, node] += np.float64(pod_req[c])
    return chosen
