"""The Deployment controller's decisions, with no server.

Besides single decisions, a small simulated cluster runs whole rollouts: the planner's writes
are applied to in-memory ReplicaSets, and a separate step plays the ReplicaSet controller and
the kubelets (pods appear, become available a step later, vanish on scale-down, and only then
does ReplicaSet status catch up). Controller and cluster steps interleave in random orders, so
the planner often acts on stale status, as it does for real."""

from __future__ import annotations

import random

import pytest

from ctrl_helpers import NOW, deployment, owned_by, replica_set, uid
from shoal.control.controllers import deployment_util as du
from shoal.control.controllers.actions import Create, Delete, Emit, Update, UpdateStatus
from shoal.control.controllers.deployment import plan_deployment, rollback_template
from shoal.control.controllers.meta import clone, timestamp
from shoal.proto.client import APIStatusError


class Cluster:
    """ReplicaSets of one Deployment, their pods (as ages), and the Deployment itself."""

    def __init__(self, d, ready_after: int = 1) -> None:
        self.d = clone(d)
        self.rses: dict[str, object] = {}
        self.pods: dict[str, list[int]] = {}
        self.now = NOW
        self.rv = 100
        self.ready_after = ready_after
        self.events: list[str] = []

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def controller_step(self):
        plan = plan_deployment(self.d, list(self.rses.values()), [], self.now)
        for action in plan.actions:
            try:
                self.apply(action)
            except APIStatusError:
                break  # the runner stops at the first failed write and syncs again
        return plan

    def apply(self, action) -> None:
        import grpc

        if isinstance(action, Emit):
            self.events.append(action.message)
        elif isinstance(action, Create):
            rs = clone(action.obj)
            assert rs.metadata.name not in self.rses, "a second new ReplicaSet"
            rs.metadata.uid = uid("rs")
            rs.metadata.creation_timestamp.CopyFrom(timestamp(self.now))
            rs.metadata.generation = 1
            rs.metadata.resource_version = self._next_rv()
            self.rses[rs.metadata.name] = rs
            self.pods[rs.metadata.name] = []
        elif isinstance(action, Update) and action.obj.DESCRIPTOR.name == "Deployment":
            self.d.metadata.annotations.clear()
            self.d.metadata.annotations.update(action.obj.metadata.annotations)
        elif isinstance(action, Update):
            current = self.rses[action.obj.metadata.name]
            if action.obj.metadata.resource_version != current.metadata.resource_version:
                raise APIStatusError(grpc.StatusCode.ABORTED, "conflict")
            new = clone(action.obj)
            new.status.CopyFrom(current.status)
            new.metadata.generation = current.metadata.generation + (new.spec != current.spec)
            new.metadata.resource_version = self._next_rv()
            self.rses[new.metadata.name] = new
        elif isinstance(action, UpdateStatus):
            self.d.status.CopyFrom(action.obj.status)
        elif isinstance(action, Delete):
            del self.rses[action.name]
            del self.pods[action.name]

    def cluster_step(self, rng: random.Random | None = None) -> None:
        """The ReplicaSet controller and the kubelets: pods follow spec and age; each
        ReplicaSet's status catches up with its pods, or (at random, with ``rng``) keeps saying
        what they were, as when the ReplicaSet controller has deleted pods but not yet written
        its status."""
        self.now += 1
        for name, rs in self.rses.items():
            pods = sorted(self.pods[name], reverse=True)  # oldest first
            want = du.replicas_of(rs)
            pods = pods[:want] + [0] * max(0, want - len(pods))
            pods = [age + 1 for age in pods]
            self.pods[name] = pods
            if rng is not None and rng.random() < 0.5:
                continue
            available = sum(1 for age in pods if age > self.ready_after)
            rs.status.replicas = len(pods)
            rs.status.ready_replicas = available
            rs.status.available_replicas = available
            rs.status.observed_generation = rs.metadata.generation

    def available(self) -> int:
        return sum(1 for pods in self.pods.values() for age in pods if age > self.ready_after)

    def total(self) -> int:
        return sum(len(p) for p in self.pods.values())

    def new_rs(self):
        return next((rs for rs in self.rses.values()
                     if du.equal_ignore_hash(rs.spec.template, self.d.spec.template)), None)

    def run(self, rng: random.Random, steps: int = 400, check=None) -> None:
        for _ in range(steps):
            if rng.random() < 0.5:
                self.controller_step()
            else:
                self.cluster_step(rng)
                if check:
                    check(self)
            if self.done():
                return
        raise AssertionError(f"did not converge: {[(n, du.replicas_of(rs)) for n, rs in self.rses.items()]}")

    def done(self) -> bool:
        new = self.new_rs()
        return (new is not None and self.pods.get(new.metadata.name, []) and self.total() == du.replicas_of(self.d)
                and all(age > self.ready_after for age in self.pods[new.metadata.name])
                and du.deployment_complete(self.d, self.d.status)
                and du.get_condition(self.d.status, du.PROGRESSING).reason == du.NEW_RS_AVAILABLE)


