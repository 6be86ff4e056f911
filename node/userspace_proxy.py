"""The last-resort Service proxy, for machines where neither nft nor iptables works: the agent
itself accepts connections to ClusterIP:port and copies bytes to a ready endpoint.

    ip route add local <clusterIP>/32 dev lo table local metric <per node>
                         makes the address the host's own, so connections from the host and
                         from pods (routed to the host through the bridge) arrive at a socket
    listener             one per ClusterIP:port (and 0.0.0.0:nodePort), SO_REUSEPORT so two
                         agents of one cluster on one machine can both listen
    per connection       a random ready endpoint, then bytes both ways until either side closes

TCP only (UDP Service ports are logged and left unforwarded). The routes carry a metric derived
from the node name, so each agent adds and removes its own even when two hold the same address.
Slower than DNAT (every byte crosses the agent), and clients see the agent, not themselves, as
the peer; it is only chosen when the kernel's NAT cannot be programmed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import socket

from shoal.node.procutil import run

log = logging.getLogger("shoal.node.services")

BACKEND_USERSPACE = "userspace"
CONNECT_TIMEOUT_SECONDS = 5.0
IP_FREEBIND = 15
COPY_CHUNK = 65536


def route_metric(node: str) -> int:
    """A metric of this node's own (local-table routes of one address may differ only by it)."""
    return 1024 + int(hashlib.sha256(node.encode()).hexdigest()[:6], 16) % 60000


def listen_addresses(rules) -> dict[tuple[str, int], object]:
    """(address, port) to listen on -> the rule behind it, for the TCP rules."""
    wanted: dict[tuple[str, int], object] = {}
    for rule in rules:
        if rule.protocol != "tcp":
            continue
        wanted[(rule.cluster_ip, rule.port)] = rule
        if rule.node_port:
            wanted[("0.0.0.0", rule.node_port)] = rule
    return wanted


def pick_backend(rule, client_ip: str):
    """A ready endpoint for one connection: at random, or by the client's address with
    sessionAffinity ClientIP. None without endpoints."""
    if not rule.backends:
        return None
    if rule.client_ip_affinity:
        digest = hashlib.sha256(client_ip.encode()).digest()
        return rule.backends[int.from_bytes(digest[:4], "big") % len(rule.backends)]
    return random.choice(rule.backends)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(COPY_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class UserspaceBackend:
    name = BACKEND_USERSPACE

    def __init__(self, node: str, bridge: str, *, local_routes: bool = True) -> None:
        self.node = node
        self.bridge = bridge
        self.local_routes = local_routes
        self.metric = route_metric(node)
        self.rules: dict[tuple[str, int], object] = {}
        self._servers: dict[tuple[str, int], asyncio.AbstractServer] = {}
        self._routes: set[str] = set()
        self._connections: set[asyncio.Task] = set()
        self._warned_udp = False

    async def apply(self, rules) -> None:
        wanted = listen_addresses(rules)
        if not self._warned_udp and any(r.protocol != "tcp" for r in rules):
            self._warned_udp = True
            log.warning("userspace service proxy: only TCP Service ports are forwarded")
        self.rules = wanted
        ips = {ip for ip, _ in wanted if ip != "0.0.0.0"}
        if self.local_routes:
            for ip in sorted(ips - self._routes):
                await self._route("add", ip)
            for ip in sorted(self._routes - ips):
                await self._route("del", ip)
        for key in list(self._servers):
            if key not in wanted:
                self._servers.pop(key).close()
        for key in wanted:
            if key not in self._servers:
                try:
                    self._servers[key] = await self._listen(*key)
                except OSError as exc:
                    log.warning("userspace service proxy: listen on %s:%d: %s", key[0], key[1], exc)

    async def _route(self, verb: str, ip: str) -> None:
        result = await run("ip", "route", verb, "local", f"{ip}/32", "dev", "lo", "table", "local", "metric",
                           str(self.metric), timeout=30)
        if verb == "add" and (result.ok or "File exists" in result.error()):
            self._routes.add(ip)
        elif verb == "del":
            self._routes.discard(ip)

    async def _listen(self, address: str, port: int) -> asyncio.AbstractServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((address, port))
        except OSError:
            sock.close()
            raise
        return await asyncio.start_server(lambda r, w: self._accepted(r, w, (address, port)), sock=sock)

    async def _accepted(self, reader, writer, key: tuple[str, int]) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            rule = self.rules.get(key)
            peer = writer.get_extra_info("peername") or ("", 0)
            backend = pick_backend(rule, peer[0]) if rule is not None else None
            if backend is None:
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(backend.ip, backend.port), CONNECT_TIMEOUT_SECONDS)
            except (TimeoutError, OSError):
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._connections.discard(task)

    async def remove(self) -> None:
        """Closes the listeners and connections and removes this node's local routes (also
        those of an earlier run: found by their metric)."""
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for task in list(self._connections):
            task.cancel()
        if not self.local_routes:
            return
        listed = await run("ip", "route", "show", "table", "local", timeout=30)
        for line in listed.stdout.decode(errors="replace").splitlines():
            words = line.split()
            metric = words[words.index("metric") + 1] if "metric" in words[:-1] else ""
            if words[:1] == ["local"] and "lo" in words and metric == str(self.metric):
                self._routes.add(words[1].split("/")[0])
        for ip in sorted(self._routes):
            await self._route("del", ip)
