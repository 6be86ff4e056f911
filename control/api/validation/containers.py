"""Containers of a pod: names, images, ports, environment, resources and mounts (Kubernetes'
validateContainers and the helpers it calls; probes and security contexts have their modules).

Paths of list items are formatted only when an error is found: the happy path reads fields and
compares them, nothing more.
"""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    not_found,
    required,
    unsupported,
)
from shoal.control.api.validation.names import (
    PORT_RANGE_MSG,
    config_key_problem,
    dns1123_label_problem,
    env_var_name_problem,
    iana_svc_name_problem,
    ip_problem,
    qualified_name_problem,
)
from shoal.control.api.validation.probes import validate_lifecycle, validate_probe
from shoal.control.api.validation.quantities import QUANTITY_MSG, nano
from shoal.control.api.validation.security import validate_container_security_context

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_MESSAGE_POLICIES = ("FallbackToLogsOnError", "File")
MOUNT_PROPAGATIONS = ("Bidirectional", "HostToContainer", "None")
RECURSIVE_READ_ONLY = ("Disabled", "Enabled", "IfPossible")
STANDARD_CONTAINER_RESOURCES = frozenset(("cpu", "memory", "ephemeral-storage"))
POD_LEVEL_RESOURCES = frozenset(("cpu", "memory"))
ENV_FIELD_PATHS = frozenset((
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
))
RESOURCE_FIELD_RESOURCES = frozenset((
    "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "requests.cpu", "requests.memory", "requests.ephemeral-storage",
))
# What most containers set; the rest is looked at only when something else is set.
_COMMON_CONTAINER_FIELDS = frozenset((
    "name", "image", "image_pull_policy", "termination_message_policy", "termination_message_path",
    "ports", "resources", "command", "args", "working_dir", "stdin", "stdin_once", "tty",
))
_NANO = 10**9


class PodScope:
    """What must be unique or known across one pod's containers."""

    __slots__ = ("host_network", "host_ports", "names", "volumes")

    def __init__(self, volumes: dict[str, str], host_network: bool) -> None:
        self.volumes = volumes  # volume name -> its source field
        self.names: set[str] = set()
        self.host_ports: set[tuple] = set()
        self.host_network = host_network


def validate_container(c, p: str, scope: PodScope, errs: list[str], *, init: bool = False) -> None:
    """One container at path ``p`` ("spec.containers[0]").

    Reads the fields that are set in one ListFields() call: most of a container's fields are
    usually unset, and asking each of them costs more than listing the few that are."""
    fields = {fd.name: value for fd, value in c.ListFields()}
    get = fields.get
    name = get("name", "")
    if not name:
        errs.append(required(p + ".name"))
    elif name in scope.names:
        errs.append(duplicate(p + ".name", name))
    else:
        scope.names.add(name)
        problem = dns1123_label_problem(name)
        if problem:
            errs.append(invalid(p + ".name", name, problem))
    image = get("image", "")
    if not image:
        errs.append(required(p + ".image"))
    elif image != image.strip():
        errs.append(invalid(p + ".image", image, "must not have leading or trailing whitespace"))
    pull_policy = get("image_pull_policy", "")
    if pull_policy not in PULL_POLICIES:
        errs.append(_enum_error(p + ".imagePullPolicy", pull_policy, PULL_POLICIES))
    message_policy = get("termination_message_policy", "")
    if message_policy not in TERMINATION_MESSAGE_POLICIES:
        errs.append(_enum_error(p + ".terminationMessagePolicy", message_policy, TERMINATION_MESSAGE_POLICIES))
    if "ports" in fields:
        _validate_ports(fields["ports"], p + ".ports", scope, errs)
    if "resources" in fields:
        validate_resources(fields["resources"], p + ".resources", errs)
    if not fields.keys() <= _COMMON_CONTAINER_FIELDS:
        _validate_container_extras(fields, p, scope, errs, init)


