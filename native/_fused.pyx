# distutils: extra_compile_args = -ffp-contract=off -fno-trapping-math
# Cython twin of _numba_fused: fit + NodeResourcesFit + BalancedAllocation + weighted sum + select
# for one pod (fused_totals / fused_select) and for a sequence of pods (place_sequence).
#
# Same two paths as the Numba version: a float64 fast path for the default resource set
# (cpu/memory, LeastAllocated or MostAllocated), exact for the magnitudes in layout.FLOAT_EXACT_*,
# and the exact integer path (the _score.pxi loops) for everything else. place_sequence's fast
# path runs its node loops in _fast_kernel.h, plain C the compiler vectorizes (and clones per ISA).

import numpy as np

include "_common.pxi"
include "_fit.pxi"
include "_score.pxi"
include "_select.pxi"

from libc.math cimport fmin

cdef extern from "_fast_kernel.h" nogil:
    void shoal_fast_totals(
        i64 n_nodes,
        const double* a0s, const double* a1s, const double* i0s, const double* i1s,
        const double* z0s, const double* z1s, const double* q0s, const double* q1s,
        const i64* pods_free, const uint8_t* gate,
        double pz0, double pz1, double pq0, double pq1, i64 p2,
        int most, double w0, double w1, double fit_w, double bal_w,
        i64* total_bits,
    )
    i64 shoal_select_totals(i64 n_nodes, const i64* total_bits, u64 salt)

from .layout import FLOAT_EXACT_ALLOC_LIMIT as _ALLOC_LIMIT, FLOAT_EXACT_REQUEST_LIMIT as _REQUEST_LIMIT

cdef i64 FLOAT_EXACT_ALLOC_LIMIT = _ALLOC_LIMIT
cdef i64 FLOAT_EXACT_REQUEST_LIMIT = _REQUEST_LIMIT


# ---------------------------------------------------------------------------------------------
# Profile checks


cdef inline bint is_cpu_memory(const i64[:] columns) noexcept nogil:
    if columns.shape[0] != 2:
        return False
    return (columns[0] == 0 and columns[1] == 1) or (columns[0] == 1 and columns[1] == 0)


cdef inline bint fast_path_fits_profile(
    Py_ssize_t n_res, int strategy, const i64[:] columns, const i64[:] balanced_columns, i64 balanced_weight,
) noexcept nogil:
    if n_res < 2 or not (strategy == LEAST_ALLOCATED or strategy == MOST_ALLOCATED):
        return False
    if not is_cpu_memory(columns):
        return False
    return balanced_weight == 0 or is_cpu_memory(balanced_columns)


cdef inline bint balanced_skipped(const i64[:] pod_req, const i64[:] balanced_columns) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(balanced_columns.shape[0]):
        if balanced_columns[k] != PODS and pod_req[balanced_columns[k]] != 0:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Fast path


cdef inline double trunc_small(double x) noexcept nogil:
    # trunc() for |x| < 2^63 without a libm call on baseline x86-64 (no SSE4.1 roundsd).
    return <double>(<i64>x)


cdef inline double fast_node_total(
    double a0, double a1, double inv0, double inv1, double z0, double z1, double q0, double q1,
    bint most, double w0, double w1, double inv_w0, double inv_w1, double inv_w01, double fit_w, double bal_w,
) noexcept nogil:
    """_numba_fused._fast_node_total, with branches where C would otherwise convert inf."""
    cdef bint v0 = a0 != 0.0
    cdef bint v1 = a1 != 0.0
    cdef double s0 = 0.0, s1 = 0.0, node_score = 0.0, fit = 0.0, std = 0.0, f0, f1, inv_w
    if v0:
        if most:
            s0 = trunc_small((fmin(z0, a0) * 100.0 + 0.5) * inv0)
        elif z0 <= a0:
            s0 = trunc_small(((a0 - z0) * 100.0 + 0.5) * inv0)
        node_score = node_score + s0 * w0
    if v1:
        if most:
            s1 = trunc_small((fmin(z1, a1) * 100.0 + 0.5) * inv1)
        elif z1 <= a1:
            s1 = trunc_small(((a1 - z1) * 100.0 + 0.5) * inv1)
        node_score = node_score + s1 * w1
    if v0 or v1:
        inv_w = inv_w01 if (v0 and v1) else (inv_w0 if v0 else inv_w1)
        fit = trunc_small((node_score + 0.5) * inv_w)
    if v0 and v1:
        f0 = q0 / a0
        f1 = q1 / a1
        if f0 > 1.0:
            f0 = 1.0
        if f1 > 1.0:
            f1 = 1.0
        std = fabs((f0 - f1) / 2)
    return fit * fit_w + trunc_small((1 - std) * 100.0) * bal_w


