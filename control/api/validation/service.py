"""Service and Endpoints."""

from __future__ import annotations

from shoal.control.api.validation.containers import PROTOCOLS
from shoal.control.api.validation.fielderrors import (
    duplicate,
    forbidden,
    immutable,
    invalid,
    required,
    too_many,
    unsupported,
)
from shoal.control.api.validation.meta import (
    validate_dns_subdomain_field,
    validate_labels,
)
from shoal.control.api.validation.names import (
    PORT_RANGE_MSG,
    cidr_problem,
    dns1123_label_problem,
    dns1123_subdomain_problem,
    ip_problem,
)
from shoal.control.api.validation.probes import validate_int_or_string_port

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
MAX_CLIENT_IP_TIMEOUT = 86400


def _enum(value: str, path: str, supported: tuple[str, ...], errs: list[str]) -> None:
    if value not in supported:
        errs.append(required(path) if not value else unsupported(path, value, supported))


def validate_service(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    service_type = spec.type
    _enum(service_type, "spec.type", SERVICE_TYPES, errs)
    cluster_ip = spec.cluster_ip
    headless = cluster_ip == "None"
    if service_type == "ExternalName":
        if cluster_ip:
            errs.append(forbidden("spec.clusterIP", "may not be set for ExternalName services"))
        name = spec.external_name
        if not name:
            errs.append(required("spec.externalName"))
        else:
            problem = dns1123_subdomain_problem(name.removesuffix("."))
            if problem:
                errs.append(invalid("spec.externalName", name, problem))
    else:
        if not spec.ports and not headless:
            errs.append(required("spec.ports"))
        if cluster_ip and not headless:
            problem = ip_problem(cluster_ip)
            if problem:
                errs.append(invalid("spec.clusterIP", cluster_ip, problem))
    _validate_cluster_ips(spec, errs)
    if spec.ports:
        _validate_service_ports(spec.ports, service_type, errs)
    _enum(spec.session_affinity, "spec.sessionAffinity", SESSION_AFFINITIES, errs)
    if spec.HasField("session_affinity_config"):
        if spec.session_affinity != "ClientIP":
            errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
        else:
            timeout = spec.session_affinity_config.client_ip.timeout_seconds
            if not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT:
                errs.append(invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                                    f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"))
    if spec.selector:
        validate_labels(spec.selector, "spec.selector", errs)
    if spec.external_traffic_policy:
        if service_type not in ("NodePort", "LoadBalancer"):
            errs.append(invalid("spec.externalTrafficPolicy", spec.external_traffic_policy,
                                "may only be set for externally-accessible services"))
        else:
            _enum(spec.external_traffic_policy, "spec.externalTrafficPolicy", TRAFFIC_POLICIES, errs)
    if spec.HasField("internal_traffic_policy"):
        _enum(spec.internal_traffic_policy, "spec.internalTrafficPolicy", TRAFFIC_POLICIES, errs)
    for i, ip in enumerate(spec.external_ips):
        problem = ip_problem(ip)
        if problem:
            errs.append(invalid(f"spec.externalIPs[{i}]", ip, problem))
    if spec.load_balancer_ip:
        problem = ip_problem(spec.load_balancer_ip)
        if problem:
            errs.append(invalid("spec.loadBalancerIP", spec.load_balancer_ip, problem))
    for i, cidr in enumerate(spec.load_balancer_source_ranges):
        problem = cidr_problem(cidr.strip())
        if problem:
            errs.append(invalid(f"spec.loadBalancerSourceRanges[{i}]", cidr, problem))
    if len(spec.ip_families) > 2:
        errs.append(too_many("spec.ipFamilies", len(spec.ip_families), 2))
    for i, family in enumerate(spec.ip_families):
        _enum(family, f"spec.ipFamilies[{i}]", IP_FAMILIES, errs)
        if family in spec.ip_families[:i]:
            errs.append(duplicate(f"spec.ipFamilies[{i}]", family))
    if spec.HasField("ip_family_policy"):
        _enum(spec.ip_family_policy, "spec.ipFamilyPolicy", IP_FAMILY_POLICIES, errs)
    if spec.health_check_node_port and not 0 < spec.health_check_node_port <= 65535:
        errs.append(invalid("spec.healthCheckNodePort", spec.health_check_node_port, PORT_RANGE_MSG))
    # The cluster IP stays once allocated; only turning the service into an ExternalName drops it.
    if (old is not None and old.spec.cluster_ip and cluster_ip != old.spec.cluster_ip
            and not (service_type == "ExternalName" and not cluster_ip)):
        errs.append(immutable("spec.clusterIP", cluster_ip))


def _validate_cluster_ips(spec, errs: list[str]) -> None:
    ips = spec.cluster_ips
    if not ips:
        return
    if len(ips) > 2:
        errs.append(too_many("spec.clusterIPs", len(ips), 2))
    if spec.cluster_ip and ips[0] != spec.cluster_ip:
        errs.append(invalid("spec.clusterIPs[0]", ips[0], "must be equal to clusterIP"))
    for i, ip in enumerate(ips):
        if ip == "None" and i == 0:
            continue
        problem = ip_problem(ip)
        if problem:
            errs.append(invalid(f"spec.clusterIPs[{i}]", ip, problem))


def _validate_service_ports(ports, service_type: str, errs: list[str]) -> None:
    several = len(ports) > 1
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    for i in range(len(ports)):
        port = ports[i]
        name = port.name
        if not name:
            if several:
                errs.append(required(f"spec.ports[{i}].name"))
        else:
            problem = dns1123_label_problem(name)
            if problem:
                errs.append(invalid(f"spec.ports[{i}].name", name, problem))
            elif name in names:
                errs.append(duplicate(f"spec.ports[{i}].name", name))
            names.add(name)
        number = port.port
        if not 0 < number <= 65535:
            errs.append(invalid(f"spec.ports[{i}].port", number, PORT_RANGE_MSG))
        protocol = port.protocol
        _enum(protocol, f"spec.ports[{i}].protocol", PROTOCOLS, errs)
        validate_int_or_string_port(port.target_port, f"spec.ports[{i}].targetPort", errs)
        if port.node_port:
            if service_type not in ("NodePort", "LoadBalancer"):
                errs.append(forbidden(f"spec.ports[{i}].nodePort", f"may not be used when `type` is '{service_type}'"))
            elif not 0 < port.node_port <= 65535:
                errs.append(invalid(f"spec.ports[{i}].nodePort", port.node_port, PORT_RANGE_MSG))
        key = (number, protocol)
        if key in seen:
            errs.append(duplicate(f"spec.ports[{i}]", f"{number}/{protocol}"))
        seen.add(key)


def validate_endpoints(msg, old, errs: list[str]) -> None:
    for i, subset in enumerate(msg.subsets):
        sp = f"subsets[{i}]"
        if not subset.addresses and not subset.not_ready_addresses:
            errs.append(required(sp, "must specify `addresses` or `notReadyAddresses`"))
        for field, json_name in (("addresses", "addresses"), ("not_ready_addresses", "notReadyAddresses")):
            for j, address in enumerate(getattr(subset, field)):
                ap = f"{sp}.{json_name}[{j}]"
                if not address.ip:
                    errs.append(required(ap + ".ip"))
                else:
                    problem = ip_problem(address.ip)
                    if problem:
                        errs.append(invalid(ap + ".ip", address.ip, problem))
                if address.hostname:
                    problem = dns1123_label_problem(address.hostname)
                    if problem:
                        errs.append(invalid(ap + ".hostname", address.hostname, problem))
                if address.HasField("node_name") and address.node_name:
                    validate_dns_subdomain_field(address.node_name, ap + ".nodeName", errs)
        names: set[str] = set()
        several = len(subset.ports) > 1
        for j, port in enumerate(subset.ports):
            pp = f"{sp}.ports[{j}]"
            if not port.name:
                if several:
                    errs.append(required(pp + ".name"))
            else:
                problem = dns1123_label_problem(port.name)
                if problem:
                    errs.append(invalid(pp + ".name", port.name, problem))
                elif port.name in names:
                    errs.append(duplicate(pp + ".name", port.name))
                names.add(port.name)
            if not 0 < port.port <= 65535:
                errs.append(invalid(pp + ".port", port.port, PORT_RANGE_MSG))
            _enum(port.protocol, pp + ".protocol", PROTOCOLS, errs)
