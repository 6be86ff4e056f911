"""The shape every controller shares: informer handlers queue keys, workers sync them.

A subclass names the kinds it watches, maps informer changes to keys (``on_change``) and
implements ``sync(key)``: read the caches, plan, carry the plan out. sync returns the seconds
after which to look again (or None); an exception retries the key with back-off. Every
``resync_period`` every key of the primary kind is queued again, so a missed change or a
lost write is repaired without anyone noticing it was missed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field, fields
from typing import Callable, ClassVar

import grpc

from shoal.control.controllers.actions import ActionExecutor
from shoal.control.controllers.informer import Change, InformerFactory
from shoal.control.controllers.meta import object_key
from shoal.control.controllers.workqueue import QueueShutDown, WorkQueue
from shoal.proto.client import APIStatusError

log = logging.getLogger("shoal.controllers")


@dataclass
class ControllerSettings:
    """Tunables of the controllers. ``from_env`` reads SHOAL_<FIELD_IN_UPPER_CASE> overrides
    (e.g. SHOAL_JOB_BACKOFF_SECONDS=0.2), which is how tests shorten Kubernetes' timings."""

    service_cidr: str = "10.43.0.0/16"
    node_port_min: int = 30000
    node_port_max: int = 32767
    event_ttl_seconds: float = 24 * 3600.0
    event_ttl_interval: float = 60.0
    job_backoff_seconds: float = 10.0
    job_backoff_max_seconds: float = 360.0
    resync_seconds: float = 300.0
    node_monitor_grace_seconds: float = 40.0
    node_monitor_period_seconds: float = 5.0
    namespace_recheck_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "ControllerSettings":
        env = os.environ if env is None else env
        settings = cls()
        for f in fields(cls):
            raw = env.get("SHOAL_" + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(settings, f.name))
            try:
                setattr(settings, f.name, kind(raw))
            except ValueError:
                log.warning("ignoring SHOAL_%s=%r: not a %s", f.name.upper(), raw, kind.__name__)
        return settings


@dataclass
class ControllerContext:
    """What controllers share: the API client, informers, the executor and the recorder."""

    client: object
    informers: InformerFactory
    executor: ActionExecutor
    recorder: object | None = None
    settings: ControllerSettings = field(default_factory=ControllerSettings)
    clock: Callable[[], float] = time.time


class Controller:
    name: ClassVar[str] = ""
    # Kinds whose informers this controller reads; the first is the kind its keys name.
    watches: ClassVar[tuple[str, ...]] = ()
    workers: int = 1

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.queue = WorkQueue(self.name)
        self.syncs = 0

    # -- wiring -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Subscribes to the informers (called before they start, so the first list's adds
        reach on_change)."""
        for kind in self.watches:
            informer = self.ctx.informers.get(kind)
            informer.add_handler(lambda change, kind=informer.kind: self.on_change(kind, change))

    def informer(self, kind: str):
        return self.ctx.informers.get(kind)

    def cache(self, kind: str):
        return self.ctx.informers.get(kind).cache

    def on_change(self, kind: str, change: Change) -> None:
        """Default: a change of the primary kind queues its key."""
        if kind == self.primary_kind:
            self.queue.add(object_key(change.new))

    @property
    def primary_kind(self) -> str:
        return self.ctx.informers.get(self.watches[0]).kind if self.watches else ""

    def resync_keys(self) -> list[str]:
        return self.cache(self.primary_kind).keys() if self.watches else []

    @property
    def now(self) -> float:
        return self.ctx.clock()

    async def run_actions(self, actions, key: str):
        return await self.ctx.executor.run_all(actions, controller=self.name, key=key)

    # -- the loop -----------------------------------------------------------------------------

    async def sync(self, key: str) -> float | None:
        raise NotImplementedError

    async def run(self) -> None:
        """Workers and the periodic resync, until cancelled."""
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}") for i in range(self.workers)]
        tasks.append(asyncio.create_task(self._resync_forever(), name=f"{self.name}-resync"))
        tasks.extend(asyncio.create_task(t, name=f"{self.name}-extra") for t in self.background())
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shut_down()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def background(self) -> list:
        """Extra coroutines a controller runs beside its workers (periodic scans)."""
        return []

    async def _resync_forever(self) -> None:
        period = self.ctx.settings.resync_seconds
        while True:
            await asyncio.sleep(period)
            for key in self.resync_keys():
                self.queue.add(key)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return
            try:
                self.syncs += 1
                requeue = await self.sync(key)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                if exc.code not in (grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS):
                    log.info("%s: sync %s: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: sync %s failed", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if requeue is not None:
                    self.queue.add_after(key, max(requeue, 0.0))
            finally:
                self.queue.done(key)


class SyncError(Exception):
    """A sync that did part of its work and must be retried (with back-off)."""
