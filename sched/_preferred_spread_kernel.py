"""Numba: a run of pods of one class whose only per-pod-varying score is PodTopologySpread's
ScheduleAnyway spreading, placed in one call. twin: preferred_spread.preferred_run_reference.

A node's spread score depends on the node only through its group: the tuple of its domains,
one per constraint (-1 where it lacks the key). Within a group every node gets the same
normalized spread score, so the best node of the pod is the best, over the groups, of each
group's best resource total (plus the group's weighted spread score), with the same tie-break
hash as the full scan. The nodes are laid out group after group under one segment tree of
resource totals; a group's best node is a range query. Per pod: one node rescored (the one
that took the previous pod), G range queries, the per-group spread arithmetic of
plugins/pod_topology_spread.py (score, then normalize), the choice, the counts moved.

NOTE: like _eqclass_kernel (whose node_total it reuses), this belongs in native/.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._eqclass_kernel import NJIT, _better, _go_round, node_total, reserve, unreserve


@njit(inline="always")
def _up(eff, hashes, tree, p):
    k = (tree.shape[0] // 2 + p) >> 1
    while k >= 1:
        tree[k] = _better(eff, hashes, tree[2 * k], tree[2 * k + 1])
        k >>= 1


@njit(inline="always")
def _range_best(eff, hashes, tree, lo, hi):
    """The best node (highest eff, then smallest hash) at tree positions lo..hi-1, or -1."""
    size = tree.shape[0] // 2
    best = np.int64(-1)
    a = lo + size
    b = hi + size
    while a < b:
        if a & 1:
            best = _better(eff, hashes, best, tree[a])
            a += 1
        if b & 1:
            b -= 1
            best = _better(eff, hashes, best, tree[b])
        a >>= 1
        b >>= 1
    return best


@njit(**NJIT)
def preferred_tree_build(alloc, requested, nonzero, req, nz, static, hashes, perm, eff, tree,
                         strategy, columns, weights, table, bal_columns, fit_w, bal_w):
    """Fill eff (each node's resource total, -1 where static fails or the pod does not fit) and
    the tree (2 * size slots, size a power of 2; leaf p holds node perm[p])."""
    n_nodes = alloc.shape[0]
    size = tree.shape[0] // 2
    for n in range(n_nodes):
        eff[n] = node_total(alloc, requested, nonzero, req, nz, static[n], n, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
    for p in range(size):
        tree[size + p] = perm[p] if p < n_nodes else -1
    for j in range(size - 1, 0, -1):
        tree[j] = _better(eff, hashes, tree[2 * j], tree[2 * j + 1])


@njit(**NJIT)
def preferred_spread_run(
    alloc, requested, nonzero, req, nz, static, hashes, eff, tree, dirty,
    strategy, columns, weights, table, bal_columns, fit_w, bal_w,
    position, group_start, group_domain, node_domain, count_on, counts,
    max_skew, require_all, log_table, spread_weight, terminating, restore,
):
    """Place len(terminating) pods of one class in order; stop at the first that fits nowhere.

    eff / tree (preferred_tree_build) are first brought up to date on the nodes in `dirty`
    (their requests changed since). requested / nonzero grow by each placement (taken back on
    return when `restore`: the caller then binds the pods; eff / tree are left current for the
    state after that). counts[c, d] (matching pods on the included nodes of domain d of
    constraint c) grows by one where count_on[c, node] and the pod is not terminating. Node n
    sits at tree position position[n]; group g at positions group_start[g]..group_start[g+1]-1,
    with domains group_domain[g, c] (-1: lacks the key). log_table[k] = math.log(k + 2).
    Returns the chosen nodes (-1 from the first pod that fits nowhere on)."""
    n_pods = terminating.shape[0]
    n_groups = group_start.shape[0] - 1
    n_cons = group_domain.shape[1]
    for j in range(dirty.shape[0]):
        n = dirty[j]
        eff[n] = node_total(alloc, requested, nonzero, req, nz, static[n], n, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
        _up(eff, hashes, tree, position[n])
    chosen = np.full(n_pods, -1, dtype=np.int64)
    best = np.empty(max(n_groups, 1), dtype=np.int64)
    scored = np.zeros(max(n_groups, 1), dtype=np.bool_)
    raw = np.zeros(max(n_groups, 1), dtype=np.int64)
    seen = np.zeros((n_cons, counts.shape[1] + 1), dtype=np.bool_)
    domains = np.zeros(n_cons, dtype=np.int64)
    ignored = np.zeros(max(n_groups, 1), dtype=np.bool_)
    for g in range(n_groups):
        if require_all:
            for c in range(n_cons):
                if group_domain[g, c] < 0:
                    ignored[g] = True
    for i in range(n_pods):
        any_scored = False
        any_feasible = False
        for g in range(n_groups):
            b = _range_best(eff, hashes, tree, group_start[g], group_start[g + 1])
            if b >= 0 and eff[b] < 0:
                b = -1
            best[g] = b
            scored[g] = b >= 0 and not ignored[g]
            any_feasible = any_feasible or b >= 0
            any_scored = any_scored or scored[g]
        if not any_feasible:
            break
        # PodTopologySpread.score: domains among the scored nodes ("" counts as one when the
        # constraints do not require every key), then raw per group; normalize over the scored.
        low = np.int64(0)
        high = np.int64(0)
        if any_scored:
            seen[:, :] = False
            for g in range(n_groups):
                if scored[g]:
                    for c in range(n_cons):
                        seen[c, group_domain[g, c] + 1] = True
            for c in range(n_cons):
                k = 0
                for d in range(seen.shape[1]):
                    if seen[c, d]:
                        k += 1
                domains[c] = k
            first = True
            for g in range(n_groups):
                if not scored[g]:
                    continue
                total = 0.0
                for c in range(n_cons):
                    d = group_domain[g, c]
                    if d >= 0:
                        total = total + (np.float64(counts[c, d]) * log_table[domains[c]] + np.float64(max_skew[c] - 1))
                r = np.int64(_go_round(total))
                raw[g] = r
                if first or r < low:
                    low = r
                if first or r > high:
                    high = r
                first = False
            high = max(high, 0)
        found = np.int64(-1)
        found_total = np.int64(0)
        for g in range(n_groups):
            b = best[g]
            if b < 0:
                continue
            norm = np.int64(0)
            if scored[g]:
                norm = np.int64(100) if high == 0 else (100 * (high + low - raw[g])) // high
            t = eff[b] + spread_weight * norm
            if found < 0 or t > found_total or (t == found_total and hashes[b] < hashes[found]):
                found = b
                found_total = t
        chosen[i] = found
        reserve(found, requested, nonzero, req, nz)
        if not terminating[i]:
            for c in range(n_cons):
                if count_on[c, found]:
                    counts[c, node_domain[c, found]] += 1
        eff[found] = node_total(alloc, requested, nonzero, req, nz, static[found], found, strategy, columns, weights, table, bal_columns, fit_w, bal_w)
        _up(eff, hashes, tree, position[found])
    if restore:
        unreserve(chosen, n_pods, requested, nonzero, req, nz)
    return chosen
