"""Garbage collection and namespace deletion against a real server."""

from __future__ import annotations

import grpc
import pytest

from ctrl_helpers import template, wait_for
from shoal.control.controllers.meta import controller_ref
from shoal.proto.client import APIStatusError
from shoal.v1 import apps_pb2, cluster_service_pb2 as svc, core_pb2


def _deployment(name, ns, replicas=2):
    d = apps_pb2.Deployment()
    d.metadata.name = name
    d.metadata.namespace = ns
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.CopyFrom(template({"app": name}))
    return d


def _gone(client, kind, name, ns) -> bool:
    try:
        client.get(kind, name, ns)
    except APIStatusError as exc:
        return exc.code == grpc.StatusCode.NOT_FOUND
    return False


def _running(client, ns, name, replicas):
    d = client.get("Deployment", name, ns)
    return d.status.available_replicas == replicas and len(client.list_items("Pod", ns)) == replicas


@pytest.mark.parametrize("policy", ["background", "foreground", "orphan"])
def test_deleting_a_deployment_cascades_by_policy(ctrl_server, ctrl_client, ns, kubelet_factory, policy):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns)
    client.create(_deployment("web", ns))
    wait_for(lambda: _running(client, ns, "web", 2), 20, what="the deployment to run")
    (rs,) = client.list_items("ReplicaSet", ns)
    propagation = {"background": svc.PROPAGATION_POLICY_BACKGROUND,
                   "foreground": svc.PROPAGATION_POLICY_FOREGROUND,
                   "orphan": svc.PROPAGATION_POLICY_ORPHAN}[policy]
    resp = client.delete("Deployment", "web", ns, propagation=propagation)

    if policy == "background":
        assert resp.deleted
        wait_for(lambda: not client.list_items("ReplicaSet", ns) and not client.list_items("Pod", ns), 20,
                 what="the ReplicaSet and pods to be collected")
    elif policy == "foreground":
        assert not resp.deleted, "held by the foregroundDeletion finalizer"
        held = client.get("Deployment", "web", ns)
        assert held.metadata.HasField("deletion_timestamp") and "foregroundDeletion" in held.metadata.finalizers
        wait_for(lambda: _gone(client, "Deployment", "web", ns), 20, what="the deployment to go last")
        assert not client.list_items("ReplicaSet", ns) and not client.list_items("Pod", ns), \
            "dependents go before their owner"
    else:
        wait_for(lambda: _gone(client, "Deployment", "web", ns), 20, what="the orphaning to finish")
        kept = client.get("ReplicaSet", rs.metadata.name, ns)
        assert not kept.metadata.owner_references, "the ReplicaSet is orphaned"
        pods = client.list_items("Pod", ns)
        assert len(pods) == 2 and all(controller_ref(p).uid == rs.metadata.uid for p in pods), \
            "the pods stay with their ReplicaSet"


def test_dependents_of_an_owner_gone_while_they_were_made_are_collected(ctrl_client, ns):
    """Level-based: an object whose owner does not exist (by uid) is deleted, whenever it
    appears."""
    client = ctrl_client
    cm = core_pb2.ConfigMap()
    cm.metadata.name = "orphaned"
    cm.metadata.namespace = ns
    cm.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name="never", uid="no-such-uid")
    client.create(cm)
    wait_for(lambda: _gone(client, "ConfigMap", "orphaned", ns), 10, what="the dangling dependent to go")


def test_deleting_a_namespace_deletes_everything_in_it_then_the_namespace(ctrl_server, ctrl_client, ns,
                                                                          kubelet_factory):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns)
    client.create(_deployment("web", ns))
    cm = core_pb2.ConfigMap()
    cm.metadata.name = "settings"
    cm.metadata.namespace = ns
    client.create(cm)
    wait_for(lambda: _running(client, ns, "web", 2), 20, what="the deployment to run")
    client.delete("Namespace", ns)
    marked = client.get("Namespace", ns)
    assert marked.status.phase == "Terminating" and marked.metadata.HasField("deletion_timestamp")
    wait_for(lambda: _gone(client, "Namespace", ns, ""), 20, what="the namespace to go")
    for kind in ("Deployment", "ReplicaSet", "Pod", "ConfigMap", "Event"):
        assert client.list_items(kind, ns) == [], f"{kind} left behind"
