"""Validation of objects on their way into the store, after Kubernetes' rules.

    validate(info, msg, old)      old is None on create, the stored object on update

Every rule appends a line to one list ("spec.containers[0].image: Required value"); if the list
is not empty at the end, one Invalid names the kind, the object and every bad field:

    Pod "web" is invalid: spec.containers[0].resources.requests.cpu: Invalid value: "1.5.0": ...

Paths are Kubernetes' JSON paths (camelCase, list indexes; resource names as ".cpu"). Any
message protobuf accepts yields success or Invalid, never another exception.

Modules, by what they validate:
    meta          ObjectMeta, labels, annotations, label selectors
    pod           pod specs and templates, pod updates
      containers  containers: names, images, ports, env, resources, mounts
      probes      probes and lifecycle handlers
      security    security contexts of pods and containers
      volumes     pod volumes and their sources
      placement   node selectors, affinity, tolerations, taints, topology spread
    workloads     Deployment, ReplicaSet, Job
    service       Service, Endpoints
    storage       PersistentVolume, PersistentVolumeClaim
    config        ConfigMap, Secret
    cluster       Namespace, Node, Lease, Event
    scheduling    PriorityClass, PodGroup
    autoscaling   HorizontalPodAutoscaler
and the parts they share:
    fielderrors   the error lines, and the one Invalid made of them
    names         name grammars: DNS labels and subdomains, qualified names, label values, ...
    quantities    quantities, parsed once per distinct string and compared as integers
    memo          pod specs already found valid (or defaulted), by their bytes
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.control.api.validation.autoscaling import validate_hpa
from shoal.control.api.validation.cluster import (
    validate_event,
    validate_lease,
    validate_namespace,
    validate_node,
)
from shoal.control.api.validation.config import validate_config_map, validate_secret
from shoal.control.api.validation.fielderrors import object_invalid
from shoal.control.api.validation.meta import validate_meta_name, validate_object_meta
from shoal.control.api.validation.names import (
    dns1035_label_problem,
    dns1123_label_problem,
    dns1123_subdomain_problem,
)
from shoal.control.api.validation.pod import validate_pod
from shoal.control.api.validation.quantities import check_quantities
from shoal.control.api.validation.scheduling import (
    validate_pod_group,
    validate_priority_class,
)
from shoal.control.api.validation.service import validate_endpoints, validate_service
from shoal.control.api.validation.storage import validate_pv, validate_pvc
from shoal.control.api.validation.workloads import (
    validate_deployment,
    validate_job,
    validate_replica_set,
)
from shoal.proto.kinds import KindInfo

__all__ = ["validate"]

KindRule = Callable[[object, object, list], None]

# How each kind's names are checked; every other kind's names are DNS-1123 subdomains.
_NAME_RULES: dict[str, Callable[[str], str | None]] = {
    "Namespace": dns1123_label_problem,
    "Service": dns1035_label_problem,
}

_KIND_RULES: dict[str, KindRule] = {
    "Pod": validate_pod,
    "Node": validate_node,
    "Namespace": validate_namespace,
    "Service": validate_service,
    "Endpoints": validate_endpoints,
    "ConfigMap": validate_config_map,
    "Secret": validate_secret,
    "PersistentVolume": validate_pv,
    "PersistentVolumeClaim": validate_pvc,
    "Deployment": validate_deployment,
    "ReplicaSet": validate_replica_set,
    "Job": validate_job,
    "PriorityClass": validate_priority_class,
    "PodGroup": validate_pod_group,
    "HorizontalPodAutoscaler": validate_hpa,
    "Lease": validate_lease,
    "Event": validate_event,
}

# Kinds whose status holds quantities the kind's own rule does not look at.
_STATUS_QUANTITIES = frozenset(("PersistentVolumeClaim", "HorizontalPodAutoscaler"))


def validate(info: KindInfo, msg, old=None) -> None:
    """Raises errors.Invalid naming the kind, the object and every bad field; returns None if
    ``msg`` (and, on update, its change from ``old``) is valid."""
    errs: list[str] = []
    kind = info.kind
    validate_object_meta(msg.metadata, info.namespaced, _NAME_RULES.get(kind, dns1123_subdomain_problem), errs)
    rule = _KIND_RULES.get(kind)
    if rule is not None:
        rule(msg, old, errs)
    if kind in _STATUS_QUANTITIES and msg.HasField("status"):
        check_quantities(msg.status, "status", errs)
    if errs:
        raise object_invalid(kind, msg.metadata.name, errs)


def validate_name(info: KindInfo, name: str, generate_name: str) -> None:
    """What validate checks of metadata.name alone (for an object otherwise known valid)."""
    errs: list[str] = []
    validate_meta_name(name, generate_name, _NAME_RULES.get(info.kind, dns1123_subdomain_problem), errs)
    if errs:
        raise object_invalid(info.kind, name, errs)
