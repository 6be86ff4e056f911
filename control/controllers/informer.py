"""Informers: a local cache of one kind kept current by List + Watch, with change handlers.

    Informer(client, "Pod").run()   list (paged) -> cache.replace -> watch from the list's
                                    resourceVersion -> cache.apply(event) -> handlers(change)
    OUT_OF_RANGE ("gone")           the watch's revision was compacted: list again
    other errors                    back off, then resume the watch from the last revision

The cache never goes back in time: a write or delete older than what it holds is ignored, so
the overlap between a paged list (whose pages are read at different revisions) and the watch
that follows it is harmless. Cached objects are shared by every controller: never change one
in place (meta.clone first).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Callable, Iterable, Literal

import grpc

from shoal.control.controllers.meta import object_key, selector_matches
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import meta_pb2

log = logging.getLogger("shoal.controllers.informer")

ChangeType = Literal["add", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One observed change of a cached object. ``old`` is None for adds, ``new`` is the last
    known state for deletes."""

    type: ChangeType
    old: object | None
    new: object


Handler = Callable[[Change], None]


def _revision(obj) -> int:
    rv = obj.metadata.resource_version
    return int(rv) if rv.isdigit() else 0


class ObjectCache:
    """Objects of one kind by key ("ns/name"), indexed by namespace, uid, owner uid and label."""

    def __init__(self) -> None:
        self._objects: dict[str, object] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._by_uid: dict[str, str] = {}
        self._by_owner: dict[str, set[str]] = {}
        self._by_label: dict[tuple[str, str], set[str]] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: str) -> bool:
        return key in self._objects

    def get(self, key: str):
        return self._objects.get(key)

    def get_by_uid(self, uid: str):
        key = self._by_uid.get(uid)
        return None if key is None else self._objects.get(key)

    def keys(self) -> list[str]:
        return list(self._objects)

    def list(self, namespace: str | None = None) -> list:
        if namespace is None:
            return list(self._objects.values())
        return [self._objects[k] for k in self._by_namespace.get(namespace, ())]

    def namespaces(self) -> set[str]:
        return {ns for ns, keys in self._by_namespace.items() if keys}

    def by_owner(self, uid: str) -> list:
        """Objects with an owner reference (controller or not) to ``uid``."""
        return [self._objects[k] for k in self._by_owner.get(uid, ())]

    def by_label(self, key: str, value: str) -> list:
        return [self._objects[k] for k in self._by_label.get((key, value), ())]

    def select(self, namespace: str, selector: meta_pb2.LabelSelector) -> list:
        """Objects in ``namespace`` the selector matches (an empty selector matches all); starts
        from the label index when the selector has a matchLabels term."""
        if selector.match_labels:
            k, v = next(iter(sorted(selector.match_labels.items())))
            candidates = [o for o in self.by_label(k, v) if o.metadata.namespace == namespace]
        else:
            candidates = self.list(namespace)
        return [o for o in candidates if selector_matches(selector, o.metadata.labels)]

    # -- writes -------------------------------------------------------------------------------

    def upsert(self, obj) -> tuple[bool, object | None]:
        """Stores ``obj`` unless the cache holds a newer revision of it; returns (stored, old)."""
        key = object_key(obj)
        old = self._objects.get(key)
        if old is not None and _revision(old) > _revision(obj):
            return False, old  # revisions are global: a higher one is always the newer state
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        self._index(key, obj)
        return True, old

    def remove(self, obj) -> object | None:
        """Removes the object ``obj`` names unless the cache holds a newer one; returns what was
        removed (None if nothing was)."""
        key = object_key(obj)
        old = self._objects.get(key)
        if old is None:
            return None
        if _revision(old) > _revision(obj):
            return None  # the cache holds a newer object of that name: the delete was of its predecessor
        self._unindex(key, old)
        del self._objects[key]
        return old

    def replace(self, objects: Iterable) -> list[Change]:
        """Makes the cache hold exactly ``objects`` (a fresh list); returns the changes."""
        fresh = {object_key(o): o for o in objects}
        changes: list[Change] = []
        for key in [k for k in self._objects if k not in fresh]:
            old = self._objects[key]
            self._unindex(key, old)
            del self._objects[key]
            changes.append(Change("delete", old, old))
        for key, obj in fresh.items():
            old = self._objects.get(key)
            if old is not None and old.metadata.resource_version == obj.metadata.resource_version:
                continue
            if old is not None:
                self._unindex(key, old)
            self._objects[key] = obj
            self._index(key, obj)
            changes.append(Change("add", None, obj) if old is None else Change("update", old, obj))
        return changes

    def _index(self, key: str, obj) -> None:
        meta = obj.metadata
        self._by_namespace.setdefault(meta.namespace, set()).add(key)
        if meta.uid:
            self._by_uid[meta.uid] = key
        for ref in meta.owner_references:
            self._by_owner.setdefault(ref.uid, set()).add(key)
        for label in meta.labels.items():
            self._by_label.setdefault(label, set()).add(key)

    def _unindex(self, key: str, obj) -> None:
        meta = obj.metadata
        _discard(self._by_namespace, meta.namespace, key)
        if self._by_uid.get(meta.uid) == key:
            del self._by_uid[meta.uid]
        for ref in meta.owner_references:
            _discard(self._by_owner, ref.uid, key)
        for label in meta.labels.items():
            _discard(self._by_label, label, key)


