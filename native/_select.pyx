# Cython twins of reference.normalize_scores / weighted_sum / select_node / tie_break_hash.

import numpy as np

include "_common.pxi"
include "_select.pxi"


def tie_break_hash(u64 seed, u64 pod_key, nodes):
    cdef const i64[:] nodes_v = nodes
    out = np.empty(nodes_v.shape[0], dtype=np.uint64)
    cdef u64[:] out_v = out
    cdef u64 salt = pod_salt(seed, pod_key)
    cdef Py_ssize_t i
    with nogil:
        for i in range(nodes_v.shape[0]):
            out_v[i] = mix64(salt ^ <u64>nodes_v[i])
    return out


def normalize_scores(scores, feasible, bint reverse):
    """DefaultNormalizeScore over the feasible nodes; infeasible nodes get 0."""
    cdef const i64[:] s = scores
    cdef const uint8_t[:] ok = feasible.view(np.uint8)
    out = np.zeros(s.shape[0], dtype=np.int64)
    cdef i64[:] out_v = out
    cdef i64 top = 0, v
    cdef Py_ssize_t n
    with nogil:
        for n in range(s.shape[0]):
            if ok[n] and s[n] > top:
                top = s[n]
        for n in range(s.shape[0]):
            if not ok[n]:
                continue
            if top == 0:
                out_v[n] = MAX_NODE_SCORE if reverse else s[n]
            else:
                v = go_div(MAX_NODE_SCORE * s[n], top)
                out_v[n] = MAX_NODE_SCORE - v if reverse else v
    return out


def weighted_sum(scores, weights):
    """total[n] = sum_p scores[p, n] * weights[p]."""
    cdef const i64[:, :] s = scores
    cdef const i64[:] w = weights
    out = np.zeros(s.shape[1], dtype=np.int64)
    cdef i64[:] out_v = out
    cdef Py_ssize_t p, n
    with nogil:
        for p in range(s.shape[0]):
            for n in range(s.shape[1]):
                out_v[n] += s[p, n] * w[p]
    return out


def select_node(total, feasible, u64 seed, u64 pod_key):
    """argmax of total over feasible nodes, smallest tie-break hash among equal tops; -1 if none."""
    cdef const i64[:] total_v = total
    cdef const uint8_t[:] ok = feasible.view(np.uint8)
    cdef i64 node
    with nogil:
        node = select_masked(total_v, ok, pod_salt(seed, pod_key))
    return node
