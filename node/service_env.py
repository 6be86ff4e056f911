"""Kubernetes' service environment variables for a container (the kubelet's envvars package).

For every Service of the pod's namespace that has a cluster IP when the pod starts (with
``enableServiceLinks``, the default), and for the ``kubernetes`` Service of ``default`` always:

    WEB_SERVICE_HOST=10.43.0.2            WEB_PORT=tcp://10.43.0.2:80        (first port only)
    WEB_SERVICE_PORT=80                   WEB_PORT_80_TCP=tcp://10.43.0.2:80
    WEB_SERVICE_PORT_HTTP=80              WEB_PORT_80_TCP_PROTO=tcp
                                          WEB_PORT_80_TCP_PORT=80
                                          WEB_PORT_80_TCP_ADDR=10.43.0.2

Names are upper-cased with '-' as '_'. Pure: Services in, a dict out.
"""

from __future__ import annotations

from collections.abc import Iterable

MASTER_SERVICE = ("default", "kubernetes")


def env_name(name: str) -> str:
    """A Service or port name as it appears in a variable name."""
    return name.upper().replace("-", "_")


def has_cluster_ip(svc) -> bool:
    ip = svc.spec.cluster_ip
    return bool(ip) and ip != "None"


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def service_variables(svc) -> dict[str, str]:
    """The variables one Service gives every container started after it (none without a
    cluster IP: headless and ExternalName Services, or one not yet allocated)."""
    if not has_cluster_ip(svc):
        return {}
    name, ip = env_name(svc.metadata.name), svc.spec.cluster_ip
    out = {f"{name}_SERVICE_HOST": ip}
    for i, port in enumerate(svc.spec.ports):
        if i == 0:
            out[f"{name}_SERVICE_PORT"] = str(port.port)
        if port.name:
            out[f"{name}_SERVICE_PORT_{env_name(port.name)}"] = str(port.port)
    for i, port in enumerate(svc.spec.ports):
        protocol = port.protocol or "TCP"
        url = f"{protocol.lower()}://{_host_port(ip, port.port)}"
        prefix = f"{name}_PORT_{port.port}_{protocol.upper()}"
        if i == 0:
            out[f"{name}_PORT"] = url
        out[prefix] = url
        out[f"{prefix}_PROTO"] = protocol.lower()
        out[f"{prefix}_PORT"] = str(port.port)
        out[f"{prefix}_ADDR"] = ip
    return out


def pod_service_environment(services: Iterable, namespace: str, enable_service_links: bool = True) -> dict[str, str]:
    """The service variables of a pod in ``namespace``: its namespace's Services when links are
    enabled, the master Service always (as the kubelet does). A Service of the pod's namespace
    wins over the master Service of the same variable names."""
    chosen = {}
    for svc in services:
        key = (svc.metadata.namespace, svc.metadata.name)
        if key == MASTER_SERVICE:
            chosen.setdefault(svc.metadata.name, svc)
        elif enable_service_links and svc.metadata.namespace == namespace:
            chosen[svc.metadata.name] = svc
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(service_variables(chosen[name]))
    return out
