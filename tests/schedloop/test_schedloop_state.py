"""The scheduling state without a server: informer changes in, actions out. Assume-then-bind,
confirmation without double counting, bind failures, status written once per outcome,
preemption's nominations and reservations."""

from __future__ import annotations

import numpy as np
import pytest
from loop_helpers import bound, deleting, node_msg, pod_msg
from sched_builders import taint
from shoal.sched.loop import actions as act
from shoal.sched.loop.state import ADDED, DELETED, MODIFIED, SchedulerState


def new_state(*nodes) -> SchedulerState:
    state = SchedulerState(validate=True)
    for n in nodes:
        state.on_node(ADDED, n, 0.0)
    return state


def of(kind, actions):
    return [a for a in actions if isinstance(a, kind)]


def cpu_requested(state, node: str) -> int:
    s = state.snapshot
    return int(s.requested[s.node_index[node], 0])


def test_two_pods_never_take_the_same_room():
    state = new_state(node_msg("n1", cpu="1"))
    state.on_pod(ADDED, pod_msg("a", "600m"), 0.0)
    state.on_pod(ADDED, pod_msg("b", "600m"), 0.0)
    actions = state.schedule(0.0, limit=1)  # one per batch: the first is assumed before the second
    actions += state.schedule(0.0, limit=1)
    assert [(b.pod.name, b.node) for b in of(act.Bind, actions)] == [("a", "n1")]
    (status,) = of(act.SetScheduled, actions)
    assert status.pod.name == "b" and status.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_the_watch_confirms_an_assumed_pod_without_counting_it_twice():
    state = new_state(node_msg("n1"))
    p = pod_msg("a", "500m")
    state.on_pod(ADDED, p, 0.0)
    (bind,) = of(act.Bind, state.schedule(0.0, 10))
    assert cpu_requested(state, "n1") == 500
    state.on_pod(MODIFIED, bound(p, "n1"), 0.1)  # the watch may come before the bind's answer
    assert cpu_requested(state, "n1") == 500
    (event,) = state.bind_succeeded(bind.pod, "n1")
    assert (event.reason, event.message) == ("Scheduled", "Successfully assigned default/a to n1")
    assert cpu_requested(state, "n1") == 500 and len(state.queue) == 0
    assert state.cache.check() == []


def test_a_failed_bind_gives_the_room_back_and_retries_after_a_backoff():
    state = new_state(node_msg("n1", cpu="1"))
    p = pod_msg("a", "600m")
    state.on_pod(ADDED, p, 0.0)
    (bind,) = of(act.Bind, state.schedule(0.0, 10))
    actions = state.bind_failed(bind.pod, "n1", "UNAVAILABLE", "connection reset", now=1.0)
    assert cpu_requested(state, "n1") == 0
    assert [a.reason for a in actions] == ["FailedScheduling"]
    assert state.queue.get("default/a").phase == "backoff"
    assert state.schedule(1.5, 10) == []  # 1 s backoff
    (again,) = of(act.Bind, state.schedule(2.0, 10))
    assert again.node == "n1" and cpu_requested(state, "n1") == 600


@pytest.mark.parametrize("code", ["FAILED_PRECONDITION", "NOT_FOUND", "ABORTED"])
def test_a_bind_refused_for_good_drops_the_pod(code):
    state = new_state(node_msg("n1"))
    state.on_pod(ADDED, pod_msg("a", "100m"), 0.0)
    (bind,) = of(act.Bind, state.schedule(0.0, 10))
    assert state.bind_failed(bind.pod, "n1", code, "pod a is already assigned to node \"n2\"", 1.0) == []
    assert len(state.queue) == 0 and cpu_requested(state, "n1") == 0


def test_someone_elses_bind_counts_where_it_happened():
    state = new_state(node_msg("n1"), node_msg("n2"))
    p = pod_msg("a", "100m")
    state.on_pod(ADDED, p, 0.0)
    (bind,) = of(act.Bind, state.schedule(0.0, 10))
    other = "n2" if bind.node == "n1" else "n1"
    state.on_pod(MODIFIED, bound(p, other), 0.1)
    state.bind_failed(bind.pod, bind.node, "FAILED_PRECONDITION", "already assigned", 0.2)
    assert cpu_requested(state, other) == 100 and cpu_requested(state, bind.node) == 0
    assert state.cache.check() == []


