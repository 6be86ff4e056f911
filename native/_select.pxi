# Selection over feasible nodes with the seeded tie-break, as inline nogil loops.
# Textually included after _common.pxi.


cdef inline i64 select_encoded(const i64[:] total, u64 salt) noexcept nogil:
    """argmax over totals (-1 = infeasible); among equal tops the smallest mix64(salt ^ node).

    mix64 is a bijection, so the winner is recovered from the smallest hash by inverting it.
    """
    cdef Py_ssize_t n, n_nodes = total.shape[0]
    cdef i64 best = -1
    cdef u64 smallest = 0xFFFFFFFFFFFFFFFFULL, h
    for n in range(n_nodes):
        if total[n] > best:
            best = total[n]
    if best < 0:
        return -1
    for n in range(n_nodes):
        h = mix64(salt ^ <u64>n)
        if total[n] == best and h < smallest:
            smallest = h
    return <i64>(unmix64(smallest) ^ salt)


cdef inline i64 select_masked(const i64[:] total, const uint8_t[:] feasible, u64 salt) noexcept nogil:
    cdef Py_ssize_t n
    cdef i64 best = -1
    cdef i64 best_total = 0
    cdef u64 best_hash = 0, h
    for n in range(total.shape[0]):
        if not feasible[n]:
            continue
        if best >= 0 and total[n] < best_total:
            continue
        h = mix64(salt ^ <u64>n)
        if best < 0 or total[n] > best_total or h < best_hash:
            best = n
            best_total = total[n]
            best_hash = h
    return best
