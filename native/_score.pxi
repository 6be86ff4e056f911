# NodeResourcesFit and BalancedAllocation scores as inline nogil loops, shared by _score.pyx and
# _fused.pyx. Exact integer math, as kube-scheduler's Go; see reference.py for the specification.
# Textually included after _common.pxi.

from libc.math cimport sqrt, fabs


cdef enum:
    MAX_COLUMNS = 64  # callers check len(columns) <= MAX_COLUMNS before entering nogil code
    SHAPE_TABLE_SIZE = 101  # utilizations 0..100


cdef inline void scored_columns_fill(const i64[:] pod_req, const i64[:] columns, uint8_t* scored) noexcept nogil:
    """Never pods; a scalar resource only when the pod requests it (resource_allocation.go)."""
    cdef Py_ssize_t k
    cdef i64 c
    for k in range(columns.shape[0]):
        c = columns[k]
        scored[k] = c != PODS and not (c >= FIRST_SCALAR and pod_req[c] == 0)


cdef inline void shape_table_fill(const i64[:] shape_u, const i64[:] shape_score, i64* table) noexcept nogil:
    """helper.BuildBrokenLinearFunction tabulated at utilizations 0..100 (scores scaled x10)."""
    cdef i64 scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
    cdef Py_ssize_t last = shape_u.shape[0] - 1, i
    cdef i64 u, value, s0, s1
    for u in range(SHAPE_TABLE_SIZE):
        value = shape_score[last] * scale
        for i in range(shape_u.shape[0]):
            if u <= shape_u[i]:
                if i == 0:
                    value = shape_score[0] * scale
                else:
                    s0 = shape_score[i - 1] * scale
                    s1 = shape_score[i] * scale
                    value = s0 + go_div((s1 - s0) * (u - shape_u[i - 1]), shape_u[i] - shape_u[i - 1])
                break
        table[u] = value


cdef inline void resource_fit_scores_into(
    const i64[:, :] alloc,
    const i64[:, :] requested,
    const i64[:, :] nonzero_requested,
    const i64[:] pod_req,
    const i64[:] pod_nonzero,
    int strategy,
    const i64[:] columns,
    const i64[:] weights,
    const i64* table,
    i64[:] out,
) noexcept nogil:
    cdef uint8_t scored[MAX_COLUMNS]
    cdef Py_ssize_t n, k
    cdef i64 c, a, r, s, node_score, weight_sum
    cdef bint ratio = strategy != LEAST_ALLOCATED and strategy != MOST_ALLOCATED
    scored_columns_fill(pod_req, columns, scored)
    for n in range(alloc.shape[0]):
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
            out[n] = <i64>go_round(<double>node_score / <double>weight_sum)
        else:
            out[n] = go_div(node_score, weight_sum)


cdef inline double balanced_fraction(i64 r, i64 a) noexcept nogil:
    cdef double f = <double>r / <double>a
    return 1.0 if f > 1.0 else f


cdef inline void balanced_allocation_into(
    const i64[:, :] alloc,
    const i64[:, :] requested,
    const i64[:] pod_req,
    const i64[:] columns,
    i64[:] out,
) noexcept nogil:
    cdef uint8_t scored[MAX_COLUMNS]
    cdef Py_ssize_t n, k
    cdef i64 c, count
    cdef double f, total, first, second, std, mean, squares, d
    scored_columns_fill(pod_req, columns, scored)
    for n in range(alloc.shape[0]):
        count = 0
        total = 0.0
        first = 0.0
        second = 0.0
        for k in range(columns.shape[0]):
            c = columns[k]
            if alloc[n, c] == 0 or not scored[k]:
                continue
            f = balanced_fraction(requested[n, c] + pod_req[c], alloc[n, c])
            if count == 0:
                first = f
            elif count == 1:
                second = f
            total += f
            count += 1
        std = 0.0
        if count == 2:
            std = fabs((first - second) / 2)
        elif count > 2:
            mean = total / <double>count
            squares = 0.0
            for k in range(columns.shape[0]):
                c = columns[k]
                if alloc[n, c] == 0 or not scored[k]:
                    continue
                d = balanced_fraction(requested[n, c] + pod_req[c], alloc[n, c]) - mean
                squares = squares + d * d
            std = sqrt(squares / <double>count)
        out[n] = <i64>((1 - std) * <double>MAX_NODE_SCORE)
