"""Cluster DNS on a node: Service names resolve inside pods.

    pod resolv.conf:  nameserver <the node bridge's gateway IP>
                      search <ns>.svc.cluster.local svc.cluster.local cluster.local
                      options ndots:5
    ClusterDNS:       UDP on <gateway IP>:53, answers from the agent's ServiceCatalog

    web.shop.svc.cluster.local  A     the Service's clusterIP (headless: its ready endpoints)
                                AAAA  no data (IPv4 only), so resolvers fall back at once
    other names under cluster.local   NXDOMAIN (a search-list miss costs one local round trip)
    everything else                   relayed to the node's own nameservers (SERVFAIL if none
                                      answers), as CoreDNS's `forward . /etc/resolv.conf`

The wire format and the answers are pure functions (``answer``); ``ClusterDNS`` is only the
socket around them. The socket binds with IP_FREEBIND, so it can listen before the CNI plugin
has created the bridge that will carry the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("shoal.node.dns")

CLUSTER_DOMAIN = "cluster.local"
DNS_PORT = 53
TTL_SECONDS = 5
FORWARD_TIMEOUT_SECONDS = 2.0
UDP_MESSAGE_LIMIT = 512
A_RECORD_BYTES = 16
IP_FREEBIND = 15

TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
RCODE_OK, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 1, 2, 3, 5
FLAG_QR, FLAG_AA, FLAG_RD, FLAG_RA = 0x8000, 0x0400, 0x0100, 0x0080

# (namespace, service) -> its addresses; None when there is no such Service.
Lookup = Callable[[str, str], "list[str] | None"]


class DNSFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    name: str       # lower case, no trailing dot
    qtype: int
    qclass: int


@dataclass
class Query:
    ident: int
    flags: int
    question: Question
    raw_question: bytes = field(repr=False, default=b"")


def parse_query(data: bytes) -> Query:
    """The header and first question of a DNS query; DNSFormatError when it is not one."""
    if len(data) < 12:
        raise DNSFormatError("shorter than a DNS header")
    ident, flags, qdcount = struct.unpack("!HHH", data[:6])
    if flags & FLAG_QR or qdcount < 1:
        raise DNSFormatError("not a query with a question")
    labels, offset = [], 12
    while True:
        if offset >= len(data):
            raise DNSFormatError("name runs past the end")
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0:
            raise DNSFormatError("compressed name in a question")
        labels.append(data[offset:offset + length].decode("ascii", errors="replace"))
        offset += length
    if offset + 4 > len(data):
        raise DNSFormatError("question without type and class")
    qtype, qclass = struct.unpack("!HH", data[offset:offset + 4])
    name = ".".join(labels).lower()
    return Query(ident, flags, Question(name, qtype, qclass), data[12:offset + 4])


def service_name(name: str, domain: str = CLUSTER_DOMAIN) -> tuple[str, str] | None:
    """("web", "shop") for web.shop.svc.<domain>; None for any other name."""
    suffix = f".svc.{domain}"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[1], parts[0]


def in_cluster_domain(name: str, domain: str = CLUSTER_DOMAIN) -> bool:
    return name == domain or name.endswith("." + domain)


def build_response(query: Query, rcode: int, addresses: list[str] = ()) -> bytes:
    """A response to ``query``: its question, then one A record per address, as many as fit a
    512-byte UDP message (a headless Service with more endpoints answers with some of them
    rather than asking for TCP, which this server does not speak)."""
    room = (UDP_MESSAGE_LIMIT - 12 - len(query.raw_question)) // A_RECORD_BYTES
    addresses = list(addresses)[:max(0, room)]
    flags = FLAG_QR | FLAG_AA | FLAG_RA | (query.flags & (FLAG_RD | 0x7800)) | rcode
    header = struct.pack("!HHHHHH", query.ident, flags, 1, len(addresses), 0, 0)
    records = b"".join(
        struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_SECONDS, 4) + ipaddress.IPv4Address(ip).packed
        for ip in addresses)
    return header + query.raw_question + records


def error_response(data: bytes, rcode: int) -> bytes:
    """A bare error for something that did not even parse (FORMERR) or that we will not relay."""
    ident = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0
    return struct.pack("!HHHHHH", ident, FLAG_QR | FLAG_RA | rcode, 0, 0, 0, 0)


def answer(query: Query, lookup: Lookup, domain: str = CLUSTER_DOMAIN) -> bytes | None:
    """The response to a query about the cluster domain; None if the query is about another
    name (the caller relays it upstream)."""
    q = query.question
    if not in_cluster_domain(q.name, domain):
        return None
    if q.qclass != CLASS_IN:
        return build_response(query, RCODE_REFUSED)
    target = service_name(q.name, domain)
    addresses = lookup(*target) if target else None
    if addresses is None:
        return build_response(query, RCODE_NXDOMAIN)
    if q.qtype != TYPE_A:
        return build_response(query, RCODE_OK)  # the name exists; no records of this type
    return build_response(query, RCODE_OK, [a for a in addresses if "." in a])


def catalog_lookup(catalog) -> Lookup:
    """A Lookup over a ServiceCatalog: clusterIP, or for a headless Service its ready
    endpoints' addresses; ExternalName Services and unallocated ones have no A records."""

    def lookup(namespace: str, name: str) -> list[str] | None:
        svc = catalog.services.get((namespace, name))
        if svc is None:
            return None
        if svc.spec.cluster_ip == "None":
            eps = catalog.endpoints.get((namespace, name))
            found = {a.ip for s in (eps.subsets if eps is not None else ()) for a in s.addresses if a.ip}
            return sorted(found)
        return [svc.spec.cluster_ip] if svc.spec.cluster_ip else []

    return lookup


