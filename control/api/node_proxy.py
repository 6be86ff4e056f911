"""NodeProxy: a pod's logs and exec, carried to the agent that runs the pod.

As the kube-apiserver proxies pods/log and pods/exec to the kubelet:

    Logs / Exec (namespace, pod, container)
      -> the Pod: bound? which container?          (NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT)
      -> its Node: InternalIP, daemonEndpoints.kubeletEndpoint.Port                    (UNAVAILABLE)
      -> the agent's HTTP endpoint (node/http.py): GET /containerLogs/..., POST /exec/...
      -> its answer, streamed back; its 4xx become status codes

An agent on the server's own machine listens on loopback by default (its endpoint has no
authentication yet), so a node whose InternalIP is one of this machine's addresses is tried at
127.0.0.1 first.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import json
import socket
import urllib.parse
from dataclasses import dataclass
from collections.abc import AsyncIterator

from shoal.control.api.errors import APIError, FailedPrecondition, Invalid, NotFound, Unavailable

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CONNECT_TIMEOUT_SECONDS = 5.0
# The agent ends an exec after 60 s; its answer must come a little after that.
EXEC_REPLY_TIMEOUT_SECONDS = 75.0
CHUNK_BYTES = 64 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    node: str
    # Addresses to try, in order (loopback first for a node on this machine).
    hosts: tuple[str, ...]
    port: int

    def describe(self) -> str:
        return f'node "{self.node}" ({self.hosts[-1]}:{self.port})'


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


# -- the pod and its node: pure -------------------------------------------------------------------


def container_names(pod) -> list[str]:
    return [c.name for c in pod.spec.init_containers] + [c.name for c in pod.spec.containers]


def choose_container(pod, requested: str) -> str:
    """The container a request means: the one named, else the pod's default container (its
    kubectl.kubernetes.io/default-container annotation, else its first container)."""
    names = container_names(pod)
    meta = pod.metadata
    if requested:
        if requested not in names:
            raise Invalid(f'container "{requested}" is not valid for pod "{meta.name}": choose one of '
                          f"[{' '.join(names)}]")
        return requested
    annotated = meta.annotations.get(DEFAULT_CONTAINER_ANNOTATION, "")
    if annotated in names:
        return annotated
    if not pod.spec.containers:
        raise Invalid(f'pod "{meta.name}" has no containers')
    return pod.spec.containers[0].name


def require_bound(pod) -> str:
    if not pod.spec.node_name:
        raise FailedPrecondition(f'pod "{pod.metadata.name}" is not bound to a node yet '
                                 f"(phase {pod.status.phase or 'Pending'})")
    return pod.spec.node_name


def _status_of(pod, container: str):
    for status in (*pod.status.init_container_statuses, *pod.status.container_statuses):
        if status.name == container:
            return status
    return None


def check_logs_available(pod, container: str, previous: bool) -> None:
    """FAILED_PRECONDITION when the pod's status says there is nothing to read yet, with
    Kubernetes' wording. The agent is the judge when the status says nothing."""
    status = _status_of(pod, container)
    name = pod.metadata.name
    if previous:
        if status is not None and status.restart_count == 0 and not status.last_state.HasField("terminated"):
            raise FailedPrecondition(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if status is None or status.restart_count or status.last_state.HasField("terminated"):
        return
    if status.state.WhichOneof("state") in (None, "waiting"):
        reason = status.state.waiting.reason or "ContainerCreating"
        raise FailedPrecondition(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def check_exec_possible(pod, command: list[str]) -> None:
    if not command:
        raise Invalid("exec needs a command: give at least one word")
    if pod.status.phase in TERMINAL_PHASES:
        raise FailedPrecondition(f"cannot exec into a container in a completed pod; current phase is "
                                 f"{pod.status.phase}")


@functools.lru_cache(maxsize=256)
def is_local_address(address: str) -> bool:
    """Is ``address`` one of this machine's own (can a socket bind to it)?"""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))
        return True
    except (OSError, ValueError):
        return False


def agent_endpoint(node, is_local=is_local_address) -> AgentEndpoint:
    """Where the node's agent answers; UNAVAILABLE if the Node does not say."""
    name = node.metadata.name
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    if not port:
        raise Unavailable(f'node "{name}" has no agent endpoint (daemonEndpoints.kubeletEndpoint.Port is unset; '
                          f"hollow nodes have none)")
    address = next((a.address for a in node.status.addresses if a.type == "InternalIP"), "")
    if not address:
        raise Unavailable(f'node "{name}" has no InternalIP address')
    hosts = ("127.0.0.1", address) if is_local(address) and address != "127.0.0.1" else (address,)
    return AgentEndpoint(name, hosts, port)


def logs_path(namespace: str, pod: str, container: str, *, follow: bool, previous: bool,
              tail_lines: int | None) -> str:
    query = {"follow": "true" if follow else "false", "previous": "true" if previous else "false"}
    if tail_lines is not None:
        query["tailLines"] = str(max(0, tail_lines))
    return f"/containerLogs/{_quote(namespace)}/{_quote(pod)}/{_quote(container)}?{urllib.parse.urlencode(query)}"