cdef bint fast_totals_rows(
    const i64[:, :] alloc, const i64[:, :] requested, const i64[:, :] nonzero_requested,
    const i64[:] pod_req, const i64[:] pod_nonzero, const uint8_t[:] static_mask,
    bint most, double w0, double w1, double fit_w, double bal_w, uint8_t[:] gate, i64[:] total,
) noexcept nogil:
    """Totals from the [N, R] matrices; False (total unusable) outside the exact bounds."""
    cdef Py_ssize_t n_nodes = alloc.shape[0], n_res = alloc.shape[1], n, r
    cdef double inv_w0 = 1.0 / w0, inv_w1 = 1.0 / w1, inv_w01 = 1.0 / (w0 + w1)
    cdef i64 p, p0 = pod_req[0], p1 = pod_req[1], z0 = pod_nonzero[0], z1 = pod_nonzero[1]
    cdef i64 p2 = pod_req[PODS] if n_res > PODS else 0
    cdef i64 limit0 = FLOAT_EXACT_REQUEST_LIMIT - (p0 if p0 > z0 else z0)
    cdef i64 limit1 = FLOAT_EXACT_REQUEST_LIMIT - (p1 if p1 > z1 else z1)
    cdef i64 A0, A1, R0, R1, Z0, Z1
    cdef bint inexact = p0 < 0 or p1 < 0 or z0 < 0 or z1 < 0
    cdef bint fits
    cdef double a0, a1, t
    for n in range(n_nodes):
        gate[n] = static_mask[n] != 0
    for r in range(n_res):
        p = pod_req[r]
        if p > 0:
            for n in range(n_nodes):
                if p > alloc[n, r] - requested[n, r]:
                    gate[n] = 0
    for n in range(n_nodes):
        A0 = alloc[n, 0]
        A1 = alloc[n, 1]
        R0 = requested[n, 0]
        R1 = requested[n, 1]
        Z0 = nonzero_requested[n, 0]
        Z1 = nonzero_requested[n, 1]
        inexact |= (
            (A0 < 0) | (A0 > FLOAT_EXACT_ALLOC_LIMIT) | (A1 < 0) | (A1 > FLOAT_EXACT_ALLOC_LIMIT)
            | (R0 < 0) | (R0 > limit0) | (R1 < 0) | (R1 > limit1)
            | (Z0 < 0) | (Z0 > limit0) | (Z1 < 0) | (Z1 > limit1)
        )
        if not gate[n]:
            total[n] = -1
            continue
        a0 = <double>A0
        a1 = <double>A1
        t = fast_node_total(
            a0, a1, 1.0 / a0 if A0 != 0 else 0.0, 1.0 / a1 if A1 != 0 else 0.0,
            <double>Z0 + <double>z0, <double>Z1 + <double>z1, <double>R0 + <double>p0, <double>R1 + <double>p1,
            most, w0, w1, inv_w0, inv_w1, inv_w01, fit_w, bal_w,
        )
        total[n] = <i64>t
    return not inexact


