"""What workload controllers ask of pods: active, ready, available, which to delete first, and
how a template becomes a pod."""

from __future__ import annotations

from typing import Iterable

from shoal.control.controllers.meta import is_terminating, new_controller_ref, seconds
from shoal.v1 import core_pb2

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
# Pod names are "<prefix><5 random chars>"; generateName prefixes are cut so the name stays a
# valid 63-character label value, as Kubernetes' validation.maxGeneratedNameLength.
MAX_GENERATE_NAME = 58


def is_finished(pod) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def is_active(pod) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_finished(pod) and not is_terminating(pod)


def ready_condition(pod):
    for cond in pod.status.conditions:
        if cond.type == "Ready":
            return cond
    return None


def is_ready(pod) -> bool:
    cond = ready_condition(pod)
    return cond is not None and cond.status == "True"


def ready_since(pod) -> float:
    """When the pod last became ready (0.0 if not ready or unknown)."""
    cond = ready_condition(pod)
    if cond is None or cond.status != "True":
        return 0.0
    return seconds(cond.last_transition_time)


def is_available(pod, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since > 0 and since + min_ready_seconds <= now


def available_in(pod, min_ready_seconds: int, now: float) -> float | None:
    """Seconds until a ready pod becomes available (None if not ready or already available)."""
    if not is_ready(pod) or min_ready_seconds <= 0:
        return None
    left = ready_since(pod) + min_ready_seconds - now
    return left if left > 0 else None


def _deletion_cost(pod) -> int:
    raw = pod.metadata.annotations.get(DELETION_COST, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def _max_restarts(pod) -> int:
    return max((c.restart_count for c in pod.status.container_statuses), default=0)


def deletion_order(pods: Iterable, related: Iterable | None = None) -> list:
    """Pods sorted so the best ones to delete come first (controller.ActivePodsWithRanks):
    unassigned before assigned; Pending < Unknown < Running; not ready before ready; lower
    pod-deletion-cost first; more sibling pods on the same node first; ready for less time
    first; more container restarts first; newer first."""
    pods = list(pods)
    on_node: dict[str, int] = {}
    for p in (pods if related is None else related):
        if is_active(p):
            on_node[p.spec.node_name] = on_node.get(p.spec.node_name, 0) + 1

    def key(pod):
        ready = is_ready(pod)
        since = ready_since(pod) if ready else 0.0
        created = seconds(pod.metadata.creation_timestamp)
        return (
            1 if pod.spec.node_name else 0,
            _PHASE_ORDINAL.get(pod.status.phase, 0),
            1 if ready else 0,
            _deletion_cost(pod),
            -on_node.get(pod.spec.node_name, 0),
            (0 if since == 0 else 1, -since) if ready else (0, 0.0),
            -_max_restarts(pod),
            (0 if created == 0 else 1, -created),
            pod.metadata.name,
        )

    return sorted(pods, key=key)


def pod_from_template(template: core_pb2.PodTemplateSpec, owner, *, generate_name: str = "",
                      name: str = "") -> core_pb2.Pod:
    """A pod stamped from ``template``, controlled by ``owner`` (controller.GetPodFromTemplate)."""
    pod = core_pb2.Pod()
    meta = pod.metadata
    if name:
        meta.name = name
    else:
        meta.generate_name = generate_name[:MAX_GENERATE_NAME]
    meta.namespace = owner.metadata.namespace
    meta.labels.update(template.metadata.labels)
    meta.annotations.update(template.metadata.annotations)
    meta.finalizers.extend(template.metadata.finalizers)
    meta.owner_references.append(new_controller_ref(owner))
    pod.spec.CopyFrom(template.spec)
    return pod