def test_deleting_a_bound_pod_lets_a_waiting_one_in():
    state = new_state(node_msg("n1", cpu="1"))
    big = pod_msg("big", "800m", node_name="n1")
    state.on_pod(ADDED, big, 0.0)
    state.on_pod(ADDED, pod_msg("w", "500m"), 0.0)
    assert of(act.Bind, state.schedule(0.0, 10)) == []
    assert state.queue.get("default/w").phase == "unschedulable"
    state.on_pod(DELETED, big, 5.0)
    (b,) = of(act.Bind, state.schedule(5.0, 10))
    assert b.pod.name == "w"


def test_a_new_node_lets_a_waiting_pod_in():
    state = new_state()
    state.on_pod(ADDED, pod_msg("w", "500m"), 0.0)
    actions = state.schedule(0.0, 10)
    assert of(act.SetScheduled, actions)[0].message == "no nodes available to schedule pods"
    state.on_node(ADDED, node_msg("n1"), 2.0)
    assert of(act.Bind, state.schedule(2.0, 10))[0].node == "n1"


def test_a_node_heartbeat_changes_nothing():
    n = node_msg("n1")
    state = new_state(n)
    version = state.snapshot.node_version
    again = type(n)()
    again.CopyFrom(n)
    again.metadata.resource_version = "999999"
    state.on_node(MODIFIED, again, 1.0)
    assert state.snapshot.node_version == version


def test_pods_of_a_removed_node_come_back_with_it():
    n = node_msg("n1")
    state = new_state(n)
    state.on_pod(ADDED, pod_msg("a", "300m", node_name="n1"), 0.0)
    state.on_node(DELETED, n, 1.0)
    assert state.snapshot.n_nodes == 0 and "n1" in state.cache.orphans
    state.on_node(ADDED, n, 2.0)
    assert cpu_requested(state, "n1") == 300 and state.cache.check() == []


def test_status_is_written_once_per_outcome_but_every_attempt_has_an_event():
    state = new_state(node_msg("n1", cpu="1"))
    state.on_pod(ADDED, pod_msg("w", "2"), 0.0)
    first = state.schedule(0.0, 10)
    state.queue.move(10.0)
    second = state.schedule(10.0, 10)
    assert len(of(act.SetScheduled, first)) == 1 and of(act.SetScheduled, second) == []
    assert [e.reason for e in of(act.RecordEvent, first + second)] == ["FailedScheduling"] * 2


def test_a_pod_already_marked_unschedulable_is_not_written_again():
    state = new_state(node_msg("n1", cpu="1"))
    p = pod_msg("w", "2")
    state.on_pod(ADDED, p, 0.0)
    (status,) = of(act.SetScheduled, state.schedule(0.0, 10))
    written = type(p)()
    written.CopyFrom(p)
    written.status.conditions.add(type="PodScheduled", status="False", reason="Unschedulable", message=status.message)
    restarted = new_state(node_msg("n1", cpu="1"))
    restarted.on_pod(ADDED, written, 0.0)
    assert of(act.SetScheduled, restarted.schedule(0.0, 10)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"scheduler_name": "other-scheduler"},
        {"gates": ["example.com/wait"]},
    ],
    ids=["other-scheduler", "scheduling-gates"],
)
def test_pods_that_are_not_ours_to_place_are_skipped(change):
    state = new_state(node_msg("n1"))
    state.on_pod(ADDED, pod_msg("a", "100m", **change), 0.0)
    assert state.schedule(0.0, 10) == []


def test_removing_the_gates_lets_the_pod_in():
    state = new_state(node_msg("n1"))
    p = pod_msg("a", "100m", gates=["example.com/wait"])
    state.on_pod(ADDED, p, 0.0)
    ungated = type(p)()
    ungated.CopyFrom(p)
    del ungated.spec.scheduling_gates[:]
    ungated.metadata.generation = 2
    state.on_pod(MODIFIED, ungated, 1.0)
    assert of(act.Bind, state.schedule(1.0, 10))[0].pod.name == "a"


def test_a_pod_deleted_while_pending_is_forgotten():
    state = new_state(node_msg("n1", cpu="1"))
    p = pod_msg("a", "100m")
    state.on_pod(ADDED, p, 0.0)
    state.on_pod(MODIFIED, deleting(p), 0.1)
    assert state.schedule(0.0, 10) == [] and len(state.queue) == 0


