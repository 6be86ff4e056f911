"""HorizontalPodAutoscaler controller (autoscaling/v2): keeps a Deployment's or ReplicaSet's
spec.replicas where its pods' cpu and memory use meets the targets (Resource and
ContainerResource metrics, Utilization or AverageValue; Pods, Object and External metrics need
metrics APIs Shoal does not have, and say so in ScalingActive).

    every sync period (15 s, SHOAL_HPA_SYNC_SECONDS) per autoscaler:
      target (scaleTargetRef) -> current = spec.replicas, pods = its selector's
      GetUtilization (the agents' newest samples) -> replica_calculator per metric -> max
      min/max, stabilization window and rate policies (behavior) -> desired
      desired != current -> Update target spec.replicas, SuccessfulRescale event, lastScaleTime
      status: currentReplicas, desiredReplicas, currentMetrics, conditions AbleToScale,
              ScalingActive, ScalingLimited (reasons as Kubernetes words them)

decide(hpa, current, pods, usage, memory, now, settings) -> Decision is the whole policy, pure.
An autoscaler without spec.behavior follows Kubernetes' older rules (a 300 s scale-down window,
--horizontal-pod-autoscaler-downscale-stabilization; scale-up at most max(2 x current, 4));
with behavior, its stabilization windows and Pods/Percent policies.

The samples come from the server's utilization window (control/api/utilization.py) through
NodeService.GetUtilization on the controllers' own loopback connection, as every other read of
the controllers goes through the API; pod requests and readiness come from the Pod informer.

Like kube-controller-manager, the recent recommendations and scale events are kept in memory
only: after a restart the stabilization window starts empty, and the next decision can at worst
scale down one window early. Everything else is read fresh on every sync.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields

import grpc
from shoal.control.controllers.actions import Emit, Update, UpdateStatus
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import (
    clone,
    kind_of,
    object_key,
    selector_is_empty,
    timestamp,
)
from shoal.control.controllers.replica_calculator import (
    DEFAULT_TOLERANCE,
    MetricError,
    PodUsage,
    ResourceProposal,
    Tolerance,
    raw_resource_replicas,
    resource_replicas,
)
from shoal.proto.client import APIStatusError
from shoal.proto.quantity import (
    QuantityError,
    format_quantity,
    milli_value,
    parse_quantity,
    value,
)
from shoal.v1 import autoscaling_pb2

log = logging.getLogger("shoal.controllers.hpa")

NAME = "horizontalpodautoscaling"
SCALABLE_KINDS = {"Deployment": "deployments", "ReplicaSet": "replicasets"}

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"
CONDITION_ORDER = (ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED)

# Condition reasons and messages, as the Kubernetes HPA controller words them.
FAILED_GET_SCALE = "FailedGetScale"
FAILED_UPDATE_SCALE = "FailedUpdateScale"
SUCCEEDED_RESCALE = "SucceededRescale"
SUCCEEDED_GET_SCALE = "SucceededGetScale"
READY_FOR_NEW_SCALE = "ReadyForNewScale"
SCALE_DOWN_STABILIZED = "ScaleDownStabilized"
SCALE_UP_STABILIZED = "ScaleUpStabilized"
SCALING_DISABLED = "ScalingDisabled"
VALID_METRIC_FOUND = "ValidMetricFound"
INVALID_SELECTOR = "InvalidSelector"
DESIRED_WITHIN_RANGE = "DesiredWithinRange"
TOO_FEW_REPLICAS = "TooFewReplicas"
TOO_MANY_REPLICAS = "TooManyReplicas"
SCALE_UP_LIMIT = "ScaleUpLimit"
SCALE_DOWN_LIMIT = "ScaleDownLimit"
SUCCESSFUL_RESCALE = "SuccessfulRescale"
FAILED_RESCALE = "FailedRescale"

MSG_READY = "recommended size matches current size"
MSG_DOWN_STABILIZED = "recent recommendations were higher than current one, applying the highest recent recommendation"
MSG_UP_STABILIZED = "recent recommendations were lower than current one, applying the lowest recent recommendation"
MSG_WITHIN_RANGE = "the desired count is within the acceptable range"
MSG_TOO_FEW = "the desired replica count is less than the minimum replica count"
MSG_TOO_MANY = "the desired replica count is more than the maximum replica count"
MSG_UP_LIMIT = "the desired replica count is increasing faster than the maximum scale rate"
MSG_DOWN_LIMIT = "the desired replica count is decreasing faster than the maximum scale rate"
MSG_DISABLED = "scaling is disabled since the replica count of the target is zero"
ABOVE_MAX = "Current number of replicas above Spec.MaxReplicas"
BELOW_MIN = "Current number of replicas below Spec.MinReplicas"
ALL_BELOW = "All metrics below target"

# Kubernetes' defaults for an autoscaler without behavior (and for behavior's missing parts).
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4
DEFAULT_SCALE_UP_POLICIES = (("Pods", 4, 15), ("Percent", 100, 15))
DEFAULT_SCALE_DOWN_POLICIES = (("Percent", 100, 15),)
# A failed rescale is tried again this soon (a conflict with another writer of spec.replicas).
RETRY_SECONDS = 1.0


@dataclass
class HPASettings:
    """kube-controller-manager's --horizontal-pod-autoscaler-* flags; SHOAL_HPA_<FIELD> env
    overrides them (tests shorten the sync period)."""

    sync_seconds: float = 15.0
    tolerance: float = DEFAULT_TOLERANCE
    downscale_stabilization_seconds: float = 300.0

    @classmethod
    def from_env(cls, env=None) -> HPASettings:
        env = os.environ if env is None else env
        settings = cls()
        for f in fields(cls):
            raw = env.get("SHOAL_HPA_" + f.name.upper())
            if raw is not None:
                try:
                    setattr(settings, f.name, float(raw))
                except ValueError:
                    log.warning("ignoring SHOAL_HPA_%s=%r: not a number", f.name.upper(), raw)
        return settings


@dataclass
class AutoscalerMemory:
    """What one autoscaler's decisions remember: (time, replicas) recommendations for the
    stabilization windows, (time, change) scale events for the rate policies."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def record_scale(self, previous: int, new: int, now: float) -> None:
        if new > previous:
            self.scale_up_events.append((now, new - previous))
        elif new < previous:
            self.scale_down_events.append((now, previous - new))

    def prune(self, now: float, keep_seconds: float) -> None:
        cutoff = now - keep_seconds
        for events in (self.recommendations, self.scale_up_events, self.scale_down_events):
            events[:] = [e for e in events if e[0] >= cutoff]


