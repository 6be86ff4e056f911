"""Cluster DNS: answers for Service names, the wire format, resolv.conf by dnsPolicy, and one
real round trip through the UDP responder on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

import pytest
from shoal.node import dns
from shoal.node.service_catalog import ServiceCatalog
from shoal.v1 import cluster_service_pb2 as svc_pb2
from shoal.v1 import core_pb2


def query(name: str, qtype: int = dns.TYPE_A, ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return struct.pack("!HHHHHH", ident, dns.FLAG_RD, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def decode(response: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, A addresses) of a response built for one question."""
    ident, flags, qd, an = struct.unpack("!HHHH", response[:8])
    offset = 12
    for _ in range(qd):
        while response[offset]:
            offset += response[offset] + 1
        offset += 5
    addresses = []
    for _ in range(an):
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", response[offset + 2:offset + 12])
        data = response[offset + 12:offset + 12 + length]
        if rtype == dns.TYPE_A:
            addresses.append(str(ipaddress.IPv4Address(data)))
        offset += 12 + length
    return ident, flags & 0xF, addresses


def catalog() -> ServiceCatalog:
    cat = ServiceCatalog()
    web = core_pb2.Service()
    web.metadata.name, web.metadata.namespace, web.spec.cluster_ip = "web", "shop", "10.43.0.7"
    db = core_pb2.Service()
    db.metadata.name, db.metadata.namespace, db.spec.cluster_ip = "db", "shop", "None"
    eps = core_pb2.Endpoints()
    eps.metadata.name, eps.metadata.namespace = "db", "shop"
    eps.subsets.add().addresses.extend([core_pb2.EndpointAddress(ip="10.244.0.9"),
                                        core_pb2.EndpointAddress(ip="10.244.0.8")])
    cat.replace("Service", [web, db])
    cat.replace("Endpoints", [eps])
    return cat


@pytest.mark.parametrize("name,qtype,rcode,addresses", [
    ("web.shop.svc.cluster.local", dns.TYPE_A, dns.RCODE_OK, ["10.43.0.7"]),
    ("WEB.Shop.svc.cluster.local.", dns.TYPE_A, dns.RCODE_OK, ["10.43.0.7"]),
    ("web.shop.svc.cluster.local", dns.TYPE_AAAA, dns.RCODE_OK, []),
    ("db.shop.svc.cluster.local", dns.TYPE_A, dns.RCODE_OK, ["10.244.0.8", "10.244.0.9"]),
    ("web.other.svc.cluster.local", dns.TYPE_A, dns.RCODE_NXDOMAIN, []),
    ("web.shop.shop.svc.cluster.local", dns.TYPE_A, dns.RCODE_NXDOMAIN, []),
    ("web.cluster.local", dns.TYPE_A, dns.RCODE_NXDOMAIN, []),
], ids=["service", "case-and-trailing-dot", "aaaa-no-data", "headless-endpoints", "other-namespace",
        "search-list-miss", "not-a-service-name"])
def test_answers_for_the_cluster_domain(name, qtype, rcode, addresses):
    q = dns.parse_query(query(name, qtype))
    ident, got_rcode, got = decode(dns.answer(q, dns.catalog_lookup(catalog())))
    assert (ident, got_rcode, got) == (0x1234, rcode, addresses)


def test_names_outside_the_cluster_domain_are_left_for_the_upstream():
    assert dns.answer(dns.parse_query(query("example.org")), dns.catalog_lookup(catalog())) is None


def test_a_deleted_service_stops_resolving():
    cat = catalog()
    gone = cat.services[("shop", "web")]
    cat.apply("Service", svc_pb2.EVENT_TYPE_DELETED, gone)
    q = dns.parse_query(query("web.shop.svc.cluster.local"))
    assert decode(dns.answer(q, dns.catalog_lookup(cat)))[1] == dns.RCODE_NXDOMAIN


