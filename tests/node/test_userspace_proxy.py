"""The userspace Service proxy (the fallback when neither nft nor iptables works): connections to
a Service address reach its endpoints, spread; no endpoints closes at once; removal stops it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess

import pytest
from shoal.node.service_proxy import Backend, ServiceRule
from shoal.node.userspace_proxy import UserspaceBackend, listen_addresses, pick_backend, route_metric


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def endpoint(name: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def serve(reader, writer):
        data = await reader.read(100)
        writer.write(name + b":" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def request(address: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(b"hi")
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def test_listen_addresses_take_tcp_ports_and_node_ports():
    rules = [ServiceRule("a", "tcp", "10.43.0.2", 80, 30080, (Backend("10.244.0.2", 8080),)),
             ServiceRule("b", "udp", "10.43.0.3", 53, 0, ())]
    assert listen_addresses(rules) == {("10.43.0.2", 80): rules[0], ("0.0.0.0", 30080): rules[0]}


def test_client_ip_affinity_keeps_a_client_on_one_endpoint():
    backends = tuple(Backend(f"10.244.0.{i}", 80) for i in range(2, 6))
    sticky = ServiceRule("a", "tcp", "10.43.0.2", 80, 0, backends, client_ip_affinity=True)
    spread = ServiceRule("a", "tcp", "10.43.0.2", 80, 0, backends)
    assert len({pick_backend(sticky, "10.244.1.7") for _ in range(50)}) == 1
    assert len({pick_backend(sticky, f"10.244.1.{i}") for i in range(50)}) > 1
    assert len({pick_backend(spread, "10.244.1.7") for _ in range(50)}) > 1
    assert pick_backend(ServiceRule("a", "tcp", "10.43.0.2", 80, 0, ()), "10.244.1.7") is None


def test_route_metrics_are_per_node():
    assert route_metric("a") != route_metric("b") and route_metric("a") == route_metric("a")


def test_connections_are_spread_over_the_endpoints_and_follow_changes():
    async def scenario():
        (one, p1), (two, p2) = await endpoint(b"one"), await endpoint(b"two")
        port = free_port()
        proxy = UserspaceBackend("n", "br", local_routes=False)
        both = (Backend("127.0.0.1", p1), Backend("127.0.0.1", p2))
        await proxy.apply([ServiceRule("s", "tcp", "127.0.0.1", port, 0, both)])
        answers = {await request("127.0.0.1", port) for _ in range(30)}
        await proxy.apply([ServiceRule("s", "tcp", "127.0.0.1", port, 0, ())])
        try:  # closed at once: the unread request may turn the close into a reset
            empty = await request("127.0.0.1", port)
        except ConnectionResetError:
            empty = b""
        await proxy.remove()
        await asyncio.sleep(0.05)
        try:
            await request("127.0.0.1", port)
            refused = False
        except OSError:
            refused = True
        one.close()
        two.close()
        return answers, empty, refused

    answers, empty, refused = asyncio.run(scenario())
    assert answers == {b"one:hi", b"two:hi"}
    assert empty == b""
    assert refused


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")
def test_a_local_route_makes_the_service_address_reachable_and_goes_with_removal():
    address = "192.0.2.241"  # TEST-NET: nothing else answers there

    def routed() -> bool:
        out = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True).stdout
        return any(line.split()[1:2] == [address] for line in out.splitlines())

    async def scenario():
        server, p1 = await endpoint(b"one")
        port = free_port()
        proxy = UserspaceBackend("userspace-test", "br")
        try:
            await proxy.apply([ServiceRule("s", "tcp", address, port, 0, (Backend("127.0.0.1", p1),))])
            answer = await request(address, port)
            during = routed()
        finally:
            await proxy.remove()
            server.close()
        return answer, during

    answer, during = asyncio.run(scenario())
    assert answer == b"one:hi" and during
    assert not routed()
