"""NodeAffinity: the pod's nodeSelector and required node affinity (Filter; PreFilter narrows to
the nodes named by matchFields metadata.name), preferred terms as a score (sum of the weights
of matching terms, normalized 100 * raw / max). NodeAffinityArgs.addedAffinity is enforced on
every pod of the profile."""

from __future__ import annotations

import numpy as np
from shoal.native import kernels

from .. import labels as lbl
from ..framework.interface import (
    FILTER,
    PRE_FILTER,
    PRE_SCORE,
    SCORE,
    Cycle,
    FilterVerdict,
    Plugin,
    PluginArgsError,
)
from ..framework.status import Status
from ._args import check_fields

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"


class NodeAffinity(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, added_required=None, added_preferred=()) -> None:
        super().__init__(args, profile)
        self.added_required: tuple[lbl.NodeSelectorTerm, ...] | None = added_required
        self.added_preferred: tuple[lbl.PreferredTerm, ...] = added_preferred

    def pre_filter(self, cycle: Cycle) -> Status:
        cls = cycle.cls
        if cls.required_node_affinity.is_everything and self.added_required is None:
            return Status()
        names = cls.prefilter_node_names
        if names is None:
            return Status()
        if not names:
            return Status.unresolvable(ERR_REASON_CONFLICT, plugin=NAME)
        mask = np.zeros(cycle.n_nodes, dtype=bool)
        for name in names:
            n = cycle.snapshot.node_index.get(name)
            if n is not None:
                mask[n] = True
        cycle.prefilter_mask = mask if cycle.prefilter_mask is None else cycle.prefilter_mask & mask
        cycle.prefilter_plugins.append(NAME)
        return Status()

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        return cycle.cached(f"{NAME}/filter", cycle.snapshot.node_version, lambda: self._verdict(cycle))

    def _verdict(self, cycle: Cycle) -> FilterVerdict | None:
        snapshot = cycle.snapshot
        n = cycle.n_nodes
        enforced = np.zeros(n, dtype=bool)
        if self.added_required is not None:
            any_term = np.zeros(n, dtype=bool)
            for term in self.added_required:
                any_term |= snapshot.match_term(term)
            enforced = ~any_term
        required = cycle.cls.required_node_affinity
        pod_fail = np.zeros(n, dtype=bool) if required.is_everything else ~snapshot.match_required_affinity(required)
        fail = enforced | pod_fail
        if not fail.any():
            return None
        statuses = [Status.unresolvable(ERR_REASON_ENFORCED, plugin=NAME), Status.unresolvable(ERR_REASON_POD, plugin=NAME)]
        return FilterVerdict(fail, statuses, np.where(enforced, 0, 1).astype(np.int32))

    def filter_static(self, cycle: Cycle) -> bool:
        return True

    def raw_scores(self, cycle: Cycle) -> np.ndarray | None:
        terms = self.added_preferred + cycle.cls.preferred_node_terms
        if not terms:
            return None

        def compute() -> np.ndarray:
            raw = np.zeros(cycle.n_nodes, dtype=np.int64)
            for t in terms:
                raw += np.where(cycle.snapshot.match_term(t.term), t.weight, 0)
            return raw

        return cycle.cached(f"{NAME}/raw", cycle.snapshot.node_version, compute)

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        return Status.skip() if self.raw_scores(cycle) is None else Status()

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        raw = self.raw_scores(cycle)
        return np.zeros(cycle.n_nodes, dtype=np.int64) if raw is None else raw

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        return kernels.normalize_scores(scores, feasible, reverse=False)

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        raw = self.raw_scores(cycle)
        if raw is None:
            return True
        raw = raw[mask]
        return raw.size == 0 or bool((raw == raw[0]).all())


def _added_affinity(value) -> tuple[tuple[lbl.NodeSelectorTerm, ...] | None, tuple[lbl.PreferredTerm, ...]]:
    """NodeAffinityArgs.addedAffinity, read through the NodeAffinity message (Kubernetes' JSON)
    by the manifest reader, wrapped in a pod so only public calls are used."""
    from shoal.proto import manifests

    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "args"}, "spec": {"affinity": {"nodeAffinity": value}}}
    try:
        msg = manifests.from_dict(doc).spec.affinity.node_affinity
    except ValueError as exc:
        raise PluginArgsError(f"{NAME} args: addedAffinity: {exc}") from None
    required = None
    if msg.HasField("required_during_scheduling_ignored_during_execution"):
        terms = (lbl.node_selector_term(t) for t in msg.required_during_scheduling_ignored_during_execution.node_selector_terms)
        required = tuple(t for t in terms if t is not None)
    preferred = []
    for pref in msg.preferred_during_scheduling_ignored_during_execution:
        term = lbl.node_selector_term(pref.preference)
        if pref.weight and term is not None:
            preferred.append(lbl.PreferredTerm(int(pref.weight), term))
    return required, tuple(preferred)


def new(args, profile) -> NodeAffinity:
    fields = check_fields(NAME, args, ("addedAffinity",))
    required, preferred = (None, ()) if "addedAffinity" not in fields else _added_affinity(fields["addedAffinity"])
    return NodeAffinity(args, profile, required, preferred)
