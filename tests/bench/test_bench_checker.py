"""The benchmark's independent placement checker: each hard constraint, broken once and kept once."""

from __future__ import annotations

import pytest
from shoal.benchmarks.bench.checker import PlacementChecker, pod_request

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def node(name, zone="a", cpu="1", pods="10", taints=(), labels=None):
    return {
        "metadata": {"name": name, "labels": {HOST: name, ZONE: zone, **(labels or {})}},
        "spec": {"taints": list(taints)},
        "status": {"capacity": {"cpu": cpu, "memory": "1Gi", "pods": pods}},
    }


def pod(name, cpu="100m", ns="default", labels=None, **spec):
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}], **spec},
    }


NODES = [node("n1", "a"), node("n2", "a"), node("n3", "b", taints=[{"key": "gpu", "effect": "NoSchedule"}], labels={"disk": "ssd"})]
ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": HOST, "labelSelector": {"matchLabels": {"app": "x"}}}]}}
AFFINITY = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}]}}
SPREAD = [{"maxSkew": 1, "topologyKey": HOST, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}}}]
TOLERATE = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]

CASES = [
    # (id, bindings before, pod, node, expected problem substring or None)
    ("fits", [], pod("p"), "n1", None),
    ("over-cpu", [(pod("big", "900m"), "n1")], pod("p", "200m"), "n1", "over capacity of cpu"),
    ("untolerated-taint", [], pod("p"), "n3", "untolerated taint gpu"),
    ("tolerated-taint", [], pod("p", tolerations=TOLERATE), "n3", None),
    ("node-selector", [], pod("p", nodeSelector={"disk": "ssd"}), "n1", "nodeSelector disk"),
    ("node-affinity", [], pod("p", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["b"]}]}]}}}), "n1", "required node affinity"),
    ("anti-affinity", [(pod("x1", labels={"app": "x"}), "n1")], pod("x2", labels={"app": "x"}, affinity=ANTI), "n1", "anti-affinity"),
    ("anti-affinity-other-node", [(pod("x1", labels={"app": "x"}), "n1")], pod("x2", labels={"app": "x"}, affinity=ANTI), "n2", None),
    ("anti-affinity-other-namespace", [(pod("x1", ns="other", labels={"app": "x"}), "n1")], pod("x2", labels={"app": "x"}, affinity=ANTI), "n1", None),
    ("existing-anti-affinity", [(pod("x1", labels={"app": "x"}, affinity=ANTI), "n1")], pod("x2", labels={"app": "x"}), "n1", "existing pod's anti-affinity"),
    ("affinity-missing", [(pod("db", labels={"app": "db"}), "n1")], pod("w", affinity=AFFINITY), "n3", "required pod affinity"),
    ("affinity-same-zone", [(pod("db", labels={"app": "db"}), "n1")], pod("w", affinity=AFFINITY), "n2", None),
    ("affinity-first-of-group", [], pod("db", labels={"app": "db"}, affinity=AFFINITY), "n1", None),
    ("spread-skew", [(pod("s1", labels={"app": "s"}), "n1")], pod("s2", labels={"app": "s"}, topologySpreadConstraints=SPREAD), "n1", "spread: skew"),
    ("spread-ok", [(pod("s1", labels={"app": "s"}), "n1")], pod("s2", labels={"app": "s"}, topologySpreadConstraints=SPREAD), "n2", None),
    ("host-port", [(pod("h1", containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]), "n1")],
     pod("h2", containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]), "n1", "host port 8080"),
]


@pytest.mark.parametrize("before, p, target, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_constraint(before, p, target, expected):
    checker = PlacementChecker(NODES)
    for q, n in before:
        checker.bind(q, n)
    problems = checker.check(p, target)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in x for x in problems), problems


def test_spread_excludes_tainted_domains_when_taints_policy_honors_them():
    spread = [dict(SPREAD[0], nodeTaintsPolicy="Honor")]
    checker = PlacementChecker(NODES)
    checker.bind(pod("s1", labels={"app": "s"}), "n1")
    checker.bind(pod("s2", labels={"app": "s"}), "n2")
    # n3 (tainted, empty) is not an eligible domain, so the minimum is 1 and n1 may take one more.
    assert checker.check(pod("s3", labels={"app": "s"}, topologySpreadConstraints=spread), "n1") == []
    checker = PlacementChecker(NODES)
    checker.bind(pod("s1", labels={"app": "s"}), "n1")
    checker.bind(pod("s2", labels={"app": "s"}), "n2")
    assert checker.check(pod("s3", labels={"app": "s"}, topologySpreadConstraints=SPREAD), "n1") != []


def test_unbind_frees_room_and_terms():
    checker = PlacementChecker(NODES)
    checker.bind(pod("big", "900m", labels={"app": "x"}, affinity=ANTI), "n1")
    checker.unbind("default/big")
    assert checker.check(pod("p", "900m", labels={"app": "x"}), "n1") == []


def test_namespace_selector_terms_use_namespace_labels():
    term = {"topologyKey": HOST, "labelSelector": {"matchLabels": {"app": "x"}}, "namespaceSelector": {"matchLabels": {"team": "devops"}}}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    checker = PlacementChecker(NODES, {"ops": {"team": "devops"}, "dev": {}})
    checker.bind(pod("a", ns="dev", labels={"app": "x"}), "n1")
    checker.bind(pod("b", ns="ops", labels={"app": "x"}), "n2")
    assert checker.check(pod("c", labels={"app": "x"}, affinity=anti), "n1") == []
    assert checker.check(pod("d", labels={"app": "x"}, affinity=anti), "n2") != []


def test_pod_request_counts_init_containers_and_overhead():
    p = pod("p", "100m", initContainers=[{"name": "i", "resources": {"requests": {"cpu": "500m"}}}], overhead={"cpu": "50m"})
    assert pod_request(p)["cpu"] == 550
