"""Kubernetes' defaults, filled in place on objects on their way into the store.

    apply_defaults(info, msg)

Only empty fields are filled; what the user set is never overwritten. Defaulting runs on every
write (create, update, status update), so each default is idempotent, and it never fails:
input validation rejects later is left as it is.

    pod         Pod, PodSpec, Container, probes, volumes; default tolerations; QoS class
    workloads   Deployment, ReplicaSet, Job
    (here)      Service, Endpoints, Namespace, Node, Secret, PV, PVC, PriorityClass, HPA, Event
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.control.api.defaulting.pod import default_pod
from shoal.control.api.defaulting.workloads import (
    default_deployment,
    default_job,
    default_replica_set,
)
from shoal.proto.kinds import KindInfo

__all__ = ["apply_defaults"]

DEFAULT_CLIENT_IP_TIMEOUT = 10800
DEFAULT_CPU_UTILIZATION = 80
NAMESPACE_FINALIZER = "kubernetes"


def apply_defaults(info: KindInfo, msg) -> None:
    """Fills ``msg`` (a message of kind ``info``) with Kubernetes' defaults, in place."""
    rule = _KIND_DEFAULTS.get(info.kind)
    if rule is not None:
        rule(msg)


def _default_service(svc) -> None:
    spec = svc.spec
    if not spec.type:
        spec.type = "ClusterIP"
    if not spec.session_affinity:
        spec.session_affinity = "None"
    if spec.session_affinity == "ClientIP":
        client_ip = spec.session_affinity_config.client_ip
        if not client_ip.HasField("timeout_seconds"):
            client_ip.timeout_seconds = DEFAULT_CLIENT_IP_TIMEOUT
    for port in spec.ports:
        if not port.protocol:
            port.protocol = "TCP"
        target = port.target_port
        which = target.WhichOneof("value")
        if which is None or (which == "int_val" and not target.int_val) or (which == "str_val" and not target.str_val):
            target.int_val = port.port
    if spec.type in ("NodePort", "LoadBalancer") and not spec.external_traffic_policy:
        spec.external_traffic_policy = "Cluster"
    if spec.type != "ExternalName" and not spec.HasField("internal_traffic_policy"):
        spec.internal_traffic_policy = "Cluster"
    if spec.type == "LoadBalancer" and not spec.HasField("allocate_load_balancer_node_ports"):
        spec.allocate_load_balancer_node_ports = True


def _default_endpoints(endpoints) -> None:
    for subset in endpoints.subsets:
        for port in subset.ports:
            if not port.protocol:
                port.protocol = "TCP"


def _default_namespace(ns) -> None:
    # A namespace being deleted has had its finalizer removed on purpose: leave it gone.
    if not ns.spec.finalizers and not ns.metadata.HasField("deletion_timestamp"):
        ns.spec.finalizers.append(NAMESPACE_FINALIZER)
    if not ns.status.phase:
        ns.status.phase = "Active"


def _default_node(node) -> None:
    status = node.status
    if status.capacity and not status.allocatable:
        status.allocatable.update(status.capacity)


def _default_secret(secret) -> None:
    if not secret.type:
        secret.type = "Opaque"
    if secret.string_data:
        # stringData is a write-only convenience: it lands in data and is not kept.
        for key, value in secret.string_data.items():
            secret.data[key] = value.encode()
        secret.ClearField("string_data")


def _default_pv(pv) -> None:
    spec = pv.spec
    if not spec.persistent_volume_reclaim_policy:
        spec.persistent_volume_reclaim_policy = "Retain"
    if not spec.HasField("volume_mode"):
        spec.volume_mode = "Filesystem"
    if spec.HasField("host_path") and not spec.host_path.HasField("type"):
        spec.host_path.type = ""
    if not pv.status.phase:
        pv.status.phase = "Pending"


def _default_pvc(pvc) -> None:
    if not pvc.spec.HasField("volume_mode"):
        pvc.spec.volume_mode = "Filesystem"
    if not pvc.status.phase:
        pvc.status.phase = "Pending"


def _default_priority_class(pc) -> None:
    if not pc.HasField("preemption_policy"):
        pc.preemption_policy = "PreemptLowerPriority"


def _default_hpa(hpa) -> None:
    spec = hpa.spec
    if not spec.HasField("min_replicas"):
        spec.min_replicas = 1
    if not spec.metrics:
        metric = spec.metrics.add(type="Resource")
        metric.resource.name = "cpu"
        metric.resource.target.type = "Utilization"
        metric.resource.target.average_utilization = DEFAULT_CPU_UTILIZATION
    if spec.HasField("behavior"):
        _default_scaling_rules(spec.behavior.scale_up, (("Pods", 4, 15), ("Percent", 100, 15)), stabilization=0)
        _default_scaling_rules(spec.behavior.scale_down, (("Percent", 100, 15),), stabilization=None)


def _default_scaling_rules(rules, policies, stabilization: int | None) -> None:
    """autoscaling/v2's GenerateHPAScale{Up,Down}Rules: the missing parts of a behavior."""
    if not rules.policies:
        for kind, value, period in policies:
            rules.policies.add(type=kind, value=value, period_seconds=period)
    if not rules.HasField("select_policy"):
        rules.select_policy = "Max"
    if stabilization is not None and not rules.HasField("stabilization_window_seconds"):
        rules.stabilization_window_seconds = stabilization


def _default_event(event) -> None:
    if not event.count:
        event.count = 1
    if not event.type:
        event.type = "Normal"


_KIND_DEFAULTS: dict[str, Callable[[object], None]] = {
    "Pod": default_pod,
    "Deployment": default_deployment,
    "ReplicaSet": default_replica_set,
    "Job": default_job,
    "Service": _default_service,
    "Endpoints": _default_endpoints,
    "Namespace": _default_namespace,
    "Node": _default_node,
    "Secret": _default_secret,
    "PersistentVolume": _default_pv,
    "PersistentVolumeClaim": _default_pvc,
    "PriorityClass": _default_priority_class,
    "HorizontalPodAutoscaler": _default_hpa,
    "Event": _default_event,
}
