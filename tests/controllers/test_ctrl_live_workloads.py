"""Deployments and Jobs against a real server; the test plays the scheduler and the kubelets."""

from __future__ import annotations

import threading
import time

from ctrl_helpers import template, wait_for
from shoal.control.controllers import deployment_util as du
from shoal.control.controllers.deployment import rollback_template
from shoal.control.controllers.job import COMPLETION_INDEX
from shoal.proto.client import APIStatusError
from shoal.v1 import apps_pb2, batch_pb2


def _deployment(name: str, ns: str, replicas: int, *, surge=1, unavailable=0, image="busybox:1.36"):
    d = apps_pb2.Deployment()
    d.metadata.name = name
    d.metadata.namespace = ns
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.CopyFrom(template({"app": name}, image))
    d.spec.strategy.rolling_update.max_surge.int_val = surge
    d.spec.strategy.rolling_update.max_unavailable.int_val = unavailable
    return d


def _live_pods(client, ns, app):
    return [p for p in client.list_items("Pod", ns, label_selector=f"app={app}")
            if not p.metadata.HasField("deletion_timestamp")]


def _ready(p) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)


def _rolled_out(client, ns, name, replicas):
    d = client.get("Deployment", name, ns)
    s = d.status
    cond = du.get_condition(s, du.PROGRESSING)
    return (s.observed_generation == d.metadata.generation and s.updated_replicas == replicas
            and s.replicas == replicas and s.available_replicas == replicas and cond is not None
            and cond.reason == du.NEW_RS_AVAILABLE and d)


class Sampler(threading.Thread):
    """Counts the deployment's ready and live pods every few milliseconds while a rollout runs."""

    def __init__(self, address, ns, app):
        super().__init__(daemon=True)
        from shoal.proto.client import ClusterClient

        self.client = ClusterClient(address, timeout=10)
        self.ns, self.app = ns, app
        self.min_ready, self.max_live = 10**9, 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            pods = _live_pods(self.client, self.ns, self.app)
            self.min_ready = min(self.min_ready, sum(1 for p in pods if _ready(p)))
            self.max_live = max(self.max_live, len(pods))
            time.sleep(0.02)

    def stop(self):
        self._halt.set()
        self.join(5)
        self.client.close()


def test_deployment_rolls_within_its_bounds_and_rolls_back(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns, ready_delay=0.3)
    client.create(_deployment("web", ns, 3, surge=1, unavailable=0))
    wait_for(lambda: _rolled_out(client, ns, "web", 3), 20, what="3 ready replicas")
    first_rs = {rs.metadata.name for rs in client.list_items("ReplicaSet", ns)}
    assert len(first_rs) == 1

    sampler = Sampler(ctrl_server.address, ns, "web")
    sampler.start()
    d = client.get("Deployment", "web", ns)
    d.spec.template.spec.containers[0].image = "busybox:1.37"
    client.update(d)
    wait_for(lambda: _rolled_out(client, ns, "web", 3) and client.get("Deployment", "web", ns).metadata.generation == 2,
             30, what="the rollout to finish")
    sampler.stop()
    assert sampler.min_ready >= 3, f"ready pods fell to {sampler.min_ready} (maxUnavailable 0)"
    assert sampler.max_live <= 4, f"{sampler.max_live} pods at once (maxSurge 1)"
    pods = _live_pods(client, ns, "web")
    assert len(pods) == 3 and {p.spec.containers[0].image for p in pods} == {"busybox:1.37"}
    rses = {rs.metadata.name: rs for rs in client.list_items("ReplicaSet", ns)}
    assert sorted(rs.metadata.annotations[du.REVISION] for rs in rses.values()) == ["1", "2"]
    assert rses[first_rs.pop()].spec.replicas == 0

    # rollout undo: the previous revision's template goes back into the Deployment.
    d = client.get("Deployment", "web", ns)
    d.spec.template.CopyFrom(rollback_template(d, list(rses.values())))
    client.update(d)
    wait_for(lambda: {p.spec.containers[0].image for p in _live_pods(client, ns, "web")} == {"busybox:1.36"}
             and _rolled_out(client, ns, "web", 3), 30, what="the rollback")
    d = client.get("Deployment", "web", ns)
    assert d.metadata.annotations[du.REVISION] == "3"
    assert len(client.list_items("ReplicaSet", ns)) == 2, "the old ReplicaSet is reused, not a new one made"
    reasons = {e.reason for e in client.list_items("Event", ns)}
    assert {"ScalingReplicaSet", "SuccessfulCreate", "SuccessfulDelete"} <= reasons


