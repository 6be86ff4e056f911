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


# ---------------------------------------------------------------------------------------------
# A run of pods of one class whose only per-pod filter is PodTopologySpread (DoNotSchedule),
# placed in one call on that class's tree. The filter's per-pod input is the live count of
# matching pods per domain; here the counts are carried along (each placed pod adds one to the
# domain of its node when the snapshot's domain counter would count it), the verdict is taken
# per domain (few) and applied to the tree's best leaves lazily (the same set-aside-and-scan
# selection as tree_select). twin: spread_run_reference (NumPy, full mask + full scan per pod).

SPREAD_MAX_INT32 = 2**31 - 1


@njit(inline="always")
def reserve(n, requested, nonzero, req, nz):
    """The pod's request (and its non-zero request) counted on node n."""
    for r in range(requested.shape[1]):
        requested[n, r] += req[r]
    nonzero[n, 0] += nz[0]
    nonzero[n, 1] += nz[1]


@njit(inline="always")
def unreserve(chosen, n_pods, requested, nonzero, req, nz):
    """Takes back what a run reserved for its placed pods (chosen[i] >= 0, up to the first -1):
    the run was asked only which nodes, not to keep them."""
    for i in range(n_pods):
        n = chosen[i]
        if n < 0:
            break
        for r in range(requested.shape[1]):
            requested[n, r] -= req[r]
        nonzero[n, 0] -= nz[0]
        nonzero[n, 1] -= nz[1]


@njit(inline="always")
def _spread_pass(node_domain, node_has, fail, n):
    for c in range(node_domain.shape[0]):
        if not node_has[c, n] or fail[c, node_domain[c, n]]:
            return False
    return True


@njit(inline="always")
def _rescore(alloc, requested, nonzero, req, nz, static, base, eff, hashes, tree, n, strategy, columns, weights, table, bal_columns, fit_w, bal_w):
    base[n] = node_total(alloc, requested, nonzero, req, nz, True, n, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
    eff[n] = base[n] if static[n] else -1
    _path(eff, hashes, tree, n)


@njit(**NJIT)
def spread_run(
    alloc, requested, nonzero, req, nz, static, dirty, base, eff, hashes, tree, probes,
    strategy, columns, weights, table, bal_columns, fit_w, bal_w,
    node_domain, node_has, count_on, present, counts, params, terminating, restore,
):
    """Place len(terminating) pods of one class in order; stop at the first that fits nowhere.

    requested / nonzero grow by each placement (taken back on return when `restore`: the
    caller then binds the pods), counts[c, d] (matching pods per domain of constraint c) too
    where count_on[c, node] and the pod is counted.
    params[c] = (maxSkew, minDomains, selfMatch, counted). A node passes constraint c when
    node_has[c, n] and counts[c, d] + selfMatch - globalMin <= maxSkew for its domain d, with
    globalMin the smallest count over the present domains (MaxInt32 when there are none, 0
    while fewer than minDomains are present). Returns the chosen nodes (-1 from the first
    failure on); base / eff / tree are current for every node once the chosen pods are added
    to requested / nonzero."""
    n_pods = terminating.shape[0]
    n_cons = node_domain.shape[0]
    n_dom = counts.shape[1]
    chosen = np.full(n_pods, -1, dtype=np.int64)
    fail = np.zeros((n_cons, max(n_dom, 1)), dtype=np.bool_)
    for j in range(dirty.shape[0]):
        _rescore(alloc, requested, nonzero, req, nz, static, base, eff, hashes, tree, dirty[j], strategy, columns, weights, table, bal_columns, fit_w, bal_w)
    last = -1
    for i in range(n_pods):
        if last >= 0:
            _rescore(alloc, requested, nonzero, req, nz, static, base, eff, hashes, tree, last, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
        for c in range(n_cons):
            domains = 0
            low = np.int64(SPREAD_MAX_INT32)
            for d in range(n_dom):
                if present[c, d]:
                    if domains == 0 or counts[c, d] < low:
                        low = counts[c, d]
                    domains += 1
            if domains < params[c, 1]:
                low = 0
            for d in range(n_dom):
                fail[c, d] = counts[c, d] + params[c, 2] - low > params[c, 0]
        # tree_select with the mask evaluated on the leaves it reaches
        taken = 0
        found = -1
        while True:
            best = tree[1]
            if best < 0 or eff[best] < 0:
                break
            if _spread_pass(node_domain, node_has, fail, best):
                found = best
                break
            if taken == probes.shape[0]:
                found = -2
                break
            probes[taken] = best
            taken += 1
            eff[best] = -1
            _path(eff, hashes, tree, best)
        for j in range(taken):
            n = probes[j]
            eff[n] = base[n] if static[n] else -1
            _path(eff, hashes, tree, n)
        if found == -2:
            found = -1
            for n in range(alloc.shape[0]):
                if eff[n] < 0 or not _spread_pass(node_domain, node_has, fail, n):
                    continue
                if found < 0 or eff[n] > eff[found] or (eff[n] == eff[found] and hashes[n] < hashes[found]):
                    found = n
        if found < 0:
            break
        chosen[i] = found
        reserve(found, requested, nonzero, req, nz)
        if not terminating[i]:
            for c in range(n_cons):
                if params[c, 3] != 0 and count_on[c, found]:
                    counts[c, node_domain[c, found]] += 1
        last = found
    if last >= 0:
        _rescore(alloc, requested, nonzero, req, nz, static, base, eff, hashes, tree, last, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
    if restore:
        unreserve(chosen, n_pods, requested, nonzero, req, nz)
    return chosen


def spread_run_reference(alloc, requested, nonzero, req, nz, static, seed, key, profile,
                         node_domain, node_has, count_on, present, counts, params, terminating):
    """NumPy twin of spread_run (the specification): per pod, PodTopologySpread's filter over
    every node from the carried counts, then the full-scan choice (shoal.native.reference).
    requested / nonzero / counts grow in place as in spread_run."""
    from shoal.native import reference

    chosen = np.full(len(terminating), -1, dtype=np.int64)
    for i in range(len(terminating)):
        mask = np.asarray(static, dtype=bool).copy()
        for c in range(node_domain.shape[0]):
            shown = present[c]
            domains = int(shown.sum())
            low = int(counts[c][shown].min()) if domains else SPREAD_MAX_INT32
            if domains < params[c, 1]:
                low = 0
            fail = counts[c] + params[c, 2] - low > params[c, 0]
            mask &= node_has[c] & ~fail[node_domain[c]]
        node = reference.fused_select(alloc, requested, nonzero, req, nz, mask, seed, key, profile)
        if node < 0:
            break
        chosen[i] = node
        requested[node] += req
        nonzero[node] += nz
        if not terminating[i]:
            for c in range(node_domain.shape[0]):
                if params[c, 3] and count_on[c, node]:
                    counts[c, node_domain[c, node]] += 1
    return chosen
