"""ServiceCatalog: the agent's view of every Service and Endpoints object of the cluster.

One list + watch per kind (re-listed on any break, like the pod watch in fleet.py) keeps the
catalog current; what reads it:

    service_proxy.ServiceProxy   ClusterIP / NodePort forwarding rules
    dns.ClusterDNS               A records of <service>.<namespace>.svc.cluster.local
    runtime (service_env)        the containers' {NAME}_SERVICE_HOST ... variables

The catalog itself does no I/O: ``apply`` takes watch events, ``replace`` a fresh list, and
every change bumps ``generation`` and wakes whoever waits in ``changed``.
"""

from __future__ import annotations

import asyncio
import logging
import random

from shoal.node.service_env import pod_service_environment
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc_pb2

log = logging.getLogger("shoal.node.services")

WATCHED_KINDS = ("Service", "Endpoints")
RELIST_BACKOFF = (0.2, 5.0)
# How long a starting container waits for the first Service list (its environment needs it).
SYNC_WAIT_SECONDS = 10.0


def _key(obj) -> tuple[str, str]:
    return obj.metadata.namespace, obj.metadata.name


class ServiceCatalog:
    """Services and Endpoints by (namespace, name); ``generation`` counts changes."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], object]] = {k: {} for k in WATCHED_KINDS}
        self.synced_kinds: set[str] = set()
        self.generation = 0
        self._waiters: set[asyncio.Event] = set()

    @property
    def services(self) -> dict[tuple[str, str], object]:
        return self.objects["Service"]

    @property
    def endpoints(self) -> dict[tuple[str, str], object]:
        return self.objects["Endpoints"]

    @property
    def synced(self) -> bool:
        return self.synced_kinds >= set(WATCHED_KINDS)

    def replace(self, kind: str, items: list) -> None:
        """After a (re-)list: ``items`` is every object of ``kind`` right now."""
        self.objects[kind] = {_key(o): o for o in items}
        self.synced_kinds.add(kind)
        self._bump()

    def apply(self, kind: str, event_type: int, obj) -> None:
        if event_type == svc_pb2.EVENT_TYPE_DELETED:
            self.objects[kind].pop(_key(obj), None)
        else:
            self.objects[kind][_key(obj)] = obj
        self._bump()

    def _bump(self) -> None:
        self.generation += 1
        for event in self._waiters:
            event.set()

    def subscribe(self) -> asyncio.Event:
        """An event set on every change (the subscriber clears it when it has caught up)."""
        event = asyncio.Event()
        if self.generation:
            event.set()
        self._waiters.add(event)
        return event

    def service_environment(self, namespace: str, enable_service_links: bool = True) -> dict[str, str]:
        return pod_service_environment(self.services.values(), namespace, enable_service_links)


class ServiceWatcher:
    """Keeps a ServiceCatalog current over the agent's API connection (one task per kind)."""

    def __init__(self, api, catalog: ServiceCatalog) -> None:
        self.api = api
        self.catalog = catalog
        self._tasks: list[asyncio.Task] = []
        self._synced = asyncio.Event()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(kind), name=f"watch-{kind}") for kind in WATCHED_KINDS]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_synced(self, timeout: float = SYNC_WAIT_SECONDS) -> bool:
        """True once every kind has been listed; False after ``timeout`` (the caller goes on
        with what it has rather than blocking a pod forever)."""
        if self.catalog.synced:
            return True
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _loop(self, kind: str) -> None:
        failures = 0
        while True:
            try:
                items, revision = await self.api.list_all(kind)
                self.catalog.replace(kind, items)
                if self.catalog.synced:
                    self._synced.set()
                failures = 0
                async for batch in self.api.watch(kind, resource_version=revision):
                    for event in batch.events:
                        if event.type == svc_pb2.EVENT_TYPE_BOOKMARK:
                            continue
                        obj = kinds.by_kind(kind).message()
                        obj.CopyFrom(kinds.unwrap(event.object)[1])
                        self.catalog.apply(kind, event.type, obj)
            except asyncio.CancelledError:
                raise
            except (APIStatusError, kinds.UnknownKindError) as exc:
                failures += 1
                if getattr(exc, "reason", "") != "Expired":
                    delay = min(RELIST_BACKOFF[1], RELIST_BACKOFF[0] * 2 ** failures) * random.uniform(0.8, 1.2)
                    log.warning("%s watch: %s; re-listing in %.1fs", kind, exc, delay)
                    await asyncio.sleep(delay)
