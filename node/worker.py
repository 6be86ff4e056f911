"""PodWorker: the I/O around one pod's PodMachine.

The worker turns what it observes into events for the machine and carries out the
instructions the machine returns, each as an asyncio task whose outcome comes back as the
next event. It owns the pod's timers and probers and writes the pod's status, coalescing
writes so a burst of events costs one UpdateStatus.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING

from shoal.node import lifecycle as lc
from shoal.node.podview import pod_view
from shoal.node.runtime.base import ImagePullError, RecoveredPod
from shoal.node.status import pod_status, prior_containers
from shoal.node.volumes import (
    MOUNT_FAILED,
    VolumeNotReady,
    has_api_volumes,
    has_projected_volumes,
    resolve_volumes,
    volume_refresh_seconds,
)
from shoal.proto.client import APIStatusError
from shoal.v1 import core_pb2

if TYPE_CHECKING:
    from shoal.node.agent import NodeAgent

log = logging.getLogger("shoal.node")
_stimuli = itertools.count(1)
STATUS_RETRY_SECONDS = 1.0


def stimulus(kind: str) -> str:
    return f"{kind}-{next(_stimuli)}"


class PodWorker:
    __slots__ = ("agent", "pod", "machine", "tasks", "timers", "probers", "_status_dirty", "_flushing",
                 "_last_sent", "_flushed", "forgotten")

    def __init__(self, agent: NodeAgent, pod: core_pb2.Pod) -> None:
        self.agent = agent
        self.pod = pod
        self.machine = lc.PodMachine(pod_view(pod), agent.config.backoff, validate=agent.config.validate,
                                     log_size=agent.config.story_size)
        self.tasks: set[asyncio.Task] = set()
        self.timers: dict[tuple, asyncio.TimerHandle] = {}
        self.probers: dict[str, object] = {}
        self._status_dirty = False
        self._flushing = False
        self._last_sent = b""
        self._flushed: asyncio.Event | None = None
        self.forgotten = False

    @property
    def uid(self) -> str:
        return self.pod.metadata.uid

    def now(self) -> float:
        return self.agent.clock()

    # -- what comes in -----------------------------------------------------------------------

    def observe(self, pod: core_pb2.Pod, recovered: RecoveredPod | None = None) -> None:
        """The pod as the API shows it now (first sight, or a watch event)."""
        first = self.machine.first_seen is None
        self.pod = pod
        if first and recovered is not None:
            self.handle(lc.Recovered(recovered.pod_ip, tuple(recovered.containers), stimulus("recover"), self.now()))
            for rc in recovered.containers:
                if rc.running:
                    self.watch_adopted(rc.name)
            self.watch_projected_volumes()
        prior = prior_containers(pod.status) if first else ()
        self.handle(lc.PodSeen(pod_view(pod), stimulus("watch"), self.now(), prior=prior))

    def removed(self) -> None:
        self.handle(lc.PodRemoved(stimulus("watch-deleted"), self.now()))

    def handle(self, event: lc.Event) -> None:
        if self.forgotten:
            return
        try:
            instructions = self.machine.handle(event)
        except Exception:
            log.exception("pod %s: the lifecycle failed on %s", self.machine.pod.key, type(event).__name__)
            return
        for instruction in instructions:
            self._execute(instruction)

    # -- what goes out -----------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pod %s: %r", self.machine.pod.key, task.exception(), exc_info=task.exception())

    def _execute(self, ins) -> None:
        if isinstance(ins, lc.ReportStatus):
            self.report_status()
        elif isinstance(ins, lc.PullImage):
            self._spawn(self._pull(ins))
        elif isinstance(ins, lc.CreateSandbox):
            self._spawn(self._create_sandbox())
        elif isinstance(ins, lc.StartContainer):
            self._spawn(self._start(ins))
        elif isinstance(ins, lc.StopContainer):
            self._stop_probes(ins.container)
            self._spawn(self._stop(ins))
        elif isinstance(ins, lc.StartProbes):
            self._start_probes(ins.container)
        elif isinstance(ins, lc.RemoveSandbox):
            self._spawn(self._remove_sandbox())
        elif isinstance(ins, lc.SetTimer):
            old = self.timers.pop(ins.key, None)
            if old is not None:
                old.cancel()
            self.timers[ins.key] = asyncio.get_running_loop().call_later(ins.delay, self._fire, ins.key)
        elif isinstance(ins, lc.DeletePodObject):
            self._spawn(self._delete_object(ins.uid))
        elif isinstance(ins, lc.ForgetPod):
            self.forget()
        else:  # pragma: no cover - a new instruction without its executor
            raise TypeError(f"no executor for {ins!r}")

    def _fire(self, key: tuple) -> None:
        self.timers.pop(key, None)
        self.handle(lc.TimerFired(key, stimulus("timer"), self.now()))

    def _container(self, name: str):
        for c in list(self.pod.spec.init_containers) + list(self.pod.spec.containers):
            if c.name == name:
                return c
        return None

    async def _pull(self, ins: lc.PullImage) -> None:
        runtime = self.agent.runtime
        try:
            image_id = await runtime.pull_image(ins.image, ins.policy)
        except ImagePullError as exc:
            self.handle(lc.ImagePullFailed(ins.container, str(exc), stimulus("pull"), self.now(), never=exc.never))
            return
        except Exception as exc:  # a runtime bug must not wedge the pod
            log.exception("pod %s: pulling %s", self.machine.pod.key, ins.image)
            self.handle(lc.ImagePullFailed(ins.container, str(exc), stimulus("pull"), self.now()))
            return
        self.agent.images_changed()
        self.handle(lc.ImagePulled(ins.container, image_id, stimulus("pull"), self.now()))

    async def _create_sandbox(self) -> None:
        runtime = self.agent.runtime
        projects = getattr(runtime, "project_volumes", None)
        try:
            # Volumes first, as the kubelet waits for them before the sandbox: a pod whose
            # ConfigMap, Secret or claim is missing holds nothing on the node while it waits.
            if projects is not None and has_api_volumes(self.pod):
                plan = await resolve_volumes(self.agent.api, self.pod, node_name=self.agent.name,
                                             node_labels=self.agent.node_object().metadata.labels)
                await asyncio.to_thread(projects, self.pod, plan)
        except VolumeNotReady as exc:
            log.info("pod %s: %s", self.machine.pod.key, exc)
            self.handle(lc.SandboxFailed(str(exc), stimulus("volumes"), self.now()))
            return
        except Exception as exc:
            log.warning("pod %s: volumes: %s", self.machine.pod.key, exc)
            self.handle(lc.SandboxFailed(f"{MOUNT_FAILED}s: {exc}", stimulus("volumes"), self.now()))
            return
        try:
            ip = await runtime.create_sandbox(self.pod)
        except Exception as exc:
            log.warning("pod %s: sandbox: %s", self.machine.pod.key, exc)
            self.handle(lc.SandboxFailed(f"failed to create pod sandbox: {exc}", stimulus("sandbox"), self.now()))
            return
        self.handle(lc.SandboxReady(ip, stimulus("sandbox"), self.now()))
        self.watch_projected_volumes()

    def watch_projected_volumes(self) -> None:
        """Keeps configMap and secret volumes in step with their objects (the kubelet's
        periodic sync), until the pod stops."""
        if getattr(self.agent.runtime, "project_volumes", None) is not None and has_projected_volumes(self.pod):
            self._spawn(self._refresh_volumes())

    async def _refresh_volumes(self) -> None:
        interval = volume_refresh_seconds()
        while True:
            await asyncio.sleep(interval)
            if self.forgotten or self.machine.stopping or self.machine.sandbox != "ready":
                return
            try:
                plan = await resolve_volumes(self.agent.api, self.pod, only_projected=True)
                if self.forgotten or self.machine.stopping:
                    return  # the sandbox may be on its way out: write nothing into it
                changed = await asyncio.to_thread(self.agent.runtime.project_volumes, self.pod, plan)
            except VolumeNotReady as exc:
                # As the kubelet does: the last content stays while the object is missing.
                log.info("pod %s: volume refresh: %s", self.machine.pod.key, exc)
                continue
            except Exception as exc:
                log.warning("pod %s: volume refresh: %s", self.machine.pod.key, exc)
                continue
            if changed:
                log.info("pod %s: updated volume(s) %s", self.machine.pod.key, ", ".join(changed))

    async def _start(self, ins: lc.StartContainer) -> None:
        container = self._container(ins.container)
        runtime = self.agent.runtime
        try:
            if container is None:
                raise RuntimeError(f"container {ins.container} is not in the pod's spec")
            cid = await runtime.start_container(self.pod, container, attempt=ins.attempt, init=ins.init)
        except Exception as exc:
            log.warning("pod %s: starting %s: %s", self.machine.pod.key, ins.container, exc)
            self.handle(lc.ContainerStartFailed(ins.container, str(exc), stimulus("start"), self.now()))
            return
        self.handle(lc.ContainerStarted(ins.container, cid, stimulus("start"), self.now()))
        await self._wait(ins.container)

    async def _wait(self, name: str) -> None:
        info = await self.agent.runtime.wait_container(self.uid, name)
        self._stop_probes(name)
        self.handle(lc.ContainerExited(name, info.exit_code, stimulus("exit"), info.finished_at,
                                       oom_killed=info.oom_killed, signal=info.signal, message=info.message))

    def watch_adopted(self, name: str) -> None:
        """Wait on a container recovered from an earlier run of the agent."""
        self._spawn(self._wait(name))

    async def _stop(self, ins: lc.StopContainer) -> None:
        await self.agent.runtime.stop_container(self.uid, ins.container, ins.grace_seconds)

    async def _remove_sandbox(self) -> None:
        try:
            await self.agent.runtime.remove_sandbox(self.uid)
        except Exception:
            log.exception("pod %s: removing the sandbox", self.machine.pod.key)
            await asyncio.sleep(STATUS_RETRY_SECONDS)
            self._spawn(self._remove_sandbox())
            return
        self.handle(lc.SandboxRemoved(stimulus("sandbox-removed"), self.now()))

    async def _delete_object(self, uid: str) -> None:
        await self.flush_status()
        meta = self.pod.metadata
        try:
            await self.agent.api.delete("Pod", meta.name, meta.namespace, grace_period_seconds=0, uid=uid)
        except APIStatusError as exc:
            if exc.reason not in ("NotFound", "Conflict"):
                log.warning("pod %s: delete: %s", self.machine.pod.key, exc)

    # -- probes ------------------------------------------------------------------------------

    def _start_probes(self, name: str) -> None:
        container = self._container(name)
        if container is None or name in self.probers:
            return
        from shoal.node.probes import ContainerProber

        prober = ContainerProber(self, container)
        if prober.has_probes:
            self.probers[name] = prober
            prober.start()

    def _stop_probes(self, name: str) -> None:
        prober = self.probers.pop(name, None)
        if prober is not None:
            prober.stop()

    # -- status ------------------------------------------------------------------------------

    def current_status(self) -> core_pb2.PodStatus:
        return pod_status(self.machine, self.pod.status, host_ip=self.agent.host_ip)

    def report_status(self) -> None:
        self._status_dirty = True
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush_loop())

    async def flush_status(self) -> None:
        """Returns once the latest status is written (or the pod is gone)."""
        if not self._flushing and not self._status_dirty:
            return
        if self._flushed is None:
            self._flushed = asyncio.Event()
        await self._flushed.wait()

    async def _flush_loop(self) -> None:
        try:
            while self._status_dirty and not self.forgotten:
                self._status_dirty = False
                status = self.current_status()
                data = status.SerializeToString(deterministic=True)
                if data == self._last_sent:
                    continue
                pod = core_pb2.Pod()
                pod.metadata.name = self.pod.metadata.name
                pod.metadata.namespace = self.pod.metadata.namespace
                pod.status.CopyFrom(status)
                try:
                    await self.agent.api.update_status(pod)
                    self._last_sent = data
                except APIStatusError as exc:
                    if exc.reason == "NotFound":
                        break
                    log.warning("pod %s: status: %s", self.machine.pod.key, exc)
                    self._status_dirty = True
                    await asyncio.sleep(STATUS_RETRY_SECONDS)
        finally:
            self._flushing = False
            if self._flushed is not None:
                self._flushed.set()
                self._flushed = None

    # -- the end -----------------------------------------------------------------------------

    def forget(self) -> None:
        self.forgotten = True
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        for name in list(self.probers):
            self._stop_probes(name)
        self.agent.forget(self)

    def cancel(self) -> None:
        """The agent is shutting down: stop doing anything for this pod (containers keep running)."""
        self.forgotten = True
        for handle in self.timers.values():
            handle.cancel()
        for name in list(self.probers):
            self._stop_probes(name)
        for task in list(self.tasks):
            task.cancel()