@dataclass
class Decision:
    """What an autoscaler decided: the replicas it wants, whether (and why) to rescale, the
    metrics it read and its conditions, type -> (status, reason, message)."""

    current: int
    desired: int
    rescale: bool = False
    reason: str = ""
    metrics: list = field(default_factory=list)
    conditions: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    metric_error: bool = False


# -- metrics --------------------------------------------------------------------------------------


def metric_specs(hpa) -> list:
    """The autoscaler's metrics (defaulting gives an empty list 80% cpu; done here too for objects
    stored before it did)."""
    if hpa.spec.metrics:
        return list(hpa.spec.metrics)
    metric = autoscaling_pb2.MetricSpec(type="Resource")
    metric.resource.name = "cpu"
    metric.resource.target.type = "Utilization"
    metric.resource.target.average_utilization = 80
    return [metric]


def _amount(resource: str, text: str) -> int:
    return milli_value(text) if resource == "cpu" else value(text)


def _quantity(resource: str, amount: int) -> str:
    if resource == "cpu":
        return format_quantity(parse_quantity(f"{amount}m"))
    return format_quantity(amount, "BinarySI")


# MetricSpec.type -> (its source field, the FailedGet*Metric reason), for the types Shoal reads.
RESOURCE_SOURCES = {
    "Resource": ("resource", "FailedGetResourceMetric"),
    "ContainerResource": ("container_resource", "FailedGetContainerResourceMetric"),
}


