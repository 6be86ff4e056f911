"""An independent placement checker for benchmark runs, sharing no code with shoal.sched.

It replays a run's bindings in the order the scheduler made them, over plain manifests (dicts),
and says, at each pod's turn, what a binding breaks: capacity of every requested resource and of
the pod count, nodeName, unschedulable nodes, NoSchedule / NoExecute taints, nodeSelector,
required node affinity (all operators), host ports, DoNotSchedule topology spread (skew against
the minimum of the eligible domains, nodeAffinityPolicy / nodeTaintsPolicy, minDomains) and
required pod (anti-)affinity in both directions, namespaces and namespaceSelector included.

The rules follow tests/sched/placement_checker.py (written from the Kubernetes documentation);
this copy keeps per-domain counts of matching pods up to date as pods bind, so that checking a
run of thousands of pods on thousands of nodes takes seconds instead of quadratic time.
Approximations, all exact on scheduler_perf's workloads: a spread domain counts the matching pods
on all its nodes and is eligible when one of its nodes is; with several required affinity terms,
the "first pod of its group" exception asks that no pod anywhere match any of the terms.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from shoal.proto.quantity import milli_value, value

Pod = dict[str, Any]
Signature = tuple[str, frozenset, str]  # (topology key, namespaces, selector as canonical JSON)


def amounts(resources: dict[str, Any] | None) -> dict[str, int]:
    return {k: milli_value(str(v)) if k == "cpu" else value(str(v)) for k, v in (resources or {}).items()}


def pod_request(p: Pod) -> dict[str, int]:
    """Effective request: containers (and restartable init containers) summed, against the peak
    of the init containers, plus overhead."""
    spec = p["spec"]
    total: dict[str, int] = defaultdict(int)
    for c in spec.get("containers", []):
        for k, v in amounts((c.get("resources") or {}).get("requests")).items():
            total[k] += v
    sidecars: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = {}
    for c in spec.get("initContainers", []):
        req = amounts((c.get("resources") or {}).get("requests"))
        if c.get("restartPolicy") == "Always":
            for k, v in req.items():
                total[k] += v
                sidecars[k] += v
            use = dict(sidecars)
        else:
            use = dict(sidecars)
            for k, v in req.items():
                use[k] = use.get(k, 0) + v
        for k, v in use.items():
            peak[k] = max(peak.get(k, v), v)
    for k, v in peak.items():
        total[k] = max(total.get(k, 0), v)
    for k, v in amounts(spec.get("overhead")).items():
        total[k] += v
    return dict(total)


def requirement_matches(labels: dict[str, str], r: dict[str, Any]) -> bool:
    key, op, vals = r["key"], r["operator"], r.get("values") or []
    if op == "In":
        return key in labels and labels[key] in vals
    if op == "NotIn":
        return key not in labels or labels[key] not in vals
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if key not in labels:
        return False
    try:
        have, want = int(labels[key]), int(vals[0])
    except ValueError:
        return False
    return have > want if op == "Gt" else have < want


def selector_matches(sel: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector; None selects nothing, {} everything."""
    if sel is None:
        return False
    if not all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    return all(requirement_matches(labels, r) for r in sel.get("matchExpressions") or [])


