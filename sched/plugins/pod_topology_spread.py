"""PodTopologySpread: spread matching pods over topology domains.

Filter (whenUnsatisfiable DoNotSchedule), per constraint in order:

    node without the topology key                  -> unresolvable "(missing required label)"
    count[domain(node)] + selfMatch - globalMin > maxSkew  -> unschedulable

where counts come from the nodes that have every constraint's key and pass the inclusion
policies (nodeAffinityPolicy Honor by default, nodeTaintsPolicy Ignore), and globalMin is 0
while fewer than minDomains domains exist.

Score (ScheduleAnyway): raw = round(sum_c count * ln(domains + 2) + maxSkew - 1), normalized
100 * (max + min - raw) / max over the scored nodes (nodes missing a key score 0).

Pods without constraints get the system defaults ({hostname, 3}, {zone, 5}, ScheduleAnyway)
with the selector of the Services and the ReplicaSet selecting them (PodTopologySpreadArgs
defaultingType System), or the configured defaultConstraints (List).
"""

from __future__ import annotations

import math

import numpy as np
from shoal.native.reference import go_round

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
from ..indices import SpreadMatcher
from ..podinfo import (
    DO_NOT_SCHEDULE,
    HONOR,
    NO_EXECUTE,
    NO_SCHEDULE,
    SCHEDULE_ANYWAY,
    PodClass,
    SpreadConstraint,
)
from ._args import check_fields, int_field
from .taint_toleration import first_untolerated

NAME = "PodTopologySpread"
ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
MAX_INT32 = 2**31 - 1
_STATUSES = [
    Status.unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH, plugin=NAME),
    Status.unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH, plugin=NAME),
]
SYSTEM_DEFAULT_CONSTRAINTS = (
    SpreadConstraint(3, LABEL_HOSTNAME, SCHEDULE_ANYWAY, lbl.NOTHING),
    SpreadConstraint(5, LABEL_ZONE, SCHEDULE_ANYWAY, lbl.NOTHING),
)


