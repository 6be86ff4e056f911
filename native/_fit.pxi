# NodeResourcesFit's Filter as inline nogil loops, shared by _fit.pyx and _fused.pyx.
# Textually included after _common.pxi (see _common.pxi for why include, not cimport).


cdef inline void fit_filter_into(
    const i64[:, :] alloc,
    const i64[:, :] requested,
    const i64[:] pod_req,
    const uint8_t[:] static_mask,
    const int32_t[:] static_reason,
    uint8_t[:] feasible,
    i64[:] insufficient,
    i64[:] unresolvable,
    int32_t[:] reason,
) noexcept nogil:
    cdef Py_ssize_t n_nodes = alloc.shape[0], n_res = alloc.shape[1], n, r
    cdef i64 bits, unres, p
    cdef int first
    for n in range(n_nodes):
        bits = 0
        unres = 0
        first = -1
        for r in range(n_res):
            p = pod_req[r]
            if p > 0 and p > alloc[n, r] - requested[n, r]:
                bits |= (<i64>1) << r
                if r != PODS:
                    if p > alloc[n, r]:
                        unres |= (<i64>1) << r
                    if first < 0:
                        first = <int>r
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
        feasible[n] = static_mask[n] != 0 and bits == 0


cdef inline void fit_mask_into(
    const i64[:, :] alloc,
    const i64[:, :] requested,
    const i64[:] pod_req,
    const uint8_t[:] static_mask,
    uint8_t[:] feasible,
) noexcept nogil:
    """Only the verdict, for the fused kernels."""
    cdef Py_ssize_t n_nodes = alloc.shape[0], n_res = alloc.shape[1], n, r
    cdef i64 p
    cdef uint8_t ok
    for n in range(n_nodes):
        ok = static_mask[n] != 0
        for r in range(n_res):
            p = pod_req[r]
            if p > 0 and p > alloc[n, r] - requested[n, r]:
                ok = 0
        feasible[n] = ok
