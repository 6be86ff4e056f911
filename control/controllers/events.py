"""The event recorder: Events about objects, with repeats folded into one Event's count.

    recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-x7k2p")

Recording never blocks a controller: events queue up (repeats already folded in the queue) and
a background task writes them. An Event's name is derived from what it says (involved object,
type, reason, message), so a repeat finds the same Event even after a restart of the server
and increments its count instead of starting a new one.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from dataclasses import dataclass

import grpc

from shoal.control.controllers.meta import clone, kind_info_of, timestamp
from shoal.proto.client import APIStatusError
from shoal.v1 import core_pb2, meta_pb2

log = logging.getLogger("shoal.controllers.events")

COMPONENT = "shoal-controller-manager"
MAX_MESSAGE = 1024


def involved_reference(involved) -> meta_pb2.ObjectReference:
    """An ObjectReference to ``involved``: a kind's message, an ObjectReference, or a tuple
    (kind, namespace, name, uid)."""
    if isinstance(involved, meta_pb2.ObjectReference):
        return involved
    if isinstance(involved, tuple):
        kind, namespace, name, uid = involved
        return meta_pb2.ObjectReference(kind=kind, namespace=namespace, name=name, uid=uid)
    info = kind_info_of(involved)
    meta = involved.metadata
    return meta_pb2.ObjectReference(kind=info.kind, namespace=meta.namespace, name=meta.name, uid=meta.uid,
                                    api_version=info.api_version)


def event_name(ref: meta_pb2.ObjectReference, type_: str, reason: str, message: str, component: str) -> str:
    """A stable name: the involved object's name and a digest of what the event says."""
    digest = hashlib.blake2b(
        "\0".join((ref.kind, ref.namespace, ref.name, ref.uid, type_, reason, message, component)).encode(),
        digest_size=8,
    ).hexdigest()
    prefix = ref.name[: 253 - 17] or "event"
    return f"{prefix}.{digest}"


def new_event(ref: meta_pb2.ObjectReference, type_: str, reason: str, message: str, *, component: str,
              host: str, now: float, count: int = 1) -> core_pb2.Event:
    event = core_pb2.Event()
    event.metadata.name = event_name(ref, type_, reason, message, component)
    event.metadata.namespace = ref.namespace or "default"
    event.involved_object.CopyFrom(ref)
    event.involved_object.resource_version = ""
    event.reason = reason
    event.message = message[:MAX_MESSAGE]
    event.type = type_
    event.source.component = component
    if host:
        event.source.host = host
    event.first_timestamp.CopyFrom(timestamp(now))
    event.last_timestamp.CopyFrom(timestamp(now))
    event.count = count
    event.reporting_component = component
    event.reporting_instance = host
    return event


def fold_repeat(existing: core_pb2.Event, count: int, now: float) -> core_pb2.Event:
    """``existing`` with ``count`` more occurrences, the last at ``now``."""
    event = clone(existing)
    event.count = max(existing.count, 1) + count
    event.last_timestamp.CopyFrom(timestamp(now))
    return event


@dataclass
class _Pending:
    event: core_pb2.Event
    count: int
    last: float


class EventRecorder:
    """Writes Events through an AsyncClusterClient; run() drains the queue until cancelled."""

    def __init__(self, client, *, component: str = COMPONENT, host: str = "", clock=time.time,
                 max_pending: int = 4096, cache_size: int = 4096) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.max_pending = max_pending
        self.cache_size = cache_size
        self.dropped = 0
        self._pending: collections.OrderedDict[str, _Pending] = collections.OrderedDict()
        self._written: collections.OrderedDict[str, core_pb2.Event] = collections.OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def record(self, involved, type_: str, reason: str, message: str) -> None:
        ref = involved_reference(involved)
        now = self.clock()
        name = event_name(ref, type_, reason, message, self.component)
        pending = self._pending.get(name)
        if pending is not None:
            pending.count += 1
            pending.last = now
            return
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return
        event = new_event(ref, type_, reason, message, component=self.component, host=self.host, now=now)
        self._pending[name] = _Pending(event, 1, now)
        self._idle.clear()
        self._wake.set()

    async def flush(self, timeout: float = 10.0) -> None:
        """Waits until every recorded event has been written (for tests and shutdown)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            name, pending = self._pending.popitem(last=False)
            try:
                await self._write(name, pending)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                # A namespace being deleted (or gone) takes no new events: nothing to report.
                if exc.code not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    log.info("event %s not written: %s", name, exc)
            except Exception:
                log.exception("event %s not written", name)

    async def _write(self, name: str, pending: _Pending) -> None:
        for _attempt in range(3):
            known = self._written.get(name)
            if known is None:
                event = clone(pending.event)
                event.count = pending.count
                event.last_timestamp.CopyFrom(timestamp(pending.last))
                try:
                    self._remember(name, await self.client.create(event))
                    return
                except APIStatusError as exc:
                    if exc.code != grpc.StatusCode.ALREADY_EXISTS:
                        raise
                known = await self.client.get("Event", name, pending.event.metadata.namespace)
            try:
                self._remember(name, await self.client.update(fold_repeat(known, pending.count, pending.last)))
                return
            except APIStatusError as exc:
                if exc.code not in (grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND):
                    raise
                self._written.pop(name, None)

    def _remember(self, name: str, event: core_pb2.Event) -> None:
        self._written[name] = event
        self._written.move_to_end(name)
        while len(self._written) > self.cache_size:
            self._written.popitem(last=False)
