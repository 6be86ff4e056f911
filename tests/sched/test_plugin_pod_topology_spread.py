"""PodTopologySpread: filter (skew, minDomains, missing labels, inclusion policies), score,
and system default constraints from Services and ReplicaSets."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod
from shoal.proto import manifests
from shoal.sched.framework.status import Code

PTS = "PodTopologySpread"
NOT_MATCH = ("node(s) didn't match pod topology spread constraints",)
MISSING = ("node(s) didn't match pod topology spread constraints (missing required label)",)
NODES = [
    node("a1", labels={"zone": "z1"}),
    node("a2", labels={"zone": "z1"}),
    node("b1", labels={"zone": "z2"}),
    node("b2", labels={"zone": "z2"}),
]


def spread(max_skew=1, key="zone", when="DoNotSchedule", **extra):
    return [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": "web"}}, **extra}]


def web(name, node_name=None, **kw):
    kw.setdefault("labels", {"app": "web"})
    return pod(name, node_name=node_name, **kw)


@pytest.mark.parametrize(
    "existing, constraint, passing",
    [
        pytest.param([], spread(), {"a1", "a2", "b1", "b2"}, id="empty-cluster"),
        pytest.param([web("e1", "a1"), web("e2", "a2"), web("e3", "b1")], spread(), {"b1", "b2"}, id="zone-with-more-fails"),
        pytest.param([web("e1", "a1"), web("e2", "a2"), web("e3", "b1")], spread(2), {"a1", "a2", "b1", "b2"}, id="max-skew-2"),
        pytest.param([web("e1", "a1"), web("e2", "b1")], spread(1, minDomains=3), set(), id="min-domains-makes-global-min-zero"),
        pytest.param([web("e1", "a1")], spread(1, minDomains=2), {"b1", "b2"}, id="min-domains-satisfied"),
        pytest.param([pod("other", labels={"app": "db"}, node_name="a1"), web("e1", "b1", namespace="other")], spread(),
                     {"a1", "a2", "b1", "b2"}, id="selector-and-namespace-scope-the-count"),
        pytest.param([web("e1", "a1"), web("e2", "b1")], spread(1, key="kubernetes.io/hostname"), {"a2", "b2"}, id="hostname"),
    ],
)
def test_filter(existing, constraint, passing):
    h = harness(NODES, web("p", spread=constraint), existing)
    verdict = h.filter(PTS)
    assert {n for n, r in verdict.items() if r is None} == passing
    assert all(r == NOT_MATCH for r in verdict.values() if r is not None)


def test_node_without_the_key_is_unresolvable():
    h = harness(NODES + [node("bare", hostname=False)], web("p", spread=spread()))
    assert h.filter(PTS)["bare"] == MISSING
    assert h.codes(PTS)["bare"] == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_terminating_pods_do_not_count():
    doc = web("e1", "a1")
    doc["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    h = harness(NODES, web("p", spread=spread()), [doc, web("e2", "a2")])
    assert h.passing(PTS) == {"b1", "b2"}


def test_node_affinity_policy_honor_and_ignore():
    nodes = NODES + [node("c1", labels={"zone": "z3", "pool": "x"})]
    existing = [web("e1", "a1"), web("e2", "b1")]
    honor = web("p", spread=spread(), node_selector={"zone": "z1"})
    # Honor (default): only z1 counts, so its skew is measured against itself.
    assert harness(nodes, honor, existing).passing(PTS) == {"a1", "a2", "b1", "b2", "c1"}
    ignore = web("p", spread=spread(nodeAffinityPolicy="Ignore"), node_selector={"zone": "z1"})
    assert harness(nodes, ignore, existing).passing(PTS) == {"c1"}


def test_node_taints_policy_honor():
    nodes = NODES + [node("c1", labels={"zone": "z3"}, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])]
    existing = [web("e1", "a1"), web("e2", "b1")]
    assert harness(nodes, web("p", spread=spread()), existing).passing(PTS) == {"c1"}
    honor = web("p", spread=spread(nodeTaintsPolicy="Honor"))
    assert harness(nodes, honor, existing).passing(PTS) == {"a1", "a2", "b1", "b2", "c1"}


def test_match_label_keys_narrow_the_selector():
    c = spread(matchLabelKeys=["version"])
    existing = [web("e1", "a1", labels={"app": "web", "version": "v1"}), web("e2", "a2", labels={"app": "web", "version": "v1"})]
    incoming = web("p", spread=c)
    incoming["metadata"]["labels"] = {"app": "web", "version": "v2"}
    assert harness(NODES, incoming, existing).passing(PTS) == {"a1", "a2", "b1", "b2"}
    incoming["metadata"]["labels"] = {"app": "web", "version": "v1"}
    assert harness(NODES, incoming, existing).passing(PTS) == {"b1", "b2"}


def test_score_on_hostname():
    nodes = [node("a"), node("b"), node("c")]
    existing = [web("e1", "a"), web("e2", "a"), web("e3", "b")]
    h = harness(nodes, web("p", spread=spread(1, "kubernetes.io/hostname", "ScheduleAnyway")), existing)
    # raw = round(count * ln(3 + 2)): 2 -> 3, 1 -> 2, 0 -> 0; normalized 100 * (3 + 0 - s) / 3
    assert h.raw(PTS) == {"a": 3, "b": 2, "c": 0}
    assert h.normalized(PTS) == {"a": 0, "b": 33, "c": 100}
    assert h.choice() == "c"


def test_score_on_zones_with_max_skew_offset():
    existing = [web("e1", "a1"), web("e2", "a2"), web("e3", "a2"), web("e4", "b1")]
    h = harness(NODES, web("p", spread=spread(3, "zone", "ScheduleAnyway")), existing)
    # zone counts 3 and 1 over 2 domains: 3 * ln 4 + 2 = 6.16 -> 6; 1 * ln 4 + 2 = 3.39 -> 3
    assert h.raw(PTS) == {"a1": 6, "a2": 6, "b1": 3, "b2": 3}
    assert h.normalized(PTS) == {"a1": 50, "a2": 50, "b1": 100, "b2": 100}


def test_nodes_missing_a_key_are_ignored_in_scoring():
    nodes = NODES + [node("bare", hostname=False)]
    h = harness(nodes, web("p", spread=spread(1, "zone", "ScheduleAnyway")), [web("e1", "a1")])
    assert h.normalized(PTS)["bare"] == 0


def test_system_default_constraints_follow_the_service_selector():
    nodes = [node("a", labels={"topology.kubernetes.io/zone": "z1"}), node("b", labels={"topology.kubernetes.io/zone": "z2"})]
    service = manifests.from_dict({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
                                   "spec": {"selector": {"app": "web"}}})
    existing = [web("e1", "a"), web("e2", "a")]
    h = harness(nodes, web("p"), existing, services=[service])
    # hostname: 2*ln(4)+2 = 4.77, zone: 2*ln(4)+4 = 6.77 -> 12 on a; 2 + 4 = 6 on b
    assert h.raw(PTS) == {"a": 12, "b": 6}
    assert h.choice() == "b"
    assert harness(nodes, web("p"), existing).plugin(PTS).pre_score(harness(nodes, web("p"), existing).cycle, None).is_skip


def test_system_default_constraints_follow_the_replica_set():
    nodes = [node("a"), node("b")]
    rs = manifests.from_dict({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default"},
                              "spec": {"selector": {"matchLabels": {"app": "web"}},
                                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": True}
    existing = [web("e1", "a", owner=owner)]
    h = harness(nodes, web("p", owner=owner), existing, replica_sets=[rs])
    assert h.choice() == "b"
    assert h.raw(PTS)["a"] > h.raw(PTS)["b"]


def test_message():
    nodes = NODES[:2] + [node("b1", "1", "1Gi", labels={"zone": "z2"}), node("bare", hostname=False)]
    h = harness(nodes, web("p", cpu="2", spread=spread()), [web("e1", "a1"), web("e2", "a2")])
    assert h.message() == (
        "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints "
        "(missing required label), 2 node(s) didn't match pod topology spread constraints. "
        "preemption: 0/4 nodes are available: 2 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    )
