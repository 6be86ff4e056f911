"""Gangs in the scheduler's state machine, driven without processes: members wait for minMember,
are placed all together or not at all, every member says why, the PodGroup's status follows."""

from __future__ import annotations

from loop_helpers import bound, node_msg, pod_msg
from shoal.proto import manifests
from shoal.sched.loop import actions as act
from shoal.sched.loop.gang import (
    PHASE_PENDING,
    PHASE_RUNNING,
    PHASE_SCHEDULED,
    SetGroupStatus,
)
from shoal.sched.loop.state import SchedulerState

GROUP = "scheduling.x-k8s.io/pod-group"
CPUS = [1, 1, 2, 2, 2, 2, 3, 3]  # 16 cpu: fits 4 x 4 cpu exactly, only when packed as a whole


def pod_group(name: str, min_member: int):
    msg = manifests.from_dict({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
                               "metadata": {"name": name, "namespace": "default"}, "spec": {"minMember": min_member}})
    msg.metadata.uid = f"uid-pg-{name}"
    return msg


def members(cpus, group="train"):
    return [pod_msg(f"w{i}", str(c), "1Gi", labels={GROUP: group}, created=1_700_000_000 + i) for i, c in enumerate(cpus)]


def cluster(n_nodes=4, cpu="4"):
    state = SchedulerState(validate=True, gang_time_limit=1.0)
    state.on_nodes([("ADDED", node_msg(f"n{i}", cpu, "8Gi")) for i in range(n_nodes)], 0.0)
    return state


def of(actions, kind):
    return [a for a in actions if type(a) is kind]


def test_members_wait_for_min_member_then_the_gang_is_placed_whole():
    state = cluster()
    state.on_context("PodGroup", "ADDED", pod_group("train", 8))
    pods = members(CPUS)
    for p in pods[:7]:
        state.on_pod("ADDED", p, 0.0)
    out = state.schedule(1.0, 100)
    assert of(out, act.Bind) == []
    waits = of(out, act.SetScheduled)
    assert len(waits) == 7
    assert all(w.message == "pod group default/train: 7 of minMember 8 pods exist; waiting for the rest" for w in waits)
    state.on_pod("ADDED", pods[7], 2.0)
    out = state.schedule(2.0, 1)  # one popped: it takes the other seven along
    binds = of(out, act.Bind)
    assert sorted(b.pod.name for b in binds) == [f"w{i}" for i in range(8)]
    load = {}
    for b, c in zip(sorted(binds, key=lambda b: b.pod.name), CPUS):
        load[b.node] = load.get(b.node, 0) + c
    assert all(v <= 4 for v in load.values()) and sum(load.values()) == 16
    assert state.cache.check() == []


def test_a_gang_that_does_not_fit_leaves_nothing_assumed_and_every_member_says_why():
    state = cluster()
    state.on_context("PodGroup", "ADDED", pod_group("train", 8))
    for p in members(CPUS[:-1] + [4]):  # 17 cpu on 16
        state.on_pod("ADDED", p, 0.0)
    before = state.snapshot.requested.copy()
    out = state.schedule(1.0, 100)
    assert of(out, act.Bind) == []
    assert (state.snapshot.requested == before).all() and not state.cache.pods
    msgs = {w.pod.name: w.message for w in of(out, act.SetScheduled)}
    assert set(msgs) == {f"w{i}" for i in range(8)}
    for m in msgs.values():
        assert m.startswith("pod group default/train: gang not placed: gang default/train needs 8 of 8"), m
        assert "This pod: alone it would fit" in m  # every member alone fits: the gang is the reason
    assert {e.reason for e in of(out, act.RecordEvent)} == {"FailedScheduling"}
    (status,) = [s for s in state.gangs.statuses() if s.name == "train"]
    assert status.phase == PHASE_PENDING and status.scheduled == 0
    assert status.condition[0] == "False" and status.condition[1] == "Unschedulable"
    assert "gang not placed" in status.condition[2]
    # A bigger node arrives: the move brings the gang back, and it fits now.
    state.on_nodes([("ADDED", node_msg("n-big", "8", "16Gi"))], 5.0)
    out = []
    for t in (20.0, 40.0, 80.0):
        out += state.schedule(t, 100)
    assert len(of(out, act.Bind)) == 8


