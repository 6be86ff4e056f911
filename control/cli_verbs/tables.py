"""The columns `shoal get` prints for each kind, as kubectl prints them.

Each kind has its headers, the extra headers of ``-o wide``, and a row function giving the cells
of both for one object (the caller keeps the wide cells or drops them). Kinds without a table of
their own print NAME and AGE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

NONE = "<none>"


@dataclass(frozen=True)
class Columns:
    headers: tuple[str, ...]
    wide: tuple[str, ...]
    # (object, now in seconds) -> the cells after NAME (headers[1:]) then the wide ones; every
    # cell when name_column is False
    cells: Callable[[object, float], list[str]]
    name_column: bool = True


# -- human ages ------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 5m30s, 45m, 5h30m, 36h, 3d5h, 120d, 3y45d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp, now: float | None = None) -> str:
    """The age of a google.protobuf.Timestamp (``<unknown>`` when unset)."""
    if timestamp is None or (timestamp.seconds == 0 and timestamp.nanos == 0):
        return "<unknown>"
    now = time.time() if now is None else now
    return human_duration(now - timestamp.seconds - timestamp.nanos / 1e9)


# -- shared cell helpers ---------------------------------------------------------------------------


def label_selector_text(selector) -> str:
    """A LabelSelector as kubectl prints it: "app=web,tier in (a,b)"."""
    parts = [f"{k}={v}" for k, v in sorted(selector.match_labels.items())]
    for req in selector.match_expressions:
        op = req.operator
        if op in ("In", "NotIn"):
            parts.append(f"{req.key} {op.lower()} ({','.join(req.values)})")
        elif op == "Exists":
            parts.append(req.key)
        elif op == "DoesNotExist":
            parts.append(f"!{req.key}")
        else:
            parts.append(f"{req.key} {op} {','.join(req.values)}")
    return ",".join(parts) or NONE


def map_selector_text(selector) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or NONE


def _containers_images(template_spec) -> list[str]:
    names = ",".join(c.name for c in template_spec.containers) or NONE
    images = ",".join(c.image for c in template_spec.containers) or NONE
    return [names, images]


_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _access_modes(modes) -> str:
    return ",".join(_ACCESS_MODES.get(m, m) for m in modes)


def _or_none(text) -> str:
    return str(text) if text not in ("", None) else NONE


# -- per kind --------------------------------------------------------------------------------------


def pod_status(pod) -> tuple[int, int, str, int]:
    """(ready containers, containers, STATUS, restarts) as kubectl computes them."""
    spec, status = pod.spec, pod.status
    total = len(spec.containers)
    ready = restarts = 0
    reason = status.reason or status.phase or "Pending"
    if not spec.node_name and spec.scheduling_gates:
        reason = "SchedulingGated"
    initializing = False
    for i, cs in enumerate(status.init_container_statuses):
        restarts += cs.restart_count
        state = cs.state.WhichOneof("state")
        if state == "terminated" and cs.state.terminated.exit_code == 0:
            continue
        if state == "terminated":
            t = cs.state.terminated
            reason = "Init:" + (t.reason or (f"Signal:{t.signal}" if t.signal else f"ExitCode:{t.exit_code}"))
        elif state == "waiting" and cs.state.waiting.reason and cs.state.waiting.reason != "PodInitializing":
            reason = "Init:" + cs.state.waiting.reason
        else:
            reason = f"Init:{i}/{len(spec.init_containers)}"
        initializing = True
        break
    if not initializing:
        restarts = 0
        running = False
        for cs in reversed(status.container_statuses):
            restarts += cs.restart_count
            state = cs.state.WhichOneof("state")
            if state == "waiting" and cs.state.waiting.reason:
                reason = cs.state.waiting.reason
            elif state == "terminated":
                t = cs.state.terminated
                reason = t.reason or (f"Signal:{t.signal}" if t.signal else f"ExitCode:{t.exit_code}")
            elif state == "running" and cs.ready:
                running = True
                ready += 1
        if reason == "Completed" and running:
            ready_cond = any(c.type == "Ready" and c.status == "True" for c in status.conditions)
            reason = "Running" if ready_cond else "NotReady"
    if pod.metadata.HasField("deletion_timestamp"):
        reason = "Unknown" if status.reason == "NodeLost" else "Terminating"
    return ready, total, reason, restarts


def _pod_restarts(pod, restarts: int, now: float) -> str:
    last = 0
    for cs in list(pod.status.container_statuses) + list(pod.status.init_container_statuses):
        t = cs.last_state.terminated
        if cs.last_state.WhichOneof("state") == "terminated" and t.finished_at.seconds:
            last = max(last, t.finished_at.seconds)
    if restarts and last:
        return f"{restarts} ({human_duration(now - last)} ago)"
    return str(restarts)


def _pod(pod, now):
    ready, total, reason, restarts = pod_status(pod)
    gates = pod.spec.readiness_gates
    if gates:
        true = {c.type for c in pod.status.conditions if c.status == "True"}
        gates_text = f"{sum(1 for g in gates if g.condition_type in true)}/{len(gates)}"
    else:
        gates_text = NONE
    return [
        f"{ready}/{total}", reason, _pod_restarts(pod, restarts, now), age(pod.metadata.creation_timestamp, now),
        _or_none(pod.status.pod_ip), _or_none(pod.spec.node_name), _or_none(pod.status.nominated_node_name), gates_text,
    ]


def _replicas(spec) -> int:
    return spec.replicas if spec.HasField("replicas") else 1


def _deployment(d, now):
    return [
        f"{d.status.ready_replicas}/{_replicas(d.spec)}", str(d.status.updated_replicas),
        str(d.status.available_replicas), age(d.metadata.creation_timestamp, now),
        *_containers_images(d.spec.template.spec), label_selector_text(d.spec.selector),
    ]


def _replica_set(rs, now):
    return [
        str(_replicas(rs.spec)), str(rs.status.replicas), str(rs.status.ready_replicas),
        age(rs.metadata.creation_timestamp, now),
        *_containers_images(rs.spec.template.spec), label_selector_text(rs.spec.selector),
    ]


def service_ports(spec) -> str:
    ports = []
    for p in spec.ports:
        protocol = p.protocol or "TCP"
        ports.append(f"{p.port}:{p.node_port}/{protocol}" if p.node_port else f"{p.port}/{protocol}")
    return ",".join(ports) or NONE


def _external_ip(svc) -> str:
    spec = svc.spec
    kind = spec.type or "ClusterIP"
    external = list(spec.external_ips)
    if kind == "ExternalName":
        return spec.external_name or NONE
    if kind == "LoadBalancer":
        ingress = [i.ip or i.hostname for i in svc.status.load_balancer.ingress]
        return ",".join(ingress + external) or "<pending>"
    return ",".join(external) or NONE


def _service(svc, now):
    return [
        svc.spec.type or "ClusterIP", svc.spec.cluster_ip or NONE, _external_ip(svc), service_ports(svc.spec),
        age(svc.metadata.creation_timestamp, now), map_selector_text(svc.spec.selector),
    ]


def endpoints_text(ep, limit: int = 3) -> str:
    pairs = []
    for subset in ep.subsets:
        ports = [p.port for p in subset.ports] or [None]
        for addr in subset.addresses:
            for port in ports:
                pairs.append(f"{addr.ip}:{port}" if port is not None else addr.ip)
    if not pairs:
        return NONE
    if len(pairs) > limit:
        return ",".join(pairs[:limit]) + f" + {len(pairs) - limit} more..."
    return ",".join(pairs)


def _endpoints(ep, now):
    return [endpoints_text(ep), age(ep.metadata.creation_timestamp, now)]


def node_status(node) -> str:
    status = "Unknown"
    for cond in node.status.conditions:
        if cond.type == "Ready":
            status = {"True": "Ready", "False": "NotReady"}.get(cond.status, "Unknown")
    if node.spec.unschedulable:
        status += ",SchedulingDisabled"
    return status


def node_roles(node) -> str:
    roles = set()
    for key, value in node.metadata.labels.items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1] or value)
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def _node(node, now):
    addresses = {a.type: a.address for a in reversed(node.status.addresses)}
    info = node.status.node_info
    return [
        node_status(node), node_roles(node), age(node.metadata.creation_timestamp, now), info.kubelet_version,
        addresses.get("InternalIP", NONE), addresses.get("ExternalIP", NONE), info.os_image or "<unknown>",
        info.kernel_version or "<unknown>", info.container_runtime_version or "<unknown>",
    ]


def _namespace(ns, now):
    return [ns.status.phase or "Active", age(ns.metadata.creation_timestamp, now)]


def _config_map(cm, now):
    return [str(len(cm.data) + len(cm.binary_data)), age(cm.metadata.creation_timestamp, now)]


def _secret(secret, now):
    return [secret.type or "Opaque", str(len(secret.data)), age(secret.metadata.creation_timestamp, now)]


def _pv(pv, now):
    claim = pv.spec.claim_ref
    return [
        pv.spec.capacity.get("storage", ""), _access_modes(pv.spec.access_modes),
        pv.spec.persistent_volume_reclaim_policy or "Retain", pv.status.phase or "Pending",
        f"{claim.namespace}/{claim.name}" if claim.name else "", pv.spec.storage_class_name,
        pv.spec.volume_attributes_class_name or "<unset>", pv.status.reason, age(pv.metadata.creation_timestamp, now),
        pv.spec.volume_mode or "Filesystem",
    ]


def _pvc(pvc, now):
    return [
        pvc.status.phase or "Pending", pvc.spec.volume_name, pvc.status.capacity.get("storage", ""),
        _access_modes(pvc.status.access_modes), pvc.spec.storage_class_name,
        pvc.spec.volume_attributes_class_name or "<unset>", age(pvc.metadata.creation_timestamp, now),
        pvc.spec.volume_mode or "Filesystem",
    ]


def job_status(job) -> str:
    conditions = {c.type: c.status for c in job.status.conditions}
    for kind in ("Failed", "Complete", "Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if conditions.get(kind) == "True":
            return {"FailureTarget": "FailureTarget", "SuccessCriteriaMet": "SuccessCriteriaMet"}.get(kind, kind)
    return "Running"


def _job(job, now):
    spec, status = job.spec, job.status
    if spec.HasField("completions"):
        completions = f"{status.succeeded}/{spec.completions}"
    elif spec.HasField("parallelism") and spec.parallelism > 1:
        completions = f"{status.succeeded}/1 of {spec.parallelism}"
    else:
        completions = f"{status.succeeded}/1"
    duration = ""
    if status.start_time.seconds:
        end = status.completion_time.seconds if status.completion_time.seconds else now
        duration = human_duration(end - status.start_time.seconds)
    return [
        job_status(job), completions, duration, age(job.metadata.creation_timestamp, now),
        *_containers_images(spec.template.spec), label_selector_text(spec.selector),
    ]


def _priority_class(pc, now):
    return [str(pc.value), "true" if pc.global_default else "false", age(pc.metadata.creation_timestamp, now),
            pc.preemption_policy or "PreemptLowerPriority"]


def _pod_group(pg, now):
    s = pg.status
    return [s.phase or "Pending", str(pg.spec.min_member), str(s.running), str(s.succeeded), str(s.failed),
            age(pg.metadata.creation_timestamp, now)]


def hpa_targets(hpa) -> str:
    targets = []
    current = list(hpa.status.current_metrics)
    for i, metric in enumerate(hpa.spec.metrics):
        source = getattr(metric, _METRIC_FIELDS.get(metric.type, "resource"))
        target = source.target
        now_value = "<unknown>"
        if i < len(current):
            cur = getattr(current[i], _METRIC_FIELDS.get(metric.type, "resource")).current
            now_value = (f"{cur.average_utilization}%" if cur.HasField("average_utilization")
                         else cur.average_value or cur.value or "<unknown>")
        if target.HasField("average_utilization"):
            want = f"{target.average_utilization}%"
        else:
            want = target.average_value or target.value
        prefix = f"{source.name}: " if metric.type in ("Resource", "ContainerResource") else ""
        targets.append(f"{prefix}{now_value}/{want}")
    if not hpa.spec.metrics:
        targets.append("cpu: <unknown>/80%")
    if len(targets) > 2:
        return ", ".join(targets[:2]) + f" + {len(targets) - 2} more..."
    return ", ".join(targets)


_METRIC_FIELDS = {"Object": "object", "Pods": "pods", "Resource": "resource",
                  "ContainerResource": "container_resource", "External": "external"}


def _hpa(hpa, now):
    ref = hpa.spec.scale_target_ref
    return [
        f"{ref.kind}/{ref.name}", hpa_targets(hpa),
        str(hpa.spec.min_replicas if hpa.spec.HasField("min_replicas") else 1), str(hpa.spec.max_replicas),
        str(hpa.status.current_replicas), age(hpa.metadata.creation_timestamp, now),
    ]


def _lease(lease, now):
    return [lease.spec.holder_identity, age(lease.metadata.creation_timestamp, now)]


def event_time(ev):
    """The time an event last happened: lastTimestamp, else eventTime, else its creation."""
    for ts in (ev.last_timestamp, ev.event_time, ev.metadata.creation_timestamp):
        if ts.seconds or ts.nanos:
            return ts
    return ev.metadata.creation_timestamp


def involved_object_text(ev) -> str:
    ref = ev.involved_object
    return f"{ref.kind.lower()}/{ref.name}" if ref.kind else ref.name


def _event(ev, now):
    return [age(event_time(ev), now), ev.type or "Normal", ev.reason, involved_object_text(ev), ev.message.strip()]


def _age_only(obj, now):
    return [age(obj.metadata.creation_timestamp, now)]


_TABLES: dict[str, Columns] = {
    "Pod": Columns(("NAME", "READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE", "NOMINATED NODE", "READINESS GATES"), _pod),
    "Deployment": Columns(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"), _deployment),
    "ReplicaSet": Columns(("NAME", "DESIRED", "CURRENT", "READY", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"), _replica_set),
    "Service": Columns(("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",), _service),
    "Endpoints": Columns(("NAME", "ENDPOINTS", "AGE"), (), _endpoints),
    "Node": Columns(("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
                    ("INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"), _node),
    "Namespace": Columns(("NAME", "STATUS", "AGE"), (), _namespace),
    "ConfigMap": Columns(("NAME", "DATA", "AGE"), (), _config_map),
    "Secret": Columns(("NAME", "TYPE", "DATA", "AGE"), (), _secret),
    "PersistentVolume": Columns(
        ("NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
         "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"), ("VOLUMEMODE",), _pv),
    "PersistentVolumeClaim": Columns(
        ("NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"),
        ("VOLUMEMODE",), _pvc),
    "Job": Columns(("NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"), _job),
    "PriorityClass": Columns(("NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"), (), _priority_class),
    "PodGroup": Columns(("NAME", "PHASE", "MINMEMBER", "RUNNING", "SUCCEEDED", "FAILED", "AGE"), (), _pod_group),
    "HorizontalPodAutoscaler": Columns(
        ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"), (), _hpa),
    "Lease": Columns(("NAME", "HOLDER", "AGE"), (), _lease),
    # kubectl's event table leads with LAST SEEN and has no NAME column.
    "Event": Columns(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"), (), _event, name_column=False),
}
_DEFAULT = Columns(("NAME", "AGE"), (), _age_only)


def columns_for(kind: str) -> Columns:
    return _TABLES.get(kind, _DEFAULT)