def metric_name(metric) -> str:
    """How Kubernetes names a metric in conditions and events."""
    field_name, _ = RESOURCE_SOURCES.get(metric.type, ("resource", ""))
    source = getattr(metric, field_name)
    kind = "container resource" if metric.type == "ContainerResource" else "resource"
    if source.target.type == "Utilization":
        return f"{source.name} {kind} utilization (percentage of request)"
    return f"{source.name} {kind}"


def replicas_for_metric(metric, current: int, pods: list, usage: dict[str, PodUsage], now: float,
                        tolerance: Tolerance) -> tuple[int, autoscaling_pb2.MetricStatus]:
    """One metric's proposal and its status; MetricError when it cannot give one."""
    unable = "the HPA was unable to compute the replica count"
    if metric.type not in RESOURCE_SOURCES:
        raise MetricError(f"FailedGet{metric.type}Metric",
                          f"{unable}: {metric.type} metrics are not available in Shoal (only Resource and "
                          "ContainerResource metrics, from the agents' utilization)")
    field_name, failed = RESOURCE_SOURCES[metric.type]
    source = getattr(metric, field_name)
    resource, target = source.name, source.target
    container = source.container if metric.type == "ContainerResource" else ""
    if resource not in ("cpu", "memory"):
        raise MetricError(failed, f"{unable}: the agents report cpu and memory, not {resource}")
    status = autoscaling_pb2.MetricStatus(type=metric.type)
    current_status = getattr(status, field_name)
    current_status.name = resource
    if container:
        current_status.container = container
    try:
        if target.type == "Utilization":
            found: ResourceProposal = resource_replicas(current, target.average_utilization, resource, pods, usage,
                                                        now, tolerance, container)
            current_status.current.average_utilization = found.utilization
        elif target.type == "AverageValue":
            found = raw_resource_replicas(current, _amount(resource, target.average_value), resource, pods, usage,
                                          now, tolerance, container)
        else:
            raise MetricError(failed, f"a {metric.type} metric's target must be Utilization or AverageValue, "
                                      f"not {target.type or 'empty'}")
    except MetricError as exc:
        raise MetricError(failed, f"{unable}: {exc.message}") from None
    except QuantityError as exc:
        raise MetricError(failed, f"{unable}: {exc}") from None
    current_status.current.average_value = _quantity(resource, found.average)
    return found.replicas, status


def replicas_for_metrics(hpa, current: int, pods: list, usage: dict[str, PodUsage], now: float,
                         tolerance: Tolerance, decision: Decision) -> tuple[int, str] | None:
    """computeReplicasForMetrics: the largest proposal and the metric that made it, or None
    (ScalingActive False) when every metric failed, or some failed and the rest would scale
    down (a metric we cannot read might want more pods)."""
    best, best_name, first_error, failures = 0, "", None, 0
    specs = metric_specs(hpa)
    for metric in specs:
        try:
            proposal, status = replicas_for_metric(metric, current, pods, usage, now, tolerance)
        except MetricError as exc:
            failures += 1
            first_error = first_error or exc
            decision.metrics.append(autoscaling_pb2.MetricStatus())
            continue
        decision.metrics.append(status)
        if not best_name or proposal > best:  # the first proposal counts even when it is 0
            best, best_name = proposal, metric_name(metric)
    if failures >= len(specs) or (failures and best < current):
        decision.conditions[SCALING_ACTIVE] = ("False", first_error.reason, first_error.message)
        decision.metric_error = True
        return None
    decision.conditions[SCALING_ACTIVE] = (
        "True", VALID_METRIC_FOUND, f"the HPA was able to successfully calculate a replica count from {best_name}")
    return best, best_name


# -- stabilization and rate limits ----------------------------------------------------------------


def _changed_within(events: list[tuple[float, int]], period: float, now: float) -> int:
    return sum(change for at, change in events if at > now - period)


def _rules(hpa, direction: str):
    behavior = hpa.spec.behavior
    return getattr(behavior, direction) if behavior.HasField(direction) else None


def _policies(rules, defaults) -> list[tuple[str, int, int]]:
    if rules is not None and rules.policies:
        return [(p.type, p.value, p.period_seconds) for p in rules.policies]
    return list(defaults)


