"""NodeResourcesBalancedAllocation: 1 - std of the requested fractions, over real requests."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod

BALANCED = "NodeResourcesBalancedAllocation"


@pytest.mark.parametrize(
    "nodes, incoming, existing, expected",
    [
        pytest.param([node("n1", "4000m", "10000"), node("n2", "6000m", "10000")], pod("p", "3000m", "5000"), [],
                     {"n1": 87, "n2": 100}, id="fractions-0.75-0.5-and-0.5-0.5"),
        pytest.param([node("n1", "4000m", "10000")], pod("p", "1000m", "2000"), [pod("e", "2000m", "3000", node_name="n1")],
                     {"n1": 87}, id="existing-requests-count"),
        pytest.param([node("n1", "4000m", "10000")], pod("p", "6000m", "5000"), [],
                     {"n1": 75}, id="fraction-capped-at-one"),
        pytest.param([node("n1", "1000m", "1000Mi")], pod("p", "500m"), [],
                     {"n1": 75}, id="no-defaults-for-a-missing-memory-request"),
    ],
)
def test_score(nodes, incoming, existing, expected):
    assert harness(nodes, incoming, existing).raw(BALANCED) == expected


def test_three_resources_use_the_population_std():
    profile = {"pluginConfig": [{"name": BALANCED, "args": {"resources": [
        {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": "example.com/gpu", "weight": 1}]}}]}
    # fractions 0.5, 0.25, 1.0: mean 0.5833, std 0.3118 -> int64(68.8) = 68
    h = harness([node("n", "2", "4Gi", extra={"example.com/gpu": "2"})], pod("p", "1", "1Gi", extra={"example.com/gpu": "2"}), profile=profile)
    assert h.raw(BALANCED) == {"n": 68}


def test_best_effort_pods_skip_the_plugin():
    h = harness([node("n")], pod("p"))
    assert h.plugin(BALANCED).pre_score(h.cycle, None).is_skip
