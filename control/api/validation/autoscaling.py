"""HorizontalPodAutoscaler (autoscaling/v2)."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    forbidden,
    invalid,
    required,
    unsupported,
)
from shoal.control.api.validation.meta import validate_label_selector
from shoal.control.api.validation.names import path_segment_problem
from shoal.control.api.validation.quantities import QUANTITY_MSG, nano

# MetricSpec.type -> (source field, its JSON name)
METRIC_SOURCES = {
    "ContainerResource": ("container_resource", "containerResource"),
    "External": ("external", "external"),
    "Object": ("object", "object"),
    "Pods": ("pods", "pods"),
    "Resource": ("resource", "resource"),
}
METRIC_TYPES = tuple(sorted(METRIC_SOURCES))
TARGET_TYPES = ("AverageValue", "Utilization", "Value")
SELECT_POLICIES = ("Disabled", "Max", "Min")
SCALING_POLICY_TYPES = ("Percent", "Pods")
MAX_STABILIZATION_WINDOW = 3600
MAX_POLICY_PERIOD = 1800


def validate_hpa(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    ref = spec.scale_target_ref
    if not ref.kind:
        errs.append(required("spec.scaleTargetRef.kind"))
    if not ref.name:
        errs.append(required("spec.scaleTargetRef.name"))
    else:
        problem = path_segment_problem(ref.name)
        if problem:
            errs.append(invalid("spec.scaleTargetRef.name", ref.name, problem))
    min_replicas = spec.min_replicas if spec.HasField("min_replicas") else 1
    if min_replicas < 1:
        errs.append(invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    if spec.max_replicas < 1:
        errs.append(invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    elif spec.max_replicas < min_replicas:
        errs.append(invalid("spec.maxReplicas", spec.max_replicas, "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.metrics):
        _validate_metric(metric, f"spec.metrics[{i}]", errs)
    if spec.HasField("behavior"):
        for field, json_name in (("scale_up", "scaleUp"), ("scale_down", "scaleDown")):
            if spec.behavior.HasField(field):
                _validate_scaling_rules(getattr(spec.behavior, field), f"spec.behavior.{json_name}", errs)


def _validate_metric(metric, p: str, errs: list[str]) -> None:
    if metric.type not in METRIC_SOURCES:
        errs.append(required(p + ".type") if not metric.type else unsupported(p + ".type", metric.type, METRIC_TYPES))
        return
    field, json_name = METRIC_SOURCES[metric.type]
    for other_field, other_json in METRIC_SOURCES.values():
        if other_field != field and metric.HasField(other_field):
            errs.append(forbidden(f"{p}.{other_json}", "must populate the given metric source only"))
    if not metric.HasField(field):
        errs.append(required(f"{p}.{json_name}", "must populate information for the given metric source"))
        return
    source = getattr(metric, field)
    sp = f"{p}.{json_name}"
    if field in ("resource", "container_resource"):
        if not source.name:
            errs.append(required(sp + ".name"))
        if field == "container_resource" and not source.container:
            errs.append(required(sp + ".container"))
    else:
        if field == "object":
            if not source.described_object.kind:
                errs.append(required(sp + ".describedObject.kind"))
            if not source.described_object.name:
                errs.append(required(sp + ".describedObject.name"))
        if not source.metric.name:
            errs.append(required(sp + ".metric.name"))
        if source.metric.HasField("selector"):
            validate_label_selector(source.metric.selector, sp + ".metric.selector", errs)
    _validate_target(source.target, sp + ".target", field in ("resource", "container_resource"), errs)


def _validate_target(target, p: str, utilization_allowed: bool, errs: list[str]) -> None:
    kind = target.type
    if kind not in TARGET_TYPES:
        errs.append(required(p + ".type") if not kind else unsupported(p + ".type", kind, TARGET_TYPES))
        return
    if kind == "Utilization":
        if not utilization_allowed:
            errs.append(unsupported(p + ".type", kind, ("AverageValue", "Value")))
        elif not target.HasField("average_utilization"):
            errs.append(required(p + ".averageUtilization", "must set averageUtilization when type is Utilization"))
        elif target.average_utilization <= 0:
            errs.append(invalid(p + ".averageUtilization", target.average_utilization, "must be greater than 0"))
        return
    field, json_name = ("value", "value") if kind == "Value" else ("average_value", "averageValue")
    text = getattr(target, field)
    if not text:
        errs.append(required(f"{p}.{json_name}", f"must set {json_name} when type is {kind}"))
        return
    value = nano(text)
    if value is None:
        errs.append(invalid(f"{p}.{json_name}", text, QUANTITY_MSG))
    elif value <= 0:
        errs.append(invalid(f"{p}.{json_name}", text, "must be positive"))


def _validate_scaling_rules(rules, p: str, errs: list[str]) -> None:
    if rules.HasField("stabilization_window_seconds"):
        window = rules.stabilization_window_seconds
        if not 0 <= window <= MAX_STABILIZATION_WINDOW:
            errs.append(invalid(p + ".stabilizationWindowSeconds", window,
                                f"must be between 0 and {MAX_STABILIZATION_WINDOW}, inclusive"))
    if rules.HasField("select_policy") and rules.select_policy not in SELECT_POLICIES:
        errs.append(unsupported(p + ".selectPolicy", rules.select_policy, SELECT_POLICIES))
    for i, policy in enumerate(rules.policies):
        pp = f"{p}.policies[{i}]"
        if policy.type not in SCALING_POLICY_TYPES:
            errs.append(unsupported(pp + ".type", policy.type, SCALING_POLICY_TYPES))
        if policy.value <= 0:
            errs.append(invalid(pp + ".value", policy.value, "must be greater than zero"))
        if not 0 < policy.period_seconds <= MAX_POLICY_PERIOD:
            errs.append(invalid(pp + ".periodSeconds", policy.period_seconds,
                                f"must be greater than zero and less than or equal to {MAX_POLICY_PERIOD}"))
    if rules.tolerance:
        value = nano(rules.tolerance)
        if value is None:
            errs.append(invalid(p + ".tolerance", rules.tolerance, QUANTITY_MSG))
        elif value < 0:
            errs.append(invalid(p + ".tolerance", rules.tolerance, "must be greater than or equal to 0"))
