"""The snapshot's indices over pods and labels: the pieces ClusterSnapshot keeps up to date.

    LabelColumn     one label key over all nodes, values interned (= topology domains)
    SpreadMatcher   the pods PodTopologySpread counts (namespace, selector, not terminating)
    TermsMatcher    the pods matching every one of some inter-pod affinity terms
    HolderKey       an inter-pod term carried by bound pods (for existing pods' rules)
    PodTable        bound pods as columns
    ClassState      per pod class: request vectors, label set, cached plugin data
    PodCounter / DomainCounter   per node / per domain counts of pods a matcher accepts
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shoal.native.layout import NONZERO_COLUMNS

from . import labels as lbl
from .podinfo import AffinityTerm, PodClass, PodInfo


@dataclass
class LabelColumn:
    """One label key over all nodes: value ids (-1 where the node lacks the key)."""

    values: list[str]
    ids: dict[str, int]
    node_value: np.ndarray  # intp[N] (intp: NumPy gathers fastest with native indices)
    _numbers: np.ndarray | None = None  # int64 per value id (Gt / Lt)
    _parsable: np.ndarray | None = None  # bool per value id: the value is an integer

    def value_id(self, value: str) -> int:
        vid = self.ids.get(value)
        if vid is None:
            vid = len(self.values)
            self.values.append(value)
            self.ids[value] = vid
            self._numbers = None
        return vid

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """(int64 value per id, parsable per id) for Gt / Lt."""
        if self._numbers is None or len(self._numbers) != len(self.values):
            parsed = [lbl.parse_int64(v) for v in self.values]
            self._parsable = np.array([p is not None for p in parsed], dtype=bool)
            self._numbers = np.array([p if p is not None else 0 for p in parsed], dtype=np.int64)
        assert self._parsable is not None
        return self._numbers, self._parsable


# ---------------------------------------------------------------------------------------------
# Pod matchers: which bound pods a counter counts


@dataclass(frozen=True)
class SpreadMatcher:
    """PodTopologySpread's countPodsMatchSelector: same namespace, not terminating, selector."""

    namespace: str
    selector: lbl.Selector

    skip_terminating = True

    def matches(self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> bool:
        return namespace == self.namespace and self.selector.matches(labels)


@dataclass(frozen=True)
class TermsMatcher:
    """Pods matching every one of some inter-pod affinity terms (terminating pods count)."""

    terms: tuple[AffinityTerm, ...]

    skip_terminating = False

    def matches(self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> bool:
        return all(t.matches(namespace, labels, namespace_labels) for t in self.terms)


REQUIRED_AFFINITY = "required-affinity"
REQUIRED_ANTI_AFFINITY = "required-anti-affinity"
PREFERRED_AFFINITY = "preferred-affinity"
PREFERRED_ANTI_AFFINITY = "preferred-anti-affinity"


@dataclass(frozen=True)
class HolderKey:
    """An inter-pod term some bound pods carry: kind, weight (preferred only) and the term."""

    kind: str
    weight: int
    term: AffinityTerm


def holder_keys(cls: PodClass) -> tuple[HolderKey, ...]:
    keys = [HolderKey(REQUIRED_AFFINITY, 0, t) for t in cls.required_affinity]
    keys += [HolderKey(REQUIRED_ANTI_AFFINITY, 0, t) for t in cls.required_anti_affinity]
    keys += [HolderKey(PREFERRED_AFFINITY, w.weight, w.term) for w in cls.preferred_affinity]
    keys += [HolderKey(PREFERRED_ANTI_AFFINITY, w.weight, w.term) for w in cls.preferred_anti_affinity]
    return tuple(keys)


# ---------------------------------------------------------------------------------------------
# Pods


class PodTable:
    """Bound pods as columns (rows never move; a removed pod leaves a dead row)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.node = np.full(capacity, -1, dtype=np.int32)
        self.cls = np.zeros(capacity, dtype=np.int32)
        self.labelset = np.zeros(capacity, dtype=np.int32)
        self.priority = np.zeros(capacity, dtype=np.int64)
        self.start = np.zeros(capacity, dtype=np.int64)
        self.terminating = np.zeros(capacity, dtype=bool)
        self.alive = np.zeros(capacity, dtype=bool)
        self.infos: list[PodInfo | None] = []
        # node -> its live rows in ascending order (dict keys keep insertion order and new
        # rows are always the largest): pods_on without a pass over every row.
        self._on_node: dict[int, dict[int, None]] = {}

    _COLUMNS = ("node", "cls", "labelset", "priority", "start", "terminating", "alive")

    def _grow(self, need: int) -> None:
        capacity = len(self.node)
        if need <= capacity:
            return
        while capacity < need:
            capacity *= 2
        for name in self._COLUMNS:
            old = getattr(self, name)
            new = np.full(capacity, -1, dtype=old.dtype) if name == "node" else np.zeros(capacity, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(self, infos: list[PodInfo], nodes, cls_ids, labelsets, priorities, starts, terminating) -> np.ndarray:
        k = len(infos)
        self._grow(self.n + k)
        rows = np.arange(self.n, self.n + k)
        sl = slice(self.n, self.n + k)
        self.node[sl] = nodes
        self.cls[sl] = cls_ids
        self.labelset[sl] = labelsets
        self.priority[sl] = priorities
        self.start[sl] = starts
        self.terminating[sl] = terminating
        self.alive[sl] = True
        self.infos.extend(infos)
        for row, node in zip(rows.tolist(), np.broadcast_to(nodes, (k,)).tolist()):
            self._on_node.setdefault(node, {})[row] = None
        self.n += k
        return rows

    def append_one(self, info: PodInfo, node: int, cls_id: int, labelset: int, priority: int, start: int,
                   terminating: bool) -> int:
        if self.n == len(self.node):
            self._grow(self.n + 1)
        row = self.n
        self.node[row] = node
        self.cls[row] = cls_id
        self.labelset[row] = labelset
        self.priority[row] = priority
        self.start[row] = start
        self.terminating[row] = terminating
        self.alive[row] = True
        self.infos.append(info)
        self._on_node.setdefault(node, {})[row] = None
        self.n += 1
        return row

    def kill(self, row: int) -> None:
        """The row's pod left its node; the row stays, dead."""
        node = int(self.node[row])
        rows = self._on_node.get(node)
        if rows is not None:
            rows.pop(row, None)
            if not rows:
                del self._on_node[node]
        self.alive[row] = False
        self.node[row] = -1
        self.infos[row] = None

    def renumber_node(self, old: int, new: int) -> None:
        """Node `old` now lives at index `new` (which has no live rows)."""
        n = self.n
        self.node[:n][self.node[:n] == old] = new
        rows = self._on_node.pop(old, None)
        if rows is not None:
            self._on_node[new] = rows

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])

    def rows_on(self, node: int) -> np.ndarray:
        rows = self._on_node.get(node)
        return np.fromiter(rows, dtype=np.int64, count=len(rows)) if rows else np.zeros(0, dtype=np.int64)


@dataclass
class ClassState:
    """Per-class data the snapshot derives once (request vectors, label set) plus caches that
    plugins fill, keyed by the versions they depend on."""

    cls_id: int
    labelset: int
    columns_version: int = -1
    req: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nonzero: np.ndarray = field(default_factory=lambda: np.zeros(NONZERO_COLUMNS, dtype=np.int64))
    cache: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class DomainCounter:
    """Per topology domain, bound pods a matcher accepts on some eligible nodes."""

    counter: PodCounter
    version: int  # node_version it was built for (stale ones are rebuilt on use)
    eligible: np.ndarray  # bool[N]: eligible and having the key
    domain: np.ndarray  # int32[N] value ids
    per_domain: np.ndarray


class PodCounter:
    """Per-node count of bound pods a matcher accepts."""

    def __init__(self, matcher, n_nodes: int) -> None:
        self.matcher = matcher
        self.counts = np.zeros(n_nodes, dtype=np.int64)
        self.by_labelset: list[bool] = []
        self.memo_array = np.zeros(0, dtype=bool)
