"""Fleet: the loops an agent process runs for all its nodes, over one gRPC channel.

- one pod watch (list, then watch from the list's resourceVersion; re-list on any break), its
  events handed to the NodeAgent named by the pod's spec.nodeName;
- lease renewals, spread evenly over the renewal interval so N nodes cost N/interval writes a
  second with no bursts;
- node status heartbeats (and prompt writes when a node's status changed, e.g. new images).

A real agent is a fleet of one (its watch selects spec.nodeName=NAME); a hollow process is a
fleet of thousands.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import logging
import random
import time
from typing import Awaitable, Callable, Sequence

from shoal.node.agent import LEASE_NAMESPACE, NodeAgent
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import core_pb2

log = logging.getLogger("shoal.node")

DEFAULT_POD_CIDR_POOL = "10.244.0.0/16"
RELIST_BACKOFF = (0.2, 5.0)
BULK_CHUNK = 500


def host_routes() -> list[ipaddress.IPv4Network]:
    """The machine's IPv4 routes but the default one (a pod CIDR must not overlap them)."""
    nets = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                fields = line.split()
                dest, mask = int(fields[1], 16), int(fields[7], 16)
                if mask:
                    addr = ipaddress.IPv4Address(dest.to_bytes(4, "little"))
                    prefix = bin(mask).count("1")
                    nets.append(ipaddress.IPv4Network(f"{addr}/{prefix}", strict=False))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return nets


def allocate_pod_cidrs(agents: Sequence[NodeAgent], nodes: list[core_pb2.Node], pool: str = DEFAULT_POD_CIDR_POOL,
                       routes: Sequence[ipaddress.IPv4Network] = ()) -> None:
    """Gives each agent without a pod CIDR its Node's existing one, else the first /24 of ``pool``
    no other node has and no route of the machine overlaps (another cluster's bridge, say)."""
    existing = {n.metadata.name: n.spec.pod_cidr for n in nodes if n.spec.pod_cidr}
    used = set(existing.values()) | {a.config.pod_cidr for a in agents if a.config.pod_cidr}
    free = (str(net) for net in ipaddress.ip_network(pool).subnets(new_prefix=24)
            if str(net) not in used and not any(net.overlaps(r) for r in routes))
    for agent in agents:
        if agent.config.pod_cidr:
            continue
        agent.config.pod_cidr = existing.get(agent.name) or next(free)


