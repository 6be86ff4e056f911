"""explain: for a pod that fits nowhere, what would make it fit, reason by reason.

    {"pod": "ns/name", "message": "0/5 nodes are available: ...",
     "reasons": [
       {"reason": "Insufficient cpu", "nodes": 3, "plugin": "NodeResourcesFit",
        "resource": "cpu", "requested": "2500m", "largest_fitting": "1500m",
        "hint": "a cpu request of at most 1500m fits on 1 node(s) that pass every other check"},
       {"reason": "node(s) had untolerated taint {dedicated: gpu}", "nodes": 2,
        "plugin": "TaintToleration", "toleration": {"key": "dedicated", "operator": "Equal",
        "value": "gpu", "effect": "NoSchedule"}, "opens": 2, "hint": "..."},
       {"reason": "node(s) didn't match Pod's node affinity/selector", ...,
        "unmatched": ["nodeSelector disktype=ssd matches no node"]}],
     "preemption": {"node": "n3", "victims": ["ns/low-1"]} | null}

Every number is computed on the snapshot as it was on the pod's turn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from shoal.native.layout import PODS
from shoal.proto.quantity import format_quantity

from . import labels as lbl
from .framework.interface import Cycle, FilterVerdict
from .framework.runtime import Framework, ScheduleResult
from .indices import SpreadMatcher
from .plugins import (
    inter_pod_affinity,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    taint_toleration,
)
from .podinfo import DO_NOT_SCHEDULE, NO_EXECUTE, NO_SCHEDULE, PodInfo


def amount_text(resource: str, amount: int) -> str:
    if resource == "cpu":
        return f"{amount}m"
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        return format_quantity(amount, "BinarySI")
    return str(amount)


def explain_cycle(fw: Framework, pod: PodInfo, result: ScheduleResult | None = None) -> dict[str, Any]:
    """explain() data for `pod` against the snapshot as it is now (see the module docstring)."""
    if result is None:
        result = fw.schedule(pod)
    out: dict[str, Any] = {"pod": pod.key, "message": result.message, "reasons": [], "preemption": None}
    if result.node >= 0:
        out["node"] = fw.snapshot.nodes[result.node].name
        return out
    if result.nominated_node:
        out["preemption"] = {"node": result.nominated_node, "victims": [v.key for v in result.victims]}
    if result.diagnosis is None or result.error:
        return out
    cycle = fw.cycle(pod)
    fw.run_pre_filter(cycle)
    n = cycle.n_nodes
    inside = cycle.prefilter_mask if cycle.prefilter_mask is not None else np.ones(n, dtype=bool)
    verdicts: dict[str, FilterVerdict | None] = {p.NAME: p.filter(cycle) for p in fw.filters}
    fails = {name: (v.fail if v is not None else np.zeros(n, dtype=bool)) for name, v in verdicts.items()}

    def others_pass(*excluded: str) -> np.ndarray:
        ok = inside.copy()
        for name, fail in fails.items():
            if name not in excluded:
                ok &= ~fail
        return ok

    counts = result.diagnosis.reason_counts()
    for reason, count in sorted(counts.items()):
        entry: dict[str, Any] = {"reason": reason, "nodes": count}
        plugin = _plugin_of(reason)
        if plugin:
            entry["plugin"] = plugin
        if plugin == node_resources_fit.NAME:
            entry.update(_resource_hint(cycle, reason, others_pass(node_resources_fit.NAME)))
        elif plugin == taint_toleration.NAME:
            entry.update(_taint_hint(cycle, reason, others_pass(taint_toleration.NAME)))
        elif plugin == node_affinity.NAME:
            entry.update(_affinity_hint(cycle))
        elif plugin == node_name.NAME:
            wanted = cycle.cls.node_name
            exists = wanted in cycle.snapshot.node_index
            entry["hint"] = f"spec.nodeName is {wanted!r}" + ("" if exists else ", which is not a node of the cluster")
        elif plugin == node_unschedulable.NAME:
            entry["hint"] = "cordoned nodes admit only pods tolerating node.kubernetes.io/unschedulable:NoSchedule"
        elif plugin == node_ports.NAME:
            entry["hint"] = "host ports in use: " + ", ".join(f"{p.protocol}/{p.port}" for p in cycle.cls.host_ports)
        elif plugin == pod_topology_spread.NAME:
            entry.update(_spread_hint(fw, cycle))
        elif plugin == inter_pod_affinity.NAME:
            entry["hint"] = _inter_pod_hint(reason)
        out["reasons"].append(entry)
    return out


_PREFIXES = (
    ("Insufficient ", node_resources_fit.NAME),
    (node_resources_fit.REASON_TOO_MANY_PODS, node_resources_fit.NAME),
    ("node(s) had untolerated taint", taint_toleration.NAME),
    (node_affinity.ERR_REASON_POD, node_affinity.NAME),
    (node_affinity.ERR_REASON_ENFORCED, node_affinity.NAME),
    (node_name.ERR_REASON, node_name.NAME),
    (node_unschedulable.ERR_REASON_UNSCHEDULABLE, node_unschedulable.NAME),
    (node_ports.ERR_REASON, node_ports.NAME),
    (pod_topology_spread.ERR_REASON_CONSTRAINTS_NOT_MATCH, pod_topology_spread.NAME),
    (inter_pod_affinity.ERR_REASON_AFFINITY_RULES_NOT_MATCH, inter_pod_affinity.NAME),
    (inter_pod_affinity.ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH, inter_pod_affinity.NAME),
    (inter_pod_affinity.ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH, inter_pod_affinity.NAME),
)


def _plugin_of(reason: str) -> str:
    for prefix, plugin in _PREFIXES:
        if reason.startswith(prefix):
            return plugin
    return ""


def _resource_hint(cycle: Cycle, reason: str, other_ok: np.ndarray) -> dict[str, Any]:
    s = cycle.snapshot
    req = cycle.state.req
    if reason == node_resources_fit.REASON_TOO_MANY_PODS:
        room = int(((s.alloc[:, PODS] - s.requested[:, PODS]) > 0)[other_ok].sum())
        return {"resource": "pods", "hint": f"{room} node(s) passing every other check have room for another pod"}
    name = reason[len("Insufficient "):]
    col = s.columns.index.get(name)
    if col is None:
        return {"resource": name}
    free = s.alloc - s.requested
    rest_fit = np.ones(s.n_nodes, dtype=bool)
    for c in range(len(req)):
        if c != col and req[c] > 0:
            rest_fit &= req[c] <= free[:, c]
    where = other_ok & rest_fit
    out: dict[str, Any] = {"resource": name, "requested": amount_text(name, int(req[col]))}
    if where.any():
        largest = int(free[where, col].max())
        fits = int((free[where, col] >= largest).sum())
        out["largest_fitting"] = amount_text(name, max(largest, 0))
        out["hint"] = (
            f"a {name} request of at most {amount_text(name, max(largest, 0))} fits on {fits} node(s) "
            "that pass every other check"
        )
    else:
        out["largest_fitting"] = None
        out["hint"] = f"no node passes the other checks, whatever the {name} request"
    return out


def _taint_hint(cycle: Cycle, reason: str, other_ok: np.ndarray) -> dict[str, Any]:
    table, matrix = cycle.snapshot.taint_matrix()
    tolerations = cycle.cls.tolerations
    bad = np.zeros(matrix.shape, dtype=bool)
    if matrix.shape[1]:
        blocking = np.array(
            [t.effect in (NO_SCHEDULE, NO_EXECUTE) and not any(x.tolerates(t) for x in tolerations) for t in table]
        )
        valid = matrix >= 0
        bad = valid & blocking[np.where(valid, matrix, 0)]
    for tid, taint in enumerate(table):
        if taint_toleration.untolerated_taint_reason(taint) != reason:
            continue
        if not (matrix == tid).any():
            continue
        only_this = bad.any(axis=1) & ~(bad & (matrix != tid)).any(axis=1)
        opens = int((only_this & other_ok).sum())
        toleration = {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
        return {
            "toleration": toleration,
            "opens": opens,
            "hint": f"tolerating {taint.key}={taint.value}:{taint.effect} would open {opens} node(s)",
        }
    return {}


def _affinity_hint(cycle: Cycle) -> dict[str, Any]:
    s = cycle.snapshot
    required = cycle.cls.required_node_affinity
    unmatched: list[str] = []
    if required.node_selector is not None:
        for r in required.node_selector.requirements:
            if not s.match_requirement(r).any():
                unmatched.append(f"nodeSelector {r.key}={r.values[0]} matches no node")
    terms_info = []
    for i, term in enumerate(required.terms or ()):
        matching = int(s.match_term(term).sum())
        info: dict[str, Any] = {"term": i, "matching_nodes": matching}
        if term.error:
            info["error"] = term.error
        reqs = []
        for r in term.labels or ():
            reqs.append({"key": r.key, "operator": r.operator, "values": list(r.values), "matching_nodes": int(s.match_requirement(r).sum())})
        for r in term.fields or ():
            hit = r.key == lbl.OBJECT_NAME_FIELD and r.values[0] in s.node_index
            count = int(hit) if r.operator == lbl.IN else s.n_nodes - int(hit)
            reqs.append({"field": r.key, "operator": r.operator, "values": list(r.values), "matching_nodes": count})
        info["requirements"] = reqs
        if matching == 0:
            unmatched.append(f"required node affinity term {i} matches no node")
        terms_info.append(info)
    out: dict[str, Any] = {"unmatched": unmatched}
    if terms_info:
        out["terms"] = terms_info
    return out


def _spread_hint(fw: Framework, cycle: Cycle) -> dict[str, Any]:
    plugin = fw.profile.plugin(pod_topology_spread.NAME)
    if plugin is None:
        return {}
    constraints = plugin.constraints(cycle, DO_NOT_SCHEDULE)  # type: ignore[attr-defined]
    info = []
    for c in constraints:
        col = cycle.snapshot.label_column(c.topology_key)
        counts = cycle.snapshot.pod_counts(SpreadMatcher(cycle.cls.namespace, c.selector)) if not c.selector.empty else None
        per_domain: dict[str, int] = {}
        if counts is not None:
            has = col.node_value >= 0
            sums = np.bincount(col.node_value[has], weights=counts[has], minlength=len(col.values))
            present = np.bincount(col.node_value[has], minlength=len(col.values)) > 0
            per_domain = {col.values[d]: int(sums[d]) for d in np.flatnonzero(present)}
        info.append({"topologyKey": c.topology_key, "maxSkew": c.max_skew, "matching_pods_per_domain": per_domain})
    return {"constraints": info}


def _inter_pod_hint(reason: str) -> str:
    if reason == inter_pod_affinity.ERR_REASON_AFFINITY_RULES_NOT_MATCH:
        return "no topology domain holds pods matching every required affinity term"
    if reason == inter_pod_affinity.ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH:
        return "pods matching a required anti-affinity term run in these nodes' domains"
    return "pods already there forbid this pod with their required anti-affinity"
