"""NodeAgent: one node's part of an agent process.

It knows its Node and Lease objects and keeps a PodWorker per pod bound to it. It has no loops
of its own: a ``Fleet`` (fleet.py) runs the watch, the lease renewals and the node heartbeats for
every NodeAgent of the process, so a thousand hollow nodes share one channel and one watch.

    Fleet --(pod events, by spec.nodeName)--> NodeAgent --(per pod)--> PodWorker --> PodMachine
      \\--(renew lease, heartbeat)--> NodeAgent.lease_object() / node_status()
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.node.lifecycle import BackoffPolicy
from shoal.node.machine import NodeResources, SystemInfo
from shoal.node.runtime.base import RecoveredPod, Runtime
from shoal.node.status import timestamp
from shoal.node.worker import PodWorker
from shoal.proto.client import APIStatusError
from shoal.v1 import coordination_pb2, core_pb2

log = logging.getLogger("shoal.node")

LEASE_NAMESPACE = "shoal-node-lease"
TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass
class AgentConfig:
    name: str
    resources: NodeResources
    labels: dict[str, str] = field(default_factory=dict)
    pod_cidr: str = ""
    host_ip: str = ""
    lease_duration_seconds: int = 40
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    # Run the state machines' invariant checks (tests).
    validate: bool = False
    # How many lifecycle entries each pod keeps (its story).
    story_size: int = 64
    # The agent's HTTP endpoint (logs, exec, stats), 0 if it has none.
    kubelet_port: int = 0


class NodeAgent:
    def __init__(self, config: AgentConfig, api, runtime: Runtime, sysinfo: SystemInfo, *, clock=time.time) -> None:
        self.config = config
        self.api = api
        self.runtime = runtime
        self.sysinfo = sysinfo
        self.clock = clock
        self.workers: dict[str, PodWorker] = {}
        self.recovered: dict[str, RecoveredPod] = {}
        self.node_uid = ""
        self.ready_since = clock()
        # Set when something the node status shows changed (images); the fleet writes it soon.
        self.status_dirty = False
        self.synced = False
        self._lease: coordination_pb2.Lease | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def host_ip(self) -> str:
        return self.config.host_ip

    # -- the Node --------------------------------------------------------------------------

    def node_object(self) -> core_pb2.Node:
        node = core_pb2.Node()
        node.metadata.name = self.name
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": self.sysinfo.architecture, **self.config.labels}
        node.metadata.labels.update(labels)
        if self.config.pod_cidr:
            node.spec.pod_cidr = self.config.pod_cidr
            node.spec.pod_cidrs.append(self.config.pod_cidr)
        node.status.CopyFrom(self.node_status())
        return node

    def node_status(self) -> core_pb2.NodeStatus:
        now = self.clock()
        status = core_pb2.NodeStatus()
        status.capacity.update(self.config.resources.capacity)
        status.allocatable.update(self.config.resources.allocatable)
        conditions = (
            ("Ready", "True", "KubeletReady", "shoal agent is posting ready status"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "agent has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "agent has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "agent has sufficient PID available"),
        )
        for ctype, value, reason, message in conditions:
            cond = status.conditions.add(type=ctype, status=value, reason=reason, message=message)
            cond.last_heartbeat_time.CopyFrom(timestamp(now))
            cond.last_transition_time.CopyFrom(timestamp(self.ready_since))
        if self.host_ip:
            status.addresses.add(type="InternalIP", address=self.host_ip)
        status.addresses.add(type="Hostname", address=self.name)
        if self.config.kubelet_port:
            status.daemon_endpoints.kubelet_endpoint.port = self.config.kubelet_port
        status.node_info.CopyFrom(self.sysinfo.to_proto())
        for image in self.runtime.images():
            status.images.add(names=list(image.names), size_bytes=image.size_bytes)
        return status

    def images_changed(self) -> None:
        self.status_dirty = True

    # -- the Lease -------------------------------------------------------------------------

    def lease_object(self) -> coordination_pb2.Lease:
        """The node's Lease with renewTime set to now."""
        if self._lease is None:
            lease = coordination_pb2.Lease()
            lease.metadata.name = self.name
            lease.metadata.namespace = LEASE_NAMESPACE
            lease.spec.holder_identity = self.name
            lease.spec.lease_duration_seconds = self.config.lease_duration_seconds
            self._lease = lease
        lease = self._lease
        if self.node_uid and not lease.metadata.owner_references:
            lease.metadata.owner_references.add(api_version="v1", kind="Node", name=self.name, uid=self.node_uid)
        ts = Timestamp()
        ts.FromNanoseconds(int(self.clock() * 1e6) * 1000)
        lease.spec.renew_time.CopyFrom(ts)
        return lease

    # -- pods ------------------------------------------------------------------------------

    def on_pod(self, pod: core_pb2.Pod) -> None:
        """An ADDED or MODIFIED pod bound to this node."""
        uid = pod.metadata.uid
        worker = self.workers.get(uid)
        if worker is not None:
            worker.observe(pod)
            return
        recovered = self.recovered.pop(uid, None)
        if recovered is None and pod.status.phase in TERMINAL_PHASES:
            # Finished before we (re)started; nothing of it runs here. Finish a pending deletion.
            if pod.metadata.HasField("deletion_timestamp"):
                asyncio.get_running_loop().create_task(self._delete_finished(pod))
            return
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        worker.observe(pod, recovered)

    def on_pod_deleted(self, pod: core_pb2.Pod) -> None:
        worker = self.workers.get(pod.metadata.uid)
        if worker is not None:
            worker.removed()

    def sync(self, pods: list[core_pb2.Pod]) -> None:
        """After a (re-)list: ``pods`` is every pod bound to this node right now."""
        present = {p.metadata.uid for p in pods}
        for uid, worker in list(self.workers.items()):
            if uid not in present:
                worker.removed()
        for pod in pods:
            self.on_pod(pod)
        if not self.synced:
            self.synced = True
            self._clean_up_orphans()

    def _clean_up_orphans(self) -> None:
        """Pods the runtime still holds whose objects are gone: stop and remove them."""
        for uid, rec in list(self.recovered.items()):
            del self.recovered[uid]
            pod = core_pb2.Pod()
            pod.metadata.uid, pod.metadata.name, pod.metadata.namespace = uid, rec.name, rec.namespace
            pod.metadata.deletion_timestamp.CopyFrom(timestamp(self.clock()))
            pod.metadata.deletion_grace_period_seconds = 0
            for c in rec.containers:
                pod.spec.containers.add(name=c.name)
            log.info("pod %s/%s (uid %s) is gone from the API: removing what is left of it", rec.namespace,
                     rec.name, uid)
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.observe(pod, rec)
            worker.removed()

    async def _delete_finished(self, pod: core_pb2.Pod) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("Pod", meta.name, meta.namespace, grace_period_seconds=0, uid=meta.uid)
        except APIStatusError as exc:
            if exc.reason != "NotFound":
                log.warning("pod %s/%s: delete: %s", meta.namespace, meta.name, exc)

    def forget(self, worker: PodWorker) -> None:
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]

    def shutdown(self) -> None:
        """Stop working on pods; their containers keep running for the next agent to adopt."""
        for worker in list(self.workers.values()):
            worker.cancel()
