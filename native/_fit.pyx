# Cython twin of reference.fit_filter (the loop lives in _fit.pxi).

import numpy as np

include "_common.pxi"
include "_fit.pxi"


def fit_filter(alloc, requested, pod_req, static_mask, static_reason):
    """(feasible, insufficient, unresolvable, reason), as reference.fit_filter."""
    n_nodes = alloc.shape[0]
    feasible = np.empty(n_nodes, dtype=np.bool_)
    insufficient = np.empty(n_nodes, dtype=np.int64)
    unresolvable = np.empty(n_nodes, dtype=np.int64)
    reason = np.empty(n_nodes, dtype=np.int32)
    cdef const i64[:, :] alloc_v = alloc
    cdef const i64[:, :] requested_v = requested
    cdef const i64[:] pod_req_v = pod_req
    cdef const uint8_t[:] static_v = static_mask.view(np.uint8)
    cdef const int32_t[:] static_reason_v = static_reason
    cdef uint8_t[:] feasible_v = feasible.view(np.uint8)
    cdef i64[:] insufficient_v = insufficient
    cdef i64[:] unresolvable_v = unresolvable
    cdef int32_t[:] reason_v = reason
    with nogil:
        fit_filter_into(
            alloc_v, requested_v, pod_req_v, static_v, static_reason_v,
            feasible_v, insufficient_v, unresolvable_v, reason_v,
        )
    return feasible, insufficient, unresolvable, reason
