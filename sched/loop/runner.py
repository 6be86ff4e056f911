"""The scheduler as a process (or a task of `shoal server`): informers in, binds and status out.

    Informers (Node, Pod; Namespace, Service, ReplicaSet, PriorityClass for the plugins' context)
        | each watch batch, applied whole
        v
    SchedulerState (state.py: cache + queue + Scheduler)  --schedule(now, limit)-->  actions
        ^                                                                             |
        | bind answers                    Binder (Bind, many in flight) <-------------+
        +---------------------------------StatusWriter (PodScheduled, nominatedNodeName)
                                          EventRecorder (FailedScheduling, Scheduled, Preempted)
                                          Evictor (preemption victims)

One asyncio task places pods: it waits until the queue has active pods (or a backoff ends),
places a batch, hands its actions to the writers and yields. A batch is sized so that placing
it takes about `batch_seconds`, which keeps an in-process server responsive between batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from shoal.proto.client import AsyncClusterClient

from ..framework.config import DEFAULT_SCHEDULER_NAME, Profile
from . import actions as act
from .binder import Binder, Evictor, StatusWriter
from .events import EventRecorder
from .gang import SetGroupStatus
from .gang_status import PodGroupStatusWriter
from .informer import Informer
from .state import SchedulerState

log = logging.getLogger("shoal.sched.loop")

CONTEXT_KINDS = ("Namespace", "Service", "ReplicaSet", "PriorityClass", "PodGroup", "PersistentVolumeClaim",
                 "PersistentVolume")
MIN_BATCH = 16
REPORT_SECONDS = 30.0


class SchedulerLoop:
    def __init__(self, client, profiles: Mapping[str, Profile] | None = None, *, name: str = DEFAULT_SCHEDULER_NAME,
                 seed: int = 0, bind_workers: int = 8, status_workers: int = 16, max_batch: int = 4096,
                 batch_seconds: float = 0.05, clock=time.monotonic, validate: bool = False,
                 batch_window: float = 0.0) -> None:
        self.client = client
        self.clock = clock
        # batch_window > 0: batch mode (batch.py), pods arriving within it placed together
        self.batch_window = batch_window
        self.state = SchedulerState(profiles, name=name, seed=seed, validate=validate, batch_solver=batch_window > 0)
        self.max_batch = max_batch
        self.batch_seconds = batch_seconds
        self.nodes = Informer(client, "Node", self._on_nodes)
        self.pods = Informer(client, "Pod", self._on_pods)
        self.context = [Informer(client, kind, self._context_handler(kind)) for kind in CONTEXT_KINDS]
        self.recorder = EventRecorder(client, component=name if name != DEFAULT_SCHEDULER_NAME else act.COMPONENT)
        self.binder = Binder(client, self._bind_done, workers=bind_workers)
        self.status = StatusWriter(client, self._pod, workers=status_workers)
        self.evictor = Evictor(client, self._pod, self.recorder.record)
        self.group_status = PodGroupStatusWriter(client, self._pod_group)
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._reported = clock()

    def _pod(self, key: str):
        return self.pods.objects.get(key)

    def _pod_group(self, key: str):
        informer = next(i for i in self.context if i.kind == "PodGroup")
        return informer.objects.get(key)

    # -- informer handlers -------------------------------------------------------------------------

    def _on_nodes(self, changes) -> None:
        self._do(self.state.on_nodes(changes, self.clock()))
        self._wake.set()

    def _on_pods(self, changes) -> None:
        now = self.clock()
        on_pod = self.state.on_pod
        for kind, pod in changes:
            actions = on_pod(kind, pod, now)
            if actions:
                self._do(actions)
        self._do(self.state.gangs.statuses())
        self._wake.set()

    def _context_handler(self, kind: str):
        def handle(changes) -> None:
            for event, obj in changes:
                self.state.on_context(kind, event, obj)
            if kind == "PodGroup":
                self._do(self.state.gangs.statuses())
            self._wake.set()

        return handle

    # -- actions -----------------------------------------------------------------------------------

    def _do(self, actions) -> None:
        for a in actions:
            if type(a) is act.Bind:
                self.binder.submit(a)
            elif type(a) is act.RecordEvent:
                self.recorder.record(a.pod, a.type, a.reason, a.message)
            elif type(a) is act.SetScheduled:
                self.status.submit(a)
            elif type(a) is act.Evict:
                self.evictor.submit(a)
            elif type(a) is SetGroupStatus:
                self.group_status.submit(a)

    def _bind_done(self, bind: act.Bind, code: str | None, message: str) -> None:
        if code is None:
            self._do(self.state.bind_succeeded(bind.pod, bind.node))
        else:
            log.debug("bind %s -> %s failed: %s %s", bind.pod.key, bind.node, code, message)
            self._do(self.state.bind_failed(bind.pod, bind.node, code, message, self.clock()))
            self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Lists and watches, then places pods until `stop` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        spawn = self._spawn
        try:
            for informer in self.context:
                spawn(informer.run(), f"informer-{informer.kind}")
            spawn(self.nodes.run(), "informer-Node")
            waiting = asyncio.gather(self.nodes.synced.wait(), *(i.synced.wait() for i in self.context))
            if not await self._until(waiting, stop):
                return
            spawn(self.pods.run(), "informer-Pod")  # after the nodes: bound pods find their node
            if not await self._until(self.pods.synced.wait(), stop):
                return
            spawn(self.recorder.run(), "event-recorder")
            spawn(self.binder.run(), "binder")
            spawn(self.status.run(), "status-writer")
            spawn(self.group_status.run(), "podgroup-status-writer")
            placing = spawn(self._place_forever(), "scheduler")
            self.ready.set()
            log.info("scheduler started: %s; %d nodes, %d pods waiting", ", ".join(sorted(self.state.names)),
                     self.state.snapshot.n_nodes, len(self.state.queue))
            await self._until(placing, stop)
        finally:
            await self.evictor.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    async def _until(self, awaitable, stop: asyncio.Event) -> bool:
        """Waits for `awaitable` unless `stop` comes first (False then)."""
        task = asyncio.ensure_future(awaitable)
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
                return True
            return False
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _report(self) -> None:
        """A line of what the scheduler did, at most every REPORT_SECONDS while it is busy."""
        now = self.clock()
        if now - self._reported < REPORT_SECONDS:
            return
        self._reported = now
        log.info("scheduler: %s", self.state.summary())

    async def _place_forever(self) -> None:
        state = self.state
        limit = 256
        while True:
            now = self.clock()
            if not state.ready(now):
                delay = state.next_wakeup(now)
                self._wake.clear()
                await _wait(self._wake, min(delay, 5.0) + 0.001)
                continue
            if self.batch_window > 0:
                await asyncio.sleep(self.batch_window)  # the window: arrivals gather into one batch
                now = self.clock()
                state.ready(now)
                limit = self.max_batch
            started = time.perf_counter()
            attempts = state.stats.attempts
            try:
                actions = state.schedule(now, limit)
            except Exception:
                log.exception("a scheduling batch failed")
                await asyncio.sleep(1.0)
                continue
            seconds = time.perf_counter() - started
            placed = max(1, state.stats.attempts - attempts)
            log.debug("placed %d pods in %.1f ms", placed, seconds * 1000)
            self._do(actions)
            self._do(self.state.gangs.statuses())
            self._report()
            # Size the next batch to take about batch_seconds (the server shares this thread).
            per_pod = seconds / placed
            limit = max(MIN_BATCH, min(self.max_batch, int(self.batch_seconds / per_pod) if per_pod > 0 else self.max_batch))
            await asyncio.sleep(0)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Wait for `event` at most `timeout` seconds. Not asyncio.wait_for: on Python 3.11 it can
    swallow a cancellation that comes as the event fires, and the loop would never stop."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


async def run_scheduler(address: str, stop: asyncio.Event | None = None, *, profiles: Mapping[str, Profile] | None = None,
                        name: str = DEFAULT_SCHEDULER_NAME, seed: int = 0, **kwargs) -> None:
    """Runs the scheduler against the API at `address` until `stop` is set (or cancelled)."""
    from ..api import warm_up

    await asyncio.to_thread(warm_up)  # load the kernels' machine code off the event loop
    client = AsyncClusterClient(address, timeout=30.0)
    try:
        await SchedulerLoop(client, profiles, name=name, seed=seed, **kwargs).run(stop)
    finally:
        await client.close()
