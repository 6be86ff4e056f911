"""Incremental selection for pods whose filters change from pod to pod but whose scores do not
(required anti-affinity, DoNotSchedule spreading, host ports ...).

For such a pod the choice is: the best total of the resource plugins over the nodes its
filters pass. The totals over the class's static filters live in one segment tree per pod
class, kept between pods: before each choice only the nodes whose requested amounts changed
(the snapshot's touch log) are rescored. The per-pod filters' mask (vectorized, in the plugins)
is applied at the choice: the best leaves failing it are set aside until one passes. Same
totals and tie-break hash as the full scan, so the same node.

spread_run: a run of pods of one class whose only per-pod filter is PodTopologySpread, on the
same tree in one kernel call (the filter's verdict per domain, from counts carried along).

NOTE: the tree kernels (_eqclass_kernel.tree_build / tree_select) belong in native/; see there.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from shoal.native import kernels
from shoal.native.reference import broken_linear, pod_salt

from . import _eqclass_kernel
from .framework.interface import Cycle
from .framework.runtime import Framework

MAX_TREES = 128  # classes kept (each holds ~ 5 x 8 bytes per node)


MAX_PROBES = 64  # leaves taken out before a choice falls back to a scan of the nodes


@dataclass
class _Tree:
    versions: tuple
    position: int
    base: np.ndarray
    eff: np.ndarray
    hashes: np.ndarray
    tree: np.ndarray
    static: np.ndarray
    bal_w: int


def kernel_profile(fw: Framework) -> tuple:
    """(strategy, columns, weights, shape table, balanced columns, fit weight, balanced weight)."""
    profile = fw.scoring_profile()
    table = np.zeros(101, dtype=np.int64)
    if len(profile.shape_utilization_array):
        scaled = profile.shape_score_array * 10
        table = broken_linear(np.arange(101, dtype=np.int64), profile.shape_utilization_array, scaled).astype(np.int64)
    return (
        profile.strategy, profile.columns_array, profile.weights_array, table, profile.balanced_columns_array,
        np.int64(profile.fit_weight), np.int64(profile.balanced_weight),
    )


class IncrementalSelector:
    def __init__(self, fw: Framework, seed: int) -> None:
        self.fw = fw
        self.seed = int(seed)
        self.params = kernel_profile(fw)
        self._trees: OrderedDict[int, _Tree] = OrderedDict()
        self._probes = np.empty(MAX_PROBES, dtype=np.int64)

    def _tree(self, cycle: Cycle, static: np.ndarray) -> tuple[_Tree, np.ndarray, int]:
        """The class's tree over `static`, built if missing or outdated; with the nodes changed
        since it was last brought up to date and the touch log's position now."""
        s = self.fw.snapshot
        state = cycle.state
        versions = (s.node_version, s.columns_version, id(s.requested), id(static))
        key = id(cycle.cls)
        tree = self._trees.get(key)
        n = s.n_nodes
        if tree is not None and tree.versions == versions:
            dirty, position = s.touched_since(tree.position)
            if len(dirty) > max(64, n // 8):
                tree = None
        else:
            tree = None
        strategy, columns, weights, table, bal_columns, fit_w, bal_w = self.params
        if tree is None:
            size = 1
            while size < max(n, 1):
                size *= 2
            skip = kernels.balanced_allocation_skipped(state.req, bal_columns)
            width = max(n, 1)
            tree = _Tree(versions, s.touched_count, np.empty(width, dtype=np.int64), np.empty(width, dtype=np.int64),
                         np.empty(width, dtype=np.uint64), np.full(2 * size, -1, dtype=np.int64), static,
                         0 if skip else int(bal_w))
            salt = np.uint64(pod_salt(self.seed, cycle.cls.key))
            _eqclass_kernel.tree_build(s.alloc, s.requested, s.nonzero, state.req, state.nonzero, static, salt,
                                       tree.base, tree.eff, tree.hashes, tree.tree, strategy, columns, weights, table,
                                       bal_columns, fit_w, np.int64(tree.bal_w))
            self._trees[key] = tree
            if len(self._trees) > MAX_TREES:
                self._trees.popitem(last=False)
            dirty = np.zeros(0, dtype=np.int64)
            position = s.touched_count
        else:
            self._trees.move_to_end(key)
        return tree, dirty, position

    def select(self, cycle: Cycle, static: np.ndarray, mask: np.ndarray) -> int:
        """The best node of `mask` (the pod's filters, a subset of `static`, its class's static
        filters), or -1."""
        s = self.fw.snapshot
        state = cycle.state
        tree, dirty, position = self._tree(cycle, static)
        strategy, columns, weights, table, bal_columns, fit_w, _ = self.params
        node = _eqclass_kernel.tree_select(
            s.alloc, s.requested, s.nonzero, state.req, state.nonzero, tree.static, mask, dirty,
            tree.base, tree.eff, tree.hashes, tree.tree, self._probes, strategy, columns, weights, table, bal_columns, fit_w, np.int64(tree.bal_w),
        )
        tree.position = position
        return int(node)

    def spread_run(self, cycle: Cycle, static: np.ndarray, spread: tuple, terminating: np.ndarray) -> tuple[np.ndarray, np.ndarray, _Tree]:
        """Places a run of pods of the class whose only per-pod filter is PodTopologySpread
        (`spread`: PodTopologySpread.run_inputs) on the class's tree, without binding them:
        (the chosen nodes, -1 from the first that fits nowhere on; the per-domain counts after
        them; the tree). The tree is left current for the state after the chosen pods are
        bound: the caller binds them, then calls `synced(tree)`."""
        s = self.fw.snapshot
        state = cycle.state
        tree, dirty, _ = self._tree(cycle, static)
        strategy, columns, weights, table, bal_columns, fit_w, _ = self.params
        node_domain, node_has, count_on, present, params, live = spread
        if len(live) == 1 and len(live[0]) == present.shape[1]:
            counts = live[0].reshape(1, -1).copy()
        else:
            counts = np.zeros(present.shape, dtype=np.int64)
            for c, per_domain in enumerate(live):
                counts[c, :len(per_domain)] = per_domain
        # The snapshot's own requested / nonzero, restored by the kernel before it returns.
        chosen = _eqclass_kernel.spread_run(
            s.alloc, s.requested, s.nonzero, state.req, state.nonzero, tree.static, dirty,
            tree.base, tree.eff, tree.hashes, tree.tree, self._probes, strategy, columns, weights, table, bal_columns, fit_w,
            np.int64(tree.bal_w), node_domain, node_has, count_on, present, counts, params, terminating, True,
        )
        return chosen, counts, tree

    def synced(self, tree: _Tree) -> None:
        """A spread run's pods are bound: the tree is current up to the touch log's end."""
        tree.position = self.fw.snapshot.touched_count