def tolerates(tols: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for tol in tols:
        if tol.get("effect") and tol["effect"] != taint["effect"]:
            continue
        if tol.get("key") and tol["key"] != taint["key"]:
            continue
        if tol.get("operator", "Equal") == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def _namespace(p: Pod) -> str:
    return p["metadata"].get("namespace") or "default"


def _host_ports(p: Pod) -> set[int]:
    return {cp["hostPort"] for c in p["spec"].get("containers", []) for cp in c.get("ports") or [] if cp.get("hostPort")}


class PlacementChecker:
    """Bind pods one by one (check() binds after checking; unbind() for preemption victims)."""

    def __init__(self, nodes: list[dict[str, Any]], namespaces: dict[str, dict[str, str]] | None = None) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.namespace_labels = dict(namespaces or {})
        self.alloc = {name: amounts((n.get("status") or {}).get("allocatable") or (n.get("status") or {}).get("capacity")) for name, n in self.nodes.items()}
        self.used: dict[str, Counter] = {name: Counter() for name in self.nodes}
        self.ports: dict[str, Counter] = {name: Counter() for name in self.nodes}
        self.bound: dict[str, tuple[Pod, str]] = {}  # "ns/name" -> (pod, node)
        self._selectors: dict[str, dict[str, Any]] = {}
        self._matching: dict[Signature, Counter] = {}  # pods matching a term, per domain
        self._holders: dict[Signature, Counter] = {}  # bound pods' required anti-affinity terms, per domain
        self._eligible: dict[str, set[str]] = {}

    # -- labels, terms ----------------------------------------------------------------------

    def labels(self, node: str) -> dict[str, str]:
        return self.nodes[node]["metadata"].get("labels") or {}

    def _signature(self, owner_ns: str, term: dict[str, Any]) -> Signature:
        namespaces = set(term.get("namespaces") or [])
        if term.get("namespaceSelector") is not None:
            namespaces |= {ns for ns, labels in self.namespace_labels.items() if selector_matches(term["namespaceSelector"], labels)}
        elif not namespaces:
            namespaces = {owner_ns}
        selector = json.dumps(term.get("labelSelector"), sort_keys=True)
        self._selectors[selector] = term.get("labelSelector")
        return (term["topologyKey"], frozenset(namespaces), selector)

    def _sig_matches(self, sig: Signature, p: Pod) -> bool:
        return _namespace(p) in sig[1] and selector_matches(self._selectors[sig[2]], p["metadata"].get("labels") or {})

    def _matching_counts(self, sig: Signature) -> Counter:
        counts = self._matching.get(sig)
        if counts is None:
            counts = Counter()
            for p, node in self.bound.values():
                domain = self.labels(node).get(sig[0])
                if domain is not None and self._sig_matches(sig, p):
                    counts[domain] += 1
            self._matching[sig] = counts
        return counts

    def _anti_terms(self, p: Pod) -> list[dict[str, Any]]:
        return ((p["spec"].get("affinity") or {}).get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []

    # -- binding ------------------------------------------------------------------------------

    def _apply(self, p: Pod, node: str, sign: int) -> None:
        for k, v in pod_request(p).items():
            self.used[node][k] += sign * v
        self.used[node]["pods"] += sign
        for port in _host_ports(p):
            self.ports[node][port] += sign
        labels = self.labels(node)
        for sig, counts in self._matching.items():
            domain = labels.get(sig[0])
            if domain is not None and self._sig_matches(sig, p):
                counts[domain] += sign
        for term in self._anti_terms(p):
            sig = self._signature(_namespace(p), term)
            domain = labels.get(sig[0])
            if domain is not None:
                self._holders.setdefault(sig, Counter())[domain] += sign

    def bind(self, p: Pod, node: str) -> None:
        key = f"{_namespace(p)}/{p['metadata']['name']}"
        if key in self.bound:
            raise ValueError(f"{key} is bound twice")
        self.bound[key] = (p, node)
        self._apply(p, node, +1)

    def unbind(self, key: str) -> None:
        p, node = self.bound.pop(key)
        self._apply(p, node, -1)

    # -- checking -----------------------------------------------------------------------------

    def check(self, p: Pod, node: str) -> list[str]:
        """What binding p to node now breaks (empty: nothing); then binds it."""
        if node not in self.nodes:
            return [f"unknown node {node}"]
        problems = self._node_problems(p, node)
        problems += self._spread(p, node)
        problems += self._inter_pod(p, node)
        self.bind(p, node)
        return problems

    def _node_problems(self, p: Pod, node: str) -> list[str]:
        out = []
        n = self.nodes[node]
        spec = p["spec"]
        req = pod_request(p)
        req["pods"] = 1
        for k, v in req.items():
            if v > 0 and self.used[node][k] + v > self.alloc[node].get(k, 0):
                out.append(f"over capacity of {k}")
        if spec.get("nodeName") and spec["nodeName"] != node:
            out.append("nodeName")
        out += self._node_rules(p, node)
        for port in _host_ports(p):
            if self.ports[node][port] > 0:
                out.append(f"host port {port} in use")
        if (n.get("spec") or {}).get("unschedulable") and not tolerates(spec.get("tolerations") or [], {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            out.append("unschedulable node")
        out += [f"untolerated taint {t}" for t in self._untolerated(p, node)]
        return out

    def _untolerated(self, p: Pod, node: str) -> list[str]:
        tols = p["spec"].get("tolerations") or []
        taints = (self.nodes[node].get("spec") or {}).get("taints") or []
        return [t["key"] for t in taints if t["effect"] in ("NoSchedule", "NoExecute") and not tolerates(tols, t)]

    def _node_rules(self, p: Pod, node: str) -> list[str]:
        """nodeSelector and required node affinity."""
        out = []
        labels = self.labels(node)
        for k, v in (p["spec"].get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                out.append(f"nodeSelector {k}")
        required = ((p["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is not None and not any(self._node_term(node, t) for t in required.get("nodeSelectorTerms") or []):
            out.append("required node affinity")
        return out

    def _node_term(self, node: str, term: dict[str, Any]) -> bool:
        if not term.get("matchExpressions") and not term.get("matchFields"):
            return False
        labels = self.labels(node)
        if not all(requirement_matches(labels, r) for r in term.get("matchExpressions") or []):
            return False
        return all((node in (f.get("values") or [])) == (f["operator"] == "In") for f in term.get("matchFields") or [])

    def _eligible_domains(self, p: Pod, c: dict[str, Any]) -> set[str]:
        key = c["topologyKey"]
        honor_affinity = c.get("nodeAffinityPolicy", "Honor") == "Honor"
        honor_taints = c.get("nodeTaintsPolicy", "Ignore") == "Honor"
        spec = p["spec"]
        cache_key = json.dumps([key, honor_affinity, honor_taints, spec.get("nodeSelector"), spec.get("affinity"), spec.get("tolerations") if honor_taints else None], sort_keys=True)
        domains = self._eligible.get(cache_key)
        if domains is None:
            domains = set()
            for name in self.nodes:
                labels = self.labels(name)
                if key not in labels or labels[key] in domains:
                    continue
                if honor_affinity and self._node_rules(p, name):
                    continue
                if honor_taints and self._untolerated(p, name):
                    continue
                domains.add(labels[key])
            self._eligible[cache_key] = domains
        return domains

    def _spread(self, p: Pod, node: str) -> list[str]:
        out = []
        ns = _namespace(p)
        for c in p["spec"].get("topologySpreadConstraints") or []:
            if c.get("whenUnsatisfiable") != "DoNotSchedule":
                continue
            key = c["topologyKey"]
            here = self.labels(node).get(key)
            if here is None:
                out.append(f"spread: node lacks {key}")
                continue
            sig = self._signature(ns, {"topologyKey": key, "namespaces": [ns], "labelSelector": c.get("labelSelector")})
            counts = self._matching_counts(sig)
            eligible = self._eligible_domains(p, c)
            if len(eligible) < int(c.get("minDomains") or 1) or sum(1 for d in counts if counts[d] > 0) < len(eligible):
                low = 0  # some eligible domain has no matching pod (or too few domains)
            else:
                low = min(counts[d] for d in eligible)
            self_match = 1 if self._sig_matches(sig, p) else 0
            if counts[here] + self_match - low > int(c["maxSkew"]):
                out.append(f"spread: skew {counts[here] + self_match - low} > {c['maxSkew']} on {key}={here}")
        return out

    def _inter_pod(self, p: Pod, node: str) -> list[str]:
        out = []
        ns = _namespace(p)
        labels = self.labels(node)
        for term in self._anti_terms(p):
            sig = self._signature(ns, term)
            domain = labels.get(sig[0])
            if domain is not None and self._matching_counts(sig)[domain] > 0:
                out.append(f"anti-affinity: a matching pod in {sig[0]}={domain}")
        for sig, holders in self._holders.items():
            domain = labels.get(sig[0])
            if domain is not None and holders[domain] > 0 and self._sig_matches(sig, p):
                out.append(f"existing pod's anti-affinity in {sig[0]}={domain}")
        terms = ((p["spec"].get("affinity") or {}).get("podAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
        if terms:
            sigs = [self._signature(ns, t) for t in terms]
            if not all(labels.get(s[0]) is not None and self._matching_counts(s)[labels[s[0]]] > 0 for s in sigs):
                nowhere = all(sum(self._matching_counts(s).values()) == 0 for s in sigs)
                if not (nowhere and all(self._sig_matches(s, p) for s in sigs)):
                    out.append("required pod affinity")
        return out
