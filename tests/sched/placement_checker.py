"""An independent placement checker: replays assignments in queue order over plain manifests
(dicts) and checks, at each pod's turn, that the node had room and every hard constraint held.

Written from the Kubernetes documentation, sharing no code with shoal.sched (only the quantity
parser): capacity per resource (with init containers, sidecars and overhead), nodeName,
unschedulable, NoSchedule / NoExecute taints, nodeSelector and required node affinity (all
operators), host ports, DoNotSchedule topology spread (skew against the global minimum of the
eligible domains) and required pod (anti-)affinity in both directions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shoal.proto.quantity import milli_value, value

HOSTNAME = "kubernetes.io/hostname"


def amounts(resources: dict[str, Any] | None) -> dict[str, int]:
    out = {}
    for k, v in (resources or {}).items():
        out[k] = milli_value(str(v)) if k == "cpu" else value(str(v))
    return out


def pod_request(p: dict[str, Any]) -> dict[str, int]:
    spec = p["spec"]
    total: dict[str, int] = defaultdict(int)
    for c in spec.get("containers", []):
        for k, v in amounts(c.get("resources", {}).get("requests")).items():
            total[k] += v
    sidecars: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = {}
    for c in spec.get("initContainers", []):
        req = amounts(c.get("resources", {}).get("requests"))
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


def _req_match(labels: dict[str, str], r: dict[str, Any]) -> bool:
    key, op, vals = r["key"], r["operator"], r.get("values", [])
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


def _node_term(node: dict[str, Any], t: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels", {})
    if not t.get("matchExpressions") and not t.get("matchFields"):
        return False
    if not all(_req_match(labels, r) for r in t.get("matchExpressions", [])):
        return False
    for f in t.get("matchFields", []):
        equal = node["metadata"]["name"] == f["values"][0]
        if equal != (f["operator"] == "In"):
            return False
    return True


def _selector(sel: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if sel is None:
        return False
    if not all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items()):
        return False
    return all(_req_match(labels, r) for r in sel.get("matchExpressions", []))


def _tolerates(tols: list[dict[str, Any]], t: dict[str, str]) -> bool:
    for tol in tols:
        if tol.get("effect") and tol["effect"] != t["effect"]:
            continue
        if tol.get("key") and tol["key"] != t["key"]:
            continue
        if tol.get("operator", "Equal") == "Exists" or tol.get("value", "") == t.get("value", ""):
            return True
    return False


def _term_namespaces(owner: dict[str, Any], term: dict[str, Any]) -> set[str] | None:
    if "namespaceSelector" in term:
        return None  # every namespace (the tests use {} selectors only)
    return set(term.get("namespaces") or [owner["metadata"].get("namespace", "default")])


def _term_matches(owner: dict[str, Any], term: dict[str, Any], other: dict[str, Any]) -> bool:
    nss = _term_namespaces(owner, term)
    if nss is not None and other["metadata"].get("namespace", "default") not in nss:
        return False
    return _selector(term.get("labelSelector"), other["metadata"].get("labels", {}))


class PlacementChecker:
    def __init__(self, nodes: list[dict[str, Any]], existing: list[dict[str, Any]] = ()) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.used: dict[str, dict[str, int]] = {n: defaultdict(int) for n in self.nodes}
        self.pods_on: dict[str, list[dict[str, Any]]] = {n: [] for n in self.nodes}
        for p in existing:
            self._bind(p, p["spec"]["nodeName"])

    def _bind(self, p: dict[str, Any], node: str) -> None:
        for k, v in pod_request(p).items():
            self.used[node][k] += v
        self.used[node]["pods"] += 1
        self.pods_on[node].append(p)

    def _labels(self, node: str) -> dict[str, str]:
        return self.nodes[node]["metadata"].get("labels", {})

    def check(self, p: dict[str, Any], node: str) -> list[str]:
        """Problems with binding p to node now (empty: fine); then binds it."""
        problems = []
        n = self.nodes[node]
        spec = p["spec"]
        labels = self._labels(node)
        alloc = amounts(n["status"].get("allocatable") or n["status"].get("capacity"))
        req = pod_request(p)
        req["pods"] = 1
        for k, v in req.items():
            if v > 0 and self.used[node].get(k, 0) + v > alloc.get(k, 0):
                problems.append(f"over capacity of {k}")
        if spec.get("nodeName") and spec["nodeName"] != node:
            problems.append("nodeName")
        tols = spec.get("tolerations", [])
        if n["spec"].get("unschedulable") and not _tolerates(tols, {"key": "node.kubernetes.io/unschedulable", "value": "", "effect": "NoSchedule"}):
            problems.append("unschedulable node")
        for t in n["spec"].get("taints", []):
            if t["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(tols, t):
                problems.append(f"untolerated taint {t['key']}")
        for k, v in (spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                problems.append(f"nodeSelector {k}")
        required = (spec.get("affinity") or {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is not None and not any(_node_term(n, t) for t in required.get("nodeSelectorTerms", [])):
            problems.append("required node affinity")
        ports = {c2["hostPort"] for c in spec["containers"] for c2 in c.get("ports", []) if c2.get("hostPort")}
        for other in self.pods_on[node]:
            theirs = {c2["hostPort"] for c in other["spec"]["containers"] for c2 in c.get("ports", []) if c2.get("hostPort")}
            if ports & theirs:
                problems.append("host port conflict")
        problems += self._spread(p, node)
        problems += self._inter_pod(p, node)
        self._bind(p, node)
        return problems

    def _spread(self, p: dict[str, Any], node: str) -> list[str]:
        out = []
        ns = p["metadata"].get("namespace", "default")
        my_labels = p["metadata"].get("labels", {})
        for c in p["spec"].get("topologySpreadConstraints", []):
            if c["whenUnsatisfiable"] != "DoNotSchedule":
                continue
            key = c["topologyKey"]
            if key not in self._labels(node):
                out.append("spread: missing key")
                continue
            counts: dict[str, int] = defaultdict(int)
            for name in self.nodes:
                if key not in self._labels(name):
                    continue
                dom = self._labels(name)[key]
                counts[dom] += sum(
                    1 for q in self.pods_on[name]
                    if q["metadata"].get("namespace", "default") == ns and _selector(c.get("labelSelector"), q["metadata"].get("labels", {}))
                )
            low = min(counts.values()) if counts else 0
            if len(counts) < c.get("minDomains", 1):
                low = 0
            self_match = 1 if _selector(c.get("labelSelector"), my_labels) else 0
            if counts[self._labels(node)[key]] + self_match - low > c["maxSkew"]:
                out.append("spread: skew")
        return out

    def _inter_pod(self, p: dict[str, Any], node: str) -> list[str]:
        out = []
        aff = p["spec"].get("affinity") or {}
        here = self._labels(node)

        def same_domain(key: str, other_node: str) -> bool:
            return key in here and self._labels(other_node).get(key) == here[key]

        for t in aff.get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", []):
            for name, pods in self.pods_on.items():
                if same_domain(t["topologyKey"], name) and any(_term_matches(p, t, q) for q in pods):
                    out.append("anti-affinity")
        for name, pods in self.pods_on.items():
            for q in pods:
                qa = (q["spec"].get("affinity") or {}).get("podAntiAffinity", {})
                for t in qa.get("requiredDuringSchedulingIgnoredDuringExecution", []):
                    if same_domain(t["topologyKey"], name) and _term_matches(q, t, p):
                        out.append("existing anti-affinity")
        terms = aff.get("podAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if terms:
            anywhere = any(all(_term_matches(p, t, q) for t in terms) for pods in self.pods_on.values() for q in pods)
            for t in terms:
                ok = any(
                    same_domain(t["topologyKey"], name) and all(_term_matches(p, t2, q) for t2 in terms)
                    for name, pods in self.pods_on.items() for q in pods
                )
                if not ok and (anywhere or t["topologyKey"] not in here or not all(_term_matches(p, t2, p) for t2 in terms)):
                    out.append("affinity")
        return out


def check_placement(nodes, pods, assignments, existing=()) -> list[str]:
    """Problems of a placement: `assignments` {"ns/name": node} in the order pods were placed."""
    by_key = {f"{p['metadata'].get('namespace', 'default')}/{p['metadata']['name']}": p for p in pods}
    checker = PlacementChecker(nodes, existing)
    problems = []
    for key, node in assignments.items():
        for problem in checker.check(by_key[key], node):
            problems.append(f"{key} on {node}: {problem}")
    return problems