def _select_policy(rules) -> str:
    return rules.select_policy if rules is not None and rules.HasField("select_policy") else "Max"


def scale_up_limit(current: int, events: list[tuple[float, int]], rules, now: float) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now."""
    select = _select_policy(rules)
    if select == "Disabled":
        return current
    limits = []
    for kind, amount, period in _policies(rules, DEFAULT_SCALE_UP_POLICIES):
        start = current - _changed_within(events, period, now)
        limits.append(start + amount if kind == "Pods" else math.ceil(start * (1 + amount / 100)))
    return min(limits) if select == "Min" else max(limits)


def scale_down_limit(current: int, events: list[tuple[float, int]], rules, now: float) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now."""
    select = _select_policy(rules)
    if select == "Disabled":
        return current
    limits = []
    for kind, amount, period in _policies(rules, DEFAULT_SCALE_DOWN_POLICIES):
        start = current + _changed_within(events, period, now)
        limits.append(start - amount if kind == "Pods" else int(start * (1 - amount / 100)))
    return max(limits) if select == "Min" else min(limits)


def _window(rules, default: float) -> float:
    if rules is not None and rules.HasField("stabilization_window_seconds"):
        return float(rules.stabilization_window_seconds)
    return default


def normalize_without_behavior(decision: Decision, memory: AutoscalerMemory, proposal: int, min_replicas: int,
                               max_replicas: int, now: float, window: float) -> int:
    """normalizeDesiredReplicas: the highest recommendation of the scale-down window, then
    min/max and the scale-up limit max(2 x current, 4)."""
    recent = [r for at, r in memory.recommendations if at >= now - window]
    stabilized = max([proposal, *recent])
    memory.recommendations.append((now, proposal))
    memory.prune(now, window)
    current = decision.current
    decision.conditions[ABLE_TO_SCALE] = (("True", SCALE_DOWN_STABILIZED, MSG_DOWN_STABILIZED)
                                          if stabilized != proposal else ("True", READY_FOR_NEW_SCALE, MSG_READY))
    up_limit = max(int(SCALE_UP_LIMIT_FACTOR * current), SCALE_UP_LIMIT_MINIMUM)
    allowed_max = min(max_replicas, up_limit)
    if stabilized < min_replicas:
        desired, reason, message = min_replicas, TOO_FEW_REPLICAS, MSG_TOO_FEW
    elif stabilized > allowed_max:
        desired = allowed_max
        limited_by_rate = up_limit < max_replicas
        reason, message = (SCALE_UP_LIMIT, MSG_UP_LIMIT) if limited_by_rate else (TOO_MANY_REPLICAS, MSG_TOO_MANY)
    else:
        desired = stabilized
    decision.conditions[SCALING_LIMITED] = (("False", DESIRED_WITHIN_RANGE, MSG_WITHIN_RANGE) if desired == stabilized
                                            else ("True", reason, message))
    return desired