def _roll_to(cluster: Cluster, image: str) -> None:
    cluster.d.spec.template.spec.containers[0].image = image
    cluster.d.metadata.generation += 1




ROLLING = [
    pytest.param(3, "25%", "25%", id="3-default-25pct"),
    pytest.param(3, 1, 0, id="3-surge1-unavail0"),
    pytest.param(3, 0, 1, id="3-surge0-unavail1"),
    pytest.param(10, "30%", "20%", id="10-30pct-20pct"),
    pytest.param(5, 2, 2, id="5-surge2-unavail2"),
    pytest.param(5, 2, 0, id="5-surge2-unavail0"),
    pytest.param(4, 3, 0, id="4-surge3-unavail0"),
    pytest.param(1, 1, 0, id="1-surge1"),
    pytest.param(4, "0%", "50%", id="4-surge0-unavail50pct"),
]
SEEDS = 40


@pytest.mark.parametrize("replicas,surge,unavailable", ROLLING)
def test_rolling_update_keeps_its_bounds_and_completes(replicas, surge, unavailable):
    # Many interleavings each: the bounds only break in a few of them when the planner trusts
    # stale ReplicaSet status (counting pods of a scaled-down ReplicaSet as still available).
    for seed in range(SEEDS):
        _roll_once(replicas, surge, unavailable, random.Random(seed), seed)


def _roll_once(replicas, surge, unavailable, rng: random.Random, seed: int) -> None:
    d = deployment("web", replicas, max_surge=surge, max_unavailable=unavailable)
    cluster = Cluster(d)
    cluster.run(rng)
    first = cluster.new_rs()
    assert first.metadata.annotations[du.REVISION] == "1"
    assert cluster.d.metadata.annotations[du.REVISION] == "1"

    max_total = replicas + du.max_surge(d)
    min_available = replicas - du.max_unavailable(d)

    def check(c: Cluster) -> None:
        assert c.total() <= max_total, f"seed {seed}: {c.total()} pods > {max_total}"
        assert c.available() >= min_available, f"seed {seed}: {c.available()} available < {min_available}"

    _roll_to(cluster, "busybox:1.37")
    cluster.run(rng, check=check)
    second = cluster.new_rs()
    assert second.metadata.name != first.metadata.name
    assert second.metadata.annotations[du.REVISION] == "2"
    assert du.replicas_of(cluster.rses[first.metadata.name]) == 0
    assert any(m.startswith(f"Scaled down replica set {first.metadata.name}") for m in cluster.events)


@pytest.mark.parametrize("seed", range(4))
def test_recreate_never_runs_old_and_new_pods_together(seed):
    d = deployment("web", 3, strategy="Recreate")
    cluster = Cluster(d)
    rng = random.Random(seed)
    cluster.run(rng)
    old_name = cluster.new_rs().metadata.name

    def check(c: Cluster) -> None:
        new = c.new_rs()
        if new is not None and new.metadata.name != old_name:
            assert not (c.pods[old_name] and c.pods[new.metadata.name]), "old and new pods at once"

    _roll_to(cluster, "busybox:1.37")
    cluster.run(rng, check=check)


def test_a_new_deployment_creates_its_replica_set():
    d = deployment("web", 3)
    plan = plan_deployment(d, [], [], NOW)
    creates = [a for a in plan.actions if isinstance(a, Create)]
    assert len(creates) == 1
    rs = creates[0].obj
    pod_hash = du.template_hash(d.spec.template)
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.replicas == 3
    assert rs.spec.selector.match_labels[du.HASH_LABEL] == pod_hash
    assert rs.spec.template.metadata.labels[du.HASH_LABEL] == pod_hash
    assert rs.metadata.annotations[du.REVISION] == "1"
    assert (rs.metadata.annotations[du.DESIRED_REPLICAS], rs.metadata.annotations[du.MAX_REPLICAS]) == ("3", "4")
    assert rs.metadata.owner_references[0].uid == d.metadata.uid
    status = [a for a in plan.actions if isinstance(a, UpdateStatus)][0].obj.status
    assert du.get_condition(status, du.PROGRESSING).reason == du.NEW_RS_CREATED


def test_template_hash_is_stable_and_ignores_its_own_label():
    d = deployment("web")
    h = du.template_hash(d.spec.template)
    assert h == du.template_hash(clone(d.spec.template))
    labelled = clone(d.spec.template)
    labelled.metadata.labels[du.HASH_LABEL] = h
    assert du.template_hash(labelled) == h
    other = clone(d.spec.template)
    other.spec.containers[0].image = "nginx"
    assert du.template_hash(other) != h
    assert du.template_hash(d.spec.template, 1) != h
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(
    "replicas,surge,unavailable,expected",
    [
        pytest.param(10, "25%", "25%", (3, 2), id="percent-surge-up-unavailable-down"),
        pytest.param(3, "25%", "25%", (1, 0), id="3-replicas"),
        pytest.param(3, 0, "10%", (0, 1), id="both-zero-gives-unavailable-1"),
        pytest.param(5, 2, 1, (2, 1), id="ints"),
        pytest.param(4, "50%", "100%", (2, 4), id="all-may-be-unavailable"),
    ],
)
def test_fenceposts_round_as_kubernetes(replicas, surge, unavailable, expected):
    d = deployment("web", replicas, max_surge=surge, max_unavailable=unavailable)
    assert du.resolve_fenceposts(d) == expected


