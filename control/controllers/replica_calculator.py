"""The HorizontalPodAutoscaler's replica calculator: how many pods a Resource metric asks for.

Kubernetes' pkg/controller/podautoscaler/replica_calculator.go, on the agents' utilization samples
instead of metrics-server's. Pure functions: pods (the target's, from the informer cache), the
samples (pod name -> PodUsage) and ``now`` in; a ResourceProposal or a MetricError out.

    group_pods        ready / unready / missing-metric / ignored, as Kubernetes groups them
    container_usage   ContainerResource metrics: one container's samples instead of the pods'
    resource_replicas Utilization targets (percent of the pods' requests)
    raw_resource_replicas   AverageValue targets (millicores or bytes per pod)

Kubernetes is conservative about pods it cannot judge: a scale-up counts unready pods as using
nothing and pods without metrics as using nothing; a scale-down counts pods without metrics as
using exactly their request. If that second look reverses the direction, nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shoal.control.controllers.meta import is_terminating, seconds
from shoal.proto.quantity import QuantityError, milli_value, value

# Kubernetes' --horizontal-pod-autoscaler-cpu-initialization-period and
# --horizontal-pod-autoscaler-initial-readiness-delay.
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
DEFAULT_TOLERANCE = 0.1

RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class PodUsage:
    """One pod's newest sample: millicores for cpu, bytes for memory; the pod's total and, when
    the agent reported them, each container's as (name, cpu millicores, memory bytes)."""

    cpu_millis: int
    memory_bytes: int
    timestamp: float
    window: float
    containers: tuple[tuple[str, int, int], ...] = ()

    def of(self, resource: str) -> int:
        return self.cpu_millis if resource == "cpu" else self.memory_bytes

    def of_container(self, name: str) -> PodUsage | None:
        """The sample of one container as a PodUsage of its own (None if it was not reported)."""
        for container, cpu, memory in self.containers:
            if container == name:
                return PodUsage(cpu, memory, self.timestamp, self.window)
        return None


def container_usage(usage: dict[str, PodUsage], container: str) -> dict[str, PodUsage]:
    """Pod name -> the sample of ``container`` (ContainerResource metrics); "" keeps the pods'
    totals. A pod whose container was not reported counts as a pod without metrics."""
    if not container:
        return usage
    found = {name: u.of_container(container) for name, u in usage.items()}
    return {name: u for name, u in found.items() if u is not None}


