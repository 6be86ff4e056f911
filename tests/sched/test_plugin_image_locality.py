"""ImageLocality: image sizes scaled by spread, clamped to [23 MiB, 1000 MiB x containers]."""

from __future__ import annotations

from plugin_harness import harness
from sched_builders import node, pod

IL = "ImageLocality"
MB = 1024 * 1024


def test_larger_present_image_scores_higher():
    nodes = [
        node("n1", images=[(["gcr.io/40:latest"], 40 * MB), (["gcr.io/300:latest"], 300 * MB)]),
        node("n2", images=[(["gcr.io/250:latest"], 250 * MB)]),
        node("n3"),
    ]
    h = harness(nodes, pod("p", image="gcr.io/250"))  # untagged means :latest
    # 250 MiB on 1 of 3 nodes: int64(250 MiB / 3) = 87381333; (87381333 - 23 MiB) * 100 / (977 MiB) = 6
    assert h.raw(IL) == {"n1": 0, "n2": 6, "n3": 0}


def test_image_on_every_node_counts_fully_and_clamps():
    nodes = [node(f"n{i}", images=[(["big:1"], 3000 * MB)]) for i in range(2)]
    h = harness(nodes, pod("p", image="big:1"))
    assert h.raw(IL) == {"n0": 100, "n1": 100}


def test_small_image_scores_zero():
    h = harness([node("n", images=[(["tiny:1"], 10 * MB)])], pod("p", image="tiny:1"))
    assert h.raw(IL) == {"n": 0}
