"""Exactly full bins: when the items' total in some dimension is exactly K bins' capacity.

Then a packing into K bins (K = the volume bound) must fill every bin exactly in those "tight"
dimensions. Such bins are rare among all subsets of items, so they can be listed: a depth-first
search adds items in index order (the smallest index anchors the bin, so each bin is listed once)
and looks the last item up in a hash of the items' sizes instead of scanning for it. A set
partition over the listed bins (CP-SAT, ExactlyOne per item) then finds the packing, or, if the
listing was complete, proves that K bins cannot do (so the optimum is at least K + 1).

This is what planted instances (bins cut into items, the Triplet instances among them) need:
no assignment model finds such needles in time, whereas the list is short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit
from ortools.sat.python import cp_model

_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93,
                         0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3,
                         0x1D8E4E27C47D124F, 0xC2B2AE3D27D4EB4F], dtype=np.uint64).view(np.int64)


@dataclass
class PatternList:
    patterns: list[tuple[int, ...]]
    complete: bool  # every exactly-full bin is listed
    nodes: int


def tight_dims(capacity: np.ndarray, items: np.ndarray, bins: int) -> np.ndarray:
    return items.sum(axis=0) == bins * capacity


def _hash_keys(vectors: np.ndarray, tight: np.ndarray) -> np.ndarray:
    d = vectors.shape[1]
    mult = np.resize(_MULTIPLIERS, d) * tight.astype(np.int64)
    with np.errstate(over="ignore"):
        return (vectors * mult).sum(axis=1)


@njit(cache=True)
def _enumerate(items, cap, tight, slack, low, mult, keys_sorted, key_items, pair_keys, pair_first, pair_second,
               anchors, alive, ordered, max_nodes, max_patterns, max_total):
    """Bins exactly full in the tight dimensions holding an anchor and alive items: with
    ordered=True, items after the anchor only (each bin once, under its first item); otherwise
    any alive item. The last one item, and the last two (from the table of pairs, sorted by
    the hash of their sum), are looked up rather than searched. Returns (items of every bin,
    flat; bin lengths; complete; nodes)."""
    n_pairs = len(pair_keys)
    n, d = items.shape
    nonnegative = True
    for r in range(d):
        if slack[r] > 0:
            nonnegative = False
    # smallest[j, r, q] / largest[j, r, q]: the sum of the q smallest / largest sizes in dimension
    # r among the alive items j..n-1 (q up to `depth_cap`), for the count bounds below
    depth_cap = min(n, 64)
    smallest = np.zeros((n + 1, d, depth_cap + 1), np.int64)
    largest = np.zeros((n + 1, d, depth_cap + 1), np.int64)
    count = np.zeros(n + 1, np.int64)
    if nonnegative:
        for j in range(n - 1, -1, -1):
            count[j] = count[j + 1] + (1 if alive[j] else 0)
        for r in range(d):
            if not tight[r]:
                continue
            for j in range(n - 1, -1, -1):
                if not alive[j]:
                    smallest[j, r, :] = smallest[j + 1, r, :]
                    largest[j, r, :] = largest[j + 1, r, :]
                    continue
                sizes = np.empty(count[j], np.int64)
                t = 0
                for i in range(j, n):
                    if alive[i]:
                        sizes[t] = items[i, r]
                        t += 1
                sizes.sort()
                acc_s = 0
                acc_l = 0
                for q in range(1, min(count[j], depth_cap) + 1):
                    acc_s += sizes[q - 1]
                    acc_l += sizes[count[j] - q]
                    smallest[j, r, q] = acc_s
                    largest[j, r, q] = acc_l
    out = np.empty(max_total, np.int64)
    lengths = np.empty(max_patterns, np.int64)
    n_pat = 0
    used = 0
    nodes = 0
    complete = True
    stack = np.empty(n + 1, np.int64)
    nxt = np.empty(n + 1, np.int64)
    load = np.zeros((n + 1, d), np.int64)
    need = np.empty(d, np.int64)
    for a in anchors:
        if not complete:
            break
        depth = 0
        stack[0] = a
        for r in range(d):
            load[0, r] = items[a, r]
        # a bin of one item
        exact = True
        for r in range(d):
            if (tight[r] and load[0, r] != cap[r]) or load[0, r] > cap[r]:
                exact = False
        if exact:
            if n_pat >= max_patterns or used + 1 > max_total:
                complete = False
                break
            out[used] = a
            used += 1
            lengths[n_pat] = 1
            n_pat += 1
        visiting = True
        while depth >= 0:
            last = stack[depth] if (depth > 0 or ordered) else -1
            if visiting:
                visiting = False
                nodes += 1
                if nodes > max_nodes:
                    complete = False
                    break
                # the last item by lookup: exact in tight dims, fitting in the others
                h = np.int64(0)
                for r in range(d):
                    need[r] = cap[r] - load[depth, r]
                    h += need[r] * mult[r]
                lo = np.searchsorted(keys_sorted, h)
                k = lo
                while k < n and keys_sorted[k] == h:
                    j = key_items[k]
                    k += 1
                    if j <= last or j == a or not alive[j]:
                        continue
                    ok = True
                    for r in range(d):
                        if tight[r]:
                            if items[j, r] != need[r]:
                                ok = False
                                break
                        elif items[j, r] > need[r]:
                            ok = False
                            break
                    if ok:
                        if n_pat >= max_patterns or used + depth + 2 > max_total:
                            complete = False
                            break
                        for t in range(depth + 1):
                            out[used + t] = stack[t]
                        out[used + depth + 1] = j
                        used += depth + 2
                        lengths[n_pat] = depth + 2
                        n_pat += 1
                if not complete:
                    break
                # the last two items by lookup
                k = np.searchsorted(pair_keys, h)
                while k < n_pairs and pair_keys[k] == h:
                    i = pair_first[k]
                    j = pair_second[k]
                    k += 1
                    if i <= last or i == a or j == a or not alive[i] or not alive[j]:
                        continue
                    ok = True
                    for r in range(d):
                        v = items[i, r] + items[j, r]
                        if tight[r]:
                            if v != need[r]:
                                ok = False
                                break
                        elif v > need[r]:
                            ok = False
                            break
                    if ok:
                        if n_pat >= max_patterns or used + depth + 3 > max_total:
                            complete = False
                            break
                        for t in range(depth + 1):
                            out[used + t] = stack[t]
                        out[used + depth + 1] = i
                        out[used + depth + 2] = j
                        used += depth + 3
                        lengths[n_pat] = depth + 3
                        n_pat += 1
                if not complete:
                    break
                # go deeper only if three or more later items could still fill the need exactly
                deeper = True
                for r in range(d):
                    if tight[r] and need[r] < 3 * low[r]:
                        deeper = False
                if deeper and nonnegative:
                    # q more items must fill the need in every tight dimension: the q smallest
                    # left must not exceed it and the q largest must reach it, for one common q
                    after = last + 1
                    q_hi = min(count[after], depth_cap)
                    q_lo = 3
                    for r in range(d):
                        if not tight[r]:
                            continue
                        while q_hi >= q_lo and smallest[after, r, q_hi] > need[r]:
                            q_hi -= 1
                        while q_lo <= q_hi and largest[after, r, q_lo] < need[r]:
                            q_lo += 1
                        if q_lo > q_hi:
                            break
                    if q_lo > q_hi and q_hi < depth_cap:
                        deeper = False
                nxt[depth] = last + 1 if deeper else n
            j = nxt[depth]
            if j >= n:
                depth -= 1
                continue
            nxt[depth] = j + 1
            if j == a or not alive[j]:
                continue
            fits = True
            for r in range(d):
                v = load[depth, r] + items[j, r]
                if v > cap[r] + slack[r] or (tight[r] and v > cap[r] - low[r] + slack[r]):
                    fits = False
                    break
            if not fits:
                continue
            depth += 1
            stack[depth] = j
            for r in range(d):
                load[depth, r] = load[depth - 1, r] + items[j, r]
            visiting = True
    return out[:used], lengths[:n_pat], complete, nodes


class ExactFill:
    """The items sorted big first, with the lookup table, ready for listings and completions."""

    def __init__(self, capacity: np.ndarray, items: np.ndarray, tight: np.ndarray) -> None:
        items = np.ascontiguousarray(items, dtype=np.int64)
        self.cap = np.ascontiguousarray(capacity, dtype=np.int64)
        n, d = items.shape
        self.n = n
        self.tight = tight.astype(np.bool_)
        self.slack = (-np.minimum(items, 0).sum(axis=0)).astype(np.int64)  # negative sizes could make room
        low = items.min(axis=0) if n else np.zeros(d, np.int64)
        self.low = np.where(self.slack > 0, np.minimum(low, 0), low).astype(np.int64)
        self.mult = np.resize(_MULTIPLIERS, d) * tight.astype(np.int64)
        # big items first: the suffix bounds then tell early that small leftovers cannot fill a need
        self.by_size = np.lexsort((np.arange(n), -(items[:, tight] / self.cap[tight]).sum(axis=1)))
        self.items = np.ascontiguousarray(items[self.by_size])
        keys = _hash_keys(self.items, tight)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order].copy()
        self.key_items = order.astype(np.int64)
        first, second = np.triu_indices(n, k=1)
        sums = self.items[first] + self.items[second]
        fits = np.all(sums <= self.cap + self.slack, axis=1)
        first, second, sums = first[fits], second[fits], sums[fits]
        pair_keys = _hash_keys(sums, tight)
        porder = np.argsort(pair_keys, kind="stable")
        self.pair_keys = pair_keys[porder].copy()
        self.pair_first = first[porder].astype(np.int64)
        self.pair_second = second[porder].astype(np.int64)

    def run(self, anchors: np.ndarray, alive: np.ndarray, ordered: bool, max_nodes: int,
            max_patterns: int) -> tuple[list[tuple[int, ...]], bool, int]:
        """Bins in sorted positions (see _enumerate)."""
        flat, lengths, complete, nodes = _enumerate(self.items, self.cap, self.tight, self.slack, self.low,
                                                    self.mult, self.keys, self.key_items, self.pair_keys,
                                                    self.pair_first, self.pair_second, anchors.astype(np.int64), alive, ordered, max_nodes,
                                                    max_patterns, max_patterns * 8)
        out = []
        pos = 0
        for length in lengths:
            out.append(tuple(int(i) for i in flat[pos : pos + length]))
            pos += length
        return out, bool(complete), int(nodes)

    def original(self, pattern: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(int(self.by_size[i]) for i in pattern))


def exact_patterns(capacity: np.ndarray, items: np.ndarray, tight: np.ndarray, max_nodes: int = 20_000_000,
                   max_patterns: int = 300_000) -> PatternList:
    """Every bin (as sorted item indices) exactly full in the tight dimensions and within
    capacity in the others, unless a limit stops the search (then complete is False)."""
    ef = ExactFill(capacity, items, tight)
    found, complete, nodes = ef.run(np.arange(ef.n), np.ones(ef.n, dtype=np.bool_), True, max_nodes, max_patterns)
    return PatternList([ef.original(p) for p in found], complete, nodes)


def bin_completion(capacity: np.ndarray, items: np.ndarray, tight: np.ndarray, deadline: float,
                   probe_anchors: int = 6, probe_nodes: int = 200_000, per_anchor_nodes: int = 5_000_000,
                   per_anchor_bins: int = 256) -> np.ndarray | None:
    """A packing with every bin exactly full, found bin by bin (None if none was found in time).

    Each step probes the biggest items left and anchors the next bin on the one with the fewest
    exact completions among the items left (an item with none ends the branch at once), then
    tries its completions, those of bigger items first. Limited discrepancy search: round D
    allows D departures in all from that order, so the first rounds follow the heuristic and
    later ones widen the search; dead ends are remembered per round."""
    ef = ExactFill(capacity, items, tight)
    n = ef.n
    weight = ((ef.items / ef.cap) ** 2).sum(axis=1)
    alive = np.ones(n, dtype=np.bool_)
    chosen: list[tuple[int, ...]] = []

    def completions(a: int, nodes: int, limit: int) -> tuple[list[tuple[int, ...]], bool]:
        found, complete, _ = ef.run(np.array([a]), alive, False, nodes, limit)
        return found, complete

    def next_bin() -> tuple[list[tuple[int, ...]], bool]:
        best: tuple[list[tuple[int, ...]], bool] | None = None
        best_a = -1
        for a in np.flatnonzero(alive)[:probe_anchors]:
            found, complete = completions(int(a), probe_nodes, 16)
            if not found and complete:
                return [], True  # this item fits no exactly full bin any more
            if complete and (best is None or not best[1] or len(found) < len(best[0])) or best is None:
                best, best_a = (found, complete), int(a)
            if complete and len(found) == 1:
                break
        assert best is not None
        found, complete = best
        if not complete or len(found) >= 16:
            found, complete = completions(best_a, per_anchor_nodes, per_anchor_bins)
        found.sort(key=lambda p: -float(weight[list(p)].sum()))
        return found, complete

    def search(budget: int, dead: dict[bytes, int]) -> bool:
        if not alive.any():
            return True
        if time.perf_counter() > deadline:
            raise TimeoutError
        key = np.packbits(alive).tobytes()
        if dead.get(key, -1) >= budget:
            return False
        found, _ = next_bin()
        for rank, p in enumerate(found[: budget + 1]):
            alive[list(p)] = False
            chosen.append(p)
            if search(budget - rank, dead):
                return True
            chosen.pop()
            alive[list(p)] = True
        dead[key] = budget
        return False

    try:
        for budget in range(n + 1):
            if search(budget, {}):
                break
        else:
            return None
    except (TimeoutError, RecursionError):
        return None
    out = np.full(n, -1, dtype=np.int64)
    for b, p in enumerate(chosen):
        out[list(ef.original(p))] = b
    return out


def set_partition(n_items: int, patterns: list[tuple[int, ...]], bins: int, deadline: float,
                  workers: int = 8) -> tuple[np.ndarray | None, bool]:
    """Exactly `bins` of the patterns covering every item once: (bin per item or None,
    proven infeasible)."""
    cover: list[list[int]] = [[] for _ in range(n_items)]
    for k, p in enumerate(patterns):
        for i in p:
            cover[i].append(k)
    if any(not c for c in cover):
        return None, True
    model = cp_model.CpModel()
    y = [model.new_bool_var(f"y{k}") for k in range(len(patterns))]
    for c in cover:
        model.add_exactly_one([y[k] for k in c])
    model.add(sum(y) == bins)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(deadline - time.perf_counter(), 0.01)
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return None, True
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    out = np.full(n_items, -1, dtype=np.int64)
    b = 0
    for k, p in enumerate(patterns):
        if solver.boolean_value(y[k]):
            out[list(p)] = b
            b += 1
    return out, False