def test_scaling_a_replica_set_creates_and_deletes_pods(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns)
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name = "cache"
    rs.metadata.namespace = ns
    rs.spec.replicas = 4
    rs.spec.selector.match_labels["app"] = "cache"
    rs.spec.template.CopyFrom(template({"app": "cache"}))
    client.create(rs)
    wait_for(lambda: client.get("ReplicaSet", "cache", ns).status.ready_replicas == 4, 20, what="4 ready")
    pods = _live_pods(client, ns, "cache")
    assert all(p.metadata.name.startswith("cache-") and len(p.metadata.name) == len("cache-") + 5 for p in pods)
    rs = client.get("ReplicaSet", "cache", ns)
    rs.spec.replicas = 1
    client.update(rs)
    wait_for(lambda: len(_live_pods(client, ns, "cache")) == 1
             and client.get("ReplicaSet", "cache", ns).status.replicas == 1, 20, what="scale down to 1")
    time.sleep(0.5)
    assert len(_live_pods(client, ns, "cache")) == 1, "no replacement of the deleted pods"


def _job(name, ns, *, completions, parallelism, backoff_limit=6, indexed=False):
    j = batch_pb2.Job()
    j.metadata.name = name
    j.metadata.namespace = ns
    j.spec.completions = completions
    j.spec.parallelism = parallelism
    j.spec.backoff_limit = backoff_limit
    if indexed:
        j.spec.completion_mode = "Indexed"
    j.spec.template.spec.containers.add(name="work", image="busybox:1.36")
    j.spec.template.spec.restart_policy = "Never"
    return j


def _job_condition(client, ns, name, ctype):
    job = client.get("Job", name, ns)
    return next((c for c in job.status.conditions if c.type == ctype and c.status == "True"), None) and job


def test_job_with_completions_5_and_parallelism_2_completes(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    running_since: dict[str, float] = {}
    peak = [0]

    def fate(p):
        # Each pod runs a moment, then succeeds; count how many run at once.
        started = running_since.setdefault(p.metadata.uid, time.time())
        running = sum(1 for t in running_since.values() if t)
        peak[0] = max(peak[0], running)
        if time.time() - started > 0.3:
            running_since[p.metadata.uid] = 0
            return "succeeded"
        return "running"

    kubelet_factory(ctrl_server.address, ns, fate=fate)
    client.create(_job("batch", ns, completions=5, parallelism=2))
    job = wait_for(lambda: _job_condition(client, ns, "batch", "Complete"), 30, what="the job to complete")
    assert (job.status.succeeded, job.status.failed, job.status.active) == (5, 0, 0)
    pods = client.list_items("Pod", ns)
    assert len(pods) == 5 and all(p.status.phase == "Succeeded" for p in pods)
    assert peak[0] <= 2, f"{peak[0]} pods ran at once (parallelism 2)"
    assert job.status.HasField("start_time") and job.status.HasField("completion_time")


def test_failing_job_stops_at_its_backoff_limit(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns, fate=lambda p: "failed")
    client.create(_job("doomed", ns, completions=1, parallelism=1, backoff_limit=2))
    job = wait_for(lambda: _job_condition(client, ns, "doomed", "Failed"), 30, what="the job to fail")
    cond = next(c for c in job.status.conditions if c.type == "Failed")
    assert cond.reason == "BackoffLimitExceeded"
    time.sleep(0.5)
    pods = client.list_items("Pod", ns)
    assert len(pods) == 3 and all(p.status.phase == "Failed" for p in pods), "backoffLimit 2: three tries, no more"
    assert client.get("Job", "doomed", ns).status.failed == 3


def test_indexed_job_runs_each_index_once(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns, fate=lambda p: "succeeded")
    client.create(_job("idx", ns, completions=3, parallelism=3, indexed=True))
    job = wait_for(lambda: _job_condition(client, ns, "idx", "Complete"), 30, what="the indexed job")
    assert job.status.completed_indexes == "0-2"
    pods = client.list_items("Pod", ns)
    assert sorted(p.metadata.annotations[COMPLETION_INDEX] for p in pods) == ["0", "1", "2"]
    env = {e.name: e.value for e in pods[0].spec.containers[0].env}
    assert env["JOB_COMPLETION_INDEX"] == pods[0].metadata.annotations[COMPLETION_INDEX]


def test_update_conflicts_do_not_leak_from_controllers(ctrl_client, ns):
    """A Deployment the test keeps rewriting (as `kubectl scale` would) converges anyway."""
    client = ctrl_client
    client.create(_deployment("busy", ns, 1))
    for replicas in (2, 3, 4, 2):
        for _ in range(20):
            d = client.get("Deployment", "busy", ns)
            d.spec.replicas = replicas
            try:
                client.update(d)
                break
            except APIStatusError:
                continue
    wait_for(lambda: sum(rs.spec.replicas for rs in client.list_items("ReplicaSet", ns)) == 2
             and len(client.list_items("Pod", ns)) == 2, 20, what="2 replicas")
