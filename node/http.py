"""The agent's HTTP endpoint: container logs, exec, utilization and each pod's lifecycle story.

The port is published in the Node's status.daemonEndpoints.kubeletEndpoint.Port (as the
kubelet's is), so the control plane proxies `shoal logs` / `shoal exec` to it the way the
kube-apiserver proxies to the kubelet (control/api/node_proxy.py). It listens on loopback by
default: it has no authentication yet.

    GET  /healthz
    GET  /containerLogs/{namespace}/{pod}/{container}?tailLines=N&previous=true&follow=true
    POST /exec/{namespace}/{pod}/{container}?command=ls&command=-l     -> {"exitCode": 0, "output": "..."}
         body: the command's stdin; with &split=true            -> {"exitCode": 0, "stdoutBase64": "...",
                                                                   "stderrBase64": "..."}
    GET  /stats/summary                                                -> per-container cpu and memory
    GET  /pods                                                         -> each pod's state and story
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.node.agent import NodeAgent

log = logging.getLogger("shoal.node")
FOLLOW_POLL_SECONDS = 0.2
MAX_EXEC_SECONDS = 60.0
MAX_BODY_BYTES = 16 * 1024 * 1024  # an exec's stdin


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


class AgentHTTP:
    def __init__(self, agent: NodeAgent, *, host: str = "127.0.0.1", port: int = 10250) -> None:
        self.agent = agent
        self.host = host
        self.port = port
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("agent HTTP endpoint on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # -- plumbing --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode(errors="replace").split()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                key, _, value = line.decode(errors="replace").partition(":")
                if key.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if len(request_line) < 2:
                return
            if length > MAX_BODY_BYTES:
                raise HTTPError(400, f"request body over {MAX_BODY_BYTES} bytes")
            body = await reader.readexactly(length) if length else b""
            method, target = request_line[0], request_line[1]
            url = urllib.parse.urlsplit(target)
            query = urllib.parse.parse_qs(url.query)
            parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
            await self._route(method, parts, query, writer, body)
        except HTTPError as exc:
            await self._send(writer, exc.status, {"error": str(exc)})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # never take the agent down over one request
            log.exception("agent HTTP")
            await self._send(writer, 500, {"error": str(exc)})
        finally:
            writer.close()

    async def _send(self, writer, status: int, body, content_type: str = "application/json") -> None:
        data = json.dumps(body, indent=1).encode() if not isinstance(body, bytes) else body
        head = (f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode() + data)
        await writer.drain()

    async def _route(self, method: str, parts: list[str], query: dict, writer, body: bytes = b"") -> None:
        if parts == ["healthz"]:
            await self._send(writer, 200, b"ok", "text/plain")
        elif parts[0] == "containerLogs" and len(parts) == 4:
            await self._logs(parts[1], parts[2], parts[3], query, writer)
        elif parts[0] == "exec" and len(parts) == 4:
            if method != "POST":
                raise HTTPError(405, "exec takes POST")
            await self._exec(parts[1], parts[2], parts[3], query, writer, body)
        elif parts == ["stats", "summary"]:
            await self._send(writer, 200, self.summary())
        elif parts == ["pods"]:
            await self._send(writer, 200, self.pods())
        else:
            raise HTTPError(404, f"no such endpoint: /{'/'.join(parts)}")

    # -- endpoints -------------------------------------------------------------------------

    def _worker(self, namespace: str, name: str):
        for worker in self.agent.workers.values():
            view = worker.machine.pod
            if view.namespace == namespace and view.name == name:
                return worker
        raise HTTPError(404, f'pods "{name}" not found on node {self.agent.name}')

    def _log_file(self, namespace: str, pod: str, container: str, previous: bool) -> str:
        worker = self._worker(namespace, pod)
        rec = worker.machine.containers.get(container)
        if rec is None:
            raise HTTPError(400, f"container {container} is not valid for pod {pod}")
        attempt = rec.restart_count - (1 if previous else 0)
        if attempt < 0:
            raise HTTPError(400, f'previous terminated container "{container}" in pod "{pod}" not found')
        path = self.agent.runtime.log_path(worker.uid, container, attempt)
        if path is None:
            raise HTTPError(400, f"the {self.agent.runtime.name} runtime keeps no logs")
        return path

    async def _logs(self, namespace: str, pod: str, container: str, query: dict, writer) -> None:
        previous = query.get("previous", ["false"])[0] == "true"
        follow = query.get("follow", ["false"])[0] == "true"
        tail = int(query.get("tailLines", ["-1"])[0])
        path = self._log_file(namespace, pod, container, previous)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        offset = len(data)  # following goes on from exactly what was read
        if tail >= 0:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail else b""
        if not follow:
            await self._send(writer, 200, data, "text/plain")
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + data)
        await writer.drain()
        worker = self._worker(namespace, pod)
        while True:
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            # Decided before the read, so what the container wrote before it ended is sent.
            rec = worker.machine.containers.get(container)
            ended = worker.forgotten or rec is None or rec.phase == "exited"
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except FileNotFoundError:
                break
            if chunk:
                offset += len(chunk)
                writer.write(chunk)
                await writer.drain()
            if ended:
                break

    async def _exec(self, namespace: str, pod: str, container: str, query: dict, writer, stdin: bytes) -> None:
        """The request body is the command's stdin. "output" is stdout and stderr together, as
        text; with split=true, stdout and stderr come apart and exact, in base64, instead."""
        command = query.get("command", [])
        if not command:
            raise HTTPError(400, "exec needs at least one command= parameter")
        worker = self._worker(namespace, pod)
        timeout = min(float(query.get("timeout", [str(MAX_EXEC_SECONDS)])[0]), MAX_EXEC_SECONDS)
        try:
            code, out, err = await self.agent.runtime.exec_streams(worker.uid, container, command, timeout, stdin)
        except Exception as exc:
            raise HTTPError(400, str(exc)) from None
        if query.get("split", ["false"])[0] == "true":
            answer = {"exitCode": code, "stdoutBase64": base64.b64encode(out).decode(),
                      "stderrBase64": base64.b64encode(err).decode()}
        else:
            answer = {"exitCode": code, "output": (out + err).decode(errors="replace")}
        await self._send(writer, 200, answer)

    def summary(self) -> dict:
        pods: dict[str, dict] = {}
        names = {w.uid: w.machine.pod for w in self.agent.workers.values()}
        for usage in self.agent.runtime.usage():
            view = names.get(usage.pod_uid)
            key = f"{view.namespace}/{view.name}" if view else usage.pod_uid
            pod = pods.setdefault(key, {"uid": usage.pod_uid, "containers": []})
            pod["containers"].append({"name": usage.container, "cpu": {"usageNanoCores": usage.cpu_usage_nanocores},
                                      "memory": {"workingSetBytes": usage.memory_working_set_bytes}})
        return {"node": {"nodeName": self.agent.name}, "pods": pods}

    def pods(self) -> list[dict]:
        out = []
        for worker in self.agent.workers.values():
            m = worker.machine
            out.append({
                "namespace": m.pod.namespace, "name": m.pod.name, "uid": m.pod.uid, "state": m.state,
                "phase": m.phase(), "podIP": m.pod_ip,
                "containers": {n: {"phase": r.phase, "restartCount": r.restart_count, "waiting": r.waiting_reason}
                               for n, r in m.containers.items()},
                "story": [{"stimulus": s, "what": w, "detail": d, "at": t} for s, w, d, t in m.story()],
            })
        return out
