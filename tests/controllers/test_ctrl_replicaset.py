"""The ReplicaSet controller's decisions, with no server: pods in, actions out."""

from __future__ import annotations

import pytest

from ctrl_helpers import NOW, pod, replica_set
from shoal.control.controllers.actions import Create, Delete, Update
from shoal.control.controllers.meta import controller_ref
from shoal.control.controllers.ownership import Expectations
from shoal.control.controllers.pods import deletion_order, pod_from_template
from shoal.control.controllers.replicaset import (
    plan_replica_set,
    replica_set_status,
    slow_start_batches,
    with_replica_failure,
)


def _names(pods):
    return [p.metadata.name for p in pods]


@pytest.mark.parametrize(
    "first,second",
    [
        pytest.param(dict(node=""), dict(node="n1"), id="unassigned-before-assigned"),
        pytest.param(dict(node="n1", phase="Pending"), dict(node="n1", phase="Running"), id="pending-before-running"),
        pytest.param(dict(node="n1", phase="Unknown"), dict(node="n1", phase="Running"), id="unknown-before-running"),
        pytest.param(dict(node="n1", phase="Running"), dict(node="n1", phase="Running", ready_since=NOW - 50),
                     id="not-ready-before-ready"),
        pytest.param(dict(node="n1", phase="Running", ready_since=NOW - 5),
                     dict(node="n1", phase="Running", ready_since=NOW - 500), id="ready-for-less-time-first"),
        pytest.param(dict(node="n1", phase="Running", restarts=4), dict(node="n1", phase="Running", restarts=1),
                     id="more-restarts-first"),
        pytest.param(dict(node="n1", created=NOW - 10), dict(node="n1", created=NOW - 1000), id="newer-first"),
        pytest.param(dict(node="n1", annotations={"controller.kubernetes.io/pod-deletion-cost": "-5"}),
                     dict(node="n1"), id="lower-deletion-cost-first"),
    ],
)
def test_deletion_order_prefers_the_kubernetes_candidates(first, second):
    a, b = pod("a", **first), pod("b", **second)
    assert _names(deletion_order([b, a])) == ["a", "b"]
    assert _names(deletion_order([a, b])) == ["a", "b"]


def test_deletion_order_prefers_pods_doubled_up_on_a_node():
    lonely = pod("lonely", node="n1", phase="Running", ready_since=NOW - 60)
    crowded = [pod(f"c{i}", node="n2", phase="Running", ready_since=NOW - 60) for i in range(2)]
    assert deletion_order([lonely, *crowded])[0].metadata.name in ("c0", "c1")


@pytest.mark.parametrize(
    "replicas,existing,creates,deletes",
    [
        pytest.param(3, 0, 3, 0, id="creates-all"),
        pytest.param(3, 1, 2, 0, id="creates-the-difference"),
        pytest.param(3, 3, 0, 0, id="steady"),
        pytest.param(1, 3, 0, 2, id="deletes-the-excess"),
        pytest.param(0, 2, 0, 2, id="scales-to-zero"),
    ],
)
def test_manage_replicas(replicas, existing, creates, deletes):
    rs = replica_set("web", replicas)
    pods = [pod(f"web-{i}", owner=rs, node="n1", phase="Running") for i in range(existing)]
    plan = plan_replica_set(rs, pods, now=NOW)
    assert len(plan.creates) == creates
    assert len(plan.deletes) == deletes
    for action in plan.creates:
        created = action.obj
        assert created.metadata.generate_name == "web-"
        assert dict(created.metadata.labels) == {"app": "web"}
        ref = controller_ref(created)
        assert ref.uid == rs.metadata.uid and ref.kind == "ReplicaSet" and ref.block_owner_deletion


def test_deletes_the_best_candidates_first():
    rs = replica_set("web", 1)
    ready = pod("ready", owner=rs, node="n1", phase="Running", ready_since=NOW - 100)
    pending = pod("pending", owner=rs, node="n1", phase="Pending")
    unscheduled = pod("unscheduled", owner=rs)
    plan = plan_replica_set(rs, [ready, pending, unscheduled], now=NOW)
    assert [d.name for d in plan.deletes] == ["unscheduled", "pending"]
    assert all(d.uid for d in plan.deletes), "deletes carry a uid precondition"


def test_outstanding_expectations_hold_back_creates_and_deletes():
    rs = replica_set("web", 3)
    plan = plan_replica_set(rs, [], now=NOW, expectations_satisfied=False)
    assert plan.creates == [] and plan.deletes == []
    assert plan.status is not None, "status is still written"


