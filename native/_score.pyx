# Cython twins of reference.least_allocated / most_allocated / requested_to_capacity_ratio /
# balanced_allocation (the loops live in _score.pxi).

import numpy as np

include "_common.pxi"
include "_score.pxi"


def check_columns(columns):
    if len(columns) > MAX_COLUMNS:
        raise ValueError(f"columns: at most {MAX_COLUMNS} scored columns")


def resource_fit_scores(
    alloc, requested, nonzero_requested, pod_req, pod_nonzero, int strategy, columns, weights,
    shape_u, shape_score
):
    """NodeResourcesFit's score per node under one strategy."""
    check_columns(columns)
    out = np.empty(alloc.shape[0], dtype=np.int64)
    cdef i64 table[SHAPE_TABLE_SIZE]
    cdef const i64[:, :] alloc_v = alloc
    cdef const i64[:, :] requested_v = requested
    cdef const i64[:, :] nonzero_v = nonzero_requested
    cdef const i64[:] pod_req_v = pod_req
    cdef const i64[:] pod_nonzero_v = pod_nonzero
    cdef const i64[:] columns_v = columns
    cdef const i64[:] weights_v = weights
    cdef const i64[:] shape_u_v = shape_u
    cdef const i64[:] shape_score_v = shape_score
    cdef i64[:] out_v = out
    with nogil:
        if strategy != LEAST_ALLOCATED and strategy != MOST_ALLOCATED:
            shape_table_fill(shape_u_v, shape_score_v, table)
        resource_fit_scores_into(
            alloc_v, requested_v, nonzero_v, pod_req_v, pod_nonzero_v, strategy, columns_v, weights_v, table, out_v
        )
    return out


def balanced_allocation(alloc, requested, pod_req, columns):
    """BalancedAllocation per node."""
    check_columns(columns)
    out = np.empty(alloc.shape[0], dtype=np.int64)
    cdef const i64[:, :] alloc_v = alloc
    cdef const i64[:, :] requested_v = requested
    cdef const i64[:] pod_req_v = pod_req
    cdef const i64[:] columns_v = columns
    cdef i64[:] out_v = out
    with nogil:
        balanced_allocation_into(alloc_v, requested_v, pod_req_v, columns_v, out_v)
    return out