def normalize_with_behavior(hpa, decision: Decision, memory: AutoscalerMemory, proposal: int, min_replicas: int,
                            max_replicas: int, now: float, default_down_window: float) -> int:
    """normalizeDesiredReplicasWithBehaviors: stabilized between the lowest recommendation of
    the scale-up window and the highest of the scale-down window, then the rate policies."""
    up_rules, down_rules = _rules(hpa, "scale_up"), _rules(hpa, "scale_down")
    up_window, down_window = _window(up_rules, 0.0), _window(down_rules, default_down_window)
    current = decision.current
    up_rec = down_rec = proposal
    for at, replicas in memory.recommendations:
        if at > now - up_window:
            up_rec = min(up_rec, replicas)
        if at > now - down_window:
            down_rec = max(down_rec, replicas)
    stabilized = min(max(current, up_rec), down_rec)
    memory.recommendations.append((now, proposal))
    if stabilized == proposal:
        decision.conditions[ABLE_TO_SCALE] = ("True", READY_FOR_NEW_SCALE, MSG_READY)
    elif stabilized < proposal:
        decision.conditions[ABLE_TO_SCALE] = ("True", SCALE_UP_STABILIZED, MSG_UP_STABILIZED)
    else:
        decision.conditions[ABLE_TO_SCALE] = ("True", SCALE_DOWN_STABILIZED, MSG_DOWN_STABILIZED)
    longest_period = max([p for _, _, p in _policies(up_rules, DEFAULT_SCALE_UP_POLICIES)
                          + _policies(down_rules, DEFAULT_SCALE_DOWN_POLICIES)])
    memory.prune(now, max(up_window, down_window, longest_period))
    desired, reason, message = stabilized, DESIRED_WITHIN_RANGE, MSG_WITHIN_RANGE
    if stabilized > current:
        limit = max(scale_up_limit(current, memory.scale_up_events, up_rules, now), current)
        allowed, reason, message = ((limit, SCALE_UP_LIMIT, MSG_UP_LIMIT) if max_replicas > limit
                                    else (max_replicas, TOO_MANY_REPLICAS, MSG_TOO_MANY))
        desired = min(stabilized, allowed)
    elif stabilized < current:
        limit = min(scale_down_limit(current, memory.scale_down_events, down_rules, now), current)
        allowed, reason, message = ((limit, SCALE_DOWN_LIMIT, MSG_DOWN_LIMIT) if min_replicas < limit
                                    else (min_replicas, TOO_FEW_REPLICAS, MSG_TOO_FEW))
        desired = max(stabilized, allowed)
    desired = min(max(desired, min_replicas), max_replicas)
    decision.conditions[SCALING_LIMITED] = (("False", DESIRED_WITHIN_RANGE, MSG_WITHIN_RANGE) if desired == stabilized
                                            else ("True", reason, message))
    return desired


def tolerance_of(hpa, default: float) -> Tolerance:
    """Each direction's rules' tolerance where they set one (the configurable tolerance of newer
    Kubernetes), else the controller's."""

    def one(direction: str) -> float:
        rules = _rules(hpa, direction)
        if rules is not None and rules.tolerance:
            try:
                return float(parse_quantity(rules.tolerance))
            except QuantityError:
                pass
        return default

    return Tolerance(down=one("scale_down"), up=one("scale_up"))


# -- the decision ---------------------------------------------------------------------------------


def min_replicas_of(hpa) -> int:
    return hpa.spec.min_replicas if hpa.spec.HasField("min_replicas") else 1


def decide(hpa, current: int, pods: list, usage: dict[str, PodUsage], memory: AutoscalerMemory, now: float,
           settings: HPASettings) -> Decision:
    """reconcileAutoscaler without the I/O: the replicas ``hpa`` wants for a target now at
    ``current`` whose pods are ``pods`` and use ``usage``."""
    min_r, max_r = min_replicas_of(hpa), hpa.spec.max_replicas
    decision = Decision(current=current, desired=current)
    decision.conditions[ABLE_TO_SCALE] = ("True", SUCCEEDED_GET_SCALE,
                                          "the HPA controller was able to get the target's current scale")
    if current == 0 and min_r != 0:
        decision.desired = 0
        decision.conditions[SCALING_ACTIVE] = ("False", SCALING_DISABLED, MSG_DISABLED)
        return decision
    if current > max_r:
        decision.desired, decision.reason = max_r, ABOVE_MAX
    elif current < min_r:
        decision.desired, decision.reason = min_r, BELOW_MIN
    else:
        found = replicas_for_metrics(hpa, current, pods, usage, now, tolerance_of(hpa, settings.tolerance), decision)
        if found is None:
            decision.desired = hpa.status.desired_replicas if hpa.status.desired_replicas else current
            return decision
        proposal, name = found
        if proposal > current:
            decision.reason = f"{name} above target"
        elif proposal < current:
            decision.reason = ALL_BELOW
        if hpa.spec.HasField("behavior"):
            decision.desired = normalize_with_behavior(hpa, decision, memory, proposal, min_r, max_r, now,
                                                       settings.downscale_stabilization_seconds)
        else:
            decision.desired = normalize_without_behavior(decision, memory, proposal, min_r, max_r, now,
                                                          settings.downscale_stabilization_seconds)
    decision.rescale = decision.desired != current
    return decision


