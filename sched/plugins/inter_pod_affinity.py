"""InterPodAffinity: required and preferred pod (anti-)affinity, the incoming pod's terms and
the terms of pods already bound.

Filter, in kube-scheduler's order (the first failing check names the node's status):

    affinity        every required affinity term's topology domain holds a pod matching all
                    the terms (or no such pod exists anywhere and the pod matches its own
                    terms); a node missing a term's key fails       -> unresolvable
    anti-affinity   no pod matching a required anti-affinity term in the node's domain
                    (counts are keyed by (key, value) across terms, as kube-scheduler's are)
    existing        no bound pod whose required anti-affinity term matches the incoming pod
                    in the node's domain

Score: per topology domain, + weight for each preferred affinity term of the incoming pod a
bound pod matches, - weight for anti-affinity; + hardPodAffinityWeight for each required
affinity term of a bound pod the incoming pod matches, +/- weight for bound pods' preferred
terms it matches. Normalized int(100 * (s - min) / (max - min)) over feasible nodes.

Counts come from the snapshot's incremental indices: pod counters per term (pods matching it,
per node) and holder terms (bound pods carrying a term, per node), summed over domains.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

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
from ..indices import (
    PREFERRED_AFFINITY,
    PREFERRED_ANTI_AFFINITY,
    REQUIRED_AFFINITY,
    REQUIRED_ANTI_AFFINITY,
    HolderKey,
    TermsMatcher,
)
from ._args import check_fields, int_field

NAME = "InterPodAffinity"
ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH = "node(s) didn't match pod anti-affinity rules"
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1
_STATUSES = [
    Status.unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH, plugin=NAME),
    Status.unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH, plugin=NAME),
    Status.unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH, plugin=NAME),
]


class InterPodAffinity(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, hard_weight: int = DEFAULT_HARD_POD_AFFINITY_WEIGHT,
                 ignore_existing_preferred: bool = False) -> None:
        super().__init__(args, profile)
        self.hard_weight = hard_weight
        self.ignore_existing_preferred = ignore_existing_preferred

    def matching_holders(self, cycle: Cycle) -> dict[str, list[HolderKey]]:
        """Bound pods' terms (by kind) that the incoming pod matches."""

        def compute() -> dict[str, list[HolderKey]]:
            cls = cycle.cls
            ns_labels = cycle.snapshot.namespace_labels(cls.namespace)
            out: dict[str, list[HolderKey]] = defaultdict(list)
            for key in cycle.snapshot.holder_terms():
                if key.term.matches(cls.namespace, cls.label_map, ns_labels):
                    out[key.kind].append(key)
            return dict(out)

        return cycle.cached(f"{NAME}/holders", cycle.snapshot.holders_version, compute)

    # -- filter --------------------------------------------------------------------------------

    def filter_static(self, cycle: Cycle) -> bool:
        cls = cycle.cls
        return not cls.required_affinity and not cls.required_anti_affinity and not self.matching_holders(cycle).get(
            REQUIRED_ANTI_AFFINITY
        )

    def pre_filter(self, cycle: Cycle) -> Status:
        return Status.skip() if self.filter_static(cycle) else Status()

    def _filter_inputs(self, cycle: Cycle):
        """Per class: (incoming anti-affinity counts grouped by topology key, the matching bound
        pods' anti-affinity holder counts by key). The arrays are the snapshot's live counters."""

        def compute():
            snapshot = cycle.snapshot
            own: dict[str, list[np.ndarray]] = defaultdict(list)
            for term in cycle.cls.required_anti_affinity:
                own[term.topology_key].append(snapshot.pod_counts(TermsMatcher((term,))))
            held: dict[str, list[np.ndarray]] = defaultdict(list)
            terms = snapshot.holder_terms()
            for key in self.matching_holders(cycle).get(REQUIRED_ANTI_AFFINITY, ()):
                held[key.term.topology_key].append(terms[key])
            return dict(own), dict(held)

        version = (cycle.snapshot.node_version, cycle.snapshot.holders_version)
        return cycle.cached(f"{NAME}/filter-inputs", version, compute)

    def _any_in_domain(self, cycle: Cycle, groups: dict[str, list[np.ndarray]]) -> np.ndarray | None:
        fail = None
        for key, arrays in groups.items():
            counts = arrays[0] if len(arrays) == 1 else sum(arrays)
            hit = cycle.snapshot.domain_any(key, counts)
            fail = hit if fail is None else fail | hit
        return fail

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        own, held = self._filter_inputs(cycle)
        affinity = self._affinity_fails(cycle) if cycle.cls.required_affinity else None
        anti = self._any_in_domain(cycle, own)
        existing = self._any_in_domain(cycle, held)
        parts = [p for p in (affinity, anti, existing) if p is not None]
        if not parts:
            return None
        failing = parts[0]
        for part in parts[1:]:
            failing = failing | part

        def reason() -> np.ndarray:
            out = np.full(cycle.n_nodes, 2, dtype=np.int32)
            if anti is not None:
                out[anti] = 1
            if affinity is not None:
                out[affinity] = 0
            return out

        return FilterVerdict(failing, _STATUSES, reason_fn=reason)

    def _affinity_fails(self, cycle: Cycle) -> np.ndarray:
        cls = cycle.cls
        snapshot = cycle.snapshot
        terms = cls.required_affinity
        counts = snapshot.pod_counts(TermsMatcher(terms))
        missing = ~snapshot.has_all_keys(t.topology_key for t in terms)
        pods_exist = np.ones(cycle.n_nodes, dtype=bool)
        anywhere = False
        for key in {t.topology_key for t in terms}:
            has = snapshot.label_column(key).node_value >= 0
            per_node = snapshot.domain_sum(key, counts)
            pods_exist &= per_node > 0
            anywhere |= bool(counts[has].any())
        if not anywhere:
            ns_labels = snapshot.namespace_labels(cls.namespace)
            if all(t.matches(cls.namespace, cls.label_map, ns_labels) for t in terms):
                return missing
        return missing | ~pods_exist

    # -- score ---------------------------------------------------------------------------------

    def _contributions(self, cycle: Cycle) -> list[tuple[str, int, np.ndarray]]:
        """(topology key, signed weight, per-node counts) of every term that scores."""
        cls = cycle.cls
        snapshot = cycle.snapshot
        own = cls.preferred_affinity or cls.preferred_anti_affinity
        if self.ignore_existing_preferred and not own:
            return []
        out = []
        for w in cls.preferred_affinity:
            out.append((w.term.topology_key, w.weight, snapshot.pod_counts(TermsMatcher((w.term,)))))
        for w in cls.preferred_anti_affinity:
            out.append((w.term.topology_key, -w.weight, snapshot.pod_counts(TermsMatcher((w.term,)))))
        holders = self.matching_holders(cycle)
        terms = snapshot.holder_terms()
        if self.hard_weight > 0:
            for key in holders.get(REQUIRED_AFFINITY, ()):
                out.append((key.term.topology_key, self.hard_weight, terms[key]))
        for key in holders.get(PREFERRED_AFFINITY, ()):
            out.append((key.term.topology_key, key.weight, terms[key]))
        for key in holders.get(PREFERRED_ANTI_AFFINITY, ()):
            out.append((key.term.topology_key, -key.weight, terms[key]))
        return out

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        return not self._contributions(cycle)

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        return Status() if self._contributions(cycle) else Status.skip()

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        snapshot = cycle.snapshot
        raw = np.zeros(cycle.n_nodes, dtype=np.int64)
        for key, weight, counts in self._contributions(cycle):
            if counts.any():
                raw += weight * snapshot.domain_sum(key, counts)
        return raw

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        if not feasible.any():
            return np.zeros_like(scores)
        low = int(scores[feasible].min())
        high = int(scores[feasible].max())
        if high == low:
            return np.zeros_like(scores)
        out = (100.0 * ((scores - low).astype(np.float64) / float(high - low))).astype(np.int64)
        return np.where(feasible, out, 0)


def new(args, profile) -> InterPodAffinity:
    fields = check_fields(NAME, args, ("hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"))
    weight = int_field(NAME, "hardPodAffinityWeight", fields.get("hardPodAffinityWeight", DEFAULT_HARD_POD_AFFINITY_WEIGHT), 0, 100)
    ignore = fields.get("ignorePreferredTermsOfExistingPods", False)
    if not isinstance(ignore, bool):
        raise PluginArgsError(f"{NAME} args: ignorePreferredTermsOfExistingPods: expected true or false")
    return InterPodAffinity(args, profile, weight, ignore)