def test_terminating_and_finished_pods_do_not_count():
    rs = replica_set("web", 2)
    pods = [
        pod("gone", owner=rs, node="n1", phase="Running", terminating=True),
        pod("done", owner=rs, node="n1", phase="Succeeded"),
        pod("failed", owner=rs, node="n1", phase="Failed"),
        pod("live", owner=rs, node="n1", phase="Running"),
    ]
    plan = plan_replica_set(rs, pods, now=NOW)
    assert len(plan.creates) == 1
    assert plan.status.replicas == 1


def test_adopts_matching_orphans_and_releases_pods_that_stop_matching():
    rs = replica_set("web", 2)
    orphan = pod("orphan", labels={"app": "web"}, node="n1", phase="Running")
    strayed = pod("strayed", labels={"app": "other"}, owner=rs, node="n1", phase="Running")
    foreign = pod("foreign", labels={"app": "web"}, owner=replica_set("other"), node="n1")
    plan = plan_replica_set(rs, [orphan, strayed, foreign], now=NOW)
    adopted = [a.obj for a in plan.claims if controller_ref(a.obj) is not None]
    released = [a.obj for a in plan.claims if controller_ref(a.obj) is None]
    assert [p.metadata.name for p in adopted] == ["orphan"]
    assert controller_ref(adopted[0]).uid == rs.metadata.uid
    assert [p.metadata.name for p in released] == ["strayed"]
    assert all(isinstance(a, Update) and a.obj.metadata.resource_version for a in plan.claims)
    assert len(plan.creates) == 1, "the adopted pod counts; the released one does not"


def test_a_replica_set_being_deleted_adopts_and_creates_nothing():
    rs = replica_set("web", 3)
    rs.metadata.deletion_timestamp.seconds = int(NOW)
    plan = plan_replica_set(rs, [pod("orphan", labels={"app": "web"})], now=NOW)
    assert plan.claims == [] and plan.creates == []


def test_status_counts_ready_available_and_fully_labeled():
    rs = replica_set("web", 4, min_ready=30)
    rs.spec.template.metadata.labels["tier"] = "front"
    pods = [
        pod("a", labels={"app": "web", "tier": "front"}, owner=rs, node="n", phase="Running", ready_since=NOW - 60),
        pod("b", labels={"app": "web", "tier": "front"}, owner=rs, node="n", phase="Running", ready_since=NOW - 10),
        pod("c", labels={"app": "web"}, owner=rs, node="n", phase="Running"),
    ]
    status, wait = replica_set_status(rs, pods, NOW)
    counts = (status.replicas, status.fully_labeled_replicas, status.ready_replicas, status.available_replicas)
    assert counts == (3, 2, 2, 1)
    assert status.observed_generation == rs.metadata.generation
    assert wait == pytest.approx(20)
    assert plan_replica_set(rs, pods, now=NOW).requeue_after == pytest.approx(20.05)


def test_unchanged_status_is_not_written():
    rs = replica_set("web", 1)
    pods = [pod("a", owner=rs, node="n", phase="Running", ready_since=NOW - 60)]
    status, _ = replica_set_status(rs, pods, NOW)
    rs.status.CopyFrom(status)
    assert plan_replica_set(rs, pods, now=NOW).status is None


def test_replica_failure_condition_is_set_and_cleared():
    rs = replica_set("web", 1)
    failed = with_replica_failure(rs.status, "FailedCreate", "quota", NOW)
    assert [(c.type, c.reason) for c in failed.conditions] == [("ReplicaFailure", "FailedCreate")]
    assert list(with_replica_failure(failed, None, "", NOW).conditions) == []


@pytest.mark.parametrize("count,sizes", [(0, []), (1, [1]), (5, [1, 2, 2]), (10, [1, 2, 4, 3])], ids=str)
def test_slow_start_batches(count, sizes):
    assert slow_start_batches(count) == sizes


def test_expectations_block_until_observed_or_expired():
    clock = [0.0]
    exp = Expectations(clock=lambda: clock[0], ttl=300)
    assert exp.satisfied("ns/web")
    exp.expect("ns/web", adds=2)
    assert not exp.satisfied("ns/web")
    exp.creation_observed("ns/web")
    exp.creation_observed("ns/web")
    assert exp.satisfied("ns/web")
    exp.expect("ns/web", deletes=["u1"])
    assert not exp.satisfied("ns/web")
    clock[0] = 301
    assert exp.satisfied("ns/web"), "a lost watch event must not wedge the controller"


def test_pod_from_template_copies_labels_and_owner():
    rs = replica_set("a" * 70, 1)
    p = pod_from_template(rs.spec.template, rs, generate_name=rs.metadata.name + "-")
    assert len(p.metadata.generate_name) == 58
    assert p.spec == rs.spec.template.spec
    assert isinstance(Create(p), Create) and isinstance(Delete.of(p), Delete)
