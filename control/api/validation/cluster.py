"""The cluster's own objects: Namespace, Node, Lease and Event."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    invalid,
    required,
    too_many,
    unsupported,
)
from shoal.control.api.validation.names import cidr_problem, qualified_name_problem
from shoal.control.api.validation.placement import validate_taints
from shoal.control.api.validation.quantities import check_quantity_map

NAMESPACE_PHASES = ("Active", "Terminating")
STANDARD_FINALIZERS = frozenset(("kubernetes", "orphan", "foregroundDeletion"))
EVENT_TYPES = ("Normal", "Warning")
MAX_EVENT_REASON = 128


def validate_namespace(msg, old, errs: list[str]) -> None:
    for i, name in enumerate(msg.spec.finalizers):
        problem = qualified_name_problem(name)
        if problem:
            errs.append(invalid(f"spec.finalizers[{i}]", name, problem))
        elif "/" not in name and name not in STANDARD_FINALIZERS:
            errs.append(invalid(f"spec.finalizers[{i}]", name,
                                "name is neither a standard finalizer name nor is it fully qualified"))
    phase = msg.status.phase
    if phase and phase not in NAMESPACE_PHASES:
        errs.append(unsupported("status.phase", phase, NAMESPACE_PHASES))


def validate_node(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    if spec.taints:
        validate_taints(spec.taints, "spec.taints", errs)
    if spec.pod_cidr:
        problem = cidr_problem(spec.pod_cidr)
        if problem:
            errs.append(invalid("spec.podCIDR", spec.pod_cidr, problem))
    if spec.pod_cidrs:
        if len(spec.pod_cidrs) > 2:
            errs.append(too_many("spec.podCIDRs", len(spec.pod_cidrs), 2))
        for i, cidr in enumerate(spec.pod_cidrs):
            problem = cidr_problem(cidr)
            if problem:
                errs.append(invalid(f"spec.podCIDRs[{i}]", cidr, problem))
        if spec.pod_cidr and spec.pod_cidrs[0] != spec.pod_cidr:
            errs.append(invalid("spec.podCIDRs[0]", spec.pod_cidrs[0], "must match spec.podCIDR"))
    status = msg.status
    for field, json_name in (("capacity", "capacity"), ("allocatable", "allocatable")):
        quantities = getattr(status, field)
        if quantities:
            for name in quantities:
                problem = qualified_name_problem(name)
                if problem:
                    errs.append(invalid(f"status.{json_name}", name, problem))
            check_quantity_map(quantities, f"status.{json_name}", errs)


def validate_lease(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    if spec.HasField("lease_duration_seconds") and spec.lease_duration_seconds <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", spec.lease_duration_seconds, "must be greater than 0"))
    if spec.HasField("lease_transitions") and spec.lease_transitions < 0:
        errs.append(invalid("spec.leaseTransitions", spec.lease_transitions, "must be greater than or equal to 0"))


def validate_event(msg, old, errs: list[str]) -> None:
    ref = msg.involved_object
    if not msg.HasField("involved_object") or not (ref.kind or ref.name):
        errs.append(required("involvedObject"))
    elif ref.namespace and ref.namespace != msg.metadata.namespace:
        errs.append(invalid("involvedObject.namespace", ref.namespace, "does not match event.namespace"))
    if msg.type and msg.type not in EVENT_TYPES:
        errs.append(unsupported("type", msg.type, EVENT_TYPES))
    if msg.count < 0:
        errs.append(invalid("count", msg.count, "must be greater than or equal to 0"))
    if len(msg.reason) > MAX_EVENT_REASON:
        errs.append(invalid("reason", msg.reason, f"can have at most {MAX_EVENT_REASON} characters"))
    if len(msg.action) > MAX_EVENT_REASON:
        errs.append(invalid("action", msg.action, f"can have at most {MAX_EVENT_REASON} characters"))