@pytest.mark.parametrize("data", [b"\x00" * 5, struct.pack("!HHHHHH", 1, dns.FLAG_QR, 1, 0, 0, 0) + b"\0\0\1\0\1",
                                  struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab"],
                         ids=["short", "a-response", "truncated-name"])
def test_malformed_queries_are_format_errors(data):
    with pytest.raises(dns.DNSFormatError):
        dns.parse_query(data)


def pod(namespace="shop", policy="", host_network=False, nameservers=(), searches=(), options=()):
    p = core_pb2.Pod()
    p.metadata.namespace = namespace
    p.spec.dns_policy = policy
    p.spec.host_network = host_network
    p.spec.dns_config.nameservers.extend(nameservers)
    p.spec.dns_config.searches.extend(searches)
    for name, value in options:
        opt = p.spec.dns_config.options.add(name=name)
        if value is not None:
            opt.value = value
    return p


HOST = "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"


@pytest.mark.parametrize("p,expected", [
    (pod(), ("nameserver 10.244.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n"
             "options ndots:5\n")),
    (pod(policy="Default"), "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"),
    (pod(host_network=True), "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"),
    (pod(policy="ClusterFirstWithHostNet", host_network=True),
     "nameserver 10.244.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"),
    (pod(policy="None", nameservers=["1.1.1.1"], searches=["a.example"], options=[("ndots", "2")]),
     "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n"),
    (pod(nameservers=["1.1.1.1"], options=[("ndots", "2"), ("edns0", None)]),
     ("nameserver 10.244.0.1\nnameserver 1.1.1.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n"
      "options ndots:2 edns0\n")),
], ids=["cluster-first", "default", "host-network", "cluster-first-with-host-net", "none", "dns-config-merged"])
def test_resolv_conf_follows_the_dns_policy(p, expected):
    assert dns.pod_resolv_conf(p, cluster_dns="10.244.0.1", host_resolv=HOST) == expected


def test_without_cluster_dns_pods_get_the_hosts_resolver():
    assert dns.pod_resolv_conf(pod(), cluster_dns="", host_resolv=HOST) == HOST


def test_the_gateway_is_the_first_address_of_the_pod_cidr():
    assert dns.gateway_ip("10.244.3.0/24") == "10.244.3.1"


def test_the_responder_answers_over_udp_and_refuses_what_it_cannot_relay():
    async def scenario():
        server = dns.ClusterDNS("127.0.0.1", dns.catalog_lookup(catalog()), port=0, upstreams=[])
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            replies = []
            for name in ("web.shop.svc.cluster.local", "example.org"):
                await loop.sock_sendto(sock, query(name), ("127.0.0.1", server.port))
                replies.append(decode(await asyncio.wait_for(loop.sock_recv(sock, 512), 5)))
            sock.close()
            return replies
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == [(0x1234, dns.RCODE_OK, ["10.43.0.7"]), (0x1234, dns.RCODE_REFUSED, [])]


def test_a_headless_service_with_many_endpoints_answers_with_what_fits_in_512_bytes():
    q = dns.parse_query(query("db.shop.svc.cluster.local"))
    response = dns.build_response(q, dns.RCODE_OK, [f"10.244.{i // 250}.{i % 250 + 1}" for i in range(100)])
    _, rcode, addresses = decode(response)
    assert len(response) <= 512 and rcode == dns.RCODE_OK and 20 < len(addresses) < 100


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every query with a fixed address (or stays silent)."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.seen: list[str] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        q = dns.parse_query(data)
        self.seen.append(q.question.name)
        if not self.silent:
            self.transport.sendto(dns.build_response(q, dns.RCODE_OK, ["192.0.2.77"]), addr)


@pytest.mark.parametrize("silent,expected", [(False, (dns.RCODE_OK, ["192.0.2.77"])), (True, (dns.RCODE_SERVFAIL, []))],
                         ids=["relayed", "upstream-silent"])
def test_other_names_are_relayed_to_the_upstream(silent, expected):
    async def scenario():
        loop = asyncio.get_running_loop()
        upstream = FakeUpstream(silent)
        transport, _ = await loop.create_datagram_endpoint(lambda: upstream, local_addr=("127.0.0.1", 0))
        up_port = transport.get_extra_info("sockname")[1]
        server = dns.ClusterDNS("127.0.0.1", dns.catalog_lookup(catalog()), port=0, upstream_port=up_port,
                                forward_timeout=0.3)
        server.upstreams = ["127.0.0.1"]  # the constructor drops its own address; the fake shares it
        await server.start()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            await loop.sock_sendto(sock, query("example.org"), ("127.0.0.1", server.port))
            reply = decode(await asyncio.wait_for(loop.sock_recv(sock, 512), 5))
            sock.close()
            return reply, upstream.seen
        finally:
            await server.stop()
            transport.close()

    (ident, rcode, addresses), seen = asyncio.run(scenario())
    assert (ident, rcode, addresses) == (0x1234, *expected)
    assert seen == ["example.org"]