def test_a_recreated_pod_is_a_new_pod():
    state = new_state(node_msg("n1"))
    state.on_pod(ADDED, pod_msg("a", "100m", uid="u1"), 0.0)
    (b1,) = of(act.Bind, state.schedule(0.0, 10))
    state.on_pod(DELETED, pod_msg("a", "100m", uid="u1"), 0.1)
    state.on_pod(ADDED, pod_msg("a", "200m", uid="u2"), 0.2)
    state.bind_failed(b1.pod, "n1", "NOT_FOUND", "gone", 0.3)
    (b2,) = of(act.Bind, state.schedule(0.3, 10))
    assert b2.pod.uid == "u2" and cpu_requested(state, "n1") == 200


def test_terminal_pods_free_their_room():
    state = new_state(node_msg("n1", cpu="1"))
    done = pod_msg("done", "900m", node_name="n1")
    state.on_pod(ADDED, done, 0.0)
    finished = type(done)()
    finished.CopyFrom(done)
    finished.status.phase = "Succeeded"
    state.on_pod(MODIFIED, finished, 1.0)
    assert cpu_requested(state, "n1") == 0


def test_preemption_nominates_evicts_and_holds_the_room():
    state = new_state(node_msg("n1", cpu="1"), node_msg("n2", cpu="1", taints=[taint("x", "y")]))
    low = pod_msg("low", "800m", node_name="n1", priority=0)
    state.on_pod(ADDED, low, 0.0)
    state.on_pod(ADDED, pod_msg("high", "800m", priority=100), 0.0)
    actions = state.schedule(0.0, 10)
    (evict,) = of(act.Evict, actions)
    assert (evict.victim.name, evict.preemptor.name, evict.node) == ("low", "high", "n1")
    (status,) = of(act.SetScheduled, actions)
    assert status.nominated == "n1" and status.message.startswith("0/2 nodes are available:")
    assert "default/high" in state.cache.reservations
    # Meanwhile a lower-priority pod does not get the room the victim leaves.
    state.on_pod(ADDED, pod_msg("late", "500m", priority=0), 1.0)
    state.on_pod(DELETED, low, 1.0)
    state.queue.get("default/high").backoff_until = 0.0
    binds = of(act.Bind, state.schedule(1.0, 10))
    assert [(b.pod.name, b.node) for b in binds] == [("high", "n1")]
    assert state.cache.check() == []


def test_a_preemptor_waits_while_its_victims_terminate():
    state = new_state(node_msg("n1", cpu="1"))
    low = pod_msg("low", "800m", node_name="n1", priority=0)
    state.on_pod(ADDED, low, 0.0)
    state.on_pod(ADDED, pod_msg("high", "800m", priority=100), 0.0)
    assert len(of(act.Evict, state.schedule(0.0, 10))) == 1
    marked = deleting(low)
    marked.status.conditions.add(type="DisruptionTarget", status="True", reason="PreemptionByScheduler")
    state.on_pod(MODIFIED, marked, 1.0)
    state.queue.move(20.0)
    actions = state.schedule(20.0, 10)
    assert of(act.Evict, actions) == [] and of(act.Bind, actions) == []
    (event,) = of(act.RecordEvent, actions)
    assert event.message.endswith("preemption: not eligible due to a terminating pod on the nominated node.")
    assert state.cache.reservations["default/high"].node == "n1"


def test_a_higher_priority_preemptor_takes_a_nominated_pods_room():
    state = new_state(node_msg("n1", cpu="1"))
    state.on_pod(ADDED, pod_msg("low", "800m", node_name="n1", priority=0), 0.0)
    state.on_pod(ADDED, pod_msg("mid", "800m", priority=50), 0.0)
    assert len(of(act.Evict, state.schedule(0.0, 10))) == 1
    state.on_pod(ADDED, pod_msg("top", "800m", priority=100), 1.0)
    actions = state.schedule(1.0, 10)
    cleared = [a for a in of(act.SetScheduled, actions) if a.pod.name == "mid"]
    assert cleared and cleared[0].nominated == ""
    assert "default/mid" not in state.cache.reservations and "default/top" in state.cache.reservations


