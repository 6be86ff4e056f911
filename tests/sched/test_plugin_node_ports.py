"""NodePorts: host port conflicts (wildcard and specific IPs, protocols)."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod
from shoal.sched.plugins.node_ports import conflicts
from shoal.sched.podinfo import HostPort


@pytest.mark.parametrize(
    "wanted, used, conflict",
    [
        pytest.param([HostPort("0.0.0.0", "TCP", 80)], [HostPort("0.0.0.0", "TCP", 80)], True, id="same"),
        pytest.param([HostPort("0.0.0.0", "TCP", 80)], [HostPort("0.0.0.0", "UDP", 80)], False, id="other-protocol"),
        pytest.param([HostPort("0.0.0.0", "TCP", 80)], [HostPort("0.0.0.0", "TCP", 81)], False, id="other-port"),
        pytest.param([HostPort("127.0.0.1", "TCP", 80)], [HostPort("0.0.0.0", "TCP", 80)], True, id="ip-vs-wildcard"),
        pytest.param([HostPort("0.0.0.0", "TCP", 80)], [HostPort("127.0.0.1", "TCP", 80)], True, id="wildcard-vs-ip"),
        pytest.param([HostPort("127.0.0.1", "TCP", 80)], [HostPort("127.0.0.2", "TCP", 80)], False, id="different-ips"),
    ],
)
def test_conflicts(wanted, used, conflict):
    assert conflicts(wanted, used) is conflict


def test_filter_and_message():
    nodes = [node("a"), node("b")]
    existing = [pod("e", host_ports=[8080], node_name="a")]
    h = harness(nodes, pod("p", host_ports=[8080]), existing)
    assert h.filter("NodePorts") == {"a": ("node(s) didn't have free ports for the requested pod ports",), "b": None}
    assert h.choice() == "b"
    h = harness([node("a")], pod("p", host_ports=[8080]), existing)
    assert h.message() == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
