"""The controller manager: runs the enabled controllers over shared informers.

    run_controller_manager(address, stop)      what `shoal server` starts after its API is up

One informer per kind, shared by every controller that reads that kind, started after every
controller has subscribed; workers start once every informer has listed, so no controller acts
on a half-filled cache (the namespace controller, for one, would take a namespace missing from
a cache not yet filled for gone).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Iterable

from shoal.control.controllers.actions import ActionExecutor
from shoal.control.controllers.controller import Controller, ControllerContext, ControllerSettings
from shoal.control.controllers.events import EventRecorder
from shoal.control.controllers.informer import InformerFactory

log = logging.getLogger("shoal.controllers.manager")


def registry() -> dict[str, type[Controller]]:
    """Controller name -> class, in start order."""
    from shoal.control.controllers.deployment import DeploymentController
    from shoal.control.controllers.endpoints import EndpointsController
    from shoal.control.controllers.event_ttl import EventTTLController
    from shoal.control.controllers.garbage_collector import GarbageCollector
    from shoal.control.controllers.hpa import HorizontalPodAutoscalerController
    from shoal.control.controllers.job import JobController
    from shoal.control.controllers.local_path import LocalPathProvisioner
    from shoal.control.controllers.namespace import NamespaceController
    from shoal.control.controllers.node_lifecycle import NodeLifecycleController
    from shoal.control.controllers.pvc_protection import PVCProtectionController
    from shoal.control.controllers.replicaset import ReplicaSetController
    from shoal.control.controllers.service_ip import ServiceIPController
    from shoal.control.controllers.volume_binder import VolumeBinderController

    classes = (
        GarbageCollector,
        NamespaceController,
        ReplicaSetController,
        DeploymentController,
        JobController,
        ServiceIPController,
        EndpointsController,
        EventTTLController,
        NodeLifecycleController,
        HorizontalPodAutoscalerController,
        VolumeBinderController,
        LocalPathProvisioner,
        PVCProtectionController,
    )
    return {cls.name: cls for cls in classes}


# Every controller runs by default, as in kube-controller-manager (node lifecycle included: the
# agents renew their Leases; `shoal server --node-monitor-grace-period` sets how long a silent
# node keeps Ready). A name here would be left out of "*".
DEFAULT_OFF: frozenset[str] = frozenset()


def resolve_enabled(requested: Iterable[str] | str | None, known: Iterable[str]) -> list[str]:
    """The controllers to run, in kube-controller-manager's --controllers syntax: names, "*"
    for every controller on by default, "-name" to leave one out ("*,-job", "*,nodelifecycle").
    None reads SHOAL_CONTROLLERS (default "*")."""
    known = list(known)
    if requested is None:
        requested = os.environ.get("SHOAL_CONTROLLERS", "*")
    items = [s.strip() for s in requested.split(",")] if isinstance(requested, str) else list(requested)
    items = [s for s in items if s]
    chosen = {n for n in known if n not in DEFAULT_OFF} if "*" in items else set()
    for item in items:
        if item == "*":
            continue
        name = item[1:] if item.startswith("-") else item
        if name not in known:
            raise ValueError(f"unknown controller {name!r}; known: {', '.join(known)}")
        if item.startswith("-"):
            chosen.discard(name)
        else:
            chosen.add(name)
    return [n for n in known if n in chosen]


class ControllerManager:
    def __init__(self, client, *, enabled: Iterable[str] | str | None = None,
                 settings: ControllerSettings | None = None, component: str = "shoal-controller-manager") -> None:
        known = registry()
        names = resolve_enabled(enabled, known)
        self.client = client
        self.settings = settings or ControllerSettings.from_env()
        self.recorder = EventRecorder(client, component=component)
        self.informers = InformerFactory(client)
        self.context = ControllerContext(
            client=client,
            informers=self.informers,
            executor=ActionExecutor(client, self.recorder),
            recorder=self.recorder,
            settings=self.settings,
        )
        self.controllers: dict[str, Controller] = {n: known[n](self.context) for n in known if n in names}
        self._tasks: list[asyncio.Task] = []

    async def run(self, stop: asyncio.Event) -> None:
        for controller in self.controllers.values():
            controller.setup()
        self.informers.start()
        recorder = asyncio.create_task(self.recorder.run(), name="event-recorder")
        stopping = asyncio.create_task(stop.wait())
        try:
            synced = asyncio.create_task(self.informers.wait_synced())
            await asyncio.wait({synced, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not synced.done():
                synced.cancel()
                return
            log.info("controllers started: %s", ", ".join(self.controllers))
            self._tasks = [asyncio.create_task(c.run(), name=f"controller-{n}") for n, c in self.controllers.items()]
            await stopping
        finally:
            stopping.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.informers.stop()
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)


async def run_controller_manager(address: str, stop: asyncio.Event, *, enabled: Iterable[str] | None = None,
                                 settings: ControllerSettings | None = None) -> None:
    """Runs the controllers against the API at ``address`` until ``stop`` is set (or the task is
    cancelled)."""
    from shoal.proto.client import AsyncClusterClient

    client = AsyncClusterClient(address, timeout=30.0)
    try:
        await ControllerManager(client, enabled=enabled, settings=settings).run(stop)
    finally:
        await client.close()
