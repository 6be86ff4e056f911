"""NodeProxy (control/api/node_proxy.py): which container, which node address, what an agent's
answer becomes; then the proxy against a stand-in agent endpoint on loopback."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from shoal.control.api import node_proxy
from shoal.control.api.errors import FailedPrecondition, Invalid, NotFound
from shoal.v1 import core_pb2


def make_pod(*containers: str, init: tuple[str, ...] = (), node: str = "n1", annotation: str = "") -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "web", "default"
    for name in init:
        pod.spec.init_containers.add(name=name, image="busybox")
    for name in containers:
        pod.spec.containers.add(name=name, image="busybox")
    pod.spec.node_name = node
    if annotation:
        pod.metadata.annotations[node_proxy.DEFAULT_CONTAINER_ANNOTATION] = annotation
    return pod


def make_node(port: int = 10250, address: str = "10.0.0.7") -> core_pb2.Node:
    node = core_pb2.Node()
    node.metadata.name = "n1"
    node.status.daemon_endpoints.kubelet_endpoint.port = port
    if address:
        node.status.addresses.add(type="InternalIP", address=address)
    node.status.addresses.add(type="Hostname", address="n1")
    return node


@pytest.mark.parametrize("pod, requested, expected", [
    (make_pod("main"), "", "main"),
    (make_pod("main", "sidecar"), "", "main"),
    (make_pod("main", "sidecar", annotation="sidecar"), "", "sidecar"),
    (make_pod("main", "sidecar", annotation="gone"), "", "main"),
    (make_pod("main", init=("setup",)), "setup", "setup"),
    (make_pod("main", "sidecar"), "sidecar", "sidecar"),
], ids=["only", "first", "annotated", "annotation-names-nothing", "init", "named"])
def test_choose_container(pod, requested, expected):
    assert node_proxy.choose_container(pod, requested) == expected


def test_an_unknown_container_is_invalid_and_lists_the_choices():
    with pytest.raises(Invalid, match=r'container "db" is not valid for pod "web": choose one of \[setup main\]'):
        node_proxy.choose_container(make_pod("main", init=("setup",)), "db")


def test_an_unbound_pod_is_a_failed_precondition():
    with pytest.raises(FailedPrecondition, match='pod "web" is not bound to a node yet'):
        node_proxy.require_bound(make_pod("main", node=""))


@pytest.mark.parametrize("node, local, hosts", [
    (make_node(address="10.0.0.7"), False, ("10.0.0.7",)),
    (make_node(address="10.0.0.7"), True, ("127.0.0.1", "10.0.0.7")),
    (make_node(address="127.0.0.1"), True, ("127.0.0.1",)),
], ids=["remote", "this-machine-loopback-first", "loopback"])
def test_agent_endpoint(node, local, hosts):
    endpoint = node_proxy.agent_endpoint(node, is_local=lambda _a: local)
    assert (endpoint.hosts, endpoint.port) == (hosts, 10250)


@pytest.mark.parametrize("node, message", [
    (make_node(port=0), "has no agent endpoint"),
    (make_node(address=""), "has no InternalIP address"),
], ids=["no-port", "no-address"])
def test_a_node_without_an_endpoint_is_unavailable(node, message):
    with pytest.raises(node_proxy.Unavailable, match=message):
        node_proxy.agent_endpoint(node)


def test_local_addresses():
    assert node_proxy.is_local_address("127.0.0.1")
    assert not node_proxy.is_local_address("192.0.2.1")  # TEST-NET-1: never this machine's
    assert not node_proxy.is_local_address("not an address")


def _with_status(pod, *, state: str = "waiting", restarts: int = 0, reason: str = "ContainerCreating"):
    cs = pod.status.container_statuses.add(name="main", restart_count=restarts)
    if state == "waiting":
        cs.state.waiting.reason = reason
    elif state == "running":
        cs.state.running.SetInParent()
    return pod


@pytest.mark.parametrize("pod, previous, error", [
    (make_pod("main"), False, None),  # no status yet: the agent decides
    (_with_status(make_pod("main"), state="running"), False, None),
    (_with_status(make_pod("main")), False, 'container "main" in pod "web" is waiting to start: ContainerCreating'),
    (_with_status(make_pod("main"), reason="ImagePullBackOff"), False, "waiting to start: ImagePullBackOff"),
    (_with_status(make_pod("main"), reason="CrashLoopBackOff", restarts=2), False, None),
    (_with_status(make_pod("main"), state="running"), True, 'previous terminated container "main" in pod "web" not found'),
    (_with_status(make_pod("main"), state="running", restarts=1), True, None),
], ids=["no-status", "running", "creating", "pull-back-off", "crash-loop-has-logs", "no-previous", "previous"])
def test_check_logs_available(pod, previous, error):
    if error is None:
        node_proxy.check_logs_available(pod, "main", previous)
    else:
        with pytest.raises(FailedPrecondition, match=error):
            node_proxy.check_logs_available(pod, "main", previous)


def test_exec_needs_a_command_and_a_pod_still_running():
    with pytest.raises(Invalid):
        node_proxy.check_exec_possible(make_pod("main"), [])
    done = make_pod("main")
    done.status.phase = "Succeeded"
    with pytest.raises(FailedPrecondition, match="completed pod; current phase is Succeeded"):
        node_proxy.check_exec_possible(done, ["true"])


@pytest.mark.parametrize("status, body, code", [
    (404, b'{"error": "pods \\"web\\" not found on node n1"}', grpc.StatusCode.NOT_FOUND),
    (400, b'{"error": "container main is not running"}', grpc.StatusCode.FAILED_PRECONDITION),
    (500, b'{"error": "boom"}', grpc.StatusCode.UNAVAILABLE),
    (502, b"<html>bad gateway</html>", grpc.StatusCode.UNAVAILABLE),
], ids=["404", "400", "500", "not-json"])
def test_agent_error_codes(status, body, code):
    endpoint = node_proxy.AgentEndpoint("n1", ("10.0.0.7",), 10250)
    error = node_proxy.agent_error(endpoint, status, body)
    assert error.code == code and "\n" not in error.message


def test_paths_quote_their_parts():
    assert node_proxy.logs_path("default", "web", "main", follow=True, previous=False, tail_lines=5) == \
        "/containerLogs/default/web/main?follow=true&previous=false&tailLines=5"
    assert node_proxy.exec_path("default", "web", "main", ["sh", "-c", "echo a&b"]) == \
        "/exec/default/web/main?command=sh&command=-c&command=echo+a%26b&split=true"


# -- against a stand-in agent --------------------------------------------------------------------


class FakeAPI:
    def __init__(self, pod, node) -> None:
        self.objects = {("Pod", pod.metadata.name): pod, ("Node", node.metadata.name): node}

    async def get(self, kind, namespace, name):
        try:
            return self.objects[(kind, name)]
        except KeyError:
            raise NotFound(f'{kind.lower()}s "{name}" not found') from None


async def _stand_in_agent(answers: dict[str, tuple[int, bytes]], seen: list):
    async def serve(reader, writer):
        request = (await reader.readline()).decode().split()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length) if length else b""
        seen.append((request[0], request[1], body))
        status, payload = answers[request[1].split("?")[0].split("/")[1]]
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def test_the_proxy_streams_logs_and_carries_exec_with_stdin():
    async def scenario():
        seen: list = []
        exec_answer = json.dumps({"exitCode": 3, "output": "outerr", "stdoutBase64": "b3V0",
                                  "stderrBase64": "ZXJy"}).encode()
        server = await _stand_in_agent({"containerLogs": (200, b"line 1\nline 2\n"), "exec": (200, exec_answer)}, seen)
        port = server.sockets[0].getsockname()[1]
        proxy = node_proxy.NodeProxy(FakeAPI(make_pod("main"), make_node(port=port, address="127.0.0.1")))
        logs = b"".join([chunk async for chunk in proxy.logs("default", "web", tail_lines=2)])
        result = await proxy.exec("default", "web", "", ["cat"], b"input")
        server.close()
        return logs, result, seen

    logs, result, seen = asyncio.run(scenario())
    assert logs == b"line 1\nline 2\n"
    assert result == node_proxy.ExecResult(3, b"out", b"err")
    assert seen == [("GET", "/containerLogs/default/web/main?follow=false&previous=false&tailLines=2", b""),
                    ("POST", "/exec/default/web/main?command=cat&split=true", b"input")]


def test_the_agents_404_becomes_not_found_and_a_dead_agent_unavailable():
    async def scenario():
        server = await _stand_in_agent({"containerLogs": (404, b'{"error": "pods \\"web\\" not found on node n1"}')}, [])
        port = server.sockets[0].getsockname()[1]
        proxy = node_proxy.NodeProxy(FakeAPI(make_pod("main"), make_node(port=port, address="127.0.0.1")))
        with pytest.raises(NotFound, match='pods "web" not found on node n1'):
            _ = [c async for c in proxy.logs("default", "web")]
        server.close()
        await server.wait_closed()
        with pytest.raises(node_proxy.Unavailable, match=r'node "n1" \(127.0.0.1:\d+\) does not answer'):
            _ = [c async for c in proxy.logs("default", "web")]

    asyncio.run(scenario())
