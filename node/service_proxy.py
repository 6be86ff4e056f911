"""Service forwarding on a node: ClusterIP:port (and NodePort) -> the ready endpoints, spread.

    ServiceCatalog --(Services, Endpoints)--> service_rules()   pure: what to forward where
                                                   |
                                                   v
                                         render_nft() / render_iptables()   pure: rule text
                                                   |
                                                   v
               NftBackend | IptablesBackend | UserspaceBackend  (I/O: one load per change)

Each agent owns one table (``ip shoal-svc-<hash of the node name>``, or iptables chains with the
same prefix), so agents sharing a machine never touch each other's rules. Every change replaces
the whole table in one nft transaction: a connection sees the old rules or the new, never half.

    prerouting   packets from this node's pods (iifname = the node's bridge) to a ClusterIP;
                 packets to a local address on a NodePort
    output       the same from the host's own processes
    svc-N        marks the packet (masquerade later) and DNATs it to an endpoint picked by
                 `numgen random mod N` (sessionAffinity ClientIP: `jhash ip saddr mod N`)
                 from a map of ip . port
    postrouting  masquerades marked packets, so replies come back through this node's
                 conntrack even when client and endpoint share the bridge (hairpin included)

A Service port without ready endpoints rejects (as kube-proxy does), so clients fail fast.
The iptables fallback picks with `statistic --mode random` and ignores ClientIP affinity; a
port without endpoints simply goes unanswered there (the nat table may not REJECT).
Connections from the host go through ``output``, which every table hooks: when two clusters
whose ClusterIPs overlap share a machine, which one answers a host connection is undefined
(pods are unaffected: their traffic is matched by bridge).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

from shoal.node.procutil import run

log = logging.getLogger("shoal.node.services")

MASQUERADE_MARK = 0x4000
SYNC_DELAY_SECONDS = 0.05
PROTOCOLS = ("TCP", "UDP", "SCTP")
BACKEND_NFT = "nft"
BACKEND_IPTABLES = "iptables"


@dataclass(frozen=True)
class Backend:
    """One ready endpoint of a Service port."""

    ip: str
    port: int


@dataclass(frozen=True)
class ServiceRule:
    """Where one port of one Service forwards to."""

    service: str            # namespace/name:port-name
    protocol: str           # tcp | udp | sctp
    cluster_ip: str
    port: int
    node_port: int
    backends: tuple[Backend, ...]
    # sessionAffinity ClientIP: the endpoint is a hash of the client address, not a coin toss
    # (sticky for as long as the endpoints stay the same; no timeout).
    client_ip_affinity: bool = False


def table_name(node: str) -> str:
    return "shoal-svc-" + hashlib.sha256(node.encode()).hexdigest()[:8]


def _forwardable(svc) -> bool:
    ip = svc.spec.cluster_ip
    return bool(ip) and ip != "None" and ":" not in ip and svc.spec.type != "ExternalName"


def endpoint_backends(endpoints, port_name: str, protocol: str) -> tuple[Backend, ...]:
    """The ready addresses of ``endpoints`` serving the Service port named ``port_name``."""
    found = set()
    if endpoints is None:
        return ()
    for subset in endpoints.subsets:
        for port in subset.ports:
            if port.name == port_name and (port.protocol or "TCP") == protocol:
                found.update(Backend(addr.ip, port.port) for addr in subset.addresses if addr.ip)
    return tuple(sorted(found, key=lambda b: (tuple(int(x) for x in b.ip.split(".")) if "." in b.ip else (), b.port)))


def service_rules(services: Iterable, endpoints: dict) -> list[ServiceRule]:
    """One rule per port of every Service with a cluster IP, in a stable order. ``endpoints``:
    Endpoints objects by (namespace, name)."""
    rules = []
    for svc in sorted(services, key=lambda s: (s.metadata.namespace, s.metadata.name)):
        if not _forwardable(svc):
            continue
        key = (svc.metadata.namespace, svc.metadata.name)
        for port in svc.spec.ports:
            protocol = (port.protocol or "TCP").upper()
            if protocol not in PROTOCOLS or not port.port:
                continue
            rules.append(ServiceRule(
                service=f"{key[0]}/{key[1]}:{port.name or port.port}", protocol=protocol.lower(),
                cluster_ip=svc.spec.cluster_ip, port=port.port, node_port=port.node_port,
                backends=endpoint_backends(endpoints.get(key), port.name, protocol),
                client_ip_affinity=svc.spec.session_affinity == "ClientIP"))
    return rules


# -- nftables -------------------------------------------------------------------------------


def render_nft(table: str, bridge: str, rules: list[ServiceRule]) -> str:
    """An ``nft -f`` script that replaces ``table`` with the rules, in one transaction."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}", f"table ip {table} {{"]

    def chain(name: str, body: list[str], hook: str = "") -> None:
        lines.append(f"  chain {name} {{")
        if hook:
            lines.append(f"    {hook}")
        lines.extend(f"    {line}" for line in body)
        lines.append("  }")

    local_nodeport = "fib daddr type local ip daddr != 127.0.0.0/8 jump nodeports"
    chain("prerouting", [f'iifname "{bridge}" jump services', local_nodeport],
          "type nat hook prerouting priority dstnat; policy accept;")
    # `dstnat` names the prerouting priority only; output's is the same number.
    chain("output", ["jump services", local_nodeport], "type nat hook output priority -100; policy accept;")
    chain("postrouting", [f"meta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} masquerade"],
          "type nat hook postrouting priority srcnat; policy accept;")
    by_ip = [f"{r.cluster_ip} . {r.protocol} . {r.port} : goto svc-{i}" for i, r in enumerate(rules)]
    by_node_port = [f"{r.protocol} . {r.node_port} : goto svc-{i}" for i, r in enumerate(rules) if r.node_port]
    chain("services", [f"ip daddr . meta l4proto . th dport vmap {{ {', '.join(by_ip)} }}"] if by_ip else [])
    chain("nodeports", [f"meta l4proto . th dport vmap {{ {', '.join(by_node_port)} }}"] if by_node_port else [])
    for i, rule in enumerate(rules):
        lines.append(f"  # {rule.service}")
        if not rule.backends:
            chain(f"svc-{i}", ["reject"])
            continue
        mark = f"meta mark set meta mark | {MASQUERADE_MARK:#x}"
        if len(rule.backends) == 1:
            target = f"{rule.backends[0].ip}:{rule.backends[0].port}"
        else:
            # One rule, no chain per endpoint: the table stays small (and loads fast) at scale.
            choices = ", ".join(f"{m} : {b.ip} . {b.port}" for m, b in enumerate(rule.backends))
            pick = "jhash ip saddr" if rule.client_ip_affinity else "numgen random"
            target = f"{pick} mod {len(rule.backends)} map {{ {choices} }}"
        chain(f"svc-{i}", [mark, f"meta l4proto {rule.protocol} dnat ip to {target}"])
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- iptables (where nft is missing) --------------------------------------------------------


