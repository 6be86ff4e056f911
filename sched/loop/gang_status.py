"""Writes PodGroup status (gang.SetGroupStatus) through UpdateStatus.

The latest wish per group wins (a gang's counts change with every member's bind and start; only
the newest matters), one write per group at a time, with the group's resourceVersion as the
precondition: a conflict reads the group again and retries.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shoal.proto.client import APIStatusError
from shoal.v1 import scheduling_pb2

from .gang import CONDITION_SCHEDULED, SetGroupStatus

log = logging.getLogger("shoal.sched.gang")


def group_status(pg, wish: SetGroupStatus) -> scheduling_pb2.PodGroupStatus | None:
    """The status to write, or None when the group already says so."""
    status = scheduling_pb2.PodGroupStatus()
    status.CopyFrom(pg.status)
    status.phase = wish.phase
    status.scheduled, status.running = wish.scheduled, wish.running
    status.succeeded, status.failed = wish.succeeded, wish.failed
    if wish.condition is not None:
        cond_status, reason, message = wish.condition
        old = next((c for c in status.conditions if c.type == CONDITION_SCHEDULED), None)
        if old is None:
            old = status.conditions.add(type=CONDITION_SCHEDULED)
        if old.status != cond_status:
            ts = Timestamp()
            ts.GetCurrentTime()
            old.last_transition_time.CopyFrom(ts)
        old.status, old.reason, old.message = cond_status, reason, message
    if not status.HasField("schedule_start_time") and wish.phase != "Pending":
        status.schedule_start_time.GetCurrentTime()
    return None if status == pg.status else status


class PodGroupStatusWriter:
    """`lookup(key)` gives the informer's latest PodGroup."""

    def __init__(self, client, lookup: Callable[[str], object | None]) -> None:
        self.client = client
        self.lookup = lookup
        self.written = 0
        self._pending: collections.OrderedDict[str, SetGroupStatus] = collections.OrderedDict()
        self._wake = asyncio.Event()

    def submit(self, wish: SetGroupStatus) -> None:
        self._pending[wish.key] = wish
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            _, wish = self._pending.popitem(last=False)
            try:
                await self.write(wish)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                if exc.code != grpc.StatusCode.NOT_FOUND:
                    log.info("status of PodGroup %s not written: %s", wish.key, exc)
            except Exception:
                log.exception("status of PodGroup %s not written", wish.key)

    async def write(self, wish: SetGroupStatus) -> None:
        pg = self.lookup(wish.key)
        for _attempt in range(4):
            if pg is None or pg.metadata.uid != wish.uid:
                return
            status = group_status(pg, wish)
            if status is None:
                return
            body = scheduling_pb2.PodGroup()
            body.metadata.name, body.metadata.namespace = pg.metadata.name, pg.metadata.namespace
            body.metadata.uid = pg.metadata.uid
            body.metadata.resource_version = pg.metadata.resource_version
            body.status.CopyFrom(status)
            try:
                await self.client.update_status(body)
                self.written += 1
                return
            except APIStatusError as exc:
                if exc.code != grpc.StatusCode.ABORTED:
                    raise
            pg = await self.client.get("PodGroup", wish.name, wish.namespace)
