"""A server killed with SIGKILL in the middle of a rollout finishes it after a restart, with
no extra and no missing pods."""

from __future__ import annotations

import time

import grpc
from ctrl_helpers import FakeKubelet, template, wait_for
from shoal.control.controllers import deployment_util as du
from shoal.proto.client import APIStatusError, ClusterClient
from shoal.v1 import apps_pb2, core_pb2

REPLICAS = 6


def _live(client, ns):
    return [p for p in client.list_items("Pod", ns) if not p.metadata.HasField("deletion_timestamp")]


def test_sigkill_mid_rollout_then_restart_finishes_the_rollout(restartable_server):
    srv = restartable_server
    client = ClusterClient(srv.address, timeout=10)
    ns = core_pb2.Namespace()
    ns.metadata.name = "rollout"
    client.create(ns)
    kubelet = FakeKubelet(srv.address, "rollout", ready_delay=0.4)
    kubelet.start()
    try:
        d = apps_pb2.Deployment()
        d.metadata.name = "web"
        d.metadata.namespace = "rollout"
        d.spec.replicas = REPLICAS
        d.spec.selector.match_labels["app"] = "web"
        d.spec.template.CopyFrom(template({"app": "web"}))
        d.spec.strategy.rolling_update.max_surge.int_val = 2
        d.spec.strategy.rolling_update.max_unavailable.int_val = 1
        client.create(d)
        wait_for(lambda: client.get("Deployment", "web", "rollout").status.available_replicas == REPLICAS, 30,
                 what="the first rollout")

        d = client.get("Deployment", "web", "rollout")
        d.spec.template.spec.containers[0].image = "busybox:1.37"
        client.update(d)

        def mid_rollout():
            pods = _live(client, "rollout")
            new = [p for p in pods if p.spec.containers[0].image == "busybox:1.37"]
            return 0 < len(new) < REPLICAS

        wait_for(mid_rollout, 20, interval=0.01, what="the rollout to be under way")
        srv.kill()
        time.sleep(0.3)
        srv.start()

        def finished():
            try:
                d = client.get("Deployment", "web", "rollout")
            except APIStatusError as exc:  # the client's channel reconnects with backoff after the restart
                if exc.code != grpc.StatusCode.UNAVAILABLE:
                    raise
                return False
            pods = _live(client, "rollout")
            return (d.status.updated_replicas == REPLICAS and d.status.available_replicas == REPLICAS
                    and d.status.replicas == REPLICAS and len(pods) == REPLICAS
                    and all(p.spec.containers[0].image == "busybox:1.37" for p in pods))

        wait_for(finished, 40, what="the rollout to finish after the restart")
        time.sleep(1.0)  # anything extra would show up now
        pods = _live(client, "rollout")
        assert len(pods) == REPLICAS, f"{len(pods)} pods, expected {REPLICAS}"
        rses = client.list_items("ReplicaSet", "rollout")
        assert len(rses) == 2, [rs.metadata.name for rs in rses]
        new_rs = next(rs for rs in rses if rs.spec.replicas == REPLICAS)
        assert {p.metadata.labels[du.HASH_LABEL] for p in pods} == {new_rs.spec.template.metadata.labels[du.HASH_LABEL]}
        assert sum(rs.spec.replicas for rs in rses) == REPLICAS
        cond = du.get_condition(client.get("Deployment", "web", "rollout").status, du.PROGRESSING)
        assert cond.reason == du.NEW_RS_AVAILABLE
    finally:
        kubelet.stop()
        client.close()