def exec_path(namespace: str, pod: str, container: str, command: list[str]) -> str:
    query = urllib.parse.urlencode([("command", word) for word in command] + [("split", "true")])
    return f"/exec/{_quote(namespace)}/{_quote(pod)}/{_quote(container)}?{query}"


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def agent_error(endpoint: AgentEndpoint, status: int, body: bytes) -> APIError:
    """The status code an agent's error answer becomes."""
    try:
        message = str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        message = body.decode(errors="replace").strip()
    message = " ".join(message.split()) or f"HTTP {status}"
    if status == 404:
        return NotFound(message)
    if status == 400:
        return FailedPrecondition(message)
    return Unavailable(f"{endpoint.describe()} failed: {message}")


# -- the proxy ------------------------------------------------------------------------------------


class NodeProxy:
    def __init__(self, api, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS, is_local=is_local_address) -> None:
        self.api = api
        self.connect_timeout = connect_timeout
        self.is_local = is_local

    async def _target(self, namespace: str, name: str, container: str):
        """(pod, container name, agent endpoint), or the error that stops the request."""
        pod = await self.api.get("Pod", namespace, name)
        container = choose_container(pod, container)
        node_name = require_bound(pod)
        try:
            node = await self.api.get("Node", "", node_name)
        except NotFound:
            raise Unavailable(f'node "{node_name}" of pod "{name}" does not exist') from None
        return pod, container, agent_endpoint(node, self.is_local)

    async def logs(self, namespace: str, name: str, container: str = "", *, follow: bool = False,
                   previous: bool = False, tail_lines: int | None = None) -> AsyncIterator[bytes]:
        """The container's log, chunk by chunk, as the agent sends it."""
        pod, container, endpoint = await self._target(namespace, name, container)
        check_logs_available(pod, container, previous)
        path = logs_path(namespace, name, container, follow=follow, previous=previous, tail_lines=tail_lines)
        reader, writer = await self._request(endpoint, "GET", path)
        try:
            await self._read_head(endpoint, reader, None if follow else EXEC_REPLY_TIMEOUT_SECONDS)
            while True:
                try:
                    chunk = await reader.read(CHUNK_BYTES)
                except OSError as exc:
                    raise Unavailable(f"{endpoint.describe()} broke off the log: {exc.strerror or exc}") from None
                if not chunk:
                    return
                yield chunk
        finally:
            writer.close()

    async def exec(self, namespace: str, name: str, container: str, command: list[str],
                   stdin: bytes = b"") -> ExecResult:
        pod, container, endpoint = await self._target(namespace, name, container)
        check_exec_possible(pod, command)
        reader, writer = await self._request(endpoint, "POST", exec_path(namespace, name, container, command), stdin)
        try:
            await self._read_head(endpoint, reader, EXEC_REPLY_TIMEOUT_SECONDS)
            body = await asyncio.wait_for(reader.read(), EXEC_REPLY_TIMEOUT_SECONDS)
        except (TimeoutError, OSError) as exc:
            raise Unavailable(f"{endpoint.describe()} did not finish the exec: {type(exc).__name__}") from None
        finally:
            writer.close()
        try:
            doc = json.loads(body)
            if "stdoutBase64" in doc:
                return ExecResult(int(doc["exitCode"]), base64.b64decode(doc["stdoutBase64"]),
                                  base64.b64decode(doc.get("stderrBase64", "")))
            return ExecResult(int(doc["exitCode"]), str(doc.get("output", "")).encode(), b"")
        except (ValueError, KeyError, TypeError):
            raise Unavailable(f"{endpoint.describe()} sent an exec answer that does not parse") from None

    # -- HTTP/1.1 to the agent, one request per connection -----------------------------------

    async def _request(self, endpoint: AgentEndpoint, method: str, path: str, body: bytes = b""):
        last: OSError | asyncio.TimeoutError | None = None
        for host in endpoint.hosts:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, endpoint.port),
                                                        self.connect_timeout)
            except (TimeoutError, OSError) as exc:
                last = exc
                continue
            head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{endpoint.port}\r\nContent-Length: {len(body)}\r\n"
                    f"Connection: close\r\n\r\n")
            writer.write(head.encode() + body)
            try:
                await writer.drain()
            except OSError as exc:
                writer.close()
                last = exc
                continue
            return reader, writer
        detail = "timed out" if isinstance(last, asyncio.TimeoutError) else (getattr(last, "strerror", None) or last)
        raise Unavailable(f"{endpoint.describe()} does not answer: {detail}")

    async def _read_head(self, endpoint: AgentEndpoint, reader: asyncio.StreamReader, timeout: float | None) -> None:
        """Reads the status line and headers; raises the mapped error for a non-200 answer."""
        try:
            status_line = await asyncio.wait_for(reader.readline(), timeout)
            length = -1
            while (line := await asyncio.wait_for(reader.readline(), timeout)) not in (b"\r\n", b"\n", b""):
                key, _, value = line.decode(errors="replace").partition(":")
                if key.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            parts = status_line.split()
            status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
            if status == 200:
                return
            cap = MAX_ERROR_BODY_BYTES if length < 0 else min(length, MAX_ERROR_BODY_BYTES)
            body = await asyncio.wait_for(reader.read(cap), timeout)
        except (TimeoutError, OSError) as exc:
            raise Unavailable(f"{endpoint.describe()} did not answer: {type(exc).__name__}") from None
        if status == 0:
            raise Unavailable(f"{endpoint.describe()} answered something that is not HTTP")
        raise agent_error(endpoint, status, body)
