"""Helpers for the controller tests: object builders for the pure planners, and a fake kubelet
that plays the scheduler and the node agents against a real server."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import grpc

from shoal.control.controllers.meta import new_controller_ref, timestamp
from shoal.v1 import apps_pb2, batch_pb2, core_pb2

NOW = 1_800_000_000.0
_uids = itertools.count(1)


def uid(prefix: str = "uid") -> str:
    return f"{prefix}-{next(_uids)}"


def template(labels: dict[str, str], image: str = "busybox:1.36") -> core_pb2.PodTemplateSpec:
    t = core_pb2.PodTemplateSpec()
    t.metadata.labels.update(labels)
    c = t.spec.containers.add(name="app", image=image)
    c.ports.add(name="http", container_port=8080, protocol="TCP")
    t.spec.restart_policy = "Always"
    return t


def pod(name: str, *, ns: str = "default", labels: dict | None = None, owner=None, phase: str = "Pending",
        node: str = "", ready_since: float | None = None, created: float = NOW - 100, terminating: bool = False,
        ip: str = "", restarts: int = 0, annotations: dict | None = None, ports=(("http", 8080),)) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name = name
    p.metadata.namespace = ns
    p.metadata.uid = uid("pod")
    p.metadata.resource_version = "1"
    p.metadata.labels.update(labels or {"app": "web"})
    p.metadata.annotations.update(annotations or {})
    p.metadata.creation_timestamp.CopyFrom(timestamp(created))
    if owner is not None:
        p.metadata.owner_references.append(new_controller_ref(owner))
    if terminating:
        p.metadata.deletion_timestamp.CopyFrom(timestamp(NOW))
    c = p.spec.containers.add(name="app", image="busybox:1.36")
    for port_name, number in ports:
        c.ports.add(name=port_name, container_port=number, protocol="TCP")
    p.spec.node_name = node
    p.status.phase = phase
    if ip:
        p.status.pod_ip = ip
    if ready_since is not None:
        p.status.conditions.add(type="Ready", status="True", last_transition_time=timestamp(ready_since))
    elif phase == "Running":
        p.status.conditions.add(type="Ready", status="False")
    if restarts:
        p.status.container_statuses.add(name="app", restart_count=restarts)
    return p


def replica_set(name: str, replicas: int = 3, *, ns: str = "default", labels: dict | None = None,
                generation: int = 1, min_ready: int = 0) -> apps_pb2.ReplicaSet:
    labels = labels or {"app": "web"}
    rs = apps_pb2.ReplicaSet()
    rs.metadata.name = name
    rs.metadata.namespace = ns
    rs.metadata.uid = uid("rs")
    rs.metadata.resource_version = "5"
    rs.metadata.generation = generation
    rs.metadata.labels.update(labels)
    rs.spec.replicas = replicas
    rs.spec.min_ready_seconds = min_ready
    rs.spec.selector.match_labels.update(labels)
    rs.spec.template.CopyFrom(template(labels))
    return rs


def deployment(name: str = "web", replicas: int = 3, *, ns: str = "default", strategy: str = "RollingUpdate",
               max_surge=None, max_unavailable=None, image: str = "busybox:1.36", generation: int = 1,
               history: int = 10, deadline: int = 600, min_ready: int = 0) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment()
    d.metadata.name = name
    d.metadata.namespace = ns
    d.metadata.uid = uid("deploy")
    d.metadata.resource_version = "3"
    d.metadata.generation = generation
    d.spec.replicas = replicas
    d.spec.min_ready_seconds = min_ready
    d.spec.selector.match_labels["app"] = name
    d.spec.template.CopyFrom(template({"app": name}, image))
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        for field, value in (("max_surge", max_surge if max_surge is not None else "25%"),
                             ("max_unavailable", max_unavailable if max_unavailable is not None else "25%")):
            target = getattr(d.spec.strategy.rolling_update, field)
            if isinstance(value, int):
                target.int_val = value
            else:
                target.str_val = value
    d.spec.revision_history_limit = history
    d.spec.progress_deadline_seconds = deadline
    return d


def job(name: str = "batch", *, ns: str = "default", completions: int | None = 3, parallelism: int = 2,
        backoff_limit: int = 6, restart_policy: str = "Never", indexed: bool = False) -> batch_pb2.Job:
    j = batch_pb2.Job()
    j.metadata.name = name
    j.metadata.namespace = ns
    j.metadata.uid = uid("job")
    j.metadata.resource_version = "2"
    j.metadata.generation = 1
    if completions is not None:
        j.spec.completions = completions
    j.spec.parallelism = parallelism
    j.spec.backoff_limit = backoff_limit
    j.spec.completion_mode = "Indexed" if indexed else "NonIndexed"
    j.spec.template.spec.containers.add(name="work", image="busybox:1.36")
    j.spec.template.spec.restart_policy = restart_policy
    return j


def service(name: str = "web", *, ns: str = "default", selector: dict | None = None, ports=((80, 8080, ""),),
            cluster_ip: str = "", type_: str = "ClusterIP") -> core_pb2.Service:
    s = core_pb2.Service()
    s.metadata.name = name
    s.metadata.namespace = ns
    s.metadata.uid = uid("svc")
    s.metadata.resource_version = "4"
    s.spec.type = type_
    s.spec.cluster_ip = cluster_ip
    s.spec.selector.update({"app": name} if selector is None else selector)
    for i, (port, target, port_name) in enumerate(ports):
        sp = s.spec.ports.add(name=port_name or (f"p{i}" if len(ports) > 1 else ""), port=port, protocol="TCP")
        if isinstance(target, str):
            sp.target_port.str_val = target
        else:
            sp.target_port.int_val = target
    return s


def owned_by(obj, owner):
    obj.metadata.owner_references.append(new_controller_ref(owner))
    return obj


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, *, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError as exc:  # predicates may assert to explain themselves
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f": {last_error}" if last_error else ""))


# -- the fake kubelet ----------------------------------------------------------------------------

PodFate = str  # "ready" | "running" (not ready) | "succeeded" | "failed" | "pending"


class FakeKubelet(threading.Thread):
    """Plays the scheduler and every node agent for the pods of one namespace: binds unbound
    pods round-robin to ``nodes``, gives bound pods an IP and the status ``fate(pod)`` names
    (after ``ready_delay`` seconds of Running for "ready"), and completes the deletion of pods
    marked for deletion, as an agent would after stopping their containers."""

    def __init__(self, address: str, namespace: str, *, fate: Callable[[core_pb2.Pod], PodFate] | None = None,
                 nodes=("node-a", "node-b"), ready_delay: float = 0.0, interval: float = 0.05,
                 finish_deletions: bool = True) -> None:
        super().__init__(daemon=True, name=f"fake-kubelet-{namespace}")
        from shoal.proto.client import ClusterClient

        self.client = ClusterClient(address, timeout=10)
        self.namespace = namespace
        self.fate = fate or (lambda pod: "ready")
        self.nodes = list(nodes)
        self.ready_delay = ready_delay
        self.interval = interval
        self.finish_deletions = finish_deletions
        self.paused = threading.Event()
        self._halt = threading.Event()
        self._ips = itertools.count(2)
        self._running_since: dict[str, float] = {}
        self._next_node = itertools.cycle(self.nodes)
        self.errors: list[Exception] = []

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.client.close()

    def run(self) -> None:
        from shoal.proto.client import APIStatusError

        while not self._halt.is_set():
            if not self.paused.is_set():
                try:
                    for p in self.client.list_items("Pod", self.namespace):
                        self._tend(p)
                except APIStatusError as exc:
                    if exc.code.name not in ("NOT_FOUND", "ABORTED", "FAILED_PRECONDITION", "UNAVAILABLE"):
                        self.errors.append(exc)
                except Exception as exc:  # noqa: BLE001 - the server may be restarting
                    if "UNAVAILABLE" not in str(exc):
                        self.errors.append(exc)
            self._halt.wait(self.interval)

    def _tend(self, p) -> None:
        from shoal.proto.client import APIStatusError

        meta = p.metadata
        try:
            if meta.HasField("deletion_timestamp"):
                if self.finish_deletions and not meta.finalizers:
                    self.client.delete("Pod", meta.name, meta.namespace, grace_period_seconds=0)
                return
            if not p.spec.node_name:
                self.client.bind(meta.name, next(self._next_node), meta.namespace, uid=meta.uid)
                return
            if p.status.phase in ("Succeeded", "Failed"):
                return
            fate = self.fate(p)
            if fate == "pending":
                return
            desired = self._status(p, fate)
            if desired is not None:
                p.status.CopyFrom(desired)
                p.metadata.resource_version = ""
                self.client.update_status(p)
        except APIStatusError as exc:
            if exc.code.name not in ("NOT_FOUND", "ABORTED", "FAILED_PRECONDITION"):
                raise

    def _status(self, p, fate: PodFate):
        now = time.time()
        status = core_pb2.PodStatus()
        status.CopyFrom(p.status)
        if not status.pod_ip:
            n = next(self._ips)
            status.pod_ip = f"10.42.{n // 250}.{n % 250 + 1}"
            status.pod_ips.add(ip=status.pod_ip)
            status.host_ip = "192.168.0.1"
        started = self._running_since.setdefault(p.metadata.uid, now)
        if fate in ("succeeded", "failed"):
            status.phase = "Succeeded" if fate == "succeeded" else "Failed"
            del status.container_statuses[:]
            cs = status.container_statuses.add(name=p.spec.containers[0].name)
            cs.state.terminated.exit_code = 0 if fate == "succeeded" else 1
            cs.state.terminated.finished_at.CopyFrom(timestamp(now))
            _set_ready(status, False, now)
        else:
            status.phase = "Running"
            ready = fate == "ready" and now - started >= self.ready_delay
            _set_ready(status, ready, now)
        return None if status == p.status else status


def _set_ready(status: core_pb2.PodStatus, ready: bool, now: float) -> None:
    value = "True" if ready else "False"
    for ctype in ("ContainersReady", "Ready"):
        cond = next((c for c in status.conditions if c.type == ctype), None)
        if cond is None:
            cond = status.conditions.add(type=ctype)
        if cond.status != value:
            cond.status = value
            cond.last_transition_time.CopyFrom(timestamp(now))


def new_namespace(client, prefix: str = "ctrl") -> str:
    ns = core_pb2.Namespace()
    ns.metadata.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create(ns)
    return ns.metadata.name


# -- a server the tests can kill ------------------------------------------------------------------

# Kubernetes' timings shortened so the tests run in seconds (see ControllerSettings.from_env).
FAST_SETTINGS = {
    "SHOAL_JOB_BACKOFF_SECONDS": "0.1",
    "SHOAL_NAMESPACE_RECHECK_SECONDS": "0.3",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ControllerServer:
    """A `shoal server` with controllers that can be killed and started again on the same data
    dir and port."""

    data_dir: str
    env: dict[str, str]
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ControllerServer":
        exe = shutil.which("shoal")
        cmd = [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]
        log = open(os.path.join(self.data_dir, "server.log"), "ab")
        # --no-scheduler: FakeKubelet plays the scheduler here (the in-process one would race it).
        self.proc = subprocess.Popen([*cmd, "server", "--data-dir", self.data_dir, "--listen", self.address,
                                      "--no-scheduler"], stdout=log, stderr=subprocess.STDOUT, env=self.env)
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"shoal server exited: {self.log()}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    time.sleep(0.05)
        raise RuntimeError(f"shoal server not ready: {self.log()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def log(self) -> str:
        try:
            with open(os.path.join(self.data_dir, "server.log"), "rb") as f:
                return f.read().decode(errors="replace")[-6000:]
        except OSError:
            return ""