def test_a_member_its_own_filters_reject_is_named_in_its_message():
    state = cluster(2)
    state.on_context("PodGroup", "ADDED", pod_group("g", 2))
    ok = pod_msg("a", "1", labels={GROUP: "g"})
    picky = pod_msg("b", "1", labels={GROUP: "g"}, node_selector={"disk": "ssd"})
    state.on_pod("ADDED", ok, 0.0)
    state.on_pod("ADDED", picky, 0.0)
    msgs = {w.pod.name: w.message for w in of(state.schedule(1.0, 10), act.SetScheduled)}
    assert "1 member(s) fit no node" in msgs["b"]
    assert msgs["b"].endswith("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
                              "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    assert "This pod: alone it would fit" in msgs["a"]


def test_pods_of_an_unknown_group_wait_and_group_status_follows_the_members():
    state = cluster()
    pods = members([1, 1])
    for p in pods:
        state.on_pod("ADDED", p, 0.0)
    out = state.schedule(1.0, 10)
    assert {w.message for w in of(out, act.SetScheduled)} == {
        "pod group default/train not found: its pods wait until it is created"}
    state.on_context("PodGroup", "ADDED", pod_group("train", 2))
    binds = of(state.schedule(40.0, 10), act.Bind)
    assert len(binds) == 2
    for p, b in zip(pods, sorted(binds, key=lambda b: b.pod.name)):
        state.on_pod("MODIFIED", bound(p, b.node), 41.0)
    (status,) = state.gangs.statuses()
    assert isinstance(status, SetGroupStatus) and status.phase == PHASE_SCHEDULED and status.scheduled == 2
    for p, b in zip(pods, sorted(binds, key=lambda b: b.pod.name)):
        running = bound(p, b.node)
        running.status.phase = "Running"
        state.on_pod("MODIFIED", running, 42.0)
    (status,) = state.gangs.statuses()
    assert status.phase == PHASE_RUNNING and status.running == 2 and status.condition[0] == "True"
    assert status.condition[2].startswith("2 of minMember 2 pods bound, placed by ")
    assert state.gangs.statuses() == []  # nothing changed: nothing to write


def test_ordinary_pods_in_the_same_batch_are_placed_as_before():
    state = cluster()
    state.on_context("PodGroup", "ADDED", pod_group("train", 3))
    for p in members([1, 1]) + [pod_msg("plain", "1")]:
        state.on_pod("ADDED", p, 0.0)
    out = state.schedule(1.0, 10)
    assert [b.pod.name for b in of(out, act.Bind)] == ["plain"]
    assert len(of(out, act.SetScheduled)) == 2


def test_group_status_body_sets_counts_and_the_condition_once():
    from shoal.sched.loop.gang_status import group_status

    pg = pod_group("g", 2)
    wish = SetGroupStatus("default", "g", pg.metadata.uid, PHASE_SCHEDULED, 2, 0, 0, 0,
                          ("True", "Scheduled", "2 of minMember 2 pods bound"))
    status = group_status(pg, wish)
    assert status.phase == PHASE_SCHEDULED and status.scheduled == 2
    (cond,) = status.conditions
    assert (cond.type, cond.status, cond.reason) == ("PodGroupScheduled", "True", "Scheduled")
    assert cond.last_transition_time.seconds > 0 and status.schedule_start_time.seconds > 0
    pg.status.CopyFrom(status)
    assert group_status(pg, wish) is None  # already says so: nothing to write


def test_a_gang_with_anti_affinity_among_its_members_is_placed_one_at_a_time_or_not_at_all():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "ps"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    for n_nodes, fits in ((3, True), (2, False)):
        state = cluster(n_nodes)
        state.on_context("PodGroup", "ADDED", pod_group("ps", 3))
        for i in range(3):
            state.on_pod("ADDED", pod_msg(f"ps{i}", "1", labels={GROUP: "ps", "app": "ps"}, affinity=anti), 0.0)
        out = state.schedule(1.0, 10)
        binds = of(out, act.Bind)
        if fits:
            assert len({b.node for b in binds}) == 3
        else:
            assert binds == [] and not state.cache.pods and state.cache.check() == []
            msgs = [w.message for w in of(out, act.SetScheduled)]
            assert len(msgs) == 3
            assert all("needs 3 of 3 members placed together; only 2 fit one at a time; none placed" in m for m in msgs)
