"""Equivalence-class placement: one segment tree of node totals per pod class, rescoring only
the nodes that changed since the class's last pod.

NOTE: this kernel belongs in native/ (beside place_sequence, whose results it must equal); it
lives here until native/ offers it. It recomputes a node's total with the same integer and
float operations as shoal.native.reference (fit filter, LeastAllocated / MostAllocated /
RequestedToCapacityRatio, BalancedAllocation), and breaks ties with the same hash
(mix64(pod_salt(seed, key) ^ node), smallest wins), so its choices equal the full scan's;
tests/sched/test_equivalence_classes.py checks that on random clusters.

Per pod: O(changed nodes x log N) to bring the class's tree up to date, O(1) to read the best
node at the root. A class whose tree is further behind than `rebuild_after` changes is rebuilt.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64
from shoal.native.layout import (
    CPU,
    FIRST_SCALAR,
    LEAST_ALLOCATED,
    MAX_NODE_SCORE,
    MEMORY,
    MIX_MUL_1,
    MIX_MUL_2,
    MOST_ALLOCATED,
    PODS,
)

NJIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_M1 = np.uint64(MIX_MUL_1)
_M2 = np.uint64(MIX_MUL_2)


@njit(inline="always")
def _mix64(z):
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@njit(inline="always")
def _go_round(x):
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        t += 1.0 if x > 0 else -1.0
    return t


@njit(**NJIT)
def node_total(alloc, requested, nonzero, req, nz, ok, n, strategy, columns, weights, table, bal_columns, fit_w, bal_w):
    """The fused total of one node for one pod (-1 when the node is masked out or too full)."""
    if not ok:
        return np.int64(-1)
    n_res = alloc.shape[1]
    for r in range(n_res):
        p = req[r]
        if p > 0 and p > alloc[n, r] - requested[n, r]:
            return np.int64(-1)
    node_score = np.int64(0)
    weight_sum = np.int64(0)
    for k in range(columns.shape[0]):
        c = columns[k]
        a = alloc[n, c]
        if a == 0 or c == PODS or (c >= FIRST_SCALAR and req[c] == 0):
            continue
        if c == CPU or c == MEMORY:
            r = nonzero[n, c] + nz[c]
        else:
            r = requested[n, c] + req[c]
        if strategy == LEAST_ALLOCATED:
            s = np.int64(0) if r > a else ((a - r) * MAX_NODE_SCORE) // a
        elif strategy == MOST_ALLOCATED:
            s = (min(r, a) * MAX_NODE_SCORE) // a
        else:
            s = table[100 if r > a else (r * 100) // a]
            if s <= 0:
                continue
        node_score += s * weights[k]
        weight_sum += weights[k]
    fit = np.int64(0)
    if weight_sum != 0:
        if strategy == LEAST_ALLOCATED or strategy == MOST_ALLOCATED:
            fit = node_score // weight_sum
        else:
            fit = np.int64(_go_round(np.float64(node_score) / np.float64(weight_sum)))
    total = fit_w * fit
    if bal_w != 0:
        count = 0
        acc = 0.0
        first = 0.0
        second = 0.0
        for k in range(bal_columns.shape[0]):
            c = bal_columns[k]
            a = alloc[n, c]
            if a == 0 or c == PODS or (c >= FIRST_SCALAR and req[c] == 0):
                continue
            f = min(1.0, np.float64(requested[n, c] + req[c]) / np.float64(a))
            if count == 0:
                first = f
            elif count == 1:
                second = f
            acc = acc + f
            count += 1
        std = 0.0
        if count == 2:
            std = abs((first - second) / 2)
        elif count > 2:
            mean = acc / np.float64(count)
            squares = 0.0
            for k in range(bal_columns.shape[0]):
                c = bal_columns[k]
                a = alloc[n, c]
                if a == 0 or c == PODS or (c >= FIRST_SCALAR and req[c] == 0):
                    continue
                d = min(1.0, np.float64(requested[n, c] + req[c]) / np.float64(a)) - mean
                squares = squares + d * d
            std = np.sqrt(squares / np.float64(count))
        total += bal_w * np.int64((1 - std) * 100.0)
    return total


@njit(inline="always")
def _better(totals, hashes, a, b):
    if a < 0:
        return b
    if b < 0:
        return a
    ta = totals[a]
    tb = totals[b]
    if ta != tb:
        return a if ta > tb else b
    return a if hashes[a] < hashes[b] else b


@njit(**NJIT)
def place_classes(
    alloc, requested, nonzero, class_req, class_nz, class_mask, class_salt, class_bal_skip, pod_class,
    strategy, columns, weights, table, bal_columns, fit_w, bal_w, rebuild_after,
):
    """Place pods (pod_class[i] indexes the class arrays) in order; requested / nonzero grow in
    place. Returns the chosen node per pod (-1 if none fits)."""
    n_nodes = alloc.shape[0]
    n_classes = class_req.shape[0]
    n_pods = pod_class.shape[0]
    size = 1
    while size < max(n_nodes, 1):
        size *= 2
    tree = np.full((n_classes, 2 * size), -1, dtype=np.int64)
    totals = np.empty((n_classes, max(n_nodes, 1)), dtype=np.int64)
    hashes = np.empty((n_classes, max(n_nodes, 1)), dtype=np.uint64)
    built = np.zeros(n_classes, dtype=np.bool_)
    synced = np.zeros(n_classes, dtype=np.int64)
    log = np.empty(max(n_pods, 1), dtype=np.int64)
    log_len = 0
    chosen = np.full(n_pods, -1, dtype=np.int64)
    for i in range(n_pods):
        c = pod_class[i]
        req = class_req[c]
        nz = class_nz[c]
        bw = 0 if class_bal_skip[c] else bal_w
        t = totals[c]
        h = hashes[c]
        tr = tree[c]
        if not built[c] or log_len - synced[c] > rebuild_after:
            salt = class_salt[c]
            for n in range(n_nodes):
                t[n] = node_total(alloc, requested, nonzero, req, nz, class_mask[c, n], n, strategy, columns, weights, table, bal_columns, fit_w, bw)
                h[n] = _mix64(salt ^ uint64(n))
            for n in range(size):
                tr[size + n] = n if n < n_nodes else -1
            for j in range(size - 1, 0, -1):
                tr[j] = _better(t, h, tr[2 * j], tr[2 * j + 1])
            built[c] = True
        else:
            for j in range(synced[c], log_len):
                n = log[j]
                t[n] = node_total(alloc, requested, nonzero, req, nz, class_mask[c, n], n, strategy, columns, weights, table, bal_columns, fit_w, bw)
                k = (size + n) >> 1
                while k >= 1:
                    tr[k] = _better(t, h, tr[2 * k], tr[2 * k + 1])
                    k >>= 1
        synced[c] = log_len
        best = tr[1]
        if best < 0 or t[best] < 0:
            continue
        chosen[i] = best
        for r in range(alloc.shape[1]):
            requested[best, r] += req[r]
        nonzero[best, 0] += nz[0]
        nonzero[best, 1] += nz[1]
        log[log_len] = best
        log_len += 1
    return chosen


# ---------------------------------------------------------------------------------------------
# One class's tree kept between calls, for pods whose filters change per pod (anti-affinity,
# spread) but whose scores do not. The tree holds the resource totals over the class's static
# mask (`base`: total ignoring every mask, `eff`: base where the static mask passes, else -1);
# the per-pod dynamic mask is applied when choosing: the best leaves are taken out one by one
# until one passes it (then put back), and after `max_probes` the choice falls back to a scan.


@njit(inline="always")
def _path(eff, hashes, tree, n):
    k = (tree.shape[0] // 2 + n) >> 1
    while k >= 1:
        tree[k] = _better(eff, hashes, tree[2 * k], tree[2 * k + 1])
        k >>= 1


@njit(**NJIT)
def tree_build(alloc, requested, nonzero, req, nz, static, salt, base, eff, hashes, tree, strategy, columns, weights, table, bal_columns, fit_w, bal_w):
    """Fill one class's base totals, leaves, hashes and tree (2 * size slots, size a power of 2)."""
    n_nodes = alloc.shape[0]
    size = tree.shape[0] // 2
    for n in range(n_nodes):
        base[n] = node_total(alloc, requested, nonzero, req, nz, True, n, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
        eff[n] = base[n] if static[n] else -1
        hashes[n] = _mix64(salt ^ uint64(n))
    for n in range(size):
        tree[size + n] = n if n < n_nodes else -1
    for j in range(size - 1, 0, -1):
        tree[j] = _better(eff, hashes, tree[2 * j], tree[2 * j + 1])


@njit(**NJIT)
def tree_select(alloc, requested, nonzero, req, nz, static, mask, dirty, base, eff, hashes, tree, probes, strategy, columns, weights, table, bal_columns, fit_w, bal_w):
    """Rescore the nodes in `dirty` (their requests changed), then return the best node that
    passes `mask` (a subset of `static`), or -1. `probes` is scratch space; its length bounds
    the leaves taken out before scanning instead."""
    for j in range(dirty.shape[0]):
        n = dirty[j]
        base[n] = node_total(alloc, requested, nonzero, req, nz, True, n, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
        eff[n] = base[n] if static[n] else -1
        _path(eff, hashes, tree, n)
    taken = 0
    found = -1
    while True:
        best = tree[1]
        if best < 0 or eff[best] < 0:
            break
        if mask[best]:
            found = best
            break
        if taken == probes.shape[0]:
            found = -2
            break
        probes[taken] = best
        taken += 1
        eff[best] = -1  # taken out until the choice is made
        _path(eff, hashes, tree, best)
    for j in range(taken):
        n = probes[j]
        eff[n] = base[n] if static[n] else -1
        _path(eff, hashes, tree, n)
    if found != -2:
        return found
    best = -1
    for n in range(alloc.shape[0]):
        if not mask[n] or eff[n] < 0:
            continue
        if best < 0 or eff[n] > eff[best] or (eff[n] == eff[best] and hashes[n] < hashes[best]):
            best = n
    return best