def iptables_chain_prefix(node: str) -> str:
    return "SHOAL-" + hashlib.sha256(node.encode()).hexdigest()[:8].upper()


def iptables_chains(prefix: str, rules: list[ServiceRule]) -> list[str]:
    """The nat chains this node's rules use (names stay under iptables' 28 characters)."""
    return [f"{prefix}-SVC", f"{prefix}-NP", f"{prefix}-POST"] + [f"{prefix}-S{i}" for i in range(len(rules))]


def render_iptables(prefix: str, rules: list[ServiceRule], stale: Iterable[str] = ()) -> str:
    """An ``iptables-restore --noflush`` input for the nat table: this node's chains, declared
    (which empties them) and refilled, in one commit; ``stale`` chains of ours no longer needed
    are emptied and deleted. The jumps from the built-in chains are added apart (iptables_jumps)."""
    chains = iptables_chains(prefix, rules)
    svc, nodeports, post = chains[:3]
    body = [f"-A {post} -m mark --mark {MASQUERADE_MARK:#x}/{MASQUERADE_MARK:#x} -j MASQUERADE"]
    for i, rule in enumerate(rules):
        s = f"{prefix}-S{i}"
        match = f"-p {rule.protocol} -m {rule.protocol}"
        body.append(f"-A {svc} -d {rule.cluster_ip}/32 {match} --dport {rule.port} -j {s}")
        if rule.node_port:
            body.append(f"-A {nodeports} {match} --dport {rule.node_port} -j {s}")
        if not rule.backends:
            continue  # the nat table may not REJECT or DROP: such a port simply goes unanswered
        body.append(f"-A {s} -j MARK --or-mark {MASQUERADE_MARK:#x}")
        n = len(rule.backends)
        for m, backend in enumerate(rule.backends):
            # iptables tries in order: endpoint m is taken with probability 1/(endpoints left).
            chance = f" -m statistic --mode random --probability {1 / (n - m):.10f}" if m < n - 1 else ""
            body.append(f"-A {s} {match}{chance} -j DNAT --to-destination {backend.ip}:{backend.port}")
    gone = [c for c in stale if c not in chains]
    lines = ["*nat"] + [f":{c} - [0:0]" for c in chains + gone] + body + [f"-X {c}" for c in gone] + ["COMMIT"]
    return "\n".join(lines) + "\n"


def iptables_jumps(prefix: str, bridge: str) -> list[tuple[str, list[str]]]:
    """(built-in chain, rule spec) jumping into this node's chains."""
    local = ["-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8"]
    return [
        ("PREROUTING", ["-i", bridge, "-j", f"{prefix}-SVC"]),
        ("PREROUTING", [*local, "-j", f"{prefix}-NP"]),
        ("OUTPUT", ["-j", f"{prefix}-SVC"]),
        ("OUTPUT", [*local, "-j", f"{prefix}-NP"]),
        ("POSTROUTING", ["-j", f"{prefix}-POST"]),
    ]


