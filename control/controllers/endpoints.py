"""Endpoints controller: for each Service with a selector, an Endpoints object of the same name
listing the pods behind it.

    addresses            ready pods' IPs (all of them with publishNotReadyAddresses)
    notReadyAddresses    pods with an IP that are not ready
    left out             pods without an IP, finished pods (Succeeded/Failed), pods being
                         deleted (unless publishNotReadyAddresses)
    ports                each Service port's targetPort: a number as it is, a name looked up
                         among the pod's container ports (a pod without that port is left out
                         of that port); pods with the same ports share a subset

Services without a selector are left alone (their Endpoints are the user's). When a Service
goes, so does its Endpoints object, including one left behind while the controller was down.
"""

from __future__ import annotations

import logging

import grpc

from shoal.control.controllers.actions import Create, Delete, Update, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import clone, is_terminating, map_selector_matches, object_key
from shoal.control.controllers.pods import is_finished, is_ready
from shoal.v1 import core_pb2, meta_pb2

log = logging.getLogger("shoal.controllers.endpoints")

NAME = "endpoints"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def target_port(service_port, pod) -> int | None:
    """The pod's port a Service port sends to (podutil.FindPort)."""
    target = service_port.target_port
    which = target.WhichOneof("value")
    if which == "str_val" and target.str_val:
        if target.str_val.isdigit():
            return int(target.str_val)
        protocol = service_port.protocol or "TCP"
        for container in pod.spec.containers:
            for port in container.ports:
                if port.name == target.str_val and (port.protocol or "TCP") == protocol:
                    return port.container_port
        return None
    if which == "int_val" and target.int_val:
        return target.int_val
    return service_port.port


def _address(pod, svc) -> core_pb2.EndpointAddress:
    addr = core_pb2.EndpointAddress(ip=pod.status.pod_ip)
    if pod.spec.node_name:
        addr.node_name = pod.spec.node_name
    addr.target_ref.CopyFrom(meta_pb2.ObjectReference(kind="Pod", namespace=pod.metadata.namespace,
                                                      name=pod.metadata.name, uid=pod.metadata.uid))
    if pod.spec.hostname and pod.spec.subdomain == svc.metadata.name:
        addr.hostname = pod.spec.hostname
    return addr


def build_subsets(svc, pods: list) -> list[core_pb2.EndpointSubset]:
    """The Endpoints subsets of ``svc`` given the pods its selector matches."""
    publish = svc.spec.publish_not_ready_addresses
    headless = svc.spec.cluster_ip == "None"
    groups: dict[tuple, tuple[list, list]] = {}
    for pod in pods:
        if not pod.status.pod_ip or is_finished(pod) or (is_terminating(pod) and not publish):
            continue
        ports = []
        for sp in svc.spec.ports:
            number = target_port(sp, pod)
            if number is None:
                continue
            ports.append((sp.name, number, sp.protocol or "TCP",
                          sp.app_protocol if sp.HasField("app_protocol") else None))
        if not ports and not (headless and not svc.spec.ports):
            continue
        ready, not_ready = groups.setdefault(tuple(sorted(ports, key=lambda p: (p[0], p[1], p[2]))), ([], []))
        (ready if publish or is_ready(pod) else not_ready).append(_address(pod, svc))
    subsets = []
    for ports, (ready, not_ready) in sorted(groups.items(), key=lambda kv: kv[0]):
        subset = core_pb2.EndpointSubset()
        subset.addresses.extend(sorted(ready, key=lambda a: (a.ip, a.target_ref.name)))
        subset.not_ready_addresses.extend(sorted(not_ready, key=lambda a: (a.ip, a.target_ref.name)))
        for name, number, protocol, app_protocol in ports:
            port = subset.ports.add(name=name, port=number, protocol=protocol)
            if app_protocol is not None:
                port.app_protocol = app_protocol
        subsets.append(subset)
    return subsets


def endpoint_labels(svc) -> dict[str, str]:
    labels = dict(svc.metadata.labels)
    if svc.spec.cluster_ip == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def plan_endpoints(svc, pods: list, current: core_pb2.Endpoints | None):
    """The write that makes the Service's Endpoints right (None if it already is). ``svc`` None
    means the Service is gone: its Endpoints is deleted."""
    if svc is None:
        return Delete.of(current) if current is not None else None
    if not svc.spec.selector:
        return None
    matching = [p for p in pods if map_selector_matches(svc.spec.selector, p.metadata.labels)]
    subsets = build_subsets(svc, matching)
    labels = endpoint_labels(svc)
    if current is None:
        ep = core_pb2.Endpoints()
        ep.metadata.name = svc.metadata.name
        ep.metadata.namespace = svc.metadata.namespace
        ep.metadata.labels.update(labels)
        ep.subsets.extend(subsets)
        return Create(ep)
    if list(current.subsets) == subsets and dict(current.metadata.labels) == labels:
        return None
    ep = clone(current)
    ep.metadata.labels.clear()
    ep.metadata.labels.update(labels)
    del ep.subsets[:]
    ep.subsets.extend(subsets)
    return Update(ep)


class EndpointsController(Controller):
    name = NAME
    watches = ("Service", "Pod", "Endpoints")
    workers = 2

    def _services_selecting(self, pod) -> list[str]:
        return [object_key(s) for s in self.cache("Service").list(pod.metadata.namespace)
                if s.spec.selector and map_selector_matches(s.spec.selector, pod.metadata.labels)]

    def on_change(self, kind: str, change: Change) -> None:
        if kind in ("Service", "Endpoints"):
            self.queue.add(object_key(change.new))
            return
        keys = set(self._services_selecting(change.new))
        if change.old is not None:
            keys.update(self._services_selecting(change.old))
        for key in keys:
            self.queue.add(key)

    def resync_keys(self) -> list[str]:
        return sorted(set(self.cache("Service").keys()) | set(self.cache("Endpoints").keys()))

    async def sync(self, key: str) -> float | None:
        svc = self.cache("Service").get(key)
        current = self.cache("Endpoints").get(key)
        if svc is None and current is not None:
            # The cache may lag a Service just created: make sure it is gone before deleting.
            namespace, _, name = key.rpartition("/")
            try:
                svc = await self.client.get("Service", name, namespace)
            except Exception as exc:  # noqa: BLE001 - NOT_FOUND is the expected case
                if getattr(exc, "code", None) != grpc.StatusCode.NOT_FOUND:
                    raise
        pods = []
        if svc is not None and svc.spec.selector:
            pods = self.cache("Pod").select(svc.metadata.namespace, meta_pb2.LabelSelector(match_labels=svc.spec.selector))
        action = plan_endpoints(svc, pods, current)
        if action is None:
            return None
        error = first_error(await self.run_actions([action], key))
        if error is not None:
            raise error
        return None
