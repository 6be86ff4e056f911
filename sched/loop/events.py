"""The scheduler's event recorder: FailedScheduling, Scheduled and Preempted Events, repeats
folded into one Event's count.

    recorder.record(pod_ref, "Warning", "FailedScheduling", "0/100 nodes are available: ...")

An Event's name is the pod's name and a digest of what it says (as the controllers' recorder
names them), so a repeat finds the same Event, even after a restart, and counts up instead of
adding another. New Events are written in batches (BulkApply, create only); a repeat of a
written one is an Update of its count. Recording never waits: the writer drains in the
background, folding repeats that arrive meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import socket
import time
from dataclasses import dataclass

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shoal.proto.client import APIStatusError
from shoal.v1 import core_pb2, meta_pb2

from .actions import COMPONENT, PodRef

log = logging.getLogger("shoal.sched.events")

MAX_MESSAGE = 1024  # kube-scheduler truncates FailedScheduling events; the condition keeps it whole
BATCH = 500
ACTIONS = {"FailedScheduling": "Scheduling", "Scheduled": "Binding", "Preempted": "Preempting"}


def event_name(ref: meta_pb2.ObjectReference, type_: str, reason: str, message: str, component: str) -> str:
    digest = hashlib.blake2b(
        "\0".join((ref.kind, ref.namespace, ref.name, ref.uid, type_, reason, message, component)).encode(),
        digest_size=8,
    ).hexdigest()
    return f"{ref.name[: 253 - 17] or 'event'}.{digest}"


def _timestamp(now: float) -> Timestamp:
    ts = Timestamp()
    ts.seconds = int(now)
    return ts


def pod_reference(pod: PodRef) -> meta_pb2.ObjectReference:
    return meta_pb2.ObjectReference(kind="Pod", api_version="v1", namespace=pod.namespace, name=pod.name, uid=pod.uid)


def new_event(pod: PodRef, type_: str, reason: str, message: str, *, component: str = COMPONENT, host: str = "",
              now: float, related: PodRef | None = None) -> core_pb2.Event:
    ref = pod_reference(pod)
    event = core_pb2.Event()
    event.metadata.name = event_name(ref, type_, reason, message, component)
    event.metadata.namespace = pod.namespace or "default"
    event.involved_object.CopyFrom(ref)
    event.reason = reason
    event.message = message[:MAX_MESSAGE]
    event.type = type_
    event.action = ACTIONS.get(reason, "")
    if related is not None:
        event.related.CopyFrom(pod_reference(related))
    event.source.component = component
    if host:
        event.source.host = host
    event.first_timestamp.CopyFrom(_timestamp(now))
    event.last_timestamp.CopyFrom(_timestamp(now))
    event.count = 1
    event.reporting_component = component
    event.reporting_instance = host
    return event


@dataclass
class _Pending:
    event: core_pb2.Event
    count: int
    last: float


class EventRecorder:
    """Writes Events through an AsyncClusterClient; run() drains until cancelled."""

    def __init__(self, client, *, component: str = COMPONENT, host: str | None = None, clock=time.time,
                 max_pending: int = 50_000, cache_size: int = 8192, batch: int = BATCH) -> None:
        self.client = client
        self.component = component
        self.host = socket.gethostname() if host is None else host
        self.clock = clock
        self.max_pending = max_pending
        self.cache_size = cache_size
        self.batch = batch
        self.dropped = 0
        self.written = 0
        self._pending: collections.OrderedDict[str, _Pending] = collections.OrderedDict()
        self._known: collections.OrderedDict[str, core_pb2.Event] = collections.OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def record(self, pod: PodRef, type_: str, reason: str, message: str, related: PodRef | None = None) -> None:
        now = self.clock()
        name = event_name(pod_reference(pod), type_, reason, message[:MAX_MESSAGE], self.component)
        pending = self._pending.get(name)
        if pending is not None:
            pending.count += 1
            pending.last = now
            return
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return
        event = new_event(pod, type_, reason, message, component=self.component, host=self.host, now=now, related=related)
        self._pending[name] = _Pending(event, 1, now)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            taken = []
            while self._pending and len(taken) < self.batch:
                taken.append(self._pending.popitem(last=False))
            try:
                await self._write(taken)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%d events not written", len(taken))

    async def _write(self, taken: list[tuple[str, _Pending]]) -> None:
        fresh = [(n, p) for n, p in taken if n not in self._known]
        repeats = [(n, p) for n, p in taken if n in self._known]
        if fresh:
            events = []
            for _name, p in fresh:
                e = core_pb2.Event()
                e.CopyFrom(p.event)
                e.count = p.count
                e.last_timestamp.CopyFrom(_timestamp(p.last))
                events.append(e)
            resp = await self.client.bulk_apply(events, create_only=True)
            for (name, p), event, result in zip(fresh, events, resp.results):
                code = grpc.StatusCode.OK if result.code == 0 else _code(result.code)
                if code == grpc.StatusCode.OK:
                    self.written += 1
                    self._remember(name, event)
                elif code == grpc.StatusCode.ALREADY_EXISTS:
                    repeats.append((name, p))  # written before (another run): count up
                elif code not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    log.info("event %s not written: %s", name, result.message)
        for name, p in repeats:
            try:
                await self._count_up(name, p)
            except APIStatusError as exc:
                if exc.code not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    log.info("event %s not written: %s", name, exc)

    async def _count_up(self, name: str, p: _Pending) -> None:
        for _attempt in range(3):
            known = self._known.get(name)
            if known is None:
                known = await self.client.get("Event", name, p.event.metadata.namespace)
            event = core_pb2.Event()
            event.CopyFrom(known)
            event.count = max(known.count, 1) + p.count
            event.last_timestamp.CopyFrom(_timestamp(p.last))
            event.metadata.resource_version = ""
            try:
                self._remember(name, await self.client.update(event))
                self.written += 1
                return
            except APIStatusError as exc:
                if exc.code != grpc.StatusCode.NOT_FOUND:
                    raise
                self._known.pop(name, None)  # expired meanwhile: write it anew
                fresh = core_pb2.Event()
                fresh.CopyFrom(p.event)
                fresh.count = p.count
                try:
                    self._remember(name, await self.client.create(fresh))
                    self.written += 1
                    return
                except APIStatusError as again:
                    if again.code != grpc.StatusCode.ALREADY_EXISTS:
                        raise

    def _remember(self, name: str, event: core_pb2.Event) -> None:
        self._known[name] = event
        self._known.move_to_end(name)
        while len(self._known) > self.cache_size:
            self._known.popitem(last=False)


def _code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
