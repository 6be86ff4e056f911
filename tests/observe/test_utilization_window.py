"""UtilizationWindow (control/api/utilization.py): samples in, newest per node and pod out, no I/O."""

from __future__ import annotations

import pytest

from shoal.control.api.errors import Invalid
from shoal.control.api.utilization import (
    ContainerSample,
    NodeSample,
    PodSample,
    UtilizationWindow,
    node_sample_from_proto,
)


def pod(name: str, node: str, *containers: tuple[str, int, int], namespace: str = "default", at: float = 0.0):
    return PodSample(namespace, name, f"uid-{name}", node, tuple(ContainerSample(*c) for c in containers), at, 10.0)


def node(name: str, at: float, *pods: PodSample, cpu: int = 100, memory: int = 1 << 30) -> NodeSample:
    return NodeSample(name, cpu, memory, at, 10.0, pods)


def names(samples) -> list[str]:
    return [f"{getattr(s, 'namespace', '')}/{s.name}".lstrip("/") for s in samples]


def test_a_pod_sums_its_containers():
    p = pod("web", "n1", ("main", 250, 100), ("sidecar", 50, 20))
    assert (p.cpu_millis, p.memory_bytes) == (300, 120)


def test_newest_report_of_a_node_replaces_the_previous_whole():
    window = UtilizationWindow()
    window.record(node("n1", 10.0, pod("a", "n1", ("main", 1, 1)), pod("b", "n1", ("main", 2, 2)), cpu=100), now=10.0)
    window.record(node("n1", 20.0, pod("b", "n1", ("main", 5, 5)), cpu=300), now=20.0)
    assert [(n.name, n.cpu_millis) for n in window.nodes(now=21.0)] == [("n1", 300)]
    assert [(p.name, p.cpu_millis) for p in window.pods(now=21.0)] == [("b", 5)]


def test_a_late_older_sample_changes_nothing():
    window = UtilizationWindow()
    window.record(node("n1", 20.0, cpu=300), now=20.0)
    window.record(node("n1", 10.0, cpu=100), now=21.0)
    assert window.nodes(now=21.0)[0].cpu_millis == 300


def test_pods_by_namespace_sorted():
    window = UtilizationWindow()
    window.record(node("n1", 1.0, pod("z", "n1", ("c", 1, 1), namespace="shop"), pod("a", "n1", ("c", 1, 1))), now=1.0)
    window.record(node("n2", 1.0, pod("m", "n2", ("c", 1, 1), namespace="shop")), now=1.0)
    assert names(window.pods(now=2.0)) == ["default/a", "shop/m", "shop/z"]
    assert names(window.pods(now=2.0, namespace="shop")) == ["shop/m", "shop/z"]
    assert window.pods(now=2.0, namespace="none") == []


def test_a_pod_recreated_on_another_node_follows_the_newer_report():
    window = UtilizationWindow()
    window.record(node("n1", 1.0, pod("web", "n1", ("c", 10, 1))), now=1.0)
    window.record(node("n2", 2.0, pod("web", "n2", ("c", 20, 1))), now=2.0)
    window.record(node("n1", 3.0), now=3.0)  # n1 no longer runs it: the pod stays on n2
    assert [(p.node_name, p.cpu_millis) for p in window.pods(now=3.0)] == [("n2", 20)]


@pytest.mark.parametrize("now, expected", [(69.0, ["n1", "n2"]), (71.0, ["n2"]), (200.0, [])],
                         ids=["both-fresh", "n1-expired", "all-expired"])
def test_nodes_that_stop_reporting_drop_out_after_max_age(now, expected):
    window = UtilizationWindow(max_age=60.0)
    window.record(node("n1", 5.0, pod("a", "n1", ("c", 1, 1))), now=10.0)
    window.record(node("n2", 5.0, pod("b", "n2", ("c", 1, 1))), now=30.0)
    assert names(window.nodes(now=now)) == expected
    assert {p.node_name for p in window.pods(now=now)} == set(expected)


def test_a_node_reporting_rarely_is_kept_for_three_of_its_intervals():
    window = UtilizationWindow(max_age=60.0)
    window.record(NodeSample("slow", 1, 1, 0.0, 120.0, ()), now=0.0)  # reports every two minutes
    assert names(window.nodes(now=350.0)) == ["slow"]
    assert names(window.nodes(now=370.0)) == []


def test_expiry_goes_by_the_servers_clock_not_the_agents():
    window = UtilizationWindow(max_age=60.0)
    window.record(node("skewed", 1.0), now=1_000.0)  # the agent's clock is far behind
    assert names(window.nodes(now=1_030.0)) == ["skewed"]


def test_from_the_wire():
    from shoal.v1 import node_service_pb2 as nsvc

    msg = nsvc.NodeUtilization(node_name="n1", cpu_millis=1500, memory_bytes=2048)
    msg.timestamp.FromSeconds(100)
    msg.window.FromSeconds(10)
    p = msg.pods.add(namespace="default", name="web", uid="u1")
    p.containers.add(name="main", cpu_millis=250, memory_bytes=1024)
    msg.pods.add(namespace="default", name="")  # nameless: dropped
    sample = node_sample_from_proto(msg)
    assert (sample.name, sample.cpu_millis, sample.timestamp, sample.window) == ("n1", 1500, 100.0, 10.0)
    assert sample.pods == (PodSample("default", "web", "u1", "n1", (ContainerSample("main", 250, 1024),), 100.0, 10.0),)
    with pytest.raises(Invalid, match="nodeName is required"):
        node_sample_from_proto(nsvc.NodeUtilization())
