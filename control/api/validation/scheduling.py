"""PriorityClass and PodGroup (the gang)."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import forbidden, invalid, unsupported
from shoal.control.api.validation.meta import validate_dns_subdomain_field
from shoal.control.api.validation.quantities import check_quantity_map

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")


def validate_priority_class(msg, old, errs: list[str]) -> None:
    name = msg.metadata.name
    if name.startswith("system-"):
        if SYSTEM_PRIORITY_CLASSES.get(name) != msg.value:
            errs.append(invalid("metadata.name", name, "priority class names with 'system-' prefix are reserved"))
    elif msg.value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"))
    if msg.HasField("preemption_policy") and msg.preemption_policy not in PREEMPTION_POLICIES:
        errs.append(unsupported("preemptionPolicy", msg.preemption_policy, PREEMPTION_POLICIES))
    if old is not None:
        if msg.value != old.value:
            errs.append(forbidden("value", "may not be changed in an update."))
        if msg.preemption_policy != old.preemption_policy:
            errs.append(forbidden("preemptionPolicy", "may not be changed in an update."))


def validate_pod_group(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    if spec.min_member < 1:
        errs.append(invalid("spec.minMember", spec.min_member, "must be greater than or equal to 1"))
    if spec.min_resources:
        check_quantity_map(spec.min_resources, "spec.minResources", errs)
    if spec.HasField("schedule_timeout_seconds") and spec.schedule_timeout_seconds <= 0:
        errs.append(invalid("spec.scheduleTimeoutSeconds", spec.schedule_timeout_seconds, "must be greater than 0"))
    if spec.priority_class_name:
        validate_dns_subdomain_field(spec.priority_class_name, "spec.priorityClassName", errs)
