"""Service addresses: spec.clusterIP from the service CIDR and nodePorts from their range.

In Kubernetes the API server allocates both while it creates the Service. In Shoal this
controller does it just after: a new Service has an empty clusterIP for a moment, then the
controller writes one. The allocation is level-based: what is in use is read from the existing
Services (rebuilt from the informer on every start), so an address is free again as soon as its
Service is gone, and a crash between choosing and writing loses nothing. Addresses chosen but not
yet seen back through the informer are held as pending, so two Services created together never
get the same one.

    ClusterIP / NodePort / LoadBalancer   clusterIP "" -> the lowest free address (the CIDR's
                                          .1 and .10 are left for `kubernetes` and DNS, as k3s
                                          does; they can still be asked for explicitly)
    clusterIP "None" (headless)           nothing
    ExternalName                          nothing
    NodePort / LoadBalancer               each port's nodePort 0 -> the lowest free port
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field

from shoal.control.controllers.actions import Emit, Update, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import clone, object_key

log = logging.getLogger("shoal.controllers.service_ip")

NAME = "serviceip"
RESERVED_OFFSETS = (1, 10)
PENDING_TTL = 60.0


class AddressBook:
    """Which cluster IPs and node ports are taken, by which Service keys. Pure bookkeeping:
    ``observe`` what Services hold, ``hold`` what was just chosen for one, ``release`` what
    was chosen but not written."""

    def __init__(self, cidr: str, port_min: int, port_max: int, clock=time.monotonic) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.port_min = port_min
        self.port_max = port_max
        self.clock = clock
        self._ips: dict[str, set[str]] = {}        # ip -> service keys holding it
        self._ports: dict[int, set[str]] = {}      # node port -> service keys
        self._held: dict[str, tuple[set[str], set[int]]] = {}  # key -> what it holds (observed)
        self._pending_ips: dict[str, tuple[str, float]] = {}
        self._pending_ports: dict[int, tuple[str, float]] = {}

    def observe(self, key: str, svc) -> None:
        self.forget(key)
        ips = {ip for ip in [svc.spec.cluster_ip, *svc.spec.cluster_ips] if ip and ip != "None"}
        ports = {p.node_port for p in svc.spec.ports if p.node_port}
        self._held[key] = (ips, ports)
        for ip in ips:
            self._ips.setdefault(ip, set()).add(key)
            if self._pending_ips.get(ip, ("",))[0] == key:
                del self._pending_ips[ip]
        for port in ports:
            self._ports.setdefault(port, set()).add(key)
            if self._pending_ports.get(port, ("",))[0] == key:
                del self._pending_ports[port]

    def forget(self, key: str) -> None:
        ips, ports = self._held.pop(key, (set(), set()))
        for ip in ips:
            holders = self._ips.get(ip)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self._ips[ip]
        for port in ports:
            holders = self._ports.get(port)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self._ports[port]

    def _expire(self) -> None:
        now = self.clock()
        for table in (self._pending_ips, self._pending_ports):
            for item in [i for i, (_, at) in table.items() if now - at > PENDING_TTL]:
                del table[item]

    def ip_holders(self, ip: str) -> set[str]:
        return set(self._ips.get(ip, ()))

    def port_holders(self, port: int) -> set[str]:
        return set(self._ports.get(port, ()))

    def ip_taken(self, ip: str, by: str = "") -> bool:
        holders = self._ips.get(ip, set()) - {by}
        pending = self._pending_ips.get(ip)
        return bool(holders) or (pending is not None and pending[0] != by)

    def next_ip(self, key: str) -> str | None:
        """The lowest free address, held for ``key`` until observed or released."""
        self._expire()
        net = self.network
        first = int(net.network_address)
        last = int(net.broadcast_address)
        for offset in range(1, last - first):
            if offset in RESERVED_OFFSETS:
                continue
            ip = str(ipaddress.ip_address(first + offset))
            if not self.ip_taken(ip, key):
                self._pending_ips[ip] = (key, self.clock())
                return ip
        return None

    def next_port(self, key: str, also_taken: set[int] = frozenset()) -> int | None:
        self._expire()
        for port in range(self.port_min, self.port_max + 1):
            if port in also_taken:
                continue
            holders = self._ports.get(port, set()) - {key}
            pending = self._pending_ports.get(port)
            if holders or (pending is not None and pending[0] != key):
                continue
            self._pending_ports[port] = (key, self.clock())
            return port
        return None

    def release(self, key: str) -> None:
        for table in (self._pending_ips, self._pending_ports):
            for item in [i for i, (k, _) in table.items() if k == key]:
                del table[item]


@dataclass
class ServicePlan:
    update: Update | None = None
    events: list[Emit] = field(default_factory=list)


def needs_cluster_ip(svc) -> bool:
    return svc.spec.type != "ExternalName" and not svc.spec.cluster_ip


def needs_node_ports(svc) -> bool:
    return svc.spec.type in ("NodePort", "LoadBalancer") and any(p.node_port == 0 for p in svc.spec.ports)


def plan_service_addresses(svc, book: AddressBook) -> ServicePlan:
    """The Service with its missing clusterIP and nodePorts filled in (taken from ``book``),
    and warnings for addresses that another Service holds too."""
    plan = ServicePlan()
    key = object_key(svc)
    spec = svc.spec
    ip = spec.cluster_ip
    if ip and ip != "None" and len(book.ip_holders(ip) - {key}) > 0:
        plan.events.append(Emit(svc, "Warning", "ClusterIPAlreadyAllocated",
                                f"Cluster IP {ip} is also allocated to {', '.join(sorted(book.ip_holders(ip) - {key}))}"))
    for port in spec.ports:
        if port.node_port and len(book.port_holders(port.node_port) - {key}) > 0:
            plan.events.append(Emit(svc, "Warning", "PortAlreadyAllocated",
                                    f"Port {port.node_port} is also allocated to another Service"))
    if not needs_cluster_ip(svc) and not needs_node_ports(svc):
        return plan
    new = clone(svc)
    if needs_cluster_ip(svc):
        chosen = book.next_ip(key)
        if chosen is None:
            plan.events.append(Emit(svc, "Warning", "ClusterIPNotAllocated",
                                    f"failed to allocate a cluster IP: range {book.network} is full"))
            book.release(key)
            return plan
        new.spec.cluster_ip = chosen
        del new.spec.cluster_ips[:]
        new.spec.cluster_ips.append(chosen)
        if not new.spec.ip_families:
            new.spec.ip_families.append("IPv4" if book.network.version == 4 else "IPv6")
        if not new.spec.HasField("ip_family_policy"):
            new.spec.ip_family_policy = "SingleStack"
    if needs_node_ports(svc):
        mine = {p.node_port for p in new.spec.ports if p.node_port}
        for port in new.spec.ports:
            if port.node_port:
                continue
            chosen_port = book.next_port(key, mine)
            if chosen_port is None:
                plan.events.append(Emit(svc, "Warning", "NodePortNotAllocated",
                                        f"failed to allocate a node port: range {book.port_min}-{book.port_max} is full"))
                book.release(key)
                return plan
            port.node_port = chosen_port
            mine.add(chosen_port)
    plan.update = Update(new, event=Emit(svc, "Normal", "ClusterIPAllocated",
                                         f"Allocated cluster IP {new.spec.cluster_ip}" if needs_cluster_ip(svc)
                                         else "Allocated node ports"))
    return plan


class ServiceIPController(Controller):
    name = NAME
    watches = ("Service",)
    workers = 1  # one writer: allocation decisions are made in order

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.book = AddressBook(s.service_cidr, s.node_port_min, s.node_port_max)

    def on_change(self, kind: str, change: Change) -> None:
        key = object_key(change.new)
        if change.type == "delete":
            self.book.forget(key)
            self.book.release(key)
        else:
            self.book.observe(key, change.new)
        self.queue.add(key)

    async def sync(self, key: str) -> float | None:
        svc = self.cache("Service").get(key)
        if svc is None:
            return None
        plan = plan_service_addresses(svc, self.book)
        await self.run_actions(plan.events, key)
        if plan.update is None:
            return None
        outcomes = await self.run_actions([plan.update], key)
        error = first_error(outcomes)
        if error is not None:
            self.book.release(key)
            raise error
        return None
