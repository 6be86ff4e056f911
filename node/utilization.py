"""UtilizationReporter: the agent process's one long-lived ReportUtilization stream.

Every ``interval`` seconds (``--stats-interval``, default 10) it sends the cpu and memory of each
node the process runs, of its pods and of their containers; hollow nodes share the one stream
(in requests of at most ``chunk`` nodes). The server keeps the newest sample of each node
(control/api/utilization.py) for `shoal top` and the HorizontalPodAutoscaler. When the stream
breaks (the server restarts), it opens a new one after a back-off of 0.5 s doubling to 30 s.

    runtime.usage() per container (runc/crun: cgroups; process: /proc; sim: synthetic)
    HostUsage: the machine's /proc/stat and /proc/meminfo (hollow nodes: their pods plus a
               synthetic system share)
        -> NodeUtilization per node -> ReportUtilizationRequest -> NodeService.ReportUtilization
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Sequence

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.node.agent import NodeAgent
from shoal.proto.client import APIStatusError
from shoal.v1 import node_service_pb2 as nsvc

log = logging.getLogger("shoal.node")

DEFAULT_INTERVAL_SECONDS = 10.0
CHUNK_NODES = 500
RECONNECT_BACKOFF = (0.5, 30.0)
# What a hollow node's system (its "kubelet", "kernel") uses besides its pods.
SIM_SYSTEM_CPU_MILLIS = 50
SIM_SYSTEM_MEMORY_BYTES = 256 * 1024 * 1024
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_busy_ticks(stat_text: str) -> int:
    """Ticks all cpus spent busy (not idle, not waiting for I/O), from /proc/stat's "cpu" line;
    guest time is already inside user time and is not counted twice."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            ticks = [int(v) for v in line.split()[1:9]]
            ticks += [0] * (8 - len(ticks))
            return sum(ticks) - ticks[3] - ticks[4]
    return 0


def memory_in_use_bytes(meminfo_text: str) -> int:
    """MemTotal minus MemAvailable, from /proc/meminfo."""
    values = {}
    for line in meminfo_text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * 1024
    return max(0, values.get("MemTotal", 0) - values.get("MemAvailable", values.get("MemFree", 0)))


class HostUsage:
    """The machine's cpu (millicores, averaged since the previous call) and memory in use."""

    def __init__(self, proc: str = "/proc", clock=time.monotonic) -> None:
        self.proc = proc
        self.clock = clock
        self._last: tuple[float, int] | None = None

    def sample(self) -> tuple[int, int]:
        now, busy = self.clock(), cpu_busy_ticks(_read(os.path.join(self.proc, "stat")))
        cpu_millis = 0
        if self._last is not None and now > self._last[0]:
            cpu_millis = int((busy - self._last[1]) * 1000 / _CLOCK_TICKS / (now - self._last[0]))
        self._last = (now, busy)
        return max(0, cpu_millis), memory_in_use_bytes(_read(os.path.join(self.proc, "meminfo")))


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(max(0.0, seconds) * 1e9))
    return d


def node_utilization(agent: NodeAgent, host: HostUsage | None, now: float, window: float) -> nsvc.NodeUtilization:
    """One sample of one node: its pods' containers from the runtime, the node from ``host``
    (None: a hollow node, whose pods plus a system share make its total)."""
    msg = nsvc.NodeUtilization(node_name=agent.name, timestamp=_timestamp(now), window=_duration(window))
    views = {uid: worker.machine.pod for uid, worker in agent.workers.items()}
    pods: dict[str, nsvc.PodUtilization] = {}
    total_cpu = total_memory = 0
    for usage in agent.runtime.usage():
        view = views.get(usage.pod_uid)
        if view is None:
            continue  # an orphan being cleaned up: not a pod of the API any more
        pod = pods.get(usage.pod_uid)
        if pod is None:
            pod = pods[usage.pod_uid] = msg.pods.add(namespace=view.namespace, name=view.name, uid=usage.pod_uid)
        cpu_millis = usage.cpu_usage_nanocores // 1_000_000
        pod.containers.add(name=usage.container, cpu_millis=cpu_millis, memory_bytes=usage.memory_working_set_bytes)
        total_cpu += cpu_millis
        total_memory += usage.memory_working_set_bytes
    if host is not None:
        msg.cpu_millis, msg.memory_bytes = host.sample()
    else:
        msg.cpu_millis = total_cpu + SIM_SYSTEM_CPU_MILLIS
        msg.memory_bytes = total_memory + SIM_SYSTEM_MEMORY_BYTES
    return msg


class UtilizationReporter:
    def __init__(self, api, agents: Sequence[NodeAgent], *, interval: float = DEFAULT_INTERVAL_SECONDS,
                 chunk: int = CHUNK_NODES, clock=time.time) -> None:
        self.api = api
        self.agents = list(agents)
        self.interval = interval
        self.chunk = chunk
        self.clock = clock
        # The machine's own usage, for the nodes whose runtime runs real processes.
        self.hosts = {a.name: HostUsage() for a in self.agents if a.runtime.name != "sim"}
        self._last_report = 0.0
        self.samples_sent = 0
        self.streams_opened = 0

    def report(self) -> list[nsvc.ReportUtilizationRequest]:
        """The requests carrying one sample of every node."""
        now = self.clock()
        window = now - self._last_report if self._last_report else self.interval
        self._last_report = now
        samples = [node_utilization(a, self.hosts.get(a.name), now, window) for a in self.agents]
        return [nsvc.ReportUtilizationRequest(nodes=samples[i:i + self.chunk])
                for i in range(0, len(samples), self.chunk)]

    def prime(self) -> None:
        """Takes a first reading of the cumulative cpu counters, so the first report has rates."""
        self._last_report = self.clock()
        for agent in self.agents:
            agent.runtime.usage()
        for host in self.hosts.values():
            host.sample()

    async def _requests(self) -> AsyncIterator[nsvc.ReportUtilizationRequest]:
        while True:
            await asyncio.sleep(self.interval)
            for request in self.report():
                yield request
                self.samples_sent += len(request.nodes)

    async def run(self) -> None:
        """Reports until cancelled, reopening the stream whenever it ends."""
        self.prime()
        failures = 0
        while True:
            self.streams_opened += 1
            sent_before = self.samples_sent
            try:
                await self.api.report_utilization(self._requests())
                problem = "the server closed the stream"
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                problem = str(exc)
            failures = 0 if self.samples_sent > sent_before else failures + 1
            delay = min(RECONNECT_BACKOFF[1], RECONNECT_BACKOFF[0] * 2 ** failures) * random.uniform(0.8, 1.2)
            log.warning("utilization stream: %s; reconnecting in %.1fs", problem, delay)
            await asyncio.sleep(delay)
