# Shared C declarations of the Cython kernels: types, layout constants, the tie-break hash and Go
# arithmetic; the values mirror layout.py (a test checks).
#
# Shared by textual `include`, not `cimport`: setup.py names the extensions shoal.native.<stem>
# while the sources live in native/, so Cython would look for shoal/native/<name>.pxd and miss.
# Every .pyx includes _common.pxi first, then the loop files it needs (_fit/_score/_select.pxi).

from libc.stdint cimport int64_t, uint64_t, int32_t, uint8_t
from libc.math cimport trunc, fabs

ctypedef int64_t i64
ctypedef uint64_t u64

cdef enum:
    CPU = 0
    MEMORY = 1
    PODS = 2
    EPHEMERAL_STORAGE = 3
    FIRST_SCALAR = 4
    FIT_REASON_BASE = 1000
    LEAST_ALLOCATED = 0
    MOST_ALLOCATED = 1
    REQUESTED_TO_CAPACITY_RATIO = 2
    MAX_NODE_SCORE = 100
    MAX_CUSTOM_PRIORITY_SCORE = 10
    MAX_UTILIZATION = 100

# The 64-bit constants are literals (a .pxd cannot initialize variables); layout.py names them:
# GOLDEN_GAMMA, MIX_MUL_1, MIX_MUL_2 and the multipliers' inverses MIX_MUL_1_INV, MIX_MUL_2_INV.

cdef inline u64 mix64(u64 z) noexcept nogil:
    z = (z ^ (z >> 30)) * <u64>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <u64>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline u64 unmix64(u64 z) noexcept nogil:
    z = z ^ (z >> 31) ^ (z >> 62)
    z = z * <u64>0x319642B2D24D8EC3ULL
    z = z ^ (z >> 27) ^ (z >> 54)
    z = z * <u64>0x96DE1B173F119089ULL
    return z ^ (z >> 30) ^ (z >> 60)


cdef inline u64 pod_salt(u64 seed, u64 pod_key) noexcept nogil:
    return mix64(mix64(seed + <u64>0x9E3779B97F4A7C15ULL) ^ pod_key)


cdef inline i64 go_div(i64 a, i64 b) noexcept nogil:
    # cdivision is on for the whole build, so C's truncating division is Go's.
    return a / b


cdef inline double go_round(double x) noexcept nogil:
    cdef double t = trunc(x)
    if fabs(x - t) >= 0.5:
        t += 1.0 if x > 0 else -1.0
    return t


cdef inline i64 least_requested_score(i64 r, i64 a) noexcept nogil:
    if r > a:
        return 0
    return go_div((a - r) * MAX_NODE_SCORE, a)


cdef inline i64 most_requested_score(i64 r, i64 a) noexcept nogil:
    if r > a:
        r = a
    return go_div(r * MAX_NODE_SCORE, a)
