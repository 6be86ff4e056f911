"""InterPodAffinity: required affinity / anti-affinity of the incoming pod and of bound pods,
namespaces and namespaceSelector, and the preferred-terms score."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod
from shoal.proto import manifests
from shoal.sched.framework.status import Code

IPA = "InterPodAffinity"
AFFINITY = ("node(s) didn't match pod affinity rules",)
ANTI = ("node(s) didn't match pod anti-affinity rules",)
EXISTING_ANTI = ("node(s) didn't satisfy existing pods anti-affinity rules",)
NODES = [
    node("a1", labels={"zone": "z1"}),
    node("a2", labels={"zone": "z1"}),
    node("b1", labels={"zone": "z2"}),
    node("c1", hostname=False),
]


def term(app: str, key: str = "zone", **extra):
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def required(kind: str, *terms):
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def preferred(kind: str, *weighted):
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": w, "podAffinityTerm": t} for w, t in weighted]}}


@pytest.mark.parametrize(
    "incoming, existing, expected",
    [
        pytest.param(pod("p", affinity=required("podAffinity", term("db"))), [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": None, "a2": None, "b1": AFFINITY, "c1": AFFINITY}, id="affinity-to-a-zone"),
        pytest.param(pod("p", affinity=required("podAffinity", term("db"))), [],
                     {"a1": AFFINITY, "a2": AFFINITY, "b1": AFFINITY, "c1": AFFINITY}, id="affinity-without-matching-pods"),
        pytest.param(pod("p", labels={"app": "db"}, affinity=required("podAffinity", term("db"))), [],
                     {"a1": None, "a2": None, "b1": None, "c1": AFFINITY}, id="first-pod-of-a-self-affine-group"),
        pytest.param(pod("p", affinity=required("podAntiAffinity", term("db"))), [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": ANTI, "a2": ANTI, "b1": None, "c1": None}, id="anti-affinity-to-a-zone"),
        pytest.param(pod("p", affinity=required("podAntiAffinity", term("db", "kubernetes.io/hostname"))),
                     [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": ANTI, "a2": None, "b1": None, "c1": None}, id="anti-affinity-per-host"),
        pytest.param(pod("p", labels={"app": "web"}),
                     [pod("e", labels={"app": "db"}, node_name="b1", affinity=required("podAntiAffinity", term("web")))],
                     {"a1": None, "a2": None, "b1": EXISTING_ANTI, "c1": None}, id="existing-pods-anti-affinity"),
        pytest.param(pod("p", namespace="other", affinity=required("podAntiAffinity", term("db"))),
                     [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": None, "a2": None, "b1": None, "c1": None}, id="term-defaults-to-own-namespace"),
        pytest.param(pod("p", namespace="other", affinity=required("podAntiAffinity", term("db", namespaces=["default"]))),
                     [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": ANTI, "a2": ANTI, "b1": None, "c1": None}, id="explicit-namespaces"),
        pytest.param(pod("p", namespace="other", affinity=required("podAntiAffinity", term("db", namespaceSelector={}))),
                     [pod("e", labels={"app": "db"}, node_name="a1")],
                     {"a1": ANTI, "a2": ANTI, "b1": None, "c1": None}, id="empty-namespace-selector-means-all"),
    ],
)
def test_filter(incoming, existing, expected):
    assert harness(NODES, incoming, existing).filter(IPA) == expected


def test_namespace_selector_uses_namespace_labels():
    ns = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}})
    incoming = pod("p", affinity=required("podAntiAffinity", term("db", namespaceSelector={"matchLabels": {"env": "prod"}})))
    existing = [pod("e1", labels={"app": "db"}, namespace="prod", node_name="a1"), pod("e2", labels={"app": "db"}, namespace="dev", node_name="b1")]
    assert harness(NODES, incoming, existing, namespaces=[ns]).passing(IPA) == {"b1", "c1"}


def test_codes():
    h = harness(NODES, pod("p", affinity=required("podAffinity", term("db"))), [])
    assert set(h.codes(IPA).values()) == {Code.UNSCHEDULABLE_AND_UNRESOLVABLE}
    h = harness(NODES, pod("p", affinity=required("podAntiAffinity", term("db"))), [pod("e", labels={"app": "db"}, node_name="a1")])
    assert h.codes(IPA)["a1"] == Code.UNSCHEDULABLE


def test_one_per_node_message():
    nodes = [node("n1"), node("n2")]
    anti = required("podAntiAffinity", term("x", "kubernetes.io/hostname"))
    existing = [pod("e1", labels={"app": "x"}, node_name="n1", affinity=anti), pod("e2", labels={"app": "x"}, node_name="n2", affinity=anti)]
    h = harness(nodes, pod("p", labels={"app": "x"}, affinity=anti), existing)
    assert h.message() == (
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )


def test_score_preferred_terms_and_existing_pods_terms():
    existing = [
        pod("e1", labels={"app": "db"}, node_name="a1"),
        pod("e2", labels={"app": "cache"}, node_name="b1"),
        pod("e3", labels={"app": "x"}, node_name="b1", affinity=preferred("podAffinity", (7, term("web")))),
    ]
    incoming = pod("p", labels={"app": "web"}, affinity={
        **preferred("podAffinity", (10, term("db"))),
        **preferred("podAntiAffinity", (4, term("cache"))),
    })
    h = harness(NODES, incoming, existing)
    # z1: +10 (db); z2: -4 (cache) + 7 (e3's preferred term matches the incoming pod); c1 has no zone.
    assert h.raw(IPA) == {"a1": 10, "a2": 10, "b1": 3, "c1": 0}
    # int(100 * (s - min) / (max - min))
    assert h.normalized(IPA) == {"a1": 100, "a2": 100, "b1": 30, "c1": 0}


def test_hard_pod_affinity_weight_counts_existing_required_affinity():
    existing = [pod("e", labels={"app": "x"}, node_name="b1", affinity=required("podAffinity", term("web")))]
    profile = {"pluginConfig": [{"name": IPA, "args": {"hardPodAffinityWeight": 5}}]}
    h = harness(NODES, pod("p", labels={"app": "web"}), existing, profile=profile)
    assert h.raw(IPA) == {"a1": 0, "a2": 0, "b1": 5, "c1": 0}
    assert h.choice() == "b1"