def with_conditions(status, conditions: dict[str, tuple[str, str, str]], now: float) -> None:
    """Sets ``conditions`` on ``status`` in Kubernetes' order, keeping lastTransitionTime of the
    ones whose status did not change."""
    old = {c.type: c for c in status.conditions}
    merged = []
    for kind in CONDITION_ORDER:
        if kind in conditions:
            state, reason, message = conditions[kind]
            cond = autoscaling_pb2.HorizontalPodAutoscalerCondition(type=kind, status=state, reason=reason,
                                                                    message=message)
            previous = old.get(kind)
            if previous is not None and previous.status == state:
                cond.last_transition_time.CopyFrom(previous.last_transition_time)
            else:
                cond.last_transition_time.CopyFrom(timestamp(now))
            merged.append(cond)
        elif kind in old:
            merged.append(old[kind])
    del status.conditions[:]
    status.conditions.extend(merged)


def autoscaler_status(hpa, decision: Decision, target_replicas: int, now: float,
                      scaled: bool) -> autoscaling_pb2.HorizontalPodAutoscalerStatus:
    status = clone(hpa.status)
    status.current_replicas = target_replicas
    status.desired_replicas = decision.desired
    status.observed_generation = hpa.metadata.generation
    del status.current_metrics[:]
    # One entry per spec.metrics entry, empty where the metric could not be read (as Kubernetes).
    status.current_metrics.extend(decision.metrics)
    if scaled:
        status.last_scale_time.CopyFrom(timestamp(now))
    with_conditions(status, decision.conditions, now)
    return status


# -- the runner -----------------------------------------------------------------------------------


async def pod_usage(client, namespace: str) -> dict[str, PodUsage]:
    """The namespace's newest pod samples from NodeService.GetUtilization (the server's window of
    the agents' reports); empty when there are none or the call fails."""
    from shoal.v1 import node_service_pb2 as nsvc
    from shoal.v1 import node_service_pb2_grpc as nsvc_grpc

    stub = nsvc_grpc.NodeServiceStub(client.channel)
    try:
        resp = await stub.GetUtilization(nsvc.GetUtilizationRequest(kind="Pod", namespace=namespace),
                                         timeout=client.timeout)
    except grpc.RpcError as exc:
        log.info("GetUtilization for namespace %s: %s", namespace, exc.details())
        return {}
    return {i.name: PodUsage(i.cpu_millis, i.memory_bytes, i.timestamp.ToNanoseconds() / 1e9,
                             i.window.ToNanoseconds() / 1e9,
                             tuple((c.name, c.cpu_millis, c.memory_bytes) for c in i.containers))
            for i in resp.items}