def test_paused_deployment_does_not_roll():
    d = deployment("web", 3)
    rs = owned_by(replica_set("web-old", 3, labels={"app": "web"}), d)
    rs.metadata.annotations[du.REVISION] = "1"
    d.spec.template.spec.containers[0].image = "nginx"
    d.spec.paused = True
    plan = plan_deployment(d, [rs], [], NOW)
    assert not any(isinstance(a, Create) for a in plan.actions)
    status = [a for a in plan.actions if isinstance(a, UpdateStatus)][0].obj.status
    cond = du.get_condition(status, du.PROGRESSING)
    assert (cond.status, cond.reason) == ("Unknown", du.PAUSED)


def _rs_with(d, name, size, revision, created):
    rs = owned_by(replica_set(name, size, labels={"app": d.metadata.name}), d)
    rs.spec.template.CopyFrom(d.spec.template)
    rs.spec.template.spec.containers[0].image = f"image-{name}"
    rs.metadata.annotations[du.REVISION] = str(revision)
    rs.metadata.creation_timestamp.CopyFrom(timestamp(created))
    rs.status.replicas = size
    rs.status.available_replicas = size
    rs.status.observed_generation = rs.metadata.generation
    return rs


def test_scaling_mid_rollout_is_proportional():
    # Kubernetes' documented example: 10 replicas, maxSurge 3, maxUnavailable 2, mid-rollout with
    # 8 old and 5 new; scaled to 15, the 5 extra go 3 to the old and 2 to the new ReplicaSet.
    d = deployment("web", 15, max_surge=3, max_unavailable=2)
    old = _rs_with(d, "web-old", 8, 1, NOW - 100)
    new = _rs_with(d, "web-new", 5, 2, NOW - 50)
    new.spec.template.CopyFrom(d.spec.template)
    for rs in (old, new):
        rs.metadata.annotations[du.DESIRED_REPLICAS] = "10"
        rs.metadata.annotations[du.MAX_REPLICAS] = "13"
    plan = plan_deployment(d, [old, new], [], NOW)
    sizes = {a.obj.metadata.name: a.obj.spec.replicas for a in plan.actions
             if isinstance(a, Update) and a.obj.DESCRIPTOR.name == "ReplicaSet"}
    assert sizes == {"web-old": 11, "web-new": 7}


def test_old_replica_sets_beyond_the_history_limit_are_deleted():
    d = deployment("web", 2, history=1)
    old = [_rs_with(d, f"web-r{i}", 0, i, NOW - 100 + i) for i in (1, 2, 3)]
    for rs in old:
        rs.status.replicas = rs.status.available_replicas = 0
    current = _rs_with(d, "web-r4", 2, 4, NOW)
    current.spec.template.CopyFrom(d.spec.template)
    d.status.replicas = d.status.updated_replicas = d.status.available_replicas = 2
    d.status.observed_generation = d.metadata.generation
    plan = plan_deployment(d, [*old, current], [], NOW)
    assert sorted(a.name for a in plan.actions if isinstance(a, Delete)) == ["web-r1", "web-r2"]


def test_no_progress_past_the_deadline_is_reported():
    d = deployment("web", 3, deadline=60)
    rs = _rs_with(d, "web-new", 3, 1, NOW - 500)
    rs.spec.template.CopyFrom(d.spec.template)
    rs.status.available_replicas = rs.status.ready_replicas = 0
    rs.status.replicas = 3
    d.status.replicas = d.status.updated_replicas = 3
    d.status.conditions.append(du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, "progressing", NOW - 120))
    plan = plan_deployment(d, [rs], [], NOW)
    status = [a for a in plan.actions if isinstance(a, UpdateStatus)][0].obj.status
    cond = du.get_condition(status, du.PROGRESSING)
    assert (cond.status, cond.reason) == ("False", du.TIMED_OUT)
    assert du.get_condition(status, du.AVAILABLE).status == "False"


def test_rollback_template_picks_the_previous_or_the_asked_revision():
    d = deployment("web", 2)
    r1 = _rs_with(d, "web-r1", 0, 1, NOW - 30)
    r2 = _rs_with(d, "web-r2", 0, 2, NOW - 20)
    r3 = _rs_with(d, "web-r3", 2, 3, NOW - 10)
    r3.spec.template.CopyFrom(d.spec.template)
    r3.spec.template.metadata.labels[du.HASH_LABEL] = "abc"
    assert rollback_template(d, [r1, r2, r3]).spec.containers[0].image == "image-web-r2"
    assert rollback_template(d, [r1, r2, r3], 1).spec.containers[0].image == "image-web-r1"
    assert du.HASH_LABEL not in rollback_template(d, [r1, r2, r3], 3).metadata.labels
    with pytest.raises(LookupError):
        rollback_template(d, [r1, r2, r3], 7)