cdef i64 fast_place_one(
    const i64[:, ::1] free, const double[:, ::1] allocf, const double[:, ::1] invf,
    const double[:, ::1] nzf, const double[:, ::1] reqf,
    const i64[:] pod_req, const i64[:] pod_nonzero, const uint8_t[:] static_mask, u64 salt,
    bint most, double w0, double w1, double fit_w, double bal_w, uint8_t[::1] gate, i64[::1] total_bits,
) noexcept nogil:
    """The chosen node over place_sequence's columnar state (_fast_kernel.h does the node loops)."""
    cdef Py_ssize_t n_res = free.shape[0], n_nodes = free.shape[1], n, r
    cdef i64 p
    if n_nodes == 0:
        return -1
    for n in range(n_nodes):
        gate[n] = static_mask[n] != 0
    for r in range(PODS + 1, n_res):
        p = pod_req[r]
        if p > 0:
            for n in range(n_nodes):
                if p > free[r, n]:
                    gate[n] = 0
    shoal_fast_totals(
        n_nodes, &allocf[0, 0], &allocf[1, 0], &invf[0, 0], &invf[1, 0],
        &nzf[0, 0], &nzf[1, 0], &reqf[0, 0], &reqf[1, 0], &free[PODS if n_res > PODS else 0, 0], &gate[0],
        <double>pod_nonzero[0], <double>pod_nonzero[1], <double>pod_req[0], <double>pod_req[1],
        pod_req[PODS] if n_res > PODS else 0,
        most, w0, w1, fit_w, bal_w, &total_bits[0],
    )
    return shoal_select_totals(n_nodes, &total_bits[0], salt)


# ---------------------------------------------------------------------------------------------
# Exact path


cdef void exact_totals(
    const i64[:, :] alloc, const i64[:, :] requested, const i64[:, :] nonzero_requested,
    const i64[:] pod_req, const i64[:] pod_nonzero, const uint8_t[:] static_mask,
    int strategy, const i64[:] columns, const i64[:] weights, const i64* table,
    const i64[:] balanced_columns, i64 fit_w, i64 bal_w,
    uint8_t[:] feasible, i64[:] fit, i64[:] balanced, i64[:] total,
) noexcept nogil:
    cdef Py_ssize_t n
    fit_mask_into(alloc, requested, pod_req, static_mask, feasible)
    resource_fit_scores_into(
        alloc, requested, nonzero_requested, pod_req, pod_nonzero, strategy, columns, weights, table, fit
    )
    if bal_w != 0:
        balanced_allocation_into(alloc, requested, pod_req, balanced_columns, balanced)
    for n in range(alloc.shape[0]):
        if not feasible[n]:
            total[n] = -1
        elif bal_w != 0:
            total[n] = fit_w * fit[n] + bal_w * balanced[n]
        else:
            total[n] = fit_w * fit[n]


# ---------------------------------------------------------------------------------------------
# Entry points


def _check_columns(columns, balanced_columns):
    if len(columns) > MAX_COLUMNS or len(balanced_columns) > MAX_COLUMNS:
        raise ValueError(f"columns: at most {MAX_COLUMNS} scored columns")


def fused_totals(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, int strategy, columns,
    weights, shape_u, shape_score, balanced_columns, i64 fit_weight, i64 balanced_weight
):
    """Encoded totals for one pod: -1 where infeasible, else fit x weight + balanced x weight."""
    _check_columns(columns, balanced_columns)
    n_nodes = alloc.shape[0]
    total = np.empty(n_nodes, dtype=np.int64)
    scratch = np.empty((2, n_nodes), dtype=np.int64)
    gate = np.empty(n_nodes, dtype=np.uint8)
    cdef const i64[:, :] alloc_v = alloc
    cdef const i64[:, :] requested_v = requested
    cdef const i64[:, :] nonzero_v = nonzero_requested
    cdef const i64[:] pod_req_v = pod_req
    cdef const i64[:] pod_nonzero_v = pod_nonzero
    cdef const uint8_t[:] static_v = static_mask.view(np.uint8)
    cdef const i64[:] columns_v = columns
    cdef const i64[:] weights_v = weights
    cdef const i64[:] shape_u_v = shape_u
    cdef const i64[:] shape_score_v = shape_score
    cdef const i64[:] balanced_v = balanced_columns
    cdef i64[:] total_v = total
    cdef i64[:, :] scratch_v = scratch
    cdef uint8_t[:] gate_v = gate
    with nogil:
        fused_totals_into(
            alloc_v, requested_v, nonzero_v, pod_req_v, pod_nonzero_v, static_v, strategy, columns_v, weights_v,
            shape_u_v, shape_score_v, balanced_v, fit_weight, balanced_weight, gate_v, scratch_v, total_v,
        )
    return total