class MetricError(Exception):
    """A metric that gave no replica count; ``reason`` is the ScalingActive condition's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


FAILED_GET_RESOURCE_METRIC = "FailedGetResourceMetric"


@dataclass
class PodGroups:
    ready_count: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ResourceProposal:
    replicas: int
    # Utilization targets: percent of requests (int); both: the average per pod with a metric.
    utilization: int | None
    average: int
    timestamp: float


def _ready_condition(pod):
    return next((c for c in pod.status.conditions if c.type == "Ready"), None)


def group_pods(pods: list, usage: dict[str, PodUsage], resource: str, now: float) -> PodGroups:
    """groupPods: deleted and failed pods are ignored; pending ones are unready; pods without a
    sample are missing; for cpu, a pod is unready while it has not been ready long enough for a
    sample to reflect it (within the cpu initialization period) or has never been ready."""
    groups = PodGroups()
    for pod in pods:
        name = pod.metadata.name
        if is_terminating(pod) or pod.status.phase == "Failed":
            groups.ignored.add(name)
            continue
        if pod.status.phase == "Pending":
            groups.unready.add(name)
            continue
        sample = usage.get(name)
        if sample is None:
            groups.missing.add(name)
            continue
        if resource == "cpu":
            cond = _ready_condition(pod)
            if cond is None or not pod.status.HasField("start_time"):
                unready = True
            else:
                started = seconds(pod.status.start_time)
                changed = seconds(cond.last_transition_time)
                if started + CPU_INITIALIZATION_PERIOD > now:
                    unready = cond.status == "False" or sample.timestamp < changed + sample.window
                else:
                    unready = cond.status == "False" and started + INITIAL_READINESS_DELAY > changed
            if unready:
                groups.unready.add(name)
                continue
        groups.ready_count += 1
    return groups


def container_request(container, resource: str) -> int | None:
    text = container.resources.requests.get(resource)
    if text is None:
        return None
    try:
        return milli_value(text) if resource == "cpu" else value(text)
    except QuantityError:
        return None


def pod_requests(pods: list, resource: str, container: str = "") -> dict[str, int]:
    """Each pod's request of ``resource`` (sum of its containers, or the one named ``container``);
    MetricError naming the first container without one, as Kubernetes refuses to compute the
    utilization of an unrequested resource."""
    requests = {}
    for pod in pods:
        total = 0
        chosen = [c for c in pod.spec.containers if not container or c.name == container]
        for c in chosen or [None]:
            amount = None if c is None else container_request(c, resource)
            if amount is None:
                raise MetricError(FAILED_GET_RESOURCE_METRIC,
                                  f"failed to get {resource} utilization: missing request for {resource} in "
                                  f"container {container if c is None else c.name} of Pod {pod.metadata.name}")
            total += amount
        requests[pod.metadata.name] = total
    return requests


def utilization_ratio(metrics: dict[str, int], requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """(usage ratio, utilization percent, average usage) over the pods that have both a metric
    and a request (GetResourceUtilizationRatio)."""
    used = requested = counted = 0
    for name, amount in metrics.items():
        if name in requests:
            used += amount
            requested += requests[name]
            counted += 1
    if requested == 0:
        raise MetricError(FAILED_GET_RESOURCE_METRIC, "no metrics returned matched known pods")
    utilization = int(used * 100 / requested)
    return utilization / target, utilization, used // counted


@dataclass(frozen=True)
class Tolerance:
    """The relative change of a metric ignored as noise, below and above the target (one value
    for both unless the autoscaler's behavior sets its own, as newer Kubernetes allows)."""

    down: float = DEFAULT_TOLERANCE
    up: float = DEFAULT_TOLERANCE


def _within(ratio: float, tolerance: float | Tolerance) -> bool:
    if not isinstance(tolerance, Tolerance):
        tolerance = Tolerance(tolerance, tolerance)
    return (1.0 - ratio <= tolerance.down) if ratio < 1.0 else (ratio - 1.0 <= tolerance.up)


def _usable_metrics(pods: list, usage: dict[str, PodUsage], resource: str,
                    now: float) -> tuple[PodGroups, dict[str, int]]:
    if not usage:
        raise MetricError(FAILED_GET_RESOURCE_METRIC,
                          f"failed to get {resource} utilization: unable to get metrics for resource {resource}: "
                          "no metrics returned from resource metrics API")
    groups = group_pods(pods, usage, resource, now)
    names = {p.metadata.name for p in pods}
    metrics = {n: u.of(resource) for n, u in usage.items()
               if n in names and n not in groups.ignored and n not in groups.unready}
    if not metrics:
        raise MetricError(FAILED_GET_RESOURCE_METRIC,
                          f"failed to get {resource} utilization: did not receive metrics for targeted pods "
                          "(pods might be unready)")
    return groups, metrics


def resource_replicas(current: int, target_utilization: int, resource: str, pods: list, usage: dict[str, PodUsage],
                      now: float, tolerance: float | Tolerance = DEFAULT_TOLERANCE,
                      container: str = "") -> ResourceProposal:
    """GetResourceReplicas: the replicas that bring the pods' (or one container's) average use of
    ``resource`` to ``target_utilization`` percent of their requests."""
    usage = container_usage(usage, container)
    groups, metrics = _usable_metrics(pods, usage, resource, now)
    live = [p for p in pods if p.metadata.name not in groups.ignored]
    requests = pod_requests(live, resource, container)
    stamp = max(usage[n].timestamp for n in metrics)
    ratio, utilization, average = utilization_ratio(metrics, requests, target_utilization)

    def proposal(replicas: int) -> ResourceProposal:
        return ResourceProposal(replicas, utilization, average, stamp)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if _within(ratio, tolerance):
            return proposal(current)
        return proposal(math.ceil(ratio * groups.ready_count))
    adjusted = dict(metrics)
    for name in groups.missing:
        # Scale-down: a silent pod might be busy, count it at its request; scale-up: idle.
        adjusted[name] = requests[name] if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in groups.unready:
            adjusted[name] = 0
    new_ratio, _, _ = utilization_ratio(adjusted, requests, target_utilization)
    return proposal(_second_look(current, ratio, new_ratio, len(adjusted), tolerance))


def _second_look(current: int, ratio: float, new_ratio: float, counted: int, tolerance: float | Tolerance) -> int:
    """Kubernetes keeps the current count when the conservative ratio is within tolerance,
    reverses the direction, or would move against it."""
    if _within(new_ratio, tolerance) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def raw_resource_replicas(current: int, target_average: int, resource: str, pods: list, usage: dict[str, PodUsage],
                          now: float, tolerance: float | Tolerance = DEFAULT_TOLERANCE,
                          container: str = "") -> ResourceProposal:
    """GetRawResourceReplicas: the replicas that bring the average use per pod (or per one of its
    containers) to ``target_average`` (millicores or bytes); pods without metrics count as above."""
    usage = container_usage(usage, container)
    groups, metrics = _usable_metrics(pods, usage, resource, now)
    stamp = max(usage[n].timestamp for n in metrics)
    total = sum(metrics.values())
    ratio = total / (target_average * len(metrics))
    average = total // len(metrics)

    def proposal(replicas: int) -> ResourceProposal:
        return ResourceProposal(replicas, None, average, stamp)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if _within(ratio, tolerance):
            return proposal(current)
        return proposal(math.ceil(ratio * groups.ready_count))
    adjusted = dict(metrics)
    for name in groups.missing:
        adjusted[name] = target_average if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in groups.unready:
            adjusted[name] = 0
    new_ratio = sum(adjusted.values()) / (target_average * len(adjusted))
    return proposal(_second_look(current, ratio, new_ratio, len(adjusted), tolerance))