def _validate_container_extras(fields: dict, p: str, scope: PodScope, errs: list[str], init: bool) -> None:
    get = fields.get
    if "env" in fields:
        _validate_env(fields["env"], p + ".env", errs)
    if "env_from" in fields:
        _validate_env_from(fields["env_from"], p + ".envFrom", errs)
    if "volume_mounts" in fields:
        _validate_volume_mounts(fields["volume_mounts"], p + ".volumeMounts", scope.volumes, errs)
    if "volume_devices" in fields:
        _validate_volume_devices(fields["volume_devices"], p + ".volumeDevices", scope.volumes, errs)
    sidecar = False
    if "restart_policy" in fields:
        if not init:
            errs.append(forbidden(p + ".restartPolicy", "may not be set for non-init containers"))
        elif fields["restart_policy"] != "Always":
            errs.append(unsupported(p + ".restartPolicy", fields["restart_policy"], ("Always",)))
        else:
            sidecar = True
    handlers_allowed = not init or sidecar
    for field, json_name in (("liveness_probe", "livenessProbe"), ("readiness_probe", "readinessProbe"),
                             ("startup_probe", "startupProbe"), ("lifecycle", "lifecycle")):
        value = get(field)
        if value is None:
            continue
        if not handlers_allowed:
            errs.append(forbidden(f"{p}.{json_name}", "may not be set for init containers without restartPolicy=Always"))
        elif field == "lifecycle":
            validate_lifecycle(value, p + ".lifecycle", errs)
        else:
            validate_probe(value, f"{p}.{json_name}", json_name, errs)
    if "security_context" in fields:
        validate_container_security_context(fields["security_context"], p + ".securityContext", errs)
    for i, policy in enumerate(get("resize_policy", ())):
        if policy.resource_name not in POD_LEVEL_RESOURCES:
            errs.append(unsupported(f"{p}.resizePolicy[{i}].resourceName", policy.resource_name, ("cpu", "memory")))
        if policy.restart_policy not in ("NotRequired", "RestartContainer"):
            errs.append(unsupported(f"{p}.resizePolicy[{i}].restartPolicy", policy.restart_policy,
                                    ("NotRequired", "RestartContainer")))


def _enum_error(path: str, value: str, supported: tuple[str, ...]) -> str:
    return required(path) if not value else unsupported(path, value, supported)


def _validate_ports(ports, p: str, scope: PodScope, errs: list[str]) -> None:
    names = None
    for i in range(len(ports)):
        port = ports[i]
        name = port.name
        if name:
            problem = iana_svc_name_problem(name)
            if problem:
                errs.append(invalid(f"{p}[{i}].name", name, problem))
            if names is None:
                names = {name}
            elif name in names:
                errs.append(duplicate(f"{p}[{i}].name", name))
            else:
                names.add(name)
        number = port.container_port
        if not 0 < number <= 65535:
            if number == 0:
                errs.append(required(f"{p}[{i}].containerPort"))
            else:
                errs.append(invalid(f"{p}[{i}].containerPort", number, PORT_RANGE_MSG))
        protocol = port.protocol
        if protocol not in PROTOCOLS:
            errs.append(_enum_error(f"{p}[{i}].protocol", protocol, PROTOCOLS))
        host_port = port.host_port
        if host_port:
            if not 0 < host_port <= 65535:
                errs.append(invalid(f"{p}[{i}].hostPort", host_port, PORT_RANGE_MSG))
            elif scope.host_network and host_port != number:
                errs.append(invalid(f"{p}[{i}].hostPort", host_port, "must match `containerPort` when `hostNetwork` is true"))
            key = (host_port, protocol, port.host_ip)
            if key in scope.host_ports:
                errs.append(duplicate(f"{p}[{i}].hostPort", f"{port.host_ip}:{host_port}/{protocol}"))
            scope.host_ports.add(key)
        if port.host_ip:
            problem = ip_problem(port.host_ip)
            if problem:
                errs.append(invalid(f"{p}[{i}].hostIP", port.host_ip, problem))


def _validate_env(env, p: str, errs: list[str]) -> None:
    for i, var in enumerate(env):
        if not var.name:
            errs.append(required(f"{p}[{i}].name"))
        else:
            problem = env_var_name_problem(var.name)
            if problem:
                errs.append(invalid(f"{p}[{i}].name", var.name, problem))
        if var.HasField("value_from"):
            _validate_env_source(var.value_from, f"{p}[{i}].valueFrom", bool(var.value), errs)


