"""An informer for the scheduler: List, then Watch from the list's resourceVersion; list again
when the watch's revision has been compacted (OUT_OF_RANGE). Changes reach the handler a watch
response (a batch) at a time, so the loop applies a batch before it places the next pods.

    Informer(client, "Pod", handler).run()      handler([(type, obj), ...]); type is
                                                "ADDED" | "MODIFIED" | "DELETED"

`objects` holds the latest object of each key. It never goes back in time: a change older than
what it holds is dropped, so the overlap between a paged list (pages read at different
revisions) and the watch that follows is harmless. Objects are shared: never change one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import grpc
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc

log = logging.getLogger("shoal.sched.informer")

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
Change = tuple[str, object]
Handler = Callable[[list[Change]], None]


def object_key(obj) -> str:
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def _revision(obj) -> int:
    rv = obj.metadata.resource_version
    return int(rv) if rv.isdigit() else 0


class Informer:
    def __init__(self, client, kind: str, handler: Handler, *, page_size: int = 1000, max_backoff: float = 10.0) -> None:
        self.client = client
        self.kind = kinds.by_kind(kind).kind
        self.handler = handler
        self.page_size = page_size
        self.max_backoff = max_backoff
        self.objects: dict[str, object] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.lists = 0

    async def run(self) -> None:
        """Lists and watches until cancelled."""
        failures = 0
        me = asyncio.current_task()
        while True:
            try:
                if not self.resource_version:
                    await self._list()
                await self._watch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                if exc.code == grpc.StatusCode.OUT_OF_RANGE:
                    log.info("%s informer: %s; listing again", self.kind, exc.message)
                    self.resource_version = ""
                    continue
                failures += 1
                log.warning("%s informer: %s", self.kind, exc)
            except Exception:
                failures += 1
                log.exception("%s informer failed", self.kind)
            if me is not None and me.cancelling():
                # A cancellation gRPC turned into a CANCELLED status (or an end of stream).
                raise asyncio.CancelledError
            await asyncio.sleep(min(self.max_backoff, 0.1 * 2 ** min(failures, 10)) * (0.5 + random.random() / 2))

    async def _list(self) -> None:
        items: list = []
        token, revision = "", ""
        while True:
            resp = await self.client.list(self.kind, limit=self.page_size, continue_token=token)
            revision = revision or resp.resource_version
            items.extend(kinds.unwrap(o)[1] for o in resp.items)
            token = resp.continue_token
            if not token:
                break
        fresh = {object_key(o): o for o in items}
        changes: list[Change] = [(DELETED, old) for key, old in self.objects.items() if key not in fresh]
        for key, obj in fresh.items():
            old = self.objects.get(key)
            if old is None:
                changes.append((ADDED, obj))
            elif old.metadata.resource_version != obj.metadata.resource_version:
                changes.append((MODIFIED, obj))
        self.objects = fresh
        self.resource_version = revision
        self.lists += 1
        self._dispatch(changes)
        self.synced.set()

    async def _watch(self) -> None:
        async for resp in self.client.watch(self.kind, resource_version=self.resource_version, allow_bookmarks=True):
            changes: list[Change] = []
            for event in resp.events:
                if event.resource_version:
                    self.resource_version = event.resource_version
                if event.type == svc.EVENT_TYPE_BOOKMARK or not event.HasField("object"):
                    continue
                obj = kinds.unwrap(event.object)[1]
                key = object_key(obj)
                old = self.objects.get(key)
                if old is not None:
                    held, seen = _revision(old), _revision(obj)
                    # Older than what is held (the replay after a paged list), or the very same
                    # write again; a delete carries the last state, so equal is news for it.
                    if held > seen or (held == seen and event.type != svc.EVENT_TYPE_DELETED):
                        continue
                if event.type == svc.EVENT_TYPE_DELETED:
                    if old is not None:
                        del self.objects[key]
                        changes.append((DELETED, obj))
                    continue
                self.objects[key] = obj
                changes.append((ADDED if old is None else MODIFIED, obj))
            if changes:
                self._dispatch(changes)

    def _dispatch(self, changes: list[Change]) -> None:
        try:
            self.handler(changes)
        except Exception:
            log.exception("%s informer: the handler failed on %d changes", self.kind, len(changes))