def test_equal_preemptors_in_one_batch_each_get_their_own_plan():
    state = new_state(node_msg("n1", cpu="1"), node_msg("n2", cpu="1"))
    state.on_pod(ADDED, pod_msg("low1", "800m", node_name="n1"), 0.0)
    state.on_pod(ADDED, pod_msg("low2", "800m", node_name="n2"), 0.0)
    state.on_pod(ADDED, pod_msg("h1", "800m", priority=100), 0.0)
    state.on_pod(ADDED, pod_msg("h2", "800m", priority=100), 0.0)
    evicts = of(act.Evict, state.schedule(0.0, 10))
    evicts += of(act.Evict, state.schedule(0.0, 10))
    assert sorted((e.preemptor.name, e.victim.name) for e in evicts) in (
        [("h1", "low1"), ("h2", "low2")], [("h1", "low2"), ("h2", "low1")])


def test_batched_placement_matches_the_offline_scheduler():
    from shoal.sched import place

    nodes = [node_msg(f"n{i}", cpu="2", labels={"zone": f"z{i % 3}"}) for i in range(12)]
    pods = [pod_msg(f"p{i:03d}", ["100m", "300m", "700m"][i % 3], created=1_700_000_000 + i) for i in range(60)]
    state = new_state(*nodes)
    for p in pods:
        state.on_pod(ADDED, p, 0.0)
    binds = []
    while True:
        got = of(act.Bind, state.schedule(0.0, 7))
        if not got:
            break
        binds += got
    offline = place(nodes, pods)
    assert {b.pod.name: b.node for b in binds} == {a.pod.split("/")[1]: a.node for a in offline.assignments}
    alloc = state.snapshot.alloc
    assert np.all(state.snapshot.requested <= alloc)


def test_a_late_pending_view_of_a_placed_pod_does_not_queue_it_again():
    # The bind has succeeded but the watch has not shown it yet; meanwhile an older, pending
    # version of the pod arrives (the replay after a paged list). It must not be placed twice.
    state = new_state(node_msg("n1"), node_msg("n2"))
    p = pod_msg("a", "100m")
    state.on_pod(ADDED, p, 0.0)
    (bind,) = of(act.Bind, state.schedule(0.0, 10))
    state.bind_succeeded(bind.pod, bind.node)
    state.on_pod(MODIFIED, p, 0.1)
    assert state.schedule(0.1, 10) == [] and len(state.queue) == 0
    state.on_pod(MODIFIED, bound(p, bind.node), 0.2)
    assert cpu_requested(state, bind.node) == 100 and state.cache.check() == []


def test_a_batch_that_fails_half_way_leaves_nothing_behind(monkeypatch):
    state = new_state(node_msg("n1"))
    state.on_pod(ADDED, pod_msg("a", "100m"), 0.0)
    state.on_pod(ADDED, pod_msg("b", "100m", created=1_700_000_001), 0.0)
    real_place = state.scheduler.place

    def half_way(infos):
        state.snapshot.add_pod(infos[0], 0)  # committed one pod, then broke
        raise RuntimeError("a bug")

    monkeypatch.setattr(state.scheduler, "place", half_way)
    with pytest.raises(RuntimeError):
        state.schedule(0.0, 10)
    assert cpu_requested(state, "n1") == 0
    assert {e.phase for e in state.queue.entries.values()} == {"backoff"}
    monkeypatch.setattr(state.scheduler, "place", real_place)
    assert len(of(act.Bind, state.schedule(5.0, 10))) == 2 and state.cache.check() == []


def test_namespace_labels_from_the_watch_reach_namespace_selectors():
    from shoal.proto import manifests

    state = new_state(node_msg("n1"), node_msg("n2"))
    state.on_pod(ADDED, pod_msg("db", "100m", namespace="team-a", labels={"app": "db"}, node_name="n2"), 0.0)
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": "db"}}, "namespaceSelector": {"matchLabels": {"team": "a"}},
        "topologyKey": "kubernetes.io/hostname"}]}}
    state.on_pod(ADDED, pod_msg("web", "100m", affinity=affinity), 0.0)
    assert of(act.Bind, state.schedule(0.0, 10)) == []
    ns = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"team": "a"}}})
    state.on_context("Namespace", ADDED, ns)
    (bind,) = of(act.Bind, state.schedule(1.0, 10))
    assert bind.node == "n2"
