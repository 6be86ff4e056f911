"""Service forwarding rules: which endpoints each Service port gets, and the nft / iptables text
(pure functions; the nft script is also loaded into the kernel when nft works here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
from shoal.node.service_proxy import (
    Backend,
    ServiceRule,
    endpoint_backends,
    iptables_chains,
    render_iptables,
    render_nft,
    service_rules,
    table_name,
)
from shoal.v1 import core_pb2


def service(name, ns="default", ip="10.43.0.2", ports=(("http", 80, "TCP", 0),), type_="ClusterIP"):
    s = core_pb2.Service()
    s.metadata.name, s.metadata.namespace = name, ns
    s.spec.cluster_ip, s.spec.type = ip, type_
    for pname, port, proto, node_port in ports:
        s.spec.ports.add(name=pname, port=port, protocol=proto, node_port=node_port)
    return s


def endpoints(name, ns="default", ready=(), not_ready=(), ports=(("http", 8080, "TCP"),)):
    e = core_pb2.Endpoints()
    e.metadata.name, e.metadata.namespace = name, ns
    subset = e.subsets.add()
    subset.addresses.extend(core_pb2.EndpointAddress(ip=ip) for ip in ready)
    subset.not_ready_addresses.extend(core_pb2.EndpointAddress(ip=ip) for ip in not_ready)
    for pname, port, proto in ports:
        subset.ports.add(name=pname, port=port, protocol=proto)
    return e


def test_only_ready_addresses_become_backends_sorted_numerically():
    eps = endpoints("web", ready=["10.244.0.10", "10.244.0.9"], not_ready=["10.244.0.11"])
    assert endpoint_backends(eps, "http", "TCP") == (Backend("10.244.0.9", 8080), Backend("10.244.0.10", 8080))


@pytest.mark.parametrize("port_name,protocol,expected", [
    ("http", "TCP", 1), ("http", "UDP", 0), ("metrics", "TCP", 0),
], ids=["same-name-and-protocol", "other-protocol", "other-port-name"])
def test_backends_match_the_service_port_by_name_and_protocol(port_name, protocol, expected):
    eps = endpoints("web", ready=["10.244.0.9"])
    assert len(endpoint_backends(eps, port_name, protocol)) == expected


def test_subsets_with_different_target_ports_are_merged_per_service_port():
    eps = endpoints("web", ready=["10.244.0.9"])
    other = eps.subsets.add()
    other.addresses.add(ip="10.244.0.20")
    other.ports.add(name="http", port=9090, protocol="TCP")
    assert endpoint_backends(eps, "http", "TCP") == (Backend("10.244.0.9", 8080), Backend("10.244.0.20", 9090))


def test_headless_external_name_and_unallocated_services_get_no_rules():
    svcs = [service("a", ip="None"), service("b", ip="", type_="ClusterIP"),
            service("c", ip="", type_="ExternalName"), service("d")]
    rules = service_rules(svcs, {})
    assert [r.service for r in rules] == ["default/d:http"]
    assert rules[0].backends == ()


def test_one_rule_per_service_port_with_node_port_and_protocol():
    svc = service("dns", ns="kube", ip="10.43.0.10",
                  ports=(("dns", 53, "UDP", 0), ("dns-tcp", 53, "TCP", 30053)))
    eps = endpoints("dns", ns="kube", ready=["10.244.1.2"], ports=(("dns", 5353, "UDP"), ("dns-tcp", 5353, "TCP")))
    rules = service_rules([svc], {("kube", "dns"): eps})
    assert rules == [
        ServiceRule("kube/dns:dns", "udp", "10.43.0.10", 53, 0, (Backend("10.244.1.2", 5353),)),
        ServiceRule("kube/dns:dns-tcp", "tcp", "10.43.0.10", 53, 30053, (Backend("10.244.1.2", 5353),)),
    ]


def _rules():
    three = tuple(Backend(f"10.244.0.{i}", 80) for i in (2, 3, 4))
    return [ServiceRule("default/web:http", "tcp", "10.43.0.2", 8000, 30080, three),
            ServiceRule("default/empty:http", "tcp", "10.43.0.3", 80, 0, ())]


def test_nft_script_replaces_the_table_and_spreads_with_numgen():
    script = render_nft("shoal-svc-x", "shoal-br", _rules())
    lines = [line.strip() for line in script.splitlines()]
    assert lines[:3] == ["table ip shoal-svc-x {}", "delete table ip shoal-svc-x", "table ip shoal-svc-x {"]
    assert 'iifname "shoal-br" jump services' in lines
    assert ("ip daddr . meta l4proto . th dport vmap { 10.43.0.2 . tcp . 8000 : goto svc-0, "
            "10.43.0.3 . tcp . 80 : goto svc-1 }") in lines
    assert "meta l4proto . th dport vmap { tcp . 30080 : goto svc-0 }" in lines
    assert [line for line in lines if "dnat" in line] == [
        ("meta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 10.244.0.2 . 80, 1 : 10.244.0.3 . 80, "
         "2 : 10.244.0.4 . 80 }")]
    single = render_nft("shoal-svc-x", "shoal-br", [ServiceRule("a/b:c", "udp", "10.43.0.9", 53, 0,
                                                                (Backend("10.244.0.5", 5353),))])
    assert "meta l4proto udp dnat ip to 10.244.0.5:5353" in single
    assert "reject" in script.split("chain svc-1 {")[1].split("}")[0]
    assert "meta mark & 0x4000 == 0x4000 masquerade" in lines


def test_client_ip_affinity_hashes_the_client_address():
    svc = service("web")
    svc.spec.session_affinity = "ClientIP"
    (rule,) = service_rules([svc], {("default", "web"): endpoints("web", ready=["10.244.0.9", "10.244.0.10"])})
    assert rule.client_ip_affinity
    assert "dnat ip to jhash ip saddr mod 2 map" in render_nft("t", "br", [rule])


def test_nft_script_without_services_has_empty_dispatch_chains():
    script = render_nft("shoal-svc-x", "shoal-br", [])
    assert "vmap" not in script and "chain services {" in script


def test_iptables_probabilities_give_each_endpoint_an_equal_share():
    text = render_iptables("SHOAL-X", _rules())
    dnat = [line for line in text.splitlines() if "-j DNAT" in line]
    assert len(dnat) == 3
    probabilities = [float(line.split("--probability ")[1].split()[0]) if "--probability" in line else 1.0
                     for line in dnat]
    share, left = [], 1.0
    for p in probabilities:
        share.append(left * p)
        left *= 1 - p
    assert share == pytest.approx([1 / 3] * 3)
    assert text.startswith("*nat\n") and text.endswith("COMMIT\n")


def test_iptables_deletes_chains_no_longer_needed():
    before = iptables_chains("SHOAL-X", _rules())
    text = render_iptables("SHOAL-X", _rules()[:1], stale=before)
    assert "-X SHOAL-X-S1" in text.splitlines() and "-X SHOAL-X-S0" not in text
    assert all(len(c) <= 28 for c in before)


def test_tables_are_keyed_by_node_name():
    assert table_name("node-a") != table_name("node-b") and table_name("node-a") == table_name("node-a")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft")
def test_the_nft_script_loads_and_replaces_atomically():
    table = f"shoal-svc-test-{uuid.uuid4().hex[:6]}"
    try:
        sticky = ServiceRule("t/s:x", "tcp", "10.43.0.4", 80, 0, _rules()[0].backends, client_ip_affinity=True)
        for rules in (_rules() + [sticky], _rules()[1:], []):
            result = subprocess.run(["nft", "-f", "-"], input=render_nft(table, "shoal-none", rules),
                                    capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
            assert ("10.244.0.3 . 80" in listed) == (len(rules) == 3)
            assert ("jhash ip saddr" in listed) == (len(rules) == 3)
    finally:
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)


class RecordingBackend:
    name = "recording"

    def __init__(self) -> None:
        self.loads: list[list[ServiceRule]] = []
        self.removed = False

    async def apply(self, rules):
        self.loads.append(rules)

    async def remove(self):
        self.removed = True


def test_the_proxy_loads_once_per_burst_of_changes_and_not_when_nothing_changed():
    import asyncio

    from shoal.node.service_catalog import ServiceCatalog
    from shoal.node.service_proxy import ServiceProxy
    from shoal.v1 import cluster_service_pb2 as svc_pb2

    async def scenario():
        catalog, backend = ServiceCatalog(), RecordingBackend()
        proxy = ServiceProxy(catalog, backend)
        proxy.start()
        catalog.replace("Service", [service("web")])
        catalog.replace("Endpoints", [endpoints("web", ready=["10.244.0.9"])])
        await asyncio.sleep(0.3)
        for ready in (["10.244.0.9", "10.244.0.10"], ["10.244.0.9", "10.244.0.10", "10.244.0.11"]):
            catalog.apply("Endpoints", svc_pb2.EVENT_TYPE_MODIFIED, endpoints("web", ready=ready))
        await asyncio.sleep(0.3)
        catalog.apply("Endpoints", svc_pb2.EVENT_TYPE_MODIFIED,
                      endpoints("web", ready=["10.244.0.9", "10.244.0.10", "10.244.0.11"], not_ready=["10.244.0.12"]))
        await asyncio.sleep(0.3)
        await proxy.stop()
        return backend

    backend = asyncio.run(scenario())
    assert [len(rules[0].backends) for rules in backend.loads] == [1, 3]
    assert backend.removed


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iptables-restore") is None, reason="needs root and iptables")
def test_the_iptables_backend_loads_updates_and_removes_its_chains():
    import asyncio

    from shoal.node.service_proxy import IptablesBackend, iptables_chain_prefix

    node = f"iptables-test-{uuid.uuid4().hex[:6]}"
    # TEST-NET addresses: no real traffic goes there, whatever else runs on this machine.
    rules = [ServiceRule("t/web:http", "tcp", "192.0.2.250", 80, 0, (Backend("192.0.2.251", 80),
                                                                      Backend("192.0.2.252", 80)))]
    prefix = iptables_chain_prefix(node)

    def ours() -> list[str]:
        listed = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        return [line for line in listed.splitlines() if prefix in line]

    async def scenario():
        backend = IptablesBackend(node, "shoal-none")
        try:
            await backend.apply(rules + [ServiceRule("t/b:x", "udp", "192.0.2.249", 53, 0, ())])
            first = ours()
            await backend.apply(rules)
            second = ours()
        finally:
            await backend.remove()
        return first, second, ours()

    first, second, after = asyncio.run(scenario())
    assert any("--to-destination 192.0.2.252:80" in line for line in first)
    assert any(f"-N {prefix}-S1" == line for line in first) and not any(f"{prefix}-S1" in line for line in second)
    assert sum("-j " + prefix in line for line in second if line.startswith(("-A PREROUTING", "-A OUTPUT"))) == 4
    assert after == []
