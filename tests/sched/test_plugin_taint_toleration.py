"""TaintToleration: hard taints filter on the first untolerated one; PreferNoSchedule taints
score, reversed."""

from __future__ import annotations

import pytest
from plugin_harness import harness
from sched_builders import node, pod, taint
from shoal.sched.framework.status import Code

TT = "TaintToleration"


@pytest.mark.parametrize(
    "taints, tolerations, reasons",
    [
        pytest.param([taint("dedicated", "user1")], [], ("node(s) had untolerated taint {dedicated: user1}",), id="untolerated"),
        pytest.param([taint("dedicated", "user1")], [{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}],
                     None, id="equal"),
        pytest.param([taint("dedicated", "user1")], [{"key": "dedicated", "value": "user1"}], None, id="empty-operator-is-equal-any-effect"),
        pytest.param([taint("dedicated", "user1")], [{"key": "dedicated", "operator": "Equal", "value": "user2"}],
                     ("node(s) had untolerated taint {dedicated: user1}",), id="value-differs"),
        pytest.param([taint("dedicated", "user1")], [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
                     ("node(s) had untolerated taint {dedicated: user1}",), id="effect-differs"),
        pytest.param([taint("dedicated", "user1", "NoExecute")], [{"operator": "Exists"}], None, id="exists-without-key-tolerates-all"),
        pytest.param([taint("a", "1"), taint("b", "2")], [{"key": "a", "operator": "Exists"}],
                     ("node(s) had untolerated taint {b: 2}",), id="second-taint"),
        pytest.param([taint("a", "1"), taint("b", "2")], [], ("node(s) had untolerated taint {a: 1}",), id="first-untolerated-reported"),
        pytest.param([taint("soft", "x", "PreferNoSchedule")], [], None, id="prefer-no-schedule-never-filters"),
    ],
)
def test_filter(taints, tolerations, reasons):
    h = harness([node("n", taints=taints)], pod("p", tolerations=tolerations))
    assert h.filter(TT) == {"n": reasons}
    if reasons:
        assert h.codes(TT) == {"n": Code.UNSCHEDULABLE_AND_UNRESOLVABLE}


def test_score_counts_untolerated_prefer_no_schedule_taints_reversed():
    nodes = [
        node("n0"),
        node("n1", taints=[taint("a", "1", "PreferNoSchedule")]),
        node("n2", taints=[taint("a", "1", "PreferNoSchedule"), taint("b", "2", "PreferNoSchedule")]),
        node("n3", taints=[taint("c", "3", "PreferNoSchedule")]),
    ]
    # The toleration of c (empty effect) counts; a NoSchedule toleration of b does not.
    h = harness(nodes, pod("p", tolerations=[{"key": "c", "operator": "Exists"}, {"key": "b", "operator": "Exists", "effect": "NoSchedule"}]))
    assert h.raw(TT) == {"n0": 0, "n1": 1, "n2": 2, "n3": 0}
    assert h.normalized(TT) == {"n0": 100, "n1": 50, "n2": 0, "n3": 100}


def test_no_taints_normalize_to_100():
    h = harness([node("a"), node("b")], pod("p"))
    assert h.normalized(TT) == {"a": 100, "b": 100}


def test_message_names_key_and_value():
    nodes = [node(f"g{i}", taints=[taint("dedicated", "gpu")]) for i in range(4)] + [node("small", "1", "1Gi")]
    h = harness(nodes, pod("p", "2", "1Gi"))
    assert h.message() == (
        "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) had untolerated taint {dedicated: gpu}. "
        "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
    )