class Periodic:
    """Calls ``action(agent)`` for every agent once per ``interval``, the calls spread evenly over
    the interval, at most ``concurrency`` in flight. A failed call is retried after ``retry``."""

    def __init__(self, agents: Sequence[NodeAgent], interval: float, action: Callable[[NodeAgent], Awaitable[None]],
                 *, concurrency: int = 64, retry: float = 1.0, what: str = "") -> None:
        self.agents = agents
        self.interval = interval
        self.action = action
        self.retry = retry
        self.what = what
        self._sem = asyncio.Semaphore(concurrency)
        self.failures = 0

    async def run(self) -> None:
        now = time.monotonic()
        n = max(1, len(self.agents))
        self._heap = [(now + self.interval * (i + 1) / n, i) for i in range(len(self.agents))]
        heapq.heapify(self._heap)
        self._wakeup = asyncio.Event()
        tasks: set[asyncio.Task] = set()
        while True:
            # Calls in flight are off the heap; they put themselves back when done.
            self._wakeup.clear()
            delay = self._heap[0][0] - time.monotonic() if self._heap else None
            if delay is None or delay > 0:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            due, i = heapq.heappop(self._heap)
            await self._sem.acquire()
            task = asyncio.get_running_loop().create_task(self._one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _schedule(self, due: float, i: int) -> None:
        heapq.heappush(self._heap, (due, i))
        self._wakeup.set()

    async def _one(self, i: int, due: float) -> None:
        try:
            await self.action(self.agents[i])
            # Keep the grid (no drift), but never schedule into the past after a slow call.
            self._schedule(max(due + self.interval, time.monotonic()), i)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            log.warning("%s %s: %s", self.what, self.agents[i].name, exc)
            self._schedule(time.monotonic() + self.retry, i)
        finally:
            self._sem.release()


class Fleet:
    def __init__(self, api, agents: Sequence[NodeAgent], *, lease_interval: float = 10.0,
                 node_status_interval: float = 60.0, concurrency: int = 64) -> None:
        self.api = api
        self.agents = list(agents)
        self.by_name = {a.name: a for a in self.agents}
        self.lease_interval = lease_interval
        self.node_status_interval = node_status_interval
        self.concurrency = concurrency
        self.synced = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.lease_renewals = 0
        self.pod_events = 0

    # -- start and stop --------------------------------------------------------------------

    async def start(self) -> None:
        """Registers every node and its lease, recovers what the runtimes still hold, and starts
        the loops. Returns once the first pod list has been handed out."""
        await self.ensure_namespace(LEASE_NAMESPACE)
        nodes, _ = await self.api.list_all("Node")
        routes = host_routes() if any(a.runtime.isolated for a in self.agents) else []
        allocate_pod_cidrs(self.agents, nodes, routes=routes)
        for agent in self.agents:
            await agent.runtime.start(agent.config.pod_cidr)
        await self.register()
        for agent in self.agents:
            agent.recovered = {p.uid: p for p in await agent.runtime.recover()}
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._pods_loop(), name="pods"),
            loop.create_task(Periodic(self.agents, self.lease_interval, self.renew_lease,
                                      concurrency=self.concurrency, what="lease").run(), name="leases"),
            loop.create_task(Periodic(self.agents, self.node_status_interval, self.heartbeat,
                                      concurrency=self.concurrency, what="node status").run(), name="heartbeats"),
            loop.create_task(self._dirty_status_loop(), name="node-status"),
        ]
        waiter = loop.create_task(self.synced.wait())
        done, _ = await asyncio.wait([waiter, self._tasks[0]], return_when=asyncio.FIRST_COMPLETED)
        if self._tasks[0] in done:
            waiter.cancel()
            self._tasks[0].result()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for agent in self.agents:
            agent.shutdown()
            await agent.runtime.close()

    async def ensure_namespace(self, name: str) -> None:
        ns = core_pb2.Namespace()
        ns.metadata.name = name
        try:
            await self.api.create(ns)
        except APIStatusError as exc:
            if exc.reason != "AlreadyExists":
                raise

    # -- registration ----------------------------------------------------------------------

    async def register(self) -> None:
        """Creates (or updates) every Node with its status, then every Lease, in bulk."""
        for start in range(0, len(self.agents), BULK_CHUNK):
            chunk = self.agents[start:start + BULK_CHUNK]
            resp = await self.api.bulk_apply([a.node_object() for a in chunk], return_objects=True)
            existing = []
            for agent, result in zip(chunk, resp.results, strict=True):
                if result.code:
                    raise APIStatusError(_code(result.code), f"registering node {agent.name}: {result.message}")
                agent.node_uid = kinds.unwrap(result.object)[1].metadata.uid
                if result.result != svc.APPLY_RESULT_CREATED:
                    existing.append(agent)
            await self._bounded(self.heartbeat(a) for a in existing)
            resp = await self.api.bulk_apply([a.lease_object() for a in chunk])
            for agent, result in zip(chunk, resp.results, strict=True):
                if result.code:
                    raise APIStatusError(_code(result.code), f"lease of node {agent.name}: {result.message}")
        log.info("registered %d node(s)", len(self.agents))

    async def _bounded(self, coros) -> None:
        sem = asyncio.Semaphore(self.concurrency)

        async def one(coro):
            async with sem:
                await coro

        await asyncio.gather(*(one(c) for c in coros))

    # -- leases and heartbeats -------------------------------------------------------------

    async def renew_lease(self, agent: NodeAgent) -> None:
        lease = agent.lease_object()
        try:
            await self.api.update(lease)
        except APIStatusError as exc:
            if exc.reason != "NotFound":
                raise
            await self.api.create(lease)
        self.lease_renewals += 1

    async def heartbeat(self, agent: NodeAgent) -> None:
        agent.status_dirty = False
        node = core_pb2.Node()
        node.metadata.name = agent.name
        node.status.CopyFrom(agent.node_status())
        await self.api.update_status(node)

    async def _dirty_status_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            dirty = [a for a in self.agents if a.status_dirty]
            if dirty:
                try:
                    await self._bounded(self.heartbeat(a) for a in dirty)
                except APIStatusError as exc:
                    log.warning("node status: %s", exc)

    # -- pods ------------------------------------------------------------------------------

    def _field_selector(self) -> str:
        if len(self.agents) == 1:
            return f"spec.nodeName={self.agents[0].name}"
        return "spec.nodeName!="

    async def _pods_loop(self) -> None:
        selector = self._field_selector()
        failures = 0
        while True:
            try:
                pods, revision = await self.api.list_all("Pod", field_selector=selector)
                self._sync(pods)
                self.synced.set()
                failures = 0
                async for batch in self.api.watch("Pod", resource_version=revision, field_selector=selector):
                    for event in batch.events:
                        self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                failures += 1
                if exc.reason != "Expired":
                    delay = min(RELIST_BACKOFF[1], RELIST_BACKOFF[0] * 2 ** failures) * random.uniform(0.8, 1.2)
                    log.warning("pod watch: %s; re-listing in %.1fs", exc, delay)
                    await asyncio.sleep(delay)

    def _sync(self, pods: list[core_pb2.Pod]) -> None:
        mine: dict[str, list] = {a.name: [] for a in self.agents}
        for pod in pods:
            if pod.spec.node_name in mine:
                mine[pod.spec.node_name].append(pod)
        for agent in self.agents:
            agent.sync(mine[agent.name])

    def _dispatch(self, event: svc.WatchEvent) -> None:
        if event.type == svc.EVENT_TYPE_BOOKMARK:
            return
        pod = core_pb2.Pod()
        pod.CopyFrom(event.object.pod)  # a copy: holding a sub-message would keep the whole batch alive
        agent = self.by_name.get(pod.spec.node_name)
        if agent is None:
            return
        self.pod_events += 1
        if event.type == svc.EVENT_TYPE_DELETED:
            agent.on_pod_deleted(pod)
        else:
            agent.on_pod(pod)


def _code(value: int):
    import grpc

    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
