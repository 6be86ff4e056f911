/* The fused fast path of _fused.pyx's place_sequence in plain C, so the compiler can vectorize it.
 *
 * The package is built for baseline x86-64 (SSE2). With GCC on x86-64 Linux each function is also
 * cloned for x86-64-v3 (AVX2) and x86-64-v4 (AVX-512); the loader picks the best clone for the CPU
 * at import (target_clones / ifunc). _fused.pyx compiles with -ffp-contract=off, so no clone fuses
 * a multiply into an add (every product here is an exact integer anyway, but the guarantee should
 * not rest on that), and with -fno-trapping-math, which changes no value but lets GCC evaluate
 * both sides of a ?: -- the vectorizer needs that on targets without masked vector operations.
 *
 * Same formulas as _numba_fused._fast_node_total; see README.md for why they are exact.
 */
#ifndef SHOAL_FAST_KERNEL_H
#define SHOAL_FAST_KERNEL_H

#include <stdint.h>
#include <string.h>

#ifndef SHOAL_CLONES
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SHOAL_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SHOAL_CLONES
#endif
#endif

/* floor(x) for 0 <= x < 2^51 with adds only (no SSE4.1 round): adding 2^52 rounds to an integer. */
static inline double shoal_floor_small(double x) {
    const double r = (x + 4503599627370496.0) - 4503599627370496.0;
    const double below = r - 1.0;
    return r > x ? below : r;
}

/* Encoded totals over the columnar state, -1.0 where the node is infeasible, stored as the bit
 * patterns of the doubles (int64) so selection can compare them as integers.
 * a*: allocatable, inv*: 1/allocatable (0 where allocatable is 0), z*: non-zero requested,
 * q*: real requested (cpu, memory); pods_free: allocatable - requested of the pods column;
 * gate: the static mask narrowed by any other requested column. */
SHOAL_CLONES
static void shoal_fast_totals(
    int64_t n_nodes,
    const double *restrict a0s, const double *restrict a1s,
    const double *restrict i0s, const double *restrict i1s,
    const double *restrict z0s, const double *restrict z1s,
    const double *restrict q0s, const double *restrict q1s,
    const int64_t *restrict pods_free, const uint8_t *restrict gate,
    double pz0, double pz1, double pq0, double pq1, int64_t p2,
    int most, double w0, double w1, double fit_w, double bal_w,
    int64_t *restrict total_bits)
{
    const double inv_w0 = 1.0 / w0, inv_w1 = 1.0 / w1, inv_w01 = 1.0 / (w0 + w1);
    const int check0 = pq0 > 0.0, check1 = pq1 > 0.0, check2 = p2 > 0;
    /* Straight-line body: every value is computed unconditionally and the ?: only pick among
     * computed values, so GCC can if-convert and vectorize (with -ftrapping-math it will not
     * speculate an arithmetic operation that the source executes conditionally). */
    for (int64_t n = 0; n < n_nodes; n++) {
        const double a0 = a0s[n], a1 = a1s[n];
        const double z0 = z0s[n] + pz0, z1 = z1s[n] + pz1;
        const double q0 = q0s[n], q1 = q1s[n];
        const double free0 = a0 - q0, free1 = a1 - q1;
        const int v0 = a0 != 0.0, v1 = a1 != 0.0;
        const int fits = (gate[n] != 0) & (!check0 | (pq0 <= free0)) & (!check1 | (pq1 <= free1))
                         & (!check2 | (p2 <= pods_free[n]));
        /* Least: (a - z) * 100 / a, 0 when z > a. Most: min(z, a) * 100 / a. */
        const double least0 = a0 - z0, least1 = a1 - z1;
        const double most0 = z0 < a0 ? z0 : a0, most1 = z1 < a1 ? z1 : a1;
        const double m0 = most ? most0 : least0, m1 = most ? most1 : least1;
        const double r0 = shoal_floor_small((m0 * 100.0 + 0.5) * i0s[n]);
        const double r1 = shoal_floor_small((m1 * 100.0 + 0.5) * i1s[n]);
        const double s0 = (most | (z0 <= a0)) ? r0 : 0.0, s1 = (most | (z1 <= a1)) ? r1 : 0.0;
        const double ws0 = s0 * w0, ws1 = s1 * w1;
        const double node_score = (v0 ? ws0 : 0.0) + (v1 ? ws1 : 0.0);
        const double inv_w = (v0 & v1) ? inv_w01 : (v0 ? inv_w0 : inv_w1);
        const double mean = shoal_floor_small((node_score + 0.5) * inv_w);
        const double fit = (v0 | v1) ? mean : 0.0;
        /* Balanced: fractions are true divisions, as in Go (divisors made safe where 0). */
        const double d0 = v0 ? a0 : 1.0, d1 = v1 ? a1 : 1.0;
        const double g0 = (q0 + pq0) / d0, g1 = (q1 + pq1) / d1;
        const double f0 = g0 > 1.0 ? 1.0 : g0, f1 = g1 > 1.0 ? 1.0 : g1;
        const double d = (f0 - f1) / 2, nd = -d;
        const double spread = d < 0.0 ? nd : d;
        const double std = (v0 & v1) ? spread : 0.0;
        const double balanced = shoal_floor_small((1 - std) * 100.0);
        const double fw = fit * fit_w, bw = balanced * bal_w;
        const double sum = fw + bw;
        const double t = fits ? sum : -1.0;
        int64_t bits;
        memcpy(&bits, &t, sizeof bits);
        total_bits[n] = bits;
    }
}

static inline uint64_t shoal_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t shoal_unmix64(uint64_t z) {
    z = z ^ (z >> 31) ^ (z >> 62);
    z = z * 0x319642B2D24D8EC3ULL;
    z = z ^ (z >> 27) ^ (z >> 54);
    z = z * 0x96DE1B173F119089ULL;
    return z ^ (z >> 30) ^ (z >> 60);
}

/* argmax over encoded totals, smallest mix64(salt ^ node) among equal tops; -1 if none feasible.
 * Totals are compared through their bit patterns as int64: for the non-negative totals and the
 * -1.0 marker that order is the numeric one, and integer max/min vectorize without fast-math. */
SHOAL_CLONES
static int64_t shoal_select_totals(int64_t n_nodes, const int64_t *restrict bits, uint64_t salt)
{
    int64_t best = INT64_MIN;
    for (int64_t n = 0; n < n_nodes; n++) {
        const int64_t b = bits[n];
        best = b > best ? b : best;
    }
    if (best < 0)  /* the bits of -1.0, or no node at all */
        return -1;
    uint64_t smallest = UINT64_MAX;
    for (uint64_t n = 0; n < (uint64_t)n_nodes; n++) {
        /* Nodes below the top get an all-ones key (the OR form is the one GCC vectorizes). */
        const uint64_t key = shoal_mix64(salt ^ n) | ((uint64_t)0 - (uint64_t)(bits[n] != best));
        smallest = key < smallest ? key : smallest;
    }
    return (int64_t)(shoal_unmix64(smallest) ^ salt);
}

#endif /* SHOAL_FAST_KERNEL_H */
