"""NodeResourcesFit: the filter's verdicts and reasons, and the three scoring strategies
(cases after kube-scheduler's noderesources tests)."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod
from shoal.sched.framework.status import Code

FIT = "NodeResourcesFit"


@pytest.mark.parametrize(
    "incoming, node_doc, existing, reasons, code",
    [
        pytest.param(pod("p", "1", "1Gi"), node("n", "2", "2Gi"), [], None, None, id="fits"),
        pytest.param(pod("p", "3", "1Gi"), node("n", "4", "2Gi"), [pod("e", "2", "0", node_name="n")],
                     ("Insufficient cpu",), Code.UNSCHEDULABLE, id="insufficient-cpu"),
        pytest.param(pod("p", "1", "3Gi"), node("n", "4", "4Gi"), [pod("e", "0", "2Gi", node_name="n")],
                     ("Insufficient memory",), Code.UNSCHEDULABLE, id="insufficient-memory"),
        pytest.param(pod("p", "3", "3Gi"), node("n", "4", "4Gi"), [pod("e", "2", "2Gi", node_name="n")],
                     ("Insufficient cpu", "Insufficient memory"), Code.UNSCHEDULABLE, id="every-short-resource-reported"),
        pytest.param(pod("p", "1", "1Gi"), node("n", "4", "4Gi", pods="1"), [pod("e", node_name="n")],
                     ("Too many pods",), Code.UNSCHEDULABLE, id="too-many-pods"),
        pytest.param(pod("p", "100m", extra={"example.com/gpu": "2"}), node("n", extra={"example.com/gpu": "1"}), [],
                     ("Insufficient example.com/gpu",), Code.UNSCHEDULABLE_AND_UNRESOLVABLE, id="extended-resource"),
        pytest.param(pod("p", "100m", extra={"example.com/gpu": "1"}), node("n"), [],
                     ("Insufficient example.com/gpu",), Code.UNSCHEDULABLE_AND_UNRESOLVABLE, id="extended-resource-absent"),
        pytest.param(pod("p", "5", "1Gi"), node("n", "4", "8Gi"), [],
                     ("Insufficient cpu",), Code.UNSCHEDULABLE_AND_UNRESOLVABLE, id="larger-than-allocatable-is-unresolvable"),
        pytest.param(pod("p", "0", "0"), node("n", "1", "1Gi"), [pod("e", "1", "1Gi", node_name="n")], None, None,
                     id="zero-request-always-fits"),
        pytest.param(pod("p", "1", "1Gi", init=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}]),
                     node("n", "4", "8Gi"), [pod("e", "2", node_name="n")],
                     ("Insufficient cpu",), Code.UNSCHEDULABLE, id="init-container-max"),
        pytest.param(pod("p", "1", "1Gi", init=[{"name": "s", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1500m"}}}]),
                     node("n", "4", "8Gi"), [pod("e", "2", node_name="n")],
                     ("Insufficient cpu",), Code.UNSCHEDULABLE, id="sidecar-adds-to-the-sum"),
        pytest.param(pod("p", "1", "1Gi", overhead={"cpu": "1500m"}), node("n", "4", "8Gi"), [pod("e", "2", node_name="n")],
                     ("Insufficient cpu",), Code.UNSCHEDULABLE, id="overhead"),
    ],
)
def test_filter(incoming, node_doc, existing, reasons, code):
    h = harness([node_doc], incoming, existing)
    assert h.filter(FIT) == {"n": reasons}
    assert h.codes(FIT) == {"n": code}


def test_ignored_resources_are_not_checked():
    profile = {"pluginConfig": [{"name": FIT, "args": {"ignoredResources": ["example.com/foo"]}}]}
    h = harness([node("n")], pod("p", "100m", extra={"example.com/foo": "1"}), profile=profile)
    assert h.filter(FIT) == {"n": None}


TWO_NODES = [node("n1", "4000m", "10000"), node("n2", "6000m", "10000")]
REQUESTED = pod("p", "3000m", "5000")


@pytest.mark.parametrize(
    "strategy, expected",
    [
        pytest.param({"type": "LeastAllocated"}, {"n1": 37, "n2": 50}, id="least-allocated"),
        pytest.param({"type": "MostAllocated"}, {"n1": 62, "n2": 50}, id="most-allocated"),
        pytest.param(
            {"type": "RequestedToCapacityRatio",
             "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}},
            {"n1": 63, "n2": 50}, id="requested-to-capacity-ratio-rounds-half-up",
        ),
        pytest.param(
            {"type": "RequestedToCapacityRatio",
             "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]}},
            {"n1": 38, "n2": 50}, id="requested-to-capacity-ratio-reversed-shape",
        ),
        pytest.param({"type": "LeastAllocated", "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}]},
                     {"n1": 31, "n2": 50}, id="weighted-resources"),
    ],
)
def test_scoring_strategies(strategy, expected):
    profile = {"pluginConfig": [{"name": FIT, "args": {"scoringStrategy": strategy}}]}
    h = harness(TWO_NODES, REQUESTED, profile=profile)
    assert h.raw(FIT) == expected


def test_scoring_uses_non_zero_defaults_for_missing_requests():
    # 100m of 1000m and 200Mi of 1000Mi requested by default: (90 + 80) / 2.
    h = harness([node("n", "1000m", "1000Mi")], pod("p"))
    assert h.raw(FIT) == {"n": 85}
    # An explicit zero stays zero.
    h = harness([node("n", "1000m", "1000Mi")], pod("p", "0", "0"))
    assert h.raw(FIT) == {"n": 100}


def test_choice_prefers_the_least_allocated_node():
    h = harness(TWO_NODES, REQUESTED)
    assert h.choice() == "n2"


def test_message_counts_each_reason():
    nodes = [node("a", "1", "1Gi"), node("b", "1", "8Gi"), node("c", "8", "1Gi")]
    h = harness(nodes, pod("p", "2", "2Gi"))
    # Requests beyond a node's allocatable are unresolvable: preemption cannot help anywhere.
    assert h.message() == (
        "0/3 nodes are available: 2 Insufficient cpu, 2 Insufficient memory. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_unknown_strategy_is_a_config_error():
    from shoal.sched.framework.config import ConfigError, parse_config

    doc = {"profiles": [{"pluginConfig": [{"name": FIT, "args": {"scoringStrategy": {"type": "Biggest"}}}]}]}
    with pytest.raises(ConfigError, match="scoringStrategy.type"):
        parse_config(doc)
