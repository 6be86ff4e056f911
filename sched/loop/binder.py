"""The loop's writers: binds, pod status and evictions, many in flight at once.

    Binder        BulkBind(pod -> node, with the pod's uid) of whatever is queued, up to
                  `workers` calls in flight; each pod's answer goes to on_done(bind, code,
                  message) (code None: bound)
    StatusWriter  PodScheduled=False / nominatedNodeName through UpdateStatus, with the pod's
                  uid and resourceVersion as preconditions (a conflict reads the pod again);
                  the latest wish per pod wins, so a pod is written once however often it failed
                  meanwhile
    Evictor       preemption's victims: DisruptionTarget (PreemptionByScheduler), then Delete
                  with the victim's uid and its own grace period
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import core_pb2

from . import actions as act

log = logging.getLogger("shoal.sched.binder")

BindDone = Callable[[act.Bind, "str | None", str], None]


class Binder:
    """Sends binds in BulkBind calls: whatever is queued when a call can go (up to `batch`),
    with up to `workers` calls in flight. A lone bind goes at once; under load binds gather
    while the previous calls are answered, so there is no waiting window to tune. Against a
    server without BulkBind it falls back to one Bind call per pod."""

    def __init__(self, client, on_done: BindDone, *, workers: int = 4, batch: int = 1000) -> None:
        self.client = client
        self.on_done = on_done
        self.workers = workers
        self.batch = batch
        self.in_flight = 0
        self.calls = 0
        self._bulk = True
        self._queue: collections.deque[act.Bind] = collections.deque()
        self._wake = asyncio.Event()

    def submit(self, bind: act.Bind) -> None:
        self._queue.append(bind)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._queue) + self.in_flight

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._worker(), name=f"binder-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _take(self) -> list[act.Bind]:
        queue = self._queue
        n = min(len(queue), self.batch if self._bulk else 1)
        return [queue.popleft() for _ in range(n)]

    async def _worker(self) -> None:
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                raise asyncio.CancelledError  # one gRPC turned into a CANCELLED status
            binds = self._take()
            if not binds:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.in_flight += len(binds)
            try:
                outcomes = await self._send(binds)
            finally:
                self.in_flight -= len(binds)
            self.calls += 1
            for bind, (code, message) in zip(binds, outcomes):
                try:
                    self.on_done(bind, code, message)
                except Exception:
                    log.exception("bind of %s: handling the answer failed", bind.pod.key)

    async def _send(self, binds: list[act.Bind]) -> list[tuple[str | None, str]]:
        """(code name or None when bound, message) per bind."""
        try:
            if self._bulk:
                try:
                    return await self._send_bulk(binds)
                except APIStatusError as exc:
                    if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                        raise
                    log.info("the server has no BulkBind: binding one pod per call")
                    self._bulk = False
            return [await self._send_one(b) for b in binds]
        except asyncio.CancelledError:
            raise
        except APIStatusError as exc:
            return [(exc.code.name, exc.message)] * len(binds)
        except Exception as exc:  # noqa: BLE001 - the channel itself failed: the pods are tried again
            return [("UNKNOWN", str(exc))] * len(binds)

    async def _send_bulk(self, binds: list[act.Bind]) -> list[tuple[str | None, str]]:
        requests = [svc.BindRequest(namespace=b.pod.namespace, name=b.pod.name, node_name=b.node, uid=b.pod.uid,
                                    annotations=dict(b.annotations))
                    for b in binds]
        results = await self.client.bulk_bind(requests)
        return [(None, "") if r.code == 0 else (_CODE_NAMES.get(r.code, "UNKNOWN"), r.message) for r in results]

    async def _send_one(self, bind: act.Bind) -> tuple[str | None, str]:
        try:
            pod = bind.pod
            await self.client.bind(pod.name, bind.node, pod.namespace, uid=pod.uid, annotations=dict(bind.annotations))
            return None, ""
        except APIStatusError as exc:
            return exc.code.name, exc.message


_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def _now() -> Timestamp:
    ts = Timestamp()
    ts.seconds = int(time.time())
    return ts


def set_condition(status, type_: str, value: str, reason: str, message: str) -> bool:
    """Set one condition of a pod status (lastTransitionTime moves when the value does).
    Returns whether anything changed."""
    for c in status.conditions:
        if c.type == type_:
            if (c.status, c.reason, c.message) == (value, reason, message):
                return False
            if c.status != value:
                c.last_transition_time.CopyFrom(_now())
            c.status, c.reason, c.message = value, reason, message
            c.last_probe_time.Clear()
            return True
    c = status.conditions.add(type=type_, status=value, reason=reason, message=message)
    c.last_transition_time.CopyFrom(_now())
    return True


def scheduled_status(pod, message: str | None, nominated: str | None) -> core_pb2.PodStatus | None:
    """The status a SetScheduled asks for over the pod's, or None if nothing would change (or
    the pod is bound: a late write must not mark a bound pod unschedulable)."""
    if pod.spec.node_name:
        return None
    status = core_pb2.PodStatus()
    status.CopyFrom(pod.status)
    changed = False
    if message is not None:
        changed |= set_condition(status, act.POD_SCHEDULED, "False", act.UNSCHEDULABLE, message)
    if nominated is not None and status.nominated_node_name != nominated:
        status.nominated_node_name = nominated
        changed = True
    return status if changed else None


def status_update(pod, status) -> core_pb2.Pod:
    """An UpdateStatus body: the pod's identity, its resourceVersion and uid as preconditions."""
    out = core_pb2.Pod()
    out.metadata.name = pod.metadata.name
    out.metadata.namespace = pod.metadata.namespace
    out.metadata.uid = pod.metadata.uid
    out.metadata.resource_version = pod.metadata.resource_version
    out.status.CopyFrom(status)
    return out