class HorizontalPodAutoscalerController(Controller):
    name = NAME
    watches = ("HorizontalPodAutoscaler", "Deployment", "ReplicaSet", "Pod")
    workers = 2

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.settings = HPASettings.from_env()
        self.memory: dict[str, AutoscalerMemory] = {}
        self.usage_source = pod_usage

    def on_change(self, kind: str, change: Change) -> None:
        """A new autoscaler, a changed spec or a new target syncs at once; otherwise every sync
        period (our own writes, to the status or to the target, must not make a loop of syncs)."""
        if kind in SCALABLE_KINDS:
            if change.type == "add":
                meta = change.new.metadata
                for hpa in self.cache("HorizontalPodAutoscaler").list(meta.namespace):
                    ref = hpa.spec.scale_target_ref
                    if ref.kind == kind and ref.name == meta.name:
                        self.queue.add(object_key(hpa))
            return
        if kind != "HorizontalPodAutoscaler":
            return
        key = object_key(change.new)
        if change.type == "delete":
            self.memory.pop(key, None)
            return
        if change.old is None or change.old.metadata.generation != change.new.metadata.generation:
            self.queue.add(key)

    async def sync(self, key: str) -> float | None:
        hpa = self.cache("HorizontalPodAutoscaler").get(key)
        if hpa is None:
            self.memory.pop(key, None)
            return None
        period = self.settings.sync_seconds
        ref = hpa.spec.scale_target_ref
        namespace = hpa.metadata.namespace
        target = (self.cache(ref.kind).get(f"{namespace}/{ref.name}") if ref.kind in SCALABLE_KINDS else None)
        now = self.now
        if target is None:
            what = (f'{SCALABLE_KINDS[ref.kind]} "{ref.name}" not found' if ref.kind in SCALABLE_KINDS
                    else f'no scale subresource for kind "{ref.kind}" (Shoal scales Deployments and ReplicaSets)')
            message = f"the HPA controller was unable to get the target's current scale: {what}"
            decision = Decision(current=0, desired=hpa.status.desired_replicas,
                                conditions={ABLE_TO_SCALE: ("False", FAILED_GET_SCALE, message)})
            await self._write_status(hpa, decision, hpa.status.current_replicas, now, scaled=False, key=key)
            return period
        current = target.spec.replicas if target.spec.HasField("replicas") else 1
        memory = self.memory.setdefault(key, AutoscalerMemory())
        if selector_is_empty(target.spec.selector):
            decision = Decision(current=current, desired=current, conditions={SCALING_ACTIVE: (
                "False", INVALID_SELECTOR, "the HPA target's scale is missing a selector")})
        else:
            pods = self.cache("Pod").select(namespace, target.spec.selector)
            usage = await self.usage_source(self.client, namespace)
            decision = decide(hpa, current, pods, usage, memory, now, self.settings)
        scaled = False
        if decision.rescale:
            scaled = await self._rescale(hpa, target, decision, key)
            if scaled:
                memory.record_scale(current, decision.desired, now)
        await self._write_status(hpa, decision, target.status.replicas, now, scaled=scaled, key=key)
        return period if scaled or not decision.rescale else min(period, RETRY_SECONDS)

    async def _rescale(self, hpa, target, decision: Decision, key: str) -> bool:
        event = Emit(hpa, "Normal", SUCCESSFUL_RESCALE, f"New size: {decision.desired}; reason: {decision.reason}")
        updated = clone(target)
        updated.spec.replicas = decision.desired
        outcome = await self.ctx.executor.run(Update(updated, event=event), controller=self.name, key=key)
        if outcome.code == grpc.StatusCode.ABORTED:
            # The cached target was behind (the deployment controller writes it too): try once
            # more on a fresh read, unless its replicas changed under us (then decide again).
            fresh = await self._fresh(target)
            if fresh is not None and fresh.spec.replicas == decision.current:
                fresh.spec.replicas = decision.desired
                outcome = await self.ctx.executor.run(Update(fresh, event=event), controller=self.name, key=key)
        if outcome.ok:
            message = f"the HPA controller was able to update the target scale to {decision.desired}"
            decision.conditions[ABLE_TO_SCALE] = ("True", SUCCEEDED_RESCALE, message)
            return True
        message = f"the HPA controller was unable to update the target scale: {outcome.error.message}"
        decision.conditions[ABLE_TO_SCALE] = ("False", FAILED_UPDATE_SCALE, message)
        self.ctx.executor.emit(Emit(hpa, "Warning", FAILED_RESCALE,
                                    f"New size: {decision.desired}; reason: {decision.reason}; error: "
                                    f"{outcome.error.message}"))
        decision.desired = decision.current
        return False

    async def _fresh(self, target):
        try:
            return await self.client.get(kind_of(target), target.metadata.name, target.metadata.namespace)
        except APIStatusError:
            return None

    async def _write_status(self, hpa, decision: Decision, target_replicas: int, now: float, *, scaled: bool,
                            key: str) -> None:
        status = autoscaler_status(hpa, decision, target_replicas, now, scaled)
        if status == hpa.status:
            return
        updated = clone(hpa)
        updated.status.CopyFrom(status)
        updated.metadata.resource_version = ""
        outcome = await self.ctx.executor.run(UpdateStatus(updated), controller=self.name, key=key)
        if not outcome.ok and outcome.code != grpc.StatusCode.NOT_FOUND:
            raise APIStatusError(outcome.code, outcome.error.message)
