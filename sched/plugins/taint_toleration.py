"""TaintToleration: a node's NoSchedule / NoExecute taints must all be tolerated (Filter, on the
first untolerated taint in the node's order); untolerated PreferNoSchedule taints lower the
score (raw = their count, normalized reversed: 100 - 100 * raw / max)."""

from __future__ import annotations

import numpy as np
from shoal.native import kernels

from ..framework.interface import FILTER, PRE_SCORE, SCORE, Cycle, FilterVerdict, Plugin
from ..framework.status import Status
from ..podinfo import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    Taint,
    Toleration,
    tolerated,
)

NAME = "TaintToleration"


def untolerated_taint_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


def first_untolerated(cycle: Cycle, tolerations: tuple[Toleration, ...], effects: tuple[str, ...]):
    """(fail bool[N], taint id int[N] of the first untolerated taint with one of `effects`,
    taint table). Nodes without such a taint have id -1."""
    table, matrix = cycle.snapshot.taint_matrix()
    n = cycle.n_nodes
    if matrix.shape[1] == 0:
        return np.zeros(n, dtype=bool), np.full(n, -1), table
    ok = np.array([t.effect not in effects or tolerated(tolerations, t) for t in table], dtype=bool)
    valid = matrix >= 0
    bad = valid & ~ok[np.where(valid, matrix, 0)]
    fail = bad.any(axis=1)
    first = matrix[np.arange(n), bad.argmax(axis=1)]
    return fail, np.where(fail, first, -1), table


class TaintToleration(Plugin):
    NAME = NAME
    POINTS = frozenset({FILTER, PRE_SCORE, SCORE})

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        return cycle.cached(f"{NAME}/filter", cycle.snapshot.node_version, lambda: self._verdict(cycle))

    def _verdict(self, cycle: Cycle) -> FilterVerdict | None:
        fail, first, table = first_untolerated(cycle, cycle.cls.tolerations, (NO_SCHEDULE, NO_EXECUTE))
        if not fail.any():
            return None
        ids, reason = np.unique(first[fail], return_inverse=True)
        statuses = [Status.unresolvable(untolerated_taint_reason(table[i]), plugin=NAME) for i in ids]
        full = np.zeros(cycle.n_nodes, dtype=np.int32)
        full[fail] = reason
        return FilterVerdict(fail, statuses, full)

    def filter_static(self, cycle: Cycle) -> bool:
        return True

    def raw_scores(self, cycle: Cycle) -> np.ndarray:
        """Untolerated PreferNoSchedule taints per node (tolerations with an empty or
        PreferNoSchedule effect count)."""

        def compute() -> np.ndarray:
            tolerations = tuple(t for t in cycle.cls.tolerations if t.effect in ("", PREFER_NO_SCHEDULE))
            table, matrix = cycle.snapshot.taint_matrix()
            if matrix.shape[1] == 0:
                return np.zeros(cycle.n_nodes, dtype=np.int64)
            bad_taint = np.array([t.effect == PREFER_NO_SCHEDULE and not tolerated(tolerations, t) for t in table])
            valid = matrix >= 0
            return (valid & bad_taint[np.where(valid, matrix, 0)]).sum(axis=1).astype(np.int64)

        return cycle.cached(f"{NAME}/raw", cycle.snapshot.node_version, compute)

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        return self.raw_scores(cycle)

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        return kernels.normalize_scores(scores, feasible, reverse=True)

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        raw = self.raw_scores(cycle)[mask]
        return raw.size == 0 or bool((raw == raw[0]).all())


def new(args, profile) -> TaintToleration:
    return TaintToleration(args, profile)
