"""What a plugin is: extension points as methods, vectorized over every node of the snapshot.

A plugin implements the points it names in POINTS (kube-scheduler's names: preFilter, filter,
preScore, score, postFilter, queueSort, ...). Its Filter answers for all nodes at once with a
FilterVerdict (a bool mask of the nodes it rejects and their Status), its Score with int64[N]
raw scores, its NormalizeScore with int64[N] in 0..100.

Two questions let the runtime share work between pods of one equivalence class:

    filter_static(cycle)          the verdict depends on the nodes only, not on bound pods,
                                  so it is cached per class until a node changes
    score_constant(cycle, mask)   every node of `mask` gets the same normalized score, so the
                                  plugin cannot change the choice and need not be computed

Both default to False (always correct, never fast).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..indices import ClassState
from ..podinfo import PodClass, PodInfo
from ..snapshot import ClusterSnapshot
from .status import Code, Status

PRE_ENQUEUE = "preEnqueue"
QUEUE_SORT = "queueSort"
PRE_FILTER = "preFilter"
FILTER = "filter"
POST_FILTER = "postFilter"
PRE_SCORE = "preScore"
SCORE = "score"
RESERVE = "reserve"
PERMIT = "permit"
PRE_BIND = "preBind"
BIND = "bind"
POST_BIND = "postBind"
EXTENSION_POINTS = (
    PRE_ENQUEUE, QUEUE_SORT, PRE_FILTER, FILTER, POST_FILTER, PRE_SCORE, SCORE, RESERVE, PERMIT, PRE_BIND, BIND,
    POST_BIND,
)


class PluginArgsError(ValueError):
    """Invalid plugin arguments; the message names the field."""


@dataclass
class Cycle:
    """One pod's scheduling cycle: the pod, its class's cached data and per-cycle plugin state."""

    snapshot: ClusterSnapshot
    pod: PodInfo
    state: ClassState
    data: dict[str, Any] = field(default_factory=dict)
    # Set by PreFilter plugins that narrow the nodes (NodeAffinity's metadata.name terms).
    prefilter_mask: np.ndarray | None = None
    prefilter_plugins: list[str] = field(default_factory=list)

    @property
    def cls(self) -> PodClass:
        return self.pod.cls

    @property
    def n_nodes(self) -> int:
        return self.snapshot.n_nodes

    def cached(self, name: str, version: Any, compute) -> Any:
        """A per-class value, recomputed when `version` changes."""
        return self.snapshot.cached(self.state, name, version, compute)


@dataclass
class FilterVerdict:
    """A filter's answer over all nodes. Failing node n has status statuses[reason[n]]
    (statuses[0] when there is no reason array). `reason_fn`, when given, computes the reason
    array on first use: the hot path needs only `fail`."""

    fail: np.ndarray
    statuses: list[Status]
    reason: np.ndarray | None = None
    reason_fn: Callable[[], np.ndarray] | None = None

    def reasons(self) -> np.ndarray | None:
        if self.reason is None and self.reason_fn is not None:
            self.reason = self.reason_fn()
        return self.reason

    def status_of(self, n: int) -> Status:
        reason = self.reasons()
        return self.statuses[0 if reason is None else int(reason[n])]

    @staticmethod
    def uniform(fail: np.ndarray, status: Status) -> FilterVerdict:
        return FilterVerdict(fail, [status])


class Plugin:
    """Base class: every point answers "nothing to do"."""

    NAME: ClassVar[str] = ""
    POINTS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, args: dict | None = None, profile: Any = None) -> None:
        self.profile = profile

    # Filter ----------------------------------------------------------------------------------

    def pre_filter(self, cycle: Cycle) -> Status:
        return Status()

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        """The verdict over all nodes, or None when it passes every node."""
        return None

    def filter_node(self, cycle: Cycle, n: int) -> Status | None:
        """The verdict on node n alone (None: passes). Preemption's dry runs ask this hundreds
        of times per pod with the snapshot changed in between; a plugin whose verdict on one
        node is cheap overrides it. It must equal filter()'s status for n."""
        verdict = self.filter(cycle)
        if verdict is None or not verdict.fail[n]:
            return None
        return verdict.status_of(n)

    def filter_static(self, cycle: Cycle) -> bool:
        return False

    # Score -----------------------------------------------------------------------------------

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        return Status()

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        return np.zeros(cycle.n_nodes, dtype=np.int64)

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        return scores

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        return False


def rejected(status: Status) -> bool:
    return status.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
