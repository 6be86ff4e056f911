"""Defaults of pods and pod templates (Kubernetes' core/v1 defaults.go for Pod, PodSpec and
Container, the DefaultTolerationSeconds admission plugin, and the pod's QoS class)."""

from __future__ import annotations

from shoal.control.api.validation.memo import SpecMemo
from shoal.control.api.validation.quantities import nano
from shoal.v1 import core_pb2

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300
DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_SCHEDULER = "default-scheduler"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_FILE_MODE = 0o644
_QOS_RESOURCES = ("cpu", "memory")
# Container fields that have no defaults inside them.
_PLAIN_CONTAINER_FIELDS = frozenset((
    "name", "image", "command", "args", "working_dir", "ports", "resources", "image_pull_policy",
    "termination_message_path", "termination_message_policy", "volume_mounts", "stdin", "stdin_once", "tty",
))


def _tolerations_bytes(*keys: str) -> bytes:
    """A PodSpec holding only the default tolerations for ``keys``, serialized: merging it
    appends them in one call."""
    spec = core_pb2.PodSpec()
    for key in keys:
        spec.tolerations.add(key=key, operator="Exists", effect="NoExecute",
                             toleration_seconds=DEFAULT_TOLERATION_SECONDS)
    return spec.SerializeToString()


_DEFAULT_TOLERATIONS = {
    (False, False): _tolerations_bytes(NOT_READY_TAINT, UNREACHABLE_TAINT),
    (True, False): _tolerations_bytes(UNREACHABLE_TAINT),
    (False, True): _tolerations_bytes(NOT_READY_TAINT),
}


# Serialized PodSpec as created -> (the defaulted PodSpec, its QoS class).
_defaulted: SpecMemo[tuple[core_pb2.PodSpec, str]] = SpecMemo()


def default_pod(pod) -> None:
    """The pod's defaults. A pod's spec defaults (and QoS class) depend on its spec alone, and
    the pods of one workload share theirs: the defaulted spec of each spec seen is remembered
    by its serialized bytes (memo.SpecMemo), so a repeat costs a serialization and a copy."""
    spec = pod.spec
    key = spec.SerializeToString()
    known = _defaulted.get(key)
    if known is not None:
        spec.CopyFrom(known[0])
        qos = known[1]
    else:
        _default_pod_spec(spec)
        qos = qos_class(spec)
        if _defaulted.wants(key):
            defaulted = core_pb2.PodSpec()
            defaulted.CopyFrom(spec)
            _defaulted.put(key, (defaulted, qos))
    status = pod.status
    if not status.phase:
        status.phase = "Pending"
    if not status.qos_class:
        status.qos_class = qos


def _default_pod_spec(spec) -> None:
    """What a pod's spec gets beyond a template's: requests from limits, service links,
    host-network ports, priority 0 without a class, the default tolerations."""
    fields = default_pod_spec(spec)
    for containers in (fields.get("containers", ()), fields.get("init_containers", ())):
        for c in containers:
            resources = c.resources
            if resources.limits:
                _requests_from_limits(resources)
    if "resources" in fields and fields["resources"].limits:
        _requests_from_limits(fields["resources"])
    if "enable_service_links" not in fields:
        spec.enable_service_links = True
    if fields.get("host_network"):
        for containers in (spec.containers, spec.init_containers):
            for c in containers:
                for port in c.ports:
                    if not port.host_port:
                        port.host_port = port.container_port
    if "priority_class_name" not in fields and "priority" not in fields:
        spec.priority = 0
    _add_default_tolerations(spec, fields.get("tolerations", ()))


def default_pod_spec(spec, *, restart_policy: bool = True) -> dict:
    """The defaults a PodSpec gets wherever it is (a pod or a workload's template).
    ``restart_policy=False`` leaves an empty restartPolicy alone (a Job must set its own).
    Returns the fields that were set before, by name (from one ListFields() call)."""
    fields = {fd.name: value for fd, value in spec.ListFields()}
    if "dns_policy" not in fields:
        spec.dns_policy = "ClusterFirst"
    if restart_policy and "restart_policy" not in fields:
        spec.restart_policy = "Always"
    if "termination_grace_period_seconds" not in fields:
        spec.termination_grace_period_seconds = DEFAULT_TERMINATION_GRACE_PERIOD
    if "scheduler_name" not in fields:
        spec.scheduler_name = DEFAULT_SCHEDULER
    if "containers" in fields:
        for c in fields["containers"]:
            default_container(c)
    if "init_containers" in fields:
        for c in fields["init_containers"]:
            default_container(c)
    if "volumes" in fields:
        for volume in fields["volumes"]:
            _default_volume(volume)
    return fields