class StatusWriter:
    """Writes SetScheduled wishes; `lookup(key)` gives the informer's latest pod."""

    def __init__(self, client, lookup: Callable[[str], object | None], *, workers: int = 16) -> None:
        self.client = client
        self.lookup = lookup
        self.workers = workers
        self.written = 0
        self._pending: collections.OrderedDict[str, act.SetScheduled] = collections.OrderedDict()
        self._wake = asyncio.Event()
        self._busy: set[str] = set()

    def submit(self, wish: act.SetScheduled) -> None:
        old = self._pending.get(wish.pod.key)
        if old is not None and old.pod.uid == wish.pod.uid:
            wish = act.SetScheduled(
                wish.pod,
                wish.message if wish.message is not None else old.message,
                wish.nominated if wish.nominated is not None else old.nominated,
            )
        self._pending[wish.pod.key] = wish
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._busy)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._worker(), name=f"status-{i}") for i in range(self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _take(self) -> act.SetScheduled | None:
        for key in self._pending:
            if key not in self._busy:  # one write per pod at a time, in order
                return self._pending.pop(key)
        return None

    async def _worker(self) -> None:
        while True:
            wish = self._take()
            if wish is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            key = wish.pod.key
            self._busy.add(key)
            try:
                await self.write(wish)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                if exc.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED):
                    log.info("status of %s not written: %s", key, exc)
            except Exception:
                log.exception("status of %s not written", key)
            finally:
                self._busy.discard(key)
                if key in self._pending:
                    self._wake.set()

    async def write(self, wish: act.SetScheduled) -> None:
        pod = self.lookup(wish.pod.key)
        for _attempt in range(4):
            if pod is None or pod.metadata.uid != wish.pod.uid:
                return
            status = scheduled_status(pod, wish.message, wish.nominated)
            if status is None:
                return
            try:
                await self.client.update_status(status_update(pod, status))
                self.written += 1
                return
            except APIStatusError as exc:
                if exc.code != grpc.StatusCode.ABORTED:
                    raise
            pod = await self.client.get("Pod", wish.pod.name, wish.pod.namespace)  # changed meanwhile


class Evictor:
    """Evicts preemption victims, each in its own task (preemption is rare)."""

    def __init__(self, client, lookup: Callable[[str], object | None], record: Callable[..., None]) -> None:
        self.client = client
        self.lookup = lookup
        self.record = record
        self.evicted = 0
        self._tasks: set[asyncio.Task] = set()

    def submit(self, evict: act.Evict) -> None:
        task = asyncio.create_task(self._evict(evict), name=f"evict-{evict.victim.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _evict(self, evict: act.Evict) -> None:
        victim = evict.victim
        try:
            pod = self.lookup(victim.key)
            for _attempt in range(4):
                if pod is None or pod.metadata.uid != victim.uid:
                    return
                status = core_pb2.PodStatus()
                status.CopyFrom(pod.status)
                if not set_condition(status, act.DISRUPTION_TARGET, "True", act.PREEMPTION_BY_SCHEDULER,
                                     act.disruption_message(evict.scheduler_name)):
                    break
                try:
                    await self.client.update_status(status_update(pod, status))
                    break
                except APIStatusError as exc:
                    if exc.code != grpc.StatusCode.ABORTED:
                        raise
                pod = await self.client.get("Pod", victim.name, victim.namespace)
            await self.client.delete("Pod", victim.name, victim.namespace, uid=victim.uid)
            self.evicted += 1
            self.record(victim, "Normal", "Preempted", act.preempted_message(evict.preemptor, evict.node),
                        related=evict.preemptor)
        except asyncio.CancelledError:
            raise
        except APIStatusError as exc:
            if exc.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED):
                log.warning("preempting %s: %s", victim.key, exc)
        except Exception:
            log.exception("preempting %s failed", victim.key)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
