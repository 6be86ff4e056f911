"""The HPA controller in a real `shoal server`, without agents (so without metrics): it says why it
cannot scale, and it still enforces minReplicas and maxReplicas."""

from __future__ import annotations

from ctrl_helpers import deployment, replica_set, wait_for
from shoal.v1 import autoscaling_pb2


def _hpa(name: str, ns: str, target: str, *, min_replicas: int = 1, max_replicas: int = 5, kind: str = "Deployment"):
    h = autoscaling_pb2.HorizontalPodAutoscaler()
    h.metadata.name = name
    h.metadata.namespace = ns
    h.spec.scale_target_ref.api_version = "apps/v1"
    h.spec.scale_target_ref.kind = kind
    h.spec.scale_target_ref.name = target
    h.spec.min_replicas = min_replicas
    h.spec.max_replicas = max_replicas
    return h


def _condition(client, name: str, ns: str, kind: str):
    hpa = client.get("HorizontalPodAutoscaler", name, ns)
    return next(((c.status, c.reason, c.message) for c in hpa.status.conditions if c.type == kind), None)


def test_a_missing_target_is_reported(ctrl_client, ns):
    ctrl_client.create(_hpa("lost", ns, "nowhere"))
    status, reason, message = wait_for(lambda: _condition(ctrl_client, "lost", ns, "AbleToScale"), 10,
                                       what="AbleToScale on lost")
    assert (status, reason) == ("False", "FailedGetScale")
    assert message == ("the HPA controller was unable to get the target's current scale: "
                       'deployments "nowhere" not found')
    ctrl_client.create(_hpa("odd", ns, "x", kind="StatefulSet"))
    _, reason, message = wait_for(lambda: _condition(ctrl_client, "odd", ns, "AbleToScale"), 10, what="odd")
    assert reason == "FailedGetScale" and 'kind "StatefulSet"' in message


def test_min_and_max_replicas_hold_without_metrics(ctrl_client, ns):
    low = deployment("low", 1, ns=ns)
    high = deployment("high", 9, ns=ns)
    for d in (low, high):
        ctrl_client.create(d)
    ctrl_client.create(_hpa("low", ns, "low", min_replicas=2, max_replicas=4))
    ctrl_client.create(_hpa("high", ns, "high", min_replicas=1, max_replicas=3))
    wait_for(lambda: ctrl_client.get("Deployment", "low", ns).spec.replicas == 2, 10, what="low scaled to 2")
    wait_for(lambda: ctrl_client.get("Deployment", "high", ns).spec.replicas == 3, 10, what="high scaled to 3")
    hpa = wait_for(lambda: (h := ctrl_client.get("HorizontalPodAutoscaler", "low", ns)).status.desired_replicas == 2
                   and h, 10, what="low's status")
    assert hpa.status.HasField("last_scale_time")
    expected = {"New size: 2; reason: Current number of replicas below Spec.MinReplicas",
                "New size: 3; reason: Current number of replicas above Spec.MaxReplicas"}
    # Events are written in the background, a moment after the rescale.
    wait_for(lambda: expected <= {e.message for e in ctrl_client.list_items("Event", ns)
                                  if e.reason == "SuccessfulRescale"}, 10, what="the SuccessfulRescale events")


def test_no_metrics_means_scaling_is_not_active(ctrl_client, ns):
    ctrl_client.create(deployment("quiet", 2, ns=ns))
    ctrl_client.create(_hpa("quiet", ns, "quiet", min_replicas=1, max_replicas=4))
    status, reason, message = wait_for(lambda: _condition(ctrl_client, "quiet", ns, "ScalingActive"), 10,
                                       what="ScalingActive on quiet")
    assert (status, reason) == ("False", "FailedGetResourceMetric")
    assert message.startswith("the HPA was unable to compute the replica count: failed to get cpu utilization")
    assert ctrl_client.get("Deployment", "quiet", ns).spec.replicas == 2


def test_a_replica_set_is_scaled_too(ctrl_client, ns):
    rs = replica_set("plain", 1, ns=ns, labels={"app": "plain"})
    rs.metadata.resource_version = ""
    ctrl_client.create(rs)
    ctrl_client.create(_hpa("plain", ns, "plain", min_replicas=2, max_replicas=4, kind="ReplicaSet"))
    wait_for(lambda: ctrl_client.get("ReplicaSet", "plain", ns).spec.replicas == 2, 10, what="plain scaled to 2")