def _validate_env_source(source, p: str, has_value: bool, errs: list[str]) -> None:
    which = source.WhichOneof("source")
    if which is None:
        errs.append(invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        return
    if has_value:
        errs.append(invalid(p, "", "may not be specified when `value` is not empty"))
    if which == "field_ref":
        validate_object_field_selector(source.field_ref, p + ".fieldRef", errs, env=True)
    elif which == "resource_field_ref":
        validate_resource_field_selector(source.resource_field_ref, p + ".resourceFieldRef", errs, container_required=False)
    else:
        ref = getattr(source, which)
        sub = p + (".configMapKeyRef" if which == "config_map_key_ref" else ".secretKeyRef")
        if not ref.name:
            errs.append(required(sub + ".name"))
        if not ref.key:
            errs.append(required(sub + ".key"))
        else:
            problem = config_key_problem(ref.key)
            if problem:
                errs.append(invalid(sub + ".key", ref.key, problem))


def validate_object_field_selector(ref, p: str, errs: list[str], *, env: bool) -> None:
    path = ref.field_path
    if not path:
        errs.append(required(p + ".fieldPath"))
        return
    if path.startswith(("metadata.labels['", "metadata.annotations['")) and path.endswith("']"):
        key = path[path.index("['") + 2:-2]
        problem = qualified_name_problem(key.lower() if path.startswith("metadata.annotations") else key)
        if problem:
            errs.append(invalid(p + ".fieldPath", path, problem))
        return
    allowed = ENV_FIELD_PATHS if env else ENV_FIELD_PATHS | {"metadata.labels", "metadata.annotations"}
    if path not in allowed:
        errs.append(unsupported(p + ".fieldPath", path, sorted(allowed)))


def validate_resource_field_selector(ref, p: str, errs: list[str], *, container_required: bool) -> None:
    if container_required and not ref.container_name:
        errs.append(required(p + ".containerName"))
    resource = ref.resource
    if not resource:
        errs.append(required(p + ".resource"))
    elif resource not in RESOURCE_FIELD_RESOURCES and not resource.startswith(("limits.hugepages-", "requests.hugepages-")):
        errs.append(unsupported(p + ".resource", resource, sorted(RESOURCE_FIELD_RESOURCES)))
    if ref.divisor:
        value = nano(ref.divisor)
        if value is None:
            errs.append(invalid(p + ".divisor", ref.divisor, QUANTITY_MSG))
        elif value <= 0:
            errs.append(invalid(p + ".divisor", ref.divisor, "must be greater than zero"))


def _validate_env_from(sources, p: str, errs: list[str]) -> None:
    for i, source in enumerate(sources):
        if source.prefix:
            problem = env_var_name_problem(source.prefix)
            if problem:
                errs.append(invalid(f"{p}[{i}].prefix", source.prefix, problem))
        which = source.WhichOneof("source")
        if which is None:
            errs.append(invalid(f"{p}[{i}]", "", "must specify one of: `configMapRef` or `secretRef`"))
        elif not getattr(source, which).name:
            errs.append(required(f"{p}[{i}].{'configMapRef' if which == 'config_map_ref' else 'secretRef'}.name"))


def _resource_name_problem(name: str, pod_level: bool) -> str | None:
    if "/" not in name:
        if name in (POD_LEVEL_RESOURCES if pod_level else STANDARD_CONTAINER_RESOURCES) or name.startswith("hugepages-"):
            return None
        return "must be a standard resource for containers" if not pod_level else "must be one of cpu, memory, hugepages-<size>"
    if pod_level:
        return "must be one of cpu, memory, hugepages-<size>"
    problem = qualified_name_problem(name)
    if problem:
        return "must be a standard resource type or fully qualified: " + problem
    return None


def _overcommit_allowed(name: str) -> bool:
    """Native resources (no domain, or a kubernetes.io one) but hugepages may be overcommitted;
    extended resources (GPUs, ...) may not: their request must equal their limit."""
    if name.startswith("hugepages-"):
        return False
    return "/" not in name or "kubernetes.io/" in name


def validate_resources(res, p: str, errs: list[str], *, pod_level: bool = False) -> None:
    """Requests and limits: known resource names, valid non-negative quantities, requests no
    greater than limits, extended resources whole and requested exactly as limited."""
    fields = {fd.name: value for fd, value in res.ListFields()}
    limits = fields.get("limits")
    limit_values: dict[str, int | None] = {}
    if limits:
        for name in limits:
            text = limits[name]
            value = limit_values[name] = nano(text)
            if value is None or value < 0 or pod_level or name not in STANDARD_CONTAINER_RESOURCES:
                _check_resource(name, text, value, f"{p}.limits", pod_level, errs)
    requests = fields.get("requests")
    if requests:
        for name in requests:
            text = requests[name]
            value = nano(text)
            if value is None or value < 0 or pod_level or name not in STANDARD_CONTAINER_RESOURCES:
                _check_resource(name, text, value, f"{p}.requests", pod_level, errs)
                if value is None:
                    continue
            if name in limit_values:
                limit = limit_values[name]
                if limit is None:
                    continue
                if not _overcommit_allowed(name):
                    if value != limit:
                        errs.append(invalid(f"{p}.requests.{name}", text, f"must be equal to {name} limit of {limits[name]}"))
                elif value > limit:
                    errs.append(invalid(f"{p}.requests.{name}", text, f"must be less than or equal to {name} limit of {limits[name]}"))
            elif not _overcommit_allowed(name):
                errs.append(required(f"{p}.limits", "Limit must be set for non overcommitable resources"))
    for i, claim in enumerate(fields.get("claims", ())):
        if not claim.name:
            errs.append(required(f"{p}.claims[{i}].name"))


def _check_resource(name: str, text: str, value, path: str, pod_level: bool, errs: list[str]) -> None:
    if not (name in STANDARD_CONTAINER_RESOURCES and not pod_level):
        problem = _resource_name_problem(name, pod_level)
        if problem:
            errs.append(invalid(f"{path}.{name}" if len(name) <= 253 else path, name, problem))
            return
    if value is None:
        errs.append(invalid(f"{path}.{name}", text, QUANTITY_MSG))
    elif value < 0:
        errs.append(invalid(f"{path}.{name}", text, "must be greater than or equal to 0"))
    elif "/" in name and not _overcommit_allowed(name) and value % _NANO:
        errs.append(invalid(f"{path}.{name}", text, "must be an integer"))


def _validate_volume_mounts(mounts, p: str, volumes: dict, errs: list[str]) -> None:
    paths = set()
    for i, mount in enumerate(mounts):
        name = mount.name
        if not name:
            errs.append(required(f"{p}[{i}].name"))
        elif name not in volumes:
            errs.append(not_found(f"{p}[{i}].name", name))
        mount_path = mount.mount_path
        if not mount_path:
            errs.append(required(f"{p}[{i}].mountPath"))
        elif mount_path in paths:
            errs.append(invalid(f"{p}[{i}].mountPath", mount_path, "must be unique"))
        paths.add(mount_path)
        if mount.sub_path:
            problem = relative_path_problem(mount.sub_path)
            if problem:
                errs.append(invalid(f"{p}[{i}].subPath", mount.sub_path, problem))
            if mount.sub_path_expr:
                errs.append(invalid(f"{p}[{i}].subPathExpr", mount.sub_path_expr, "subPathExpr and subPath are mutually exclusive"))
        if mount.HasField("mount_propagation") and mount.mount_propagation not in MOUNT_PROPAGATIONS:
            errs.append(unsupported(f"{p}[{i}].mountPropagation", mount.mount_propagation, MOUNT_PROPAGATIONS))
        if mount.HasField("recursive_read_only"):
            rro = mount.recursive_read_only
            if rro not in RECURSIVE_READ_ONLY:
                errs.append(unsupported(f"{p}[{i}].recursiveReadOnly", rro, RECURSIVE_READ_ONLY))
            elif rro != "Disabled" and not mount.read_only:
                errs.append(forbidden(f"{p}[{i}].recursiveReadOnly", "may only be specified when readOnly is true"))


def _validate_volume_devices(devices, p: str, volumes: dict, errs: list[str]) -> None:
    paths = set()
    for i, device in enumerate(devices):
        if not device.name:
            errs.append(required(f"{p}[{i}].name"))
        elif device.name not in volumes:
            errs.append(not_found(f"{p}[{i}].name", device.name))
        elif volumes[device.name] not in ("persistent_volume_claim", "ephemeral"):
            errs.append(invalid(f"{p}[{i}].name", device.name,
                                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
        if not device.device_path:
            errs.append(required(f"{p}[{i}].devicePath"))
        elif device.device_path in paths:
            errs.append(invalid(f"{p}[{i}].devicePath", device.device_path, "must be unique"))
        paths.add(device.device_path)


def relative_path_problem(path: str) -> str | None:
    if path.startswith("/"):
        return "must be a relative path"
    if ".." in path.replace("\\", "/").split("/"):
        return "must not contain '..'"
    return None
