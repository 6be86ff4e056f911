"""Cluster mode: a real `shoal server` (its in-process scheduler, controllers off) and hollow
`sim` agents; pods created through gRPC (BulkApply), watched until bound and until Running.

    with HollowCluster([NodeGroup(5000, cpu="4", memory="32Gi", pods=110)]) as cluster:
        cluster.create_namespaces({"bench": {}})
        timeline = cluster.run_pods(pod_msgs, batch=1000, wait_running=True)

Nodes are registered by the agents themselves (one `shoal agent --runtime sim --count N` process
per NodeGroup), so the scheduler sees what a kubelet would report: capacity, labels, hostname.
Per pod, a watch of its own notes when it was first seen bound and first seen Running; the pod's
latency counts from the return of the BulkApply call that created it (scheduler_perf counts from
the pod's creation too). Start-up (server, agents registering, a canary pod that warms the
scheduler up) is not timed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

from .runner import latency_ms

REGISTER_TIMEOUT = 900.0


class ClusterModeError(RuntimeError):
    """The cluster did not come up, or the pods did not get where they should within the time."""


@dataclass
class NodeGroup:
    """Hollow nodes alike: one agent process registers all of them."""

    count: int
    cpu: str = "4"
    memory: str = "32Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    prefix: str = "hollow-"

    def agent_args(self) -> list[str]:
        args = ["--runtime", "sim", "--count", str(self.count), "--name-prefix", self.prefix,
                "--cpu", self.cpu, "--memory", self.memory, "--pods", str(self.pods), "--stats-interval", "0"]
        if self.labels:
            args += ["--node-labels", ",".join(f"{k}={v}" for k, v in self.labels.items())]
        return args


@dataclass
class Timeline:
    """When each measured pod was sent, seen bound and seen Running (perf_counter seconds)."""

    start: float
    sent: dict[str, float]
    bound: dict[str, float]
    running: dict[str, float]
    nodes: dict[str, str]  # pod key -> node, as first seen bound
    create_seconds: float

    def summary(self) -> dict[str, Any]:
        pods = len(self.sent)
        bound = sorted(self.bound.values())
        last = bound[-1] if bound else self.start
        seconds = last - self.start
        running = sorted(self.running.values())
        return {
            "pods": pods,
            "placed": len(bound),
            "unschedulable": pods - len(bound),
            "seconds": round(seconds, 3),
            "pods_per_second": round(len(bound) / seconds, 1) if seconds > 0 else 0.0,
            "percentiles": per_second_percentiles(bound, self.start),
            "percentiles_basis": "pods bound in each whole second from the first create (scheduler_perf samples every second)",
            "latency_ms": latency_ms([(1, self.bound[k] - self.sent[k]) for k in self.bound]),
            "latency_basis": "return of the BulkApply call that created the pod to the pod seen bound by a watch",
            "throughput_series": series(bound, self.start, pods),
            "running_series": series(running, self.start, pods),
            "latency_cdf": series(sorted(self.bound[k] - self.sent[k] for k in self.bound), 0.0, pods),
            "create_seconds": round(self.create_seconds, 3),
            "creates_per_second": round(pods / self.create_seconds, 1) if self.create_seconds > 0 else None,
            "running": len(running),
            "seconds_to_all_running": round(running[-1] - self.start, 3) if running and len(running) == pods else None,
        }


def per_second_percentiles(times: list[float], start: float) -> dict[str, float] | None:
    """p50/p90/p99 of the pods bound in each whole second after `start` (the last, partial
    second left out, as scheduler_perf's sampler does)."""
    import numpy as np

    if not times:
        return None
    whole = int(times[-1] - start)
    if whole < 2:
        return None
    counts = np.bincount(np.array([int(t - start) for t in times if t - start < whole]), minlength=whole)
    return {name: round(float(np.percentile(counts, q)), 1) for name, q in (("p50", 50), ("p90", 90), ("p99", 99))}


def series(times: list[float], start: float, total: int, limit: int = 200) -> list[list[float]]:
    """[ms since `start`, fraction of the `total` pods by then] for sorted `times`, at most
    ~`limit` points: pods bound over time, or (times = latencies, start 0) the latency CDF."""
    step = max(1, len(times) // limit)
    picked = list(range(step - 1, len(times), step))
    if times and (not picked or picked[-1] != len(times) - 1):
        picked.append(len(times) - 1)
    return [[round((times[i] - start) * 1e3, 3), round((i + 1) / max(total, 1), 5)] for i in picked]


class PodWatcher(threading.Thread):
    """One watch of every namespace's pods from `revision`: first time seen bound, seen Running."""

    def __init__(self, address: str, revision: str) -> None:
        super().__init__(daemon=True)
        from shoal.proto.client import ClusterClient

        self.client = ClusterClient(address, timeout=None)
        self.revision = revision
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.nodes: dict[str, str] = {}
        self.error: BaseException | None = None
        self.changed = threading.Event()

    def run(self) -> None:
        from shoal.proto import kinds

        try:
            for event in self.client.watch("Pod", "", resource_version=self.revision):
                if not event.HasField("object"):
                    continue
                pod = kinds.unwrap(event.object)[1]
                key = f"{pod.metadata.namespace}/{pod.metadata.name}"
                now = time.perf_counter()
                if pod.spec.node_name and key not in self.bound:
                    self.bound[key] = now
                    self.nodes[key] = pod.spec.node_name
                if pod.status.phase == "Running" and key not in self.running:
                    self.running[key] = now
                self.changed.set()
        except Exception as exc:  # noqa: BLE001 - closed by stop(), or the server went away
            self.error = exc
            self.changed.set()

    def _tail(self, name: str, chars: int = 1500) -> str:
        try:
            with open(os.path.join(self.work, f"{name}.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-chars:] or "(empty)"
        except OSError:
            return "(none)"

    def stop(self) -> None:
        self.client.close()


class HollowCluster:
    """A server and hollow agents in a temporary directory; stopped and removed on exit."""

    def __init__(self, groups: list[NodeGroup], *, server_args: tuple[str, ...] = (), log=None) -> None:
        self.groups = groups
        self.server_args = list(server_args)
        self.work = tempfile.mkdtemp(prefix="shoal-bench-cluster-")
        self.procs: list[subprocess.Popen] = []
        self.names: list[str] = []  # log name of each process
        self.address = ""
        self.client: Any = None
        self.register_seconds = 0.0
        self.log = log or (lambda line: None)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen:
        log = open(os.path.join(self.work, f"{name}.log"), "wb")  # noqa: SIM115 - the process's lifetime
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        self.names.append(name)
        return proc

    def start(self) -> None:
        from shoal.proto.client import ClusterClient

        from ..bench_cluster_sched import _canary, _free_port, _shoal, _wait_serving

        self.address = f"127.0.0.1:{_free_port()}"
        server = self._spawn([*_shoal(), "server", "--data-dir", os.path.join(self.work, "server"), "--listen", self.address,
                              "--no-controllers", "--log-level", "WARNING", *self.server_args], "server")
        _wait_serving(self.address, server)
        self.client = ClusterClient(self.address, timeout=300)
        t0 = time.perf_counter()
        for i, group in enumerate(self.groups):
            self._spawn([*_shoal(), "agent", "--server", self.address, "--state-dir", os.path.join(self.work, f"agent-{i}"),
                         "--log-level", "WARNING", *group.agent_args()], f"agent-{i}")
        self.wait_nodes(sum(g.count for g in self.groups))
        self.register_seconds = time.perf_counter() - t0
        # A first pod bound (then deleted): the scheduler's kernels are compiled and it has every
        # node before anything is timed, as a long-running cluster's would be.
        try:
            _canary(self.client, "default")
        except RuntimeError as exc:
            raise ClusterModeError(f"{exc}; server log: {self._tail('server')}") from None

    def wait_nodes(self, expected: int, timeout: float = REGISTER_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for proc, name in zip(self.procs, self.names):
                if proc.poll() is not None:
                    raise ClusterModeError(f"{name} exited with {proc.returncode}: {self._tail(name)}")
            nodes, _ = self.client.list_all("Node")
            if len(nodes) != seen:
                seen = len(nodes)
                self.log(f"  {seen:,}/{expected:,} hollow nodes registered")
            if seen >= expected:
                return
            time.sleep(0.5)
        raise ClusterModeError(f"only {seen} of {expected} hollow nodes registered within {timeout:.0f} s")

    def _tail(self, name: str, chars: int = 1500) -> str:
        try:
            with open(os.path.join(self.work, f"{name}.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-chars:] or "(empty)"
        except OSError:
            return "(none)"

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if os.environ.get("SHOAL_BENCH_KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)

    # -- objects -----------------------------------------------------------------------------

    def create_namespaces(self, labels_by_name: dict[str, dict[str, str]]) -> None:
        from shoal.proto import manifests

        docs = [manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}})
                for n, labels in labels_by_name.items()]
        for i in range(0, len(docs), 1000):
            self._bulk(docs[i:i + 1000])

    def _bulk(self, msgs: list) -> None:
        resp = self.client.bulk_apply(msgs, create_only=True)
        bad = [r.message for r in resp.results if r.code]
        if bad:
            raise ClusterModeError(f"BulkApply: {len(bad)} of {len(msgs)} failed, first: {bad[0]}")

    def run_pods(self, msgs: list, *, batch: int = 1000, callers: int = 1, wait_running: bool = False,
                 wait_bound: bool = True, timeout: float = 900.0) -> Timeline:
        """Create `msgs` in BulkApply calls of `batch` (`callers` calls in flight at once) and wait
        until all are bound (and Running, if asked) or nothing changed for a while
        (unschedulable pods stay pending)."""
        revision = self.client.list("Pod", "", limit=1).resource_version
        watcher = PodWatcher(self.address, revision)
        watcher.start()
        time.sleep(0.2)  # let the watch open before the first create
        sent: dict[str, float] = {}
        start = time.perf_counter()
        for chunk, now in self._create(msgs, batch, callers):
            for m in chunk:
                sent[f"{m.metadata.namespace}/{m.metadata.name}"] = now
        created = time.perf_counter() - start
        try:
            if wait_bound:
                self._wait(watcher, sent, wait_running, timeout)
        finally:
            watcher.stop()
        bound = {k: t for k, t in watcher.bound.items() if k in sent}
        running = {k: t for k, t in watcher.running.items() if k in sent}
        return Timeline(start, sent, bound, running, {k: watcher.nodes[k] for k in bound}, created)

    def _create(self, msgs: list, batch: int, callers: int) -> list[tuple[list, float]]:
        """(chunk, when its BulkApply returned) per call."""
        def one(chunk: list) -> tuple[list, float]:
            self._bulk(chunk)
            return chunk, time.perf_counter()

        chunks = [msgs[i:i + batch] for i in range(0, len(msgs), batch)]
        if callers <= 1:
            return [one(c) for c in chunks]
        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(one, chunks))

    def _wait(self, watcher: PodWatcher, sent: dict[str, float], wait_running: bool, timeout: float,
              quiet_for: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            target = watcher.running if wait_running else watcher.bound
            if sum(1 for k in sent if k in target) >= len(sent):
                return
            if watcher.error is not None:
                raise ClusterModeError(f"the pod watch ended: {watcher.error}")
            if watcher.changed.wait(1.0):
                watcher.changed.clear()
                last_change = time.monotonic()
            elif time.monotonic() - last_change > quiet_for:
                return  # the rest stay pending (unschedulable), as scheduler_perf's skipWaitToCompletion allows
        raise ClusterModeError(f"{len(watcher.bound)} of {len(sent)} pods bound within {timeout:.0f} s")

    def node_dicts(self) -> list[dict[str, Any]]:
        """Every Node as the checker reads it (Kubernetes JSON)."""
        from shoal.proto import manifests

        nodes, _ = self.client.list_all("Node")
        return [manifests.to_dict(n) for n in nodes]