cdef void fused_totals_into(
    const i64[:, :] alloc, const i64[:, :] requested, const i64[:, :] nonzero_requested,
    const i64[:] pod_req, const i64[:] pod_nonzero, const uint8_t[:] static_mask,
    int strategy, const i64[:] columns, const i64[:] weights, const i64[:] shape_u, const i64[:] shape_score,
    const i64[:] balanced_columns, i64 fit_weight, i64 balanced_weight,
    uint8_t[:] gate, i64[:, :] scratch, i64[:] total,
) noexcept nogil:
    cdef i64 table[SHAPE_TABLE_SIZE]
    cdef i64 bal_w = 0 if balanced_skipped(pod_req, balanced_columns) else balanced_weight
    cdef bint done = False
    cdef double w0, w1
    if fast_path_fits_profile(alloc.shape[1], strategy, columns, balanced_columns, bal_w):
        w0 = <double>(weights[0] if columns[0] == 0 else weights[1])
        w1 = <double>(weights[1] if columns[0] == 0 else weights[0])
        done = fast_totals_rows(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask,
            strategy == MOST_ALLOCATED, w0, w1, <double>fit_weight, <double>bal_w, gate, total,
        )
    if not done:
        if strategy != LEAST_ALLOCATED and strategy != MOST_ALLOCATED:
            shape_table_fill(shape_u, shape_score, table)
        exact_totals(
            alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns, weights,
            table, balanced_columns, fit_weight, bal_w, gate, scratch[0], scratch[1], total,
        )


def fused_select(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, u64 seed, u64 pod_key,
    int strategy, columns, weights, shape_u, shape_score, balanced_columns, i64 fit_weight, i64
    balanced_weight
):
    """The node chosen for one pod, -1 if none is feasible."""
    total = fused_totals(
        alloc, requested, nonzero_requested, pod_req, pod_nonzero, static_mask, strategy, columns, weights,
        shape_u, shape_score, balanced_columns, fit_weight, balanced_weight,
    )
    cdef const i64[:] total_v = total
    cdef i64 node
    with nogil:
        node = select_encoded(total_v, pod_salt(seed, pod_key))
    return node


def _fast_sequence_in_bounds(alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros):
    if (pod_reqs[:, :2] < 0).any() or (pod_nonzeros < 0).any():
        return False
    headroom = np.maximum(pod_reqs[:, :2], pod_nonzeros).sum(axis=0)
    a = alloc[:, :2]
    if (a < 0).any() or (a > FLOAT_EXACT_ALLOC_LIMIT).any():
        return False
    for m in (requested[:, :2], nonzero_requested):
        if (m < 0).any() or (m > FLOAT_EXACT_REQUEST_LIMIT - headroom).any():
            return False
    return True


