"""Probes: exec, tcpSocket and httpGet checks of a running container, by Kubernetes' rules.

One ContainerProber per container with probes; each probe is a loop (initialDelaySeconds, then
every periodSeconds, each try bounded by timeoutSeconds) that reports to the PodWorker only when
the outcome flips past its threshold, as a ``ProbeResult`` event:

- startup: success once -> started; failureThreshold failures -> the container is restarted.
  Liveness and readiness wait until it has succeeded.
- liveness: failureThreshold consecutive failures -> the container is restarted.
- readiness: successThreshold successes -> ready; failureThreshold failures -> not ready.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from shoal.node import lifecycle as lc

if TYPE_CHECKING:
    from shoal.node.worker import PodWorker

log = logging.getLogger("shoal.node")


def _resolve_port(port, container) -> int:
    """An IntOrString port: a number, or the name of one of the container's ports."""
    if port.WhichOneof("value") == "int_val":
        return port.int_val
    name = port.str_val
    if name.isdigit():
        return int(name)
    for p in container.ports:
        if p.name == name:
            return p.container_port
    raise ValueError(f"port {name!r} is not among the container's ports")


async def check_tcp(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, f"dial tcp {host}:{port}: {exc or 'timeout'}"
    writer.close()
    return True, ""


async def check_http(host: str, port: int, path: str, timeout: float, headers=()) -> tuple[bool, str]:
    async def go() -> tuple[bool, str]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            lines = [f"GET {path or '/'} HTTP/1.0", f"Host: {host}:{port}", "User-Agent: shoal-probe/0.1"]
            lines += [f"{h.name}: {h.value}" for h in headers]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
            status_line = (await reader.readline()).decode(errors="replace")
        finally:
            writer.close()
        parts = status_line.split()
        code = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        return 200 <= code < 400, f"HTTP probe failed with statuscode: {code}" if not 200 <= code < 400 else ""

    try:
        return await asyncio.wait_for(go(), timeout)
    except (OSError, asyncio.TimeoutError, ValueError) as exc:
        return False, f"Get http://{host}:{port}{path}: {exc or 'timeout'}"


class ContainerProber:
    def __init__(self, worker: PodWorker, container) -> None:
        self.worker = worker
        self.container = container
        self.tasks: list[asyncio.Task] = []
        self.started = asyncio.Event()
        self.probes = {kind: getattr(container, f"{kind}_probe") for kind in ("startup", "liveness", "readiness")
                       if container.HasField(f"{kind}_probe")}

    @property
    def has_probes(self) -> bool:
        return bool(self.probes)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if "startup" not in self.probes:
            self.started.set()
        for kind, probe in self.probes.items():
            self.tasks.append(loop.create_task(self._loop(kind, probe)))

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def run_once(self, probe) -> tuple[bool, str]:
        timeout = float(probe.timeout_seconds or 1)
        handler = probe.WhichOneof("handler")
        host = self.worker.machine.pod_ip or "127.0.0.1"
        try:
            if handler == "exec":
                rc, out = await self.worker.agent.runtime.exec_in(
                    self.worker.uid, self.container.name, list(probe.exec.command), timeout)
                return rc == 0, out.decode(errors="replace")[-256:]
            if handler == "tcp_socket":
                return await check_tcp(probe.tcp_socket.host or host, _resolve_port(probe.tcp_socket.port, self.container), timeout)
            if handler == "http_get":
                h = probe.http_get
                return await check_http(h.host or host, _resolve_port(h.port, self.container), h.path, timeout, h.http_headers)
        except Exception as exc:  # a probe that cannot run counts as failed
            return False, str(exc)
        return False, f"unsupported probe handler {handler}"

    async def _loop(self, kind: str, probe) -> None:
        if kind != "startup":
            await self.started.wait()
        await asyncio.sleep(probe.initial_delay_seconds)
        period = probe.period_seconds or 10
        success_threshold = probe.success_threshold or 1
        failure_threshold = probe.failure_threshold or 3
        successes = failures = 0
        reported: bool | None = None
        while True:
            ok, message = await self.run_once(probe)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            outcome = None
            if ok and successes >= (1 if kind != "readiness" else success_threshold):
                outcome = True
            elif not ok and failures >= failure_threshold:
                outcome = False
            if outcome is not None and outcome != reported:
                reported = outcome
                if kind == "startup" and outcome:
                    self.started.set()
                self.worker.handle(lc.ProbeResult(self.container.name, kind, outcome, f"probe-{kind}",
                                                  self.worker.now(), message=message))
                if kind == "startup" and outcome:
                    return
                if not outcome and kind in ("liveness", "startup"):
                    return  # the container is being restarted; a new prober comes with it
            await asyncio.sleep(period)
