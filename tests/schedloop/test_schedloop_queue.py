"""The scheduling queue as kube-scheduler keeps it: order, backoff, unschedulable pods and the
events and time that bring them back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from shoal.sched.loop.queue import SchedulingQueue, backoff_duration


@dataclass
class FakeInfo:
    queue_key: tuple
    cls: object = field(default=None)


def q_with(*pods: tuple[str, int, float], **kw) -> SchedulingQueue:
    q = SchedulingQueue(**kw)
    for i, (key, priority, created) in enumerate(pods):
        q.add(key, f"uid-{key}", FakeInfo((-priority, created, i)), None)
    return q


def keys(entries) -> list[str]:
    return [e.key for e in entries]


@pytest.mark.parametrize(
    "attempts, seconds",
    [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (30, 10.0)],
    ids=lambda v: str(v),
)
def test_backoff_doubles_from_1s_to_10s(attempts, seconds):
    assert backoff_duration(attempts) == seconds


def test_active_pods_come_by_priority_then_creation_time():
    q = q_with(("a", 0, 3.0), ("b", 10, 5.0), ("c", 0, 1.0), ("d", 10, 4.0))
    assert keys(q.pop(10)) == ["d", "b", "c", "a"]
    assert q.pop(10) == []


def test_pop_takes_at_most_the_limit_and_counts_attempts():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0), ("c", 0, 3.0))
    first = q.pop(2)
    assert keys(first) == ["a", "b"] and all(e.attempts == 1 and e.phase == "in_flight" for e in first)
    assert keys(q.pop(2)) == ["c"]


def test_unschedulable_pod_waits_for_an_event():
    q = q_with(("a", 0, 1.0))
    (e,) = q.pop(1)
    q.unschedulable(e, now=100.0)
    assert e.phase == "unschedulable"
    q.flush(now=105.0)
    assert q.pop(1) == []


def test_move_sends_a_pod_to_backoff_until_its_backoff_is_over():
    q = q_with(("a", 0, 1.0))
    (e,) = q.pop(1)
    q.unschedulable(e, now=100.0)  # first attempt: 1 s backoff
    q.move(now=100.5)
    assert e.phase == "backoff"
    q.flush(now=100.9)
    assert q.pop(1) == []
    q.flush(now=101.0)
    assert keys(q.pop(1)) == ["a"]


def test_move_after_the_backoff_goes_straight_to_active():
    q = q_with(("a", 0, 1.0))
    (e,) = q.pop(1)
    q.unschedulable(e, now=100.0)
    q.move(now=102.0)
    assert e.phase == "active"


def test_move_can_pick_which_pods():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0))
    for e in q.pop(2):
        q.unschedulable(e, now=100.0)
    assert q.move(now=200.0, which=lambda e: e.key == "b") == 1
    assert q.get("a").phase == "unschedulable" and q.get("b").phase == "active"


def test_a_move_while_in_flight_is_not_lost():
    q = q_with(("a", 0, 1.0))
    (e,) = q.pop(1)
    q.move(now=100.0)  # e.g. a node was added while the pod was being placed
    q.unschedulable(e, now=100.0)
    assert e.phase == "backoff"


def test_unschedulable_pods_are_flushed_after_30_seconds():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0))
    ea, eb = q.pop(2)
    q.unschedulable(ea, now=100.0)
    q.unschedulable(eb, now=110.0)
    assert q.next_wakeup(now=100.0) == pytest.approx(30.0)
    q.flush(now=130.0)
    assert ea.phase == "active" and eb.phase == "unschedulable"
    assert q.next_wakeup(now=130.0) == 0.0


def test_backoff_grows_with_attempts():
    q = q_with(("a", 0, 1.0))
    now = 0.0
    waits = []
    for _ in range(6):
        q.flush(now)
        (e,) = q.pop(1)
        q.error(e, now)
        waits.append(e.backoff_until - now)
        now = e.backoff_until
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_gated_pods_are_not_popped_until_their_gates_go():
    q = SchedulingQueue()
    info = FakeInfo((0, 1.0, 0))
    q.add("a", "u", info, None, gated=True)
    assert q.pop(1) == [] and q.get("a").phase == "gated"
    q.update("a", info, None, gated=False, changed=True, now=0.0)
    assert keys(q.pop(1)) == ["a"]


def test_an_unschedulable_pod_that_changed_is_tried_again():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0))
    ea, eb = q.pop(2)
    q.unschedulable(ea, now=100.0)
    q.unschedulable(eb, now=100.0)
    q.update("a", ea.info, None, gated=False, changed=True, now=105.0)
    q.update("b", eb.info, None, gated=False, changed=False, now=105.0)  # a status write, say
    assert ea.phase == "active" and eb.phase == "unschedulable"


def test_a_priority_change_reorders_the_active_heap():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0))
    q.update("b", FakeInfo((-5, 2.0, 1)), None, gated=False, changed=True, now=0.0)
    assert keys(q.pop(2)) == ["b", "a"]


def test_removed_pods_are_not_popped():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0))
    q.remove("a")
    assert keys(q.pop(2)) == ["b"] and "a" not in q


def test_retry_now_undoes_the_attempt():
    q = q_with(("a", 0, 1.0))
    (e,) = q.pop(1)
    q.retry_now(e)
    assert e.phase == "active" and e.attempts == 0
    assert keys(q.pop(1)) == ["a"]


def test_counts_follow_the_phases():
    q = q_with(("a", 0, 1.0), ("b", 0, 2.0), ("c", 0, 3.0))
    ea, eb, ec = q.pop(3)
    q.binding(ea)
    q.unschedulable(eb, now=0.0)
    q.error(ec, now=0.0)
    assert q.phases() == {"binding": 1, "unschedulable": 1, "backoff": 1}
    q.done("a")
    q.remove("b")
    assert q.phases() == {"backoff": 1} and len(q) == 1