# -- the machine ----------------------------------------------------------------------------


class ProxyError(Exception):
    pass


class NftBackend:
    name = BACKEND_NFT

    def __init__(self, node: str, bridge: str) -> None:
        self.table = table_name(node)
        self.bridge = bridge

    async def apply(self, rules: list[ServiceRule]) -> None:
        script = render_nft(self.table, self.bridge, rules)
        result = await run("nft", "-f", "-", input=script.encode(), timeout=30)
        if not result.ok:
            raise ProxyError(f"nft table {self.table}: {result.error()}")

    async def remove(self) -> None:
        await run("nft", "delete", "table", "ip", self.table, timeout=30)


class IptablesBackend:
    name = BACKEND_IPTABLES

    def __init__(self, node: str, bridge: str, binary: str = "iptables") -> None:
        self.prefix = iptables_chain_prefix(node)
        self.bridge = bridge
        self.binary = binary
        self._chains: list[str] = []

    async def apply(self, rules: list[ServiceRule]) -> None:
        text = render_iptables(self.prefix, rules, stale=self._chains)
        result = await run(f"{self.binary}-restore", "--noflush", input=text.encode(), timeout=30)
        if not result.ok:
            raise ProxyError(f"{self.binary}-restore ({self.prefix}): {result.error()}")
        self._chains = iptables_chains(self.prefix, rules)
        for chain, spec in iptables_jumps(self.prefix, self.bridge):
            check = await run(self.binary, "-t", "nat", "-C", chain, *spec, timeout=30)
            if not check.ok:
                added = await run(self.binary, "-t", "nat", "-I", chain, "1", *spec, timeout=30)
                if not added.ok:
                    raise ProxyError(f"{self.binary} -t nat -I {chain}: {added.error()}")

    async def remove(self) -> None:
        """Removes the jumps and every chain of this node's prefix (also those a killed agent
        left: they are found in the table, not remembered)."""
        for chain, spec in iptables_jumps(self.prefix, self.bridge):
            await run(self.binary, "-t", "nat", "-D", chain, *spec, timeout=30)
        listed = await run(self.binary, "-t", "nat", "-S", timeout=30)
        ours = sorted({line.split()[1] for line in listed.stdout.decode(errors="replace").splitlines()
                       if line.startswith(f"-N {self.prefix}-")})
        for chain in ours:
            await run(self.binary, "-t", "nat", "-F", chain, timeout=30)
        for chain in ours:
            await run(self.binary, "-t", "nat", "-X", chain, timeout=30)
        self._chains = []


async def choose_backend(node: str, bridge: str, prefer: str = "auto"):
    """nft if it works here, else iptables (whichever of iptables-nft / -legacy answers), else
    the userspace proxy (node/userspace_proxy.py); None if not even that (no iproute2): the
    caller reports that Services are not forwarded on this node."""
    from shoal.node.userspace_proxy import BACKEND_USERSPACE, UserspaceBackend

    if prefer in ("auto", BACKEND_NFT) and shutil.which("nft"):
        if (await run("nft", "list", "tables", timeout=30)).ok:
            return NftBackend(node, bridge)
    if prefer in ("auto", BACKEND_IPTABLES):
        for binary in ("iptables", "iptables-nft", "iptables-legacy"):
            if shutil.which(binary) and shutil.which(f"{binary}-restore"):
                if (await run(binary, "-t", "nat", "-S", "OUTPUT", timeout=30)).ok:
                    return IptablesBackend(node, bridge, binary)
    if prefer in ("auto", BACKEND_USERSPACE) and shutil.which("ip"):
        if prefer == "auto":
            log.warning("node %s: neither nft nor iptables works here: Services go through the userspace proxy",
                        node)
        return UserspaceBackend(node, bridge)
    return None


class ServiceProxy:
    """Keeps the node's forwarding rules equal to what the catalog says, one load per change
    (a burst of changes within SYNC_DELAY_SECONDS is one load; an unchanged rule set none)."""

    def __init__(self, catalog, backend) -> None:
        self.catalog = catalog
        self.backend = backend
        self.applied: list[ServiceRule] | None = None
        self.loads = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="service-proxy")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.backend.remove()

    async def sync(self) -> None:
        rules = service_rules(self.catalog.services.values(), self.catalog.endpoints)
        if rules == self.applied:
            return
        await self.backend.apply(rules)
        self.applied = rules
        self.loads += 1
        log.info("service rules (%s): %d service port(s), %d endpoint(s)", self.backend.name, len(rules),
                 sum(len(r.backends) for r in rules))

    async def _loop(self) -> None:
        changed = self.catalog.subscribe()
        while True:
            await changed.wait()
            await asyncio.sleep(SYNC_DELAY_SECONDS)
            changed.clear()
            try:
                await self.sync()
            except (ProxyError, OSError) as exc:
                log.warning("service rules: %s; retrying in 1s", exc)
                await asyncio.sleep(1.0)
                changed.set()
