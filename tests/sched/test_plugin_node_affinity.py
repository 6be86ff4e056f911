"""NodeAffinity: nodeSelector, required terms with every operator and matchFields, the
PreFilter narrowing, and preferred terms' score."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod, term

NA = "NodeAffinity"
REASON = ("node(s) didn't match Pod's node affinity/selector",)
NODES = [
    node("a", labels={"zone": "z1", "gen": "3", "gpu": "yes"}),
    node("b", labels={"zone": "z2", "gen": "5"}),
    node("c", labels={"zone": "z3", "gen": "x"}),
]


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize(
    "spec, passing",
    [
        pytest.param({"node_selector": {"zone": "z1"}}, {"a"}, id="node-selector"),
        pytest.param({"node_selector": {"zone": "z1", "gpu": "no"}}, set(), id="node-selector-all-must-match"),
        pytest.param({"affinity": required({"matchExpressions": [term("zone", "In", "z1", "z2")]})}, {"a", "b"}, id="in"),
        pytest.param({"affinity": required({"matchExpressions": [term("zone", "NotIn", "z1")]})}, {"b", "c"}, id="not-in"),
        pytest.param({"affinity": required({"matchExpressions": [term("gpu", "NotIn", "no")]})}, {"a", "b", "c"},
                     id="not-in-matches-missing-label"),
        pytest.param({"affinity": required({"matchExpressions": [term("gpu", "Exists")]})}, {"a"}, id="exists"),
        pytest.param({"affinity": required({"matchExpressions": [term("gpu", "DoesNotExist")]})}, {"b", "c"}, id="does-not-exist"),
        pytest.param({"affinity": required({"matchExpressions": [term("gen", "Gt", "3")]})}, {"b"}, id="gt-skips-non-integers"),
        pytest.param({"affinity": required({"matchExpressions": [term("gen", "Lt", "5")]})}, {"a"}, id="lt"),
        pytest.param({"affinity": required({"matchExpressions": [term("gen", "Gt", "x")]})}, set(), id="gt-invalid-value-never-matches"),
        pytest.param({"affinity": required({"matchExpressions": [term("zone", "In", "z1"), term("gen", "Lt", "3")]})}, set(),
                     id="requirements-are-anded"),
        pytest.param({"affinity": required({"matchExpressions": [term("zone", "In", "z1")]},
                                           {"matchExpressions": [term("zone", "In", "z3")]})}, {"a", "c"}, id="terms-are-ored"),
        pytest.param({"affinity": required({})}, set(), id="empty-term-matches-nothing"),
        pytest.param({"affinity": required()}, set(), id="no-terms-match-nothing"),
        pytest.param({"affinity": required({"matchFields": [term("metadata.name", "NotIn", "a")]})}, {"b", "c"},
                     id="match-fields-not-in"),
        pytest.param({"node_selector": {"zone": "z2"}, "affinity": required({"matchExpressions": [term("gen", "Exists")]})}, {"b"},
                     id="selector-and-affinity-both-apply"),
    ],
)
def test_filter(spec, passing):
    h = harness(NODES, pod("p", **spec))
    verdict = h.filter(NA)
    assert {n for n, r in verdict.items() if r is None} == passing
    assert all(r == REASON for r in verdict.values() if r is not None)


def test_match_fields_in_narrows_at_prefilter():
    h = harness(NODES, pod("p", "100m", affinity=required({"matchFields": [term("metadata.name", "In", "b")]}), node_selector={"zone": "z1"}))
    assert h.message() == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    h = harness(NODES, pod("p", "100m", affinity=required({"matchFields": [term("metadata.name", "In", "b")]})))
    assert h.choice() == "b"


def test_conflicting_match_fields_fail_at_prefilter():
    aff = required({"matchFields": [term("metadata.name", "In", "a"), term("metadata.name", "In", "b")]})
    h = harness(NODES, pod("p", affinity=aff))
    assert h.message() == (
        "0/3 nodes are available: pod affinity terms conflict. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_preferred_terms_score_sum_of_weights_normalized():
    aff = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 5, "preference": {"matchExpressions": [term("zone", "In", "z1", "z2")]}},
        {"weight": 3, "preference": {"matchExpressions": [term("gpu", "Exists")]}},
        {"weight": 0, "preference": {"matchExpressions": [term("zone", "In", "z3")]}},
    ]}}
    h = harness(NODES, pod("p", affinity=aff))
    assert h.raw(NA) == {"a": 8, "b": 5, "c": 0}
    assert h.normalized(NA) == {"a": 100, "b": 62, "c": 0}
    assert h.choice() == "a"


def test_added_affinity_from_profile_args():
    profile = {"pluginConfig": [{"name": NA, "args": {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z3"]}]}]}}}}]}
    h = harness(NODES, pod("p"), profile=profile)
    assert h.filter(NA) == {"a": ("node(s) didn't match scheduler-enforced node affinity",),
                            "b": ("node(s) didn't match scheduler-enforced node affinity",), "c": None}