def place_sequence(
    alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros, static_masks, u64 seed, pod_keys,
    int strategy, columns, weights, shape_u, shape_score, balanced_columns, i64 fit_weight, i64
    balanced_weight
):
    """Place pods in order, growing requested / nonzero_requested of each chosen node in place.

    static_masks is bool[S, N] with S == 1 (shared) or S == P (one row per pod).
    """
    _check_columns(columns, balanced_columns)
    cdef Py_ssize_t n_nodes = alloc.shape[0], n_res = alloc.shape[1], n_pods = pod_reqs.shape[0]
    cdef const i64[:] columns_v = columns
    cdef const i64[:] balanced_v = balanced_columns
    cdef bint fast = fast_path_fits_profile(n_res, strategy, columns_v, balanced_v, balanced_weight)
    fast = fast and _fast_sequence_in_bounds(alloc, requested, nonzero_requested, pod_reqs, pod_nonzeros)
    width = n_nodes if fast else 0
    free = np.ascontiguousarray((alloc - requested).T) if fast else np.empty((n_res, 0), dtype=np.int64)
    allocf = np.ascontiguousarray(alloc[:, :2].T, dtype=np.float64) if fast else np.empty((2, 0))
    with np.errstate(divide="ignore"):
        invf = np.where(allocf != 0, 1.0 / allocf, 0.0) if fast else np.empty((2, 0))
    nzf = np.ascontiguousarray(nonzero_requested.T, dtype=np.float64) if fast else np.empty((2, 0))
    reqf = np.ascontiguousarray(requested[:, :2].T, dtype=np.float64) if fast else np.empty((2, 0))
    chosen = np.full(n_pods, -1, dtype=np.int64)
    total = np.empty(n_nodes, dtype=np.int64)
    scratch = np.empty((2, n_nodes), dtype=np.int64)
    gate = np.empty(n_nodes, dtype=np.uint8)

    cdef i64[:, :] alloc_v = alloc
    cdef i64[:, :] requested_v = requested
    cdef i64[:, :] nonzero_v = nonzero_requested
    cdef const i64[:, :] pod_reqs_v = pod_reqs
    cdef const i64[:, :] pod_nonzeros_v = pod_nonzeros
    cdef const uint8_t[:, :] static_v = static_masks.view(np.uint8)
    cdef const u64[:] keys_v = pod_keys
    cdef const i64[:] weights_v = weights
    cdef const i64[:] shape_u_v = shape_u
    cdef const i64[:] shape_score_v = shape_score
    cdef i64[:, ::1] free_v = free
    cdef const double[:, ::1] allocf_v = allocf
    cdef const double[:, ::1] invf_v = invf
    cdef double[:, ::1] nzf_v = nzf
    cdef double[:, ::1] reqf_v = reqf
    cdef i64[:] chosen_v = chosen
    cdef i64[::1] total_v = total
    cdef i64[:, :] scratch_v = scratch
    cdef uint8_t[::1] gate_v = gate
    cdef i64 table[SHAPE_TABLE_SIZE]
    cdef Py_ssize_t i, r, c, shared = static_masks.shape[0] == 1
    cdef i64 node, bal_w
    cdef bint most = strategy == MOST_ALLOCATED
    cdef double w0 = 1.0, w1 = 1.0
    if fast:
        w0 = <double>(weights_v[0] if columns_v[0] == 0 else weights_v[1])
        w1 = <double>(weights_v[1] if columns_v[0] == 0 else weights_v[0])
    with nogil:
        if strategy != LEAST_ALLOCATED and strategy != MOST_ALLOCATED:
            shape_table_fill(shape_u_v, shape_score_v, table)
        for i in range(n_pods):
            bal_w = 0 if balanced_skipped(pod_reqs_v[i], balanced_v) else balanced_weight
            if fast:
                node = fast_place_one(
                    free_v, allocf_v, invf_v, nzf_v, reqf_v, pod_reqs_v[i], pod_nonzeros_v[i],
                    static_v[0 if shared else i], pod_salt(seed, keys_v[i]),
                    most, w0, w1, <double>fit_weight, <double>bal_w, gate_v, total_v,
                )
            else:
                exact_totals(
                    alloc_v, requested_v, nonzero_v, pod_reqs_v[i], pod_nonzeros_v[i], static_v[0 if shared else i],
                    strategy, columns_v, weights_v, table, balanced_v, fit_weight, bal_w,
                    gate_v, scratch_v[0], scratch_v[1], total_v,
                )
                node = select_encoded(total_v, pod_salt(seed, keys_v[i]))
            chosen_v[i] = node
            if node < 0:
                continue
            for r in range(n_res):
                requested_v[node, r] += pod_reqs_v[i, r]
            for c in range(2):
                nonzero_v[node, c] += pod_nonzeros_v[i, c]
            if fast:
                for r in range(n_res):
                    free_v[r, node] -= pod_reqs_v[i, r]
                for c in range(2):
                    nzf_v[c, node] += <double>pod_nonzeros_v[i, c]
                    reqf_v[c, node] += <double>pod_reqs_v[i, c]
    return chosen