# -- resolv.conf ----------------------------------------------------------------------------


@dataclass
class ResolverConfig:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ResolverConfig:
        conf = cls()
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "nameserver" and len(words) > 1:
                conf.nameservers.append(words[1])
            elif words[0] in ("search", "domain"):
                conf.searches = words[1:]
            elif words[0] == "options":
                for opt in words[1:]:
                    key, sep, value = opt.partition(":")
                    conf.options[key] = value if sep else None
        return conf

    def render(self) -> str:
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(k if v is None else f"{k}:{v}" for k, v in self.options.items()))
        return "\n".join(lines) + "\n"


def uses_cluster_dns(pod) -> bool:
    """dnsPolicy ClusterFirst (the default) for pod-network pods, ClusterFirstWithHostNet for
    host-network ones; Default and None do not."""
    policy = pod.spec.dns_policy or "ClusterFirst"
    if policy == "ClusterFirstWithHostNet":
        return True
    return policy == "ClusterFirst" and not pod.spec.host_network


def pod_resolv_conf(pod, *, cluster_dns: str, host_resolv: str, domain: str = CLUSTER_DOMAIN) -> str:
    """The pod's /etc/resolv.conf by its dnsPolicy, with spec.dnsConfig merged in as the
    kubelet does (nameservers and searches appended, options overriding by name)."""
    policy = pod.spec.dns_policy or "ClusterFirst"
    if policy == "None":
        conf = ResolverConfig()
    elif cluster_dns and uses_cluster_dns(pod):
        ns = pod.metadata.namespace or "default"
        conf = ResolverConfig([cluster_dns], [f"{ns}.svc.{domain}", f"svc.{domain}", domain], {"ndots": "5"})
    else:
        conf = ResolverConfig.parse(host_resolv)
    extra = pod.spec.dns_config
    conf.nameservers += [n for n in extra.nameservers if n not in conf.nameservers]
    conf.searches += [s for s in extra.searches if s not in conf.searches]
    for opt in extra.options:
        conf.options[opt.name] = opt.value if opt.HasField("value") else None
    return conf.render()


def gateway_ip(pod_cidr: str) -> str:
    """The first address of the pod CIDR: the bridge's (host-local's default gateway)."""
    return str(next(ipaddress.ip_network(pod_cidr, strict=False).hosts()))


# -- the socket -----------------------------------------------------------------------------


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDNS) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.server.received(data, addr)


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, reply: asyncio.Future) -> None:
        self.reply = reply

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.reply.done():
            self.reply.set_result(data)


class ClusterDNS:
    """The UDP responder. ``upstreams``: where other names go (the node's nameservers)."""

    def __init__(self, address: str, lookup: Lookup, *, port: int = DNS_PORT, upstreams: list[str] | None = None,
                 domain: str = CLUSTER_DOMAIN, upstream_port: int = DNS_PORT,
                 forward_timeout: float = FORWARD_TIMEOUT_SECONDS) -> None:
        self.address = address
        self.port = port
        self.upstream_port = upstream_port
        self.forward_timeout = forward_timeout
        self.lookup = lookup
        self.domain = domain
        self.upstreams = [u for u in (upstreams or []) if u != address]
        self.answered = 0
        self.relayed = 0
        self._protocol: _Protocol | None = None
        self._relays: set[asyncio.Task] = set()

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((self.address, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        _, self._protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(self), sock=sock)
        if self.port == 0:
            self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    def _send(self, data: bytes, addr) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.sendto(data, addr)

    def received(self, data: bytes, addr) -> None:
        try:
            query = parse_query(data)
        except DNSFormatError:
            self._send(error_response(data, RCODE_FORMERR), addr)
            return
        try:
            response = answer(query, self.lookup, self.domain)
        except ValueError as exc:  # e.g. a malformed address in an object: the name fails, not the server
            log.warning("dns %s: %s", query.question.name, exc)
            self._send(build_response(query, RCODE_SERVFAIL), addr)
            return
        if response is not None:
            self.answered += 1
            self._send(response, addr)
            return
        if not self.upstreams:
            self._send(build_response(query, RCODE_REFUSED), addr)
            return
        task = asyncio.get_running_loop().create_task(self._relay(data, query, addr))
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)

    async def _relay(self, data: bytes, query: Query, addr) -> None:
        loop = asyncio.get_running_loop()
        for upstream in self.upstreams:
            reply: asyncio.Future = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(lambda reply=reply: _Relay(reply),
                                                                   remote_addr=(upstream, self.upstream_port))
            except OSError:
                continue
            try:
                transport.sendto(data)
                self._send(await asyncio.wait_for(reply, self.forward_timeout), addr)
                self.relayed += 1
                return
            except TimeoutError:
                continue
            finally:
                transport.close()
        self._send(build_response(query, RCODE_SERVFAIL), addr)
