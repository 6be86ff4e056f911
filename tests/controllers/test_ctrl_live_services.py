"""Service addresses and Endpoints against a real server."""

from __future__ import annotations

import ipaddress

import grpc

from ctrl_helpers import template, wait_for
from shoal.proto.client import APIStatusError
from shoal.v1 import apps_pb2, core_pb2


def _service(name, ns, *, type_="ClusterIP", target="http"):
    s = core_pb2.Service()
    s.metadata.name = name
    s.metadata.namespace = ns
    s.spec.type = type_
    s.spec.selector["app"] = "web"
    port = s.spec.ports.add(name="web", port=80, protocol="TCP")
    if isinstance(target, str):
        port.target_port.str_val = target
    else:
        port.target_port.int_val = target
    return s


def _endpoint_ips(client, ns, name):
    try:
        ep = client.get("Endpoints", name, ns)
    except APIStatusError:
        return None
    ready = sorted(a.ip for s in ep.subsets for a in s.addresses)
    not_ready = sorted(a.ip for s in ep.subsets for a in s.not_ready_addresses)
    ports = sorted({(p.name, p.port) for s in ep.subsets for p in s.ports})
    return ready, not_ready, ports


def test_services_get_distinct_addresses_from_the_service_cidr(ctrl_client, ns):
    client = ctrl_client
    for i in range(3):
        client.create(_service(f"s{i}", ns, type_="NodePort" if i == 2 else "ClusterIP"))
    svcs = wait_for(lambda: all(s.spec.cluster_ip for s in client.list_items("Service", ns))
                    and client.list_items("Service", ns), 10, what="cluster IPs")
    ips = [s.spec.cluster_ip for s in svcs]
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.43.0.0/16") for ip in ips)
    node_port = next(s for s in svcs if s.spec.type == "NodePort").spec.ports[0].node_port
    assert 30000 <= node_port <= 32767
    headless = _service("headless", ns)
    headless.spec.cluster_ip = "None"
    assert client.create(headless).spec.cluster_ip == "None"


def test_endpoints_follow_pod_readiness(ctrl_server, ctrl_client, ns, kubelet_factory):
    client = ctrl_client
    unready: set[str] = set()
    kubelet_factory(ctrl_server.address, ns, fate=lambda p: "running" if p.metadata.name in unready else "ready")
    d = apps_pb2.Deployment()
    d.metadata.name = "web"
    d.metadata.namespace = ns
    d.spec.replicas = 2
    d.spec.selector.match_labels["app"] = "web"
    d.spec.template.CopyFrom(template({"app": "web"}))
    client.create(d)
    client.create(_service("web", ns, target="http"))
    wait_for(lambda: (_endpoint_ips(client, ns, "web") or ([], [], []))[0].__len__() == 2, 20, what="2 endpoints")
    pods = client.list_items("Pod", ns)
    ready, not_ready, ports = _endpoint_ips(client, ns, "web")
    assert ready == sorted(p.status.pod_ip for p in pods) and not_ready == []
    assert ports == [("web", 8080)], "the named targetPort resolves to the container port"

    unready.add(pods[0].metadata.name)
    wait_for(lambda: _endpoint_ips(client, ns, "web")[1] == [pods[0].status.pod_ip], 20,
             what="the unready pod to move to notReadyAddresses")

    client.delete("Service", "web", ns)

    def endpoints_gone():
        try:
            client.get("Endpoints", "web", ns)
        except APIStatusError as exc:
            return exc.code == grpc.StatusCode.NOT_FOUND
        return False

    wait_for(endpoints_gone, 10, what="the Endpoints to go with the Service")