def _discard(index: dict, bucket, key: str) -> None:
    keys = index.get(bucket)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[bucket]


class Informer:
    """Keeps ``cache`` equal to the server's objects of one kind and tells handlers of changes."""

    def __init__(self, client, kind: str, *, page_size: int = 500, max_backoff: float = 10.0) -> None:
        self.client = client
        self.kind = kinds.by_kind(kind).kind
        self.page_size = page_size
        self.max_backoff = max_backoff
        self.cache = ObjectCache()
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self._handlers: list[Handler] = []

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def _dispatch(self, change: Change) -> None:
        for handler in self._handlers:
            try:
                handler(change)
            except Exception:
                log.exception("%s informer: a handler failed on %s", self.kind, change.type)

    async def run(self) -> None:
        """Lists and watches until cancelled."""
        failures = 0
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
            delay = min(self.max_backoff, 0.1 * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)
            await asyncio.sleep(delay)

    async def _list(self) -> None:
        items: list = []
        token, revision = "", ""
        while True:
            resp = await self.client.list(self.kind, limit=self.page_size, continue_token=token)
            # Watching from the first page's revision replays whatever changed while the later
            # pages were read; the cache's revision check makes the replay harmless.
            revision = revision or resp.resource_version
            items.extend(kinds.unwrap(o)[1] for o in resp.items)
            token = resp.continue_token
            if not token:
                break
        changes = self.cache.replace(items)
        self.resource_version = revision
        self.relists += 1
        for change in changes:
            self._dispatch(change)
        self.synced.set()

    async def _watch(self) -> None:
        async for resp in self.client.watch(self.kind, resource_version=self.resource_version, allow_bookmarks=True):
            for event in resp.events:
                self._apply(event)

    def _apply(self, event: svc.WatchEvent) -> None:
        if event.resource_version:
            self.resource_version = event.resource_version
        if event.type == svc.EVENT_TYPE_BOOKMARK or not event.HasField("object"):
            return
        obj = kinds.unwrap(event.object)[1]
        if event.type == svc.EVENT_TYPE_DELETED:
            old = self.cache.remove(obj)
            if old is not None:
                self._dispatch(Change("delete", old, obj))
            return
        stored, old = self.cache.upsert(obj)
        if stored:
            self._dispatch(Change("add", None, obj) if old is None else Change("update", old, obj))


class InformerFactory:
    """One shared informer per kind, started on first use."""

    def __init__(self, client) -> None:
        self.client = client
        self._informers: dict[str, Informer] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def get(self, kind: str) -> Informer:
        name = kinds.by_kind(kind).kind
        informer = self._informers.get(name)
        if informer is None:
            informer = self._informers[name] = Informer(self.client, name)
        return informer

    def __getitem__(self, kind: str) -> Informer:
        return self.get(kind)

    def all(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        for name, informer in self._informers.items():
            if name not in self._tasks:
                self._tasks[name] = asyncio.create_task(informer.run(), name=f"informer-{name}")

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
