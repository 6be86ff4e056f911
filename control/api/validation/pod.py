"""Pods and pod templates (Kubernetes' ValidatePodSpec, ValidatePodCreate, ValidatePodUpdate)."""

from __future__ import annotations

from shoal.control.api.validation.containers import (
    PodScope,
    validate_container,
    validate_resources,
)
from shoal.control.api.validation.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    quote,
    required,
    too_many,
    unsupported,
)
from shoal.control.api.validation.memo import SpecMemo
from shoal.control.api.validation.meta import (
    validate_annotations,
    validate_dns_subdomain_field,
    validate_labels,
)
from shoal.control.api.validation.names import (
    dns1123_label_problem,
    dns1123_subdomain_problem,
    ip_problem,
    qualified_name_problem,
)
from shoal.control.api.validation.placement import (
    validate_affinity,
    validate_scheduling_gates,
    validate_tolerations,
    validate_topology_spread,
)
from shoal.control.api.validation.quantities import check_quantities, check_quantity_map
from shoal.control.api.validation.security import validate_pod_security_context
from shoal.control.api.validation.volumes import validate_volumes

RESTART_POLICIES = ("Always", "Never", "OnFailure")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")
OS_NAMES = ("linux", "windows")
POD_PHASES = ("Failed", "Pending", "Running", "Succeeded", "Unknown")
QOS_CLASSES = ("BestEffort", "Burstable", "Guaranteed")
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
_INT32_MAX = 2**31 - 1
# What most pod specs set (most of it defaulted); the rest is looked at only when set.
_COMMON_SPEC_FIELDS = frozenset((
    "containers", "init_containers", "volumes", "restart_policy", "dns_policy", "termination_grace_period_seconds",
    "scheduler_name", "tolerations", "priority", "enable_service_links", "host_network", "host_pid", "host_ipc",
    "service_account", "automount_service_account_token", "image_pull_secrets", "share_process_namespace",
    "set_hostname_as_fqdn", "host_users", "dns_config",
))
# Specs known valid, by the restartPolicy values their kind allows.
_valid_specs: dict[tuple[str, ...], SpecMemo[bool]] = {}

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.schedulingGates` (only removals)"
)


def validate_pod_spec(spec, p: str, errs: list[str], restart_policies: tuple[str, ...] = RESTART_POLICIES) -> None:
    """A PodSpec at path ``p`` ("spec", or "spec.template.spec" in a workload).

    Validity depends on the spec alone, and the pods of one workload share theirs, so specs
    found valid are remembered (memo.SpecMemo): a repeat costs one serialization."""
    memo = _valid_specs.get(restart_policies)
    if memo is None:
        memo = _valid_specs[restart_policies] = SpecMemo()
    key = spec.SerializeToString()
    if memo.get(key):
        return
    before = len(errs)
    _validate_pod_spec(spec, p, errs, restart_policies)
    if len(errs) == before and memo.wants(key):
        memo.put(key, True)


def _validate_pod_spec(spec, p: str, errs: list[str], restart_policies: tuple[str, ...]) -> None:
    # One ListFields() call: a pod spec sets a handful of its ~40 fields, and asking about each
    # unset one costs more than listing the set ones.
    fields = {fd.name: value for fd, value in spec.ListFields()}
    get = fields.get
    volumes = validate_volumes(fields["volumes"], p + ".volumes", errs) if "volumes" in fields else {}
    scope = PodScope(volumes, get("host_network", False))
    if "init_containers" in fields:
        init_containers = fields["init_containers"]
        for i in range(len(init_containers)):
            validate_container(init_containers[i], f"{p}.initContainers[{i}]", scope, errs, init=True)
    containers = get("containers")
    if not containers:
        errs.append(required(p + ".containers"))
    else:
        for i in range(len(containers)):
            validate_container(containers[i], f"{p}.containers[{i}]", scope, errs)
    policy = get("restart_policy", "")
    if policy not in restart_policies:
        if not policy:
            errs.append(required(p + ".restartPolicy", "valid values: " + ", ".join(f'"{v}"' for v in restart_policies)))
        else:
            errs.append(unsupported(p + ".restartPolicy", policy, restart_policies))
    dns_policy = get("dns_policy", "")
    if dns_policy not in DNS_POLICIES:
        errs.append(required(p + ".dnsPolicy") if not dns_policy else unsupported(p + ".dnsPolicy", dns_policy, DNS_POLICIES))
    if dns_policy == "None" or "dns_config" in fields:
        _validate_dns_config(spec, p, errs)
    grace = get("termination_grace_period_seconds", 0)
    if grace < 0:
        errs.append(invalid(p + ".terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    if "tolerations" in fields:
        validate_tolerations(fields["tolerations"], p + ".tolerations", errs)
    if not fields.keys() <= _COMMON_SPEC_FIELDS:
        _validate_pod_spec_extras(spec, fields, p, errs)


def _validate_pod_spec_extras(spec, fields: dict, p: str, errs: list[str]) -> None:
    """The fields few pods set."""
    get = fields.get
    if "node_selector" in fields:
        validate_labels(fields["node_selector"], p + ".nodeSelector", errs)
    if "topology_spread_constraints" in fields:
        validate_topology_spread(fields["topology_spread_constraints"], p + ".topologySpreadConstraints", errs)
    if "affinity" in fields:
        validate_affinity(fields["affinity"], p + ".affinity", errs)
    if "scheduling_gates" in fields:
        validate_scheduling_gates(fields["scheduling_gates"], p + ".schedulingGates", errs)
    if "active_deadline_seconds" in fields and not 0 < fields["active_deadline_seconds"] <= _INT32_MAX:
        errs.append(invalid(p + ".activeDeadlineSeconds", fields["active_deadline_seconds"],
                            f"must be between 1 and {_INT32_MAX}, inclusive"))
    if "preemption_policy" in fields and fields["preemption_policy"] not in PREEMPTION_POLICIES:
        errs.append(unsupported(p + ".preemptionPolicy", fields["preemption_policy"], PREEMPTION_POLICIES))
    if "overhead" in fields:
        check_quantity_map(fields["overhead"], p + ".overhead", errs)
    if "resources" in fields:
        validate_resources(fields["resources"], p + ".resources", errs, pod_level=True)
    for field, json_name in (("node_name", "nodeName"), ("priority_class_name", "priorityClassName"),
                             ("service_account_name", "serviceAccountName"), ("runtime_class_name", "runtimeClassName")):
        if field in fields:
            validate_dns_subdomain_field(fields[field], f"{p}.{json_name}", errs)
    for field in ("hostname", "subdomain"):
        value = get(field)
        if value:
            problem = dns1123_label_problem(value)
            if problem:
                errs.append(invalid(f"{p}.{field}", value, problem))
    if "security_context" in fields:
        validate_pod_security_context(fields["security_context"], p + ".securityContext", errs)
    if "os" in fields and fields["os"].name not in OS_NAMES:
        errs.append(unsupported(p + ".os.name", fields["os"].name, OS_NAMES))
    if "host_aliases" in fields or "readiness_gates" in fields or "resource_claims" in fields:
        _validate_spec_lists(spec, p, errs)


def _validate_dns_config(spec, p: str, errs: list[str]) -> None:
    if spec.dns_policy == "None":
        if not spec.HasField("dns_config"):
            errs.append(required(p + ".dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
            return
        if not spec.dns_config.nameservers:
            errs.append(required(p + ".dnsConfig.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None"))
    config = spec.dns_config
    if len(config.nameservers) > MAX_DNS_NAMESERVERS:
        errs.append(too_many(p + ".dnsConfig.nameservers", len(config.nameservers), MAX_DNS_NAMESERVERS))
    for i, server in enumerate(config.nameservers):
        problem = ip_problem(server)
        if problem:
            errs.append(invalid(f"{p}.dnsConfig.nameservers[{i}]", server, problem))
    if len(config.searches) > MAX_DNS_SEARCH_PATHS:
        errs.append(too_many(p + ".dnsConfig.searches", len(config.searches), MAX_DNS_SEARCH_PATHS))
    for i, search in enumerate(config.searches):
        domain = search[:-1] if search.endswith(".") and search != "." else search
        problem = None if search == "." else dns1123_subdomain_problem(domain.lower())
        if problem:
            errs.append(invalid(f"{p}.dnsConfig.searches[{i}]", search, problem))
    for i, option in enumerate(config.options):
        if not option.name:
            errs.append(required(f"{p}.dnsConfig.options[{i}].name", "must not be empty"))


def _validate_spec_lists(spec, p: str, errs: list[str]) -> None:
    for i, alias in enumerate(spec.host_aliases):
        problem = ip_problem(alias.ip)
        if problem:
            errs.append(invalid(f"{p}.hostAliases[{i}].ip", alias.ip, problem))
        for j, hostname in enumerate(alias.hostnames):
            validate_dns_subdomain_field(hostname, f"{p}.hostAliases[{i}].hostnames[{j}]", errs)
    for i, gate in enumerate(spec.readiness_gates):
        problem = qualified_name_problem(gate.condition_type)
        if problem:
            errs.append(invalid(f"{p}.readinessGates[{i}].conditionType", gate.condition_type, problem))
    seen = set()
    for i, claim in enumerate(spec.resource_claims):
        problem = dns1123_label_problem(claim.name)
        if problem:
            errs.append(invalid(f"{p}.resourceClaims[{i}].name", claim.name, problem))
        elif claim.name in seen:
            errs.append(duplicate(f"{p}.resourceClaims[{i}].name", claim.name))
        seen.add(claim.name)
        if claim.HasField("resource_claim_name") == claim.HasField("resource_claim_template_name"):
            errs.append(invalid(f"{p}.resourceClaims[{i}]", claim.name,
                                "must specify exactly one of resourceClaimName or resourceClaimTemplateName"))


def validate_pod_template(template, p: str, errs: list[str], restart_policies: tuple[str, ...] = RESTART_POLICIES) -> None:
    """A PodTemplateSpec of a workload at path ``p`` ("spec.template")."""
    meta = template.metadata
    if meta.labels:
        validate_labels(meta.labels, p + ".metadata.labels", errs)
    if meta.annotations:
        validate_annotations(meta.annotations, p + ".metadata.annotations", errs)
    validate_pod_spec(template.spec, p + ".spec", errs, restart_policies)


def validate_pod(msg, old, errs: list[str]) -> None:
    validate_pod_spec(msg.spec, "spec", errs)
    if msg.HasField("status"):
        _validate_pod_status(msg.status, errs)
    if old is not None:
        _validate_pod_update(msg.spec, old.spec, errs)


def _validate_pod_status(status, errs: list[str]) -> None:
    phase = status.phase
    if phase and phase not in POD_PHASES:
        errs.append(unsupported("status.phase", phase, POD_PHASES))
    qos = status.qos_class
    if qos and qos not in QOS_CLASSES:
        errs.append(unsupported("status.qosClass", qos, QOS_CLASSES))
    if status.nominated_node_name:
        validate_dns_subdomain_field(status.nominated_node_name, "status.nominatedNodeName", errs)
    if status.container_statuses or status.init_container_statuses or status.ephemeral_container_statuses:
        check_quantities(status, "status", errs)


def _validate_pod_update(new, old, errs: list[str]) -> None:
    """Only images, activeDeadlineSeconds (set or shortened), tolerations (added), scheduling
    gates (removed) and a first nodeName may change."""
    if old.node_name and new.node_name != old.node_name:
        errs.append(forbidden("spec.nodeName", f"may not be changed once set (from {quote(old.node_name)} to {quote(new.node_name)})"))
    if old.HasField("active_deadline_seconds"):
        if not new.HasField("active_deadline_seconds"):
            errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
        elif new.active_deadline_seconds > old.active_deadline_seconds:
            errs.append(invalid("spec.activeDeadlineSeconds", new.active_deadline_seconds,
                                "must be less than or equal to previous value"))
    old_tolerations = [t.SerializeToString(deterministic=True) for t in old.tolerations]
    new_tolerations = [t.SerializeToString(deterministic=True) for t in new.tolerations]
    for i, t in enumerate(old_tolerations):
        if t not in new_tolerations:
            errs.append(forbidden("spec.tolerations", f"existing toleration {i} may not be removed or changed"))
            break
    old_gates = {g.name for g in old.scheduling_gates}
    for i, gate in enumerate(new.scheduling_gates):
        if gate.name not in old_gates:
            errs.append(forbidden(f"spec.schedulingGates[{i}]",
                                  f"only deletion is allowed, but found new scheduling gate {quote(gate.name)}"))
    if _spec_without_mutable(new, old) != _spec_without_mutable(old, old):
        errs.append(forbidden("spec", POD_UPDATE_FORBIDDEN))


def _spec_without_mutable(spec, old) -> bytes:
    """The spec's bytes with every field an update may change set to the old pod's value."""
    copy = type(spec)()
    copy.CopyFrom(spec)
    for containers, old_containers in ((copy.containers, old.containers), (copy.init_containers, old.init_containers)):
        if len(containers) == len(old_containers):
            for container, old_container in zip(containers, old_containers):
                container.image = old_container.image
    for field in ("active_deadline_seconds", "tolerations", "scheduling_gates", "node_name"):
        copy.ClearField(field)
    return copy.SerializeToString(deterministic=True)