class PodTopologySpread(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, defaults=SYSTEM_DEFAULT_CONSTRAINTS, system_defaulted: bool = True) -> None:
        super().__init__(args, profile)
        self.defaults: tuple[SpreadConstraint, ...] = defaults
        self.system_defaulted = system_defaulted

    # -- constraints ---------------------------------------------------------------------------

    def constraints(self, cycle: Cycle, action: str) -> tuple[SpreadConstraint, ...]:
        return cycle.cached(f"{NAME}/constraints/{action}", cycle.snapshot.node_version, lambda: self._constraints(cycle, action))

    def _constraints(self, cycle: Cycle, action: str) -> tuple[SpreadConstraint, ...]:
        cls = cycle.cls
        if cls.spread_constraints:
            return tuple(c for c in cls.spread_constraints if c.when_unsatisfiable == action)
        chosen = tuple(c for c in self.defaults if c.when_unsatisfiable == action)
        if not chosen:
            return ()
        selector = default_selector(cycle, cls)
        if selector.empty:
            return ()
        return tuple(
            SpreadConstraint(c.max_skew, c.topology_key, c.when_unsatisfiable, selector, c.min_domains,
                             c.node_affinity_policy, c.node_taints_policy)
            for c in chosen
        )

    def _matching_counts(self, cycle: Cycle, c: SpreadConstraint) -> np.ndarray:
        if c.selector.empty:  # countPodsMatchSelector counts nothing for an empty selector
            return np.zeros(cycle.n_nodes, dtype=np.int64)
        return cycle.snapshot.pod_counts(SpreadMatcher(cycle.cls.namespace, c.selector))

    def _inclusion(self, cycle: Cycle, c: SpreadConstraint) -> np.ndarray:
        """Nodes passing the constraint's nodeAffinityPolicy / nodeTaintsPolicy."""

        def compute() -> np.ndarray:
            ok = np.ones(cycle.n_nodes, dtype=bool)
            if c.node_affinity_policy == HONOR and not cycle.cls.required_node_affinity.is_everything:
                ok &= cycle.snapshot.match_required_affinity(cycle.cls.required_node_affinity)
            if c.node_taints_policy == HONOR:
                ok &= ~first_untolerated(cycle, cycle.cls.tolerations, (NO_SCHEDULE, NO_EXECUTE))[0]
            return ok

        key = f"{NAME}/inclusion/{c.node_affinity_policy}/{c.node_taints_policy}"
        return cycle.cached(key, cycle.snapshot.node_version, compute)

    # -- filter --------------------------------------------------------------------------------

    def pre_filter(self, cycle: Cycle) -> Status:
        return Status() if self.constraints(cycle, DO_NOT_SCHEDULE) else Status.skip()

    def filter_static(self, cycle: Cycle) -> bool:
        return not self.constraints(cycle, DO_NOT_SCHEDULE)

    def _filter_inputs(self, cycle: Cycle):
        """Per class and constraint, what does not change between pods: the nodes' domains, the
        domains of the eligible nodes, self-match, and the snapshot's live per-domain counts."""

        def compute():
            constraints = self.constraints(cycle, DO_NOT_SCHEDULE)
            snapshot = cycle.snapshot
            has_all = snapshot.has_all_keys(c.topology_key for c in constraints)
            out = []
            for c in constraints:
                col = snapshot.label_column(c.topology_key)
                domain = col.node_value
                has = domain >= 0
                eligible = has_all & self._inclusion(cycle, c)
                present = np.bincount(domain[eligible & has], minlength=len(col.values)) > 0
                if c.selector.empty:  # countPodsMatchSelector counts nothing for an empty selector
                    per_domain = np.zeros(len(col.values), dtype=np.int64)
                else:
                    matcher = SpreadMatcher(cycle.cls.namespace, c.selector)
                    per_domain = snapshot.domain_counts(matcher, c.topology_key, eligible)
                self_match = 1 if c.selector.matches(cycle.cls.label_map) else 0
                everywhere = bool(has.all())
                out.append((c, has, everywhere, np.where(has, domain, 0), present, int(present.sum()), self_match, per_domain))
            return out

        return cycle.cached(f"{NAME}/filter-inputs", cycle.snapshot.node_version, compute)

    def run_inputs(self, cycle: Cycle) -> tuple:
        """The filter's inputs stacked per constraint, for placing a run of pods of this class in
        one kernel call (Scheduler's spread runs, _eqclass_kernel.spread_run):

            node_domain int64[C, N]   each node's domain (0 where it lacks the key)
            node_has    bool[C, N]    the node has the key
            count_on    bool[C, N]    a pod bound there is counted (eligible nodes with the key)
            present     bool[C, D]    domains of the eligible nodes
            params      int64[C, 4]   maxSkew, minDomains, selfMatch, counted (a bound pod of
                                      this class is counted: the selector is not empty and
                                      matches it; SpreadMatcher's namespace is the pod's own)
            live        per constraint, the snapshot's live per-domain counts (not copied)
        """

        def compute():
            inputs = self._filter_inputs(cycle)
            snapshot = cycle.snapshot
            has_all = snapshot.has_all_keys(x[0].topology_key for x in inputs)
            n = cycle.n_nodes
            k = len(inputs)
            width = max([1] + [len(x[7]) for x in inputs])
            node_domain = np.zeros((k, n), dtype=np.int64)
            node_has = np.zeros((k, n), dtype=bool)
            count_on = np.zeros((k, n), dtype=bool)
            present = np.zeros((k, width), dtype=bool)
            params = np.zeros((k, 4), dtype=np.int64)
            for i, (c, has, _everywhere, safe_domain, shown, _domains, self_match, per_domain) in enumerate(inputs):
                node_domain[i] = safe_domain
                node_has[i] = has
                count_on[i] = has_all & self._inclusion(cycle, c) & has  # snapshot.domain_counts' `ok`
                present[i, :len(shown)] = shown
                params[i] = (c.max_skew, c.min_domains, self_match, 0 if c.selector.empty else self_match)
            return node_domain, node_has, count_on, present, params, [x[7] for x in inputs]

        return cycle.cached(f"{NAME}/run-inputs", cycle.snapshot.node_version, compute)

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        if not self.constraints(cycle, DO_NOT_SCHEDULE):
            return None
        n = cycle.n_nodes
        missing = None  # nodes whose first failing constraint lacks its key
        skew = None  # nodes whose first failing constraint is skewed
        for c, has, everywhere, safe_domain, present, domains, self_match, per_domain in self._filter_inputs(cycle):
            min_match = int(per_domain[present].min()) if domains else MAX_INT32
            if domains < c.min_domains:
                min_match = 0
            domain_fail = per_domain + self_match - min_match > c.max_skew
            if domain_fail.any():
                fail = domain_fail[safe_domain] if everywhere else has & domain_fail[safe_domain]
            else:
                fail = None
            lacking = None if everywhere else ~has
            if missing is None and skew is None:
                missing, skew = lacking, fail
                continue
            decided = _or(missing, skew)
            if lacking is not None:
                lacking = lacking if decided is None else lacking & ~decided
                missing = _or(missing, lacking)
            if fail is not None:
                fail = fail if decided is None else fail & ~decided
                skew = _or(skew, fail)
        failing = _or(missing, skew)
        if failing is None:
            return None
        lacking_final = missing

        def reason() -> np.ndarray:
            return lacking_final.astype(np.int32) if lacking_final is not None else np.zeros(n, dtype=np.int32)

        return FilterVerdict(failing, _STATUSES, reason_fn=reason)

    # -- score ---------------------------------------------------------------------------------

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        return Status() if self.constraints(cycle, SCHEDULE_ANYWAY) else Status.skip()

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        return not self.constraints(cycle, SCHEDULE_ANYWAY)

    def _require_all(self, cycle: Cycle) -> bool:
        return bool(cycle.cls.spread_constraints) or not self.system_defaulted

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        constraints = self.constraints(cycle, SCHEDULE_ANYWAY)
        snapshot = cycle.snapshot
        n = cycle.n_nodes
        require_all = self._require_all(cycle)
        has_all = snapshot.has_all_keys(c.topology_key for c in constraints)
        ignored = feasible & ~has_all if require_all else np.zeros(n, dtype=bool)
        scored = feasible & ~ignored
        total = np.zeros(n, dtype=np.float64)
        for c in constraints:
            col = snapshot.label_column(c.topology_key)
            domain = col.node_value
            has = domain >= 0
            counts = self._matching_counts(cycle, c)
            if c.topology_key == LABEL_HOSTNAME:
                size = int(scored.sum())
                cnt = counts
            else:
                # Domains of the scored nodes (a node without the key is the domain "").
                size = int(np.count_nonzero(np.bincount(domain[scored] + 1)))  # -1 (no key) is one domain too
                included = (has_all if require_all else np.ones(n, dtype=bool)) & self._inclusion(cycle, c)
                cnt = snapshot.domain_sum(c.topology_key, counts, over=included)
            weight = math.log(size + 2)
            total = np.where(has, total + (cnt.astype(np.float64) * weight + float(c.max_skew - 1)), total)
        raw = go_round(total).astype(np.int64)
        cycle.data[f"{NAME}/ignored"] = ignored
        return np.where(ignored, 0, raw)

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        ignored = cycle.data.get(f"{NAME}/ignored", np.zeros(len(scores), dtype=bool))
        scored = feasible & ~ignored
        if not scored.any():
            return np.zeros_like(scores)
        low = int(scores[scored].min())
        high = max(int(scores[scored].max()), 0)
        if high == 0:
            out = np.full_like(scores, 100)
        else:
            out = 100 * (high + low - scores) // high
        return np.where(scored, out, 0)