def default_container(c) -> None:
    fields = {fd.name: value for fd, value in c.ListFields()}
    if "image_pull_policy" not in fields:
        c.image_pull_policy = image_pull_policy(fields.get("image", ""))
    if "termination_message_path" not in fields:
        c.termination_message_path = TERMINATION_MESSAGE_PATH
    if "termination_message_policy" not in fields:
        c.termination_message_policy = "File"
    if "ports" in fields:
        for port in fields["ports"]:
            if not port.protocol:
                port.protocol = "TCP"
    if fields.keys() <= _PLAIN_CONTAINER_FIELDS:
        return
    for probe in ("liveness_probe", "readiness_probe", "startup_probe"):
        if probe in fields:
            _default_probe(fields[probe])
    if "lifecycle" in fields:
        for handler in (c.lifecycle.post_start, c.lifecycle.pre_stop):
            if handler.HasField("http_get"):
                _default_http_get(handler.http_get)
    for var in fields.get("env", ()):
        if var.HasField("value_from") and var.value_from.HasField("field_ref") and not var.value_from.field_ref.api_version:
            var.value_from.field_ref.api_version = "v1"


def image_pull_policy(image: str) -> str:
    """Always for ":latest" or an untagged image, else IfNotPresent (an image pinned by digest
    has no tag and is IfNotPresent)."""
    name, at, _digest = image.partition("@")
    colon = name.rfind(":")
    tag = name[colon + 1:] if colon > name.rfind("/") else ""
    if not tag and not at:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe) -> None:
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    if probe.HasField("http_get"):
        _default_http_get(probe.http_get)


def _default_http_get(action) -> None:
    if not action.path:
        action.path = "/"
    if not action.scheme:
        action.scheme = "HTTP"


def _default_volume(volume) -> None:
    source = volume.WhichOneof("source")
    if source is None:
        volume.empty_dir.SetInParent()
    elif source in ("secret", "config_map", "downward_api", "projected"):
        src = getattr(volume, source)
        if not src.HasField("default_mode"):
            src.default_mode = DEFAULT_FILE_MODE
    elif source == "host_path":
        if not volume.host_path.HasField("type"):
            volume.host_path.type = ""
    elif source == "ephemeral":
        template = volume.ephemeral.volume_claim_template
        if volume.ephemeral.HasField("volume_claim_template") and not template.spec.HasField("volume_mode"):
            template.spec.volume_mode = "Filesystem"


def _requests_from_limits(resources) -> None:
    requests, limits = resources.requests, resources.limits
    for name in limits:
        if name not in requests:
            requests[name] = limits[name]


def _add_default_tolerations(spec, tolerations) -> None:
    """Tolerate not-ready and unreachable nodes for 300 s unless the pod already tolerates them
    (a toleration with no key, or that key, and effect NoExecute or none)."""
    not_ready = unreachable = False
    for t in tolerations:
        effect = t.effect
        if effect and effect != "NoExecute":
            continue
        key = t.key
        if not key:
            return
        if key == NOT_READY_TAINT:
            not_ready = True
        elif key == UNREACHABLE_TAINT:
            unreachable = True
    if not (not_ready and unreachable):
        spec.MergeFromString(_DEFAULT_TOLERATIONS[(not_ready, unreachable)])


def qos_class(spec) -> str:
    """Guaranteed, Burstable or BestEffort, computed as Kubernetes' ComputePodQOS: from cpu and
    memory requests and limits (pod-level resources when set, else every container's)."""
    requests = [0, 0]  # cpu, memory: sums of the positive amounts, in nano units
    limits = [0, 0]
    guaranteed = True
    if spec.HasField("resources") and (spec.resources.requests or spec.resources.limits):
        sources = (spec.resources,)
    else:
        sources = [c.resources for c in spec.containers]
        if spec.init_containers:
            sources += [c.resources for c in spec.init_containers]
    for res in sources:
        req = res.requests
        if req:
            _add_positive(req, requests)
        lim = res.limits
        if not lim or _add_positive(lim, limits) < 2:
            guaranteed = False
    if not any(requests) and not any(limits):
        return "BestEffort"
    # Guaranteed: every container limits cpu and memory, each exactly to what it requests.
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _add_positive(quantities, sums: list[int]) -> int:
    """Adds the positive cpu and memory amounts of ``quantities`` to ``sums``; returns how many
    of the two it has."""
    found = 0
    for index, name in enumerate(_QOS_RESOURCES):
        if name in quantities:
            value = nano(quantities[name])
            if value is not None and value > 0:
                sums[index] += value
                found += 1
    return found