def _or(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a | b


def default_selector(cycle: Cycle, cls: PodClass) -> lbl.Selector:
    """helper.DefaultSelector: the selectors of the Services in the pod's namespace that select
    it, merged, plus the requirements of its controlling ReplicaSet's selector."""
    snapshot = cycle.snapshot
    merged: dict[str, str] = {}
    labels = cls.label_map
    for svc in snapshot.services:
        if (svc.metadata.namespace or "default") != cls.namespace:
            continue
        selector = dict(svc.spec.selector)
        if not selector:
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            merged.update(selector)
    selector = lbl.Selector.from_set(merged)
    if cls.owner is not None:
        api_version, kind, name = cls.owner
        if kind == "ReplicaSet" and api_version == "apps/v1":
            for rs in snapshot.replica_sets:
                if rs.metadata.name == name and (rs.metadata.namespace or "default") == cls.namespace:
                    if rs.spec.HasField("selector"):
                        try:
                            other = lbl.label_selector(rs.spec.selector)
                        except lbl.SelectorError:
                            break
                        selector = selector.add(other.requirements)
                    break
    return selector


def _default_constraints(value) -> tuple[SpreadConstraint, ...]:
    if not isinstance(value, list):
        raise PluginArgsError(f"{NAME} args: defaultConstraints: expected a list")
    out = []
    for i, item in enumerate(value):
        where = f"defaultConstraints[{i}]"
        if not isinstance(item, dict):
            raise PluginArgsError(f"{NAME} args: {where}: expected a mapping")
        if "labelSelector" in item:
            raise PluginArgsError(f"{NAME} args: {where}.labelSelector: not supported in default constraints")
        unknown = set(item) - {"maxSkew", "topologyKey", "whenUnsatisfiable"}
        if unknown:
            raise PluginArgsError(f"{NAME} args: {where}: unknown field {min(unknown)!r}")
        skew = int_field(NAME, f"{where}.maxSkew", item.get("maxSkew", 0), 1)
        key = item.get("topologyKey")
        when = item.get("whenUnsatisfiable")
        if not isinstance(key, str) or not key:
            raise PluginArgsError(f"{NAME} args: {where}.topologyKey: required")
        if when not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
            raise PluginArgsError(f"{NAME} args: {where}.whenUnsatisfiable: must be DoNotSchedule or ScheduleAnyway")
        out.append(SpreadConstraint(skew, key, when, lbl.NOTHING))
    return tuple(out)


def new(args, profile) -> PodTopologySpread:
    fields = check_fields(NAME, args, ("defaultConstraints", "defaultingType"))
    defaulting = fields.get("defaultingType", "System")
    if defaulting not in ("System", "List"):
        raise PluginArgsError(f"{NAME} args: defaultingType: must be System or List, not {defaulting!r}")
    if defaulting == "System":
        if fields.get("defaultConstraints"):
            raise PluginArgsError(f"{NAME} args: defaultConstraints: must be empty when defaultingType is System")
        return PodTopologySpread(args, profile, SYSTEM_DEFAULT_CONSTRAINTS, True)
    return PodTopologySpread(args, profile, _default_constraints(fields.get("defaultConstraints", []) or []), False)

