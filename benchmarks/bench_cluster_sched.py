"""End to end: pods bound per second through a real `shoal server` (not a timed test).

    python -m shoal.benchmarks.bench_cluster_sched                      # in-process scheduler
    python -m shoal.benchmarks.bench_cluster_sched --mode both --json out.json

A `shoal server` with its in-process scheduler and the controllers off; 5,000 Node objects
(scheduler_perf's node-default template, hostname and zone labels; no agents) created through
BulkApply; then 10,000 pods (pod-default: 100m / 500Mi) created by this client with BulkApply in
batches, as fast as the server takes them. A second client watches the pods and notes when each
one is seen bound. Reported:

    total       first create -> last pod seen bound: 10,000 / seconds
    steady      the bind rate between 10% and 90% of the pods bound
    creates     the rate at which the server took the creates (they overlap the binds)

`--mode process` runs the scheduler as its own process instead (`shoal server --no-scheduler` and
`shoal scheduler`): on this machine's two cores it no longer shares one thread with the server.
Before measuring, a canary pod is bound and deleted, so the scheduler is known to be up and to
have every node (its start-up is not counted).

Targets (issue 4): 2,000 pods bound per second; real kube-scheduler clusters bind 100-300/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from .bench_place import make_nodes, make_pods

TARGET = 2000.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shoal() -> list[str]:
    exe = shutil.which("shoal")
    return [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]


def _wait_serving(address: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"shoal server exited with {proc.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.05)
    raise RuntimeError("shoal server not serving")


class BindWatcher(threading.Thread):
    """Notes the time each pod is first seen bound (a watch of its own, from `revision`)."""

    def __init__(self, address: str, namespace: str, revision: str) -> None:
        super().__init__(daemon=True)
        from shoal.proto.client import ClusterClient

        self.client = ClusterClient(address, timeout=None)
        self.namespace = namespace
        self.revision = revision
        self.bound: dict[str, float] = {}
        self.done = threading.Event()
        self.expected = 0

    def run(self) -> None:
        from shoal.proto import kinds

        try:
            for event in self.client.watch("Pod", self.namespace, resource_version=self.revision):
                if not event.HasField("object"):
                    continue
                pod = kinds.unwrap(event.object)[1]
                if pod.spec.node_name and pod.metadata.name not in self.bound:
                    self.bound[pod.metadata.name] = time.perf_counter()
                    if self.expected and len(self.bound) >= self.expected:
                        self.done.set()
                        return
        except Exception:  # noqa: BLE001 - closed by stop(), or the server went away: stop waiting
            self.done.set()

    def stop(self) -> None:
        self.client.close()


def _canary(client, namespace: str, timeout: float = 120.0) -> float:
    """Create a pod and wait until it is bound: the scheduler is up and has the nodes."""
    from shoal.proto import manifests

    t0 = time.perf_counter()
    pod = manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "canary", "namespace": namespace},
                               "spec": {"containers": [{"name": "c", "image": "pause"}]}})
    client.create(pod)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("Pod", "canary", namespace).spec.node_name:
            client.delete("Pod", "canary", namespace, grace_period_seconds=0)
            return time.perf_counter() - t0
        time.sleep(0.1)
    raise RuntimeError("the canary pod was not bound: is the scheduler running?")


def run(mode: str, nodes: int, pods: int, batch: int, sync: str, timeout: float) -> dict[str, Any]:
    from shoal.proto.client import ClusterClient
    from shoal.v1 import core_pb2

    data_dir = tempfile.mkdtemp(prefix="shoal-bench-sched-")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    server_args = ["--no-controllers", "--sync", sync, "--log-level", "WARNING"]
    if mode == "process":
        server_args.append("--no-scheduler")
    log = open(os.path.join(data_dir, "server.log"), "wb")  # noqa: SIM115 - the servers' lifetime
    server = subprocess.Popen([*_shoal(), "server", "--data-dir", data_dir, "--listen", address, *server_args],
                              stdout=log, stderr=subprocess.STDOUT)
    procs = [server]
    try:
        _wait_serving(address, server)
        if mode == "process":
            procs.append(subprocess.Popen([*_shoal(), "scheduler", "--server", address, "--log-level", "WARNING"],
                                          stdout=log, stderr=subprocess.STDOUT))
        namespace = "bench"
        with ClusterClient(address, timeout=120) as client:
            ns = core_pb2.Namespace()
            ns.metadata.name = namespace
            client.create(ns)
            node_msgs = make_nodes(nodes, zones=True)
            t0 = time.perf_counter()
            for i in range(0, len(node_msgs), 1000):
                client.bulk_apply(node_msgs[i:i + 1000], create_only=True)
            node_seconds = time.perf_counter() - t0
            canary = _canary(client, namespace)
            pod_msgs = make_pods("pod-default.yaml", pods, "pod", namespace)
            revision = client.list("Pod", namespace, limit=1).resource_version
            watcher = BindWatcher(address, namespace, revision)
            watcher.expected = pods
            watcher.start()
            time.sleep(0.2)  # let the watch open
            start = time.perf_counter()
            for i in range(0, len(pod_msgs), batch):
                resp = client.bulk_apply(pod_msgs[i:i + batch], create_only=True)
                bad = [r.message for r in resp.results if r.code]
                if bad:
                    raise RuntimeError(f"create failed: {bad[0]}")
            created = time.perf_counter()
            watcher.done.wait(timeout)
            watcher.stop()
        times = sorted(watcher.bound.values())
        if len(times) < pods:
            raise RuntimeError(f"only {len(times)} of {pods} pods bound within {timeout}s")
        last = times[-1]
        lo, hi = times[int(0.1 * pods)], times[int(0.9 * pods) - 1]
        return {
            "mode": mode, "nodes": nodes, "pods": pods, "sync": sync,
            "node_create_seconds": round(node_seconds, 3),
            "canary_seconds": round(canary, 3),
            "create_seconds": round(created - start, 3),
            "creates_per_second": round(pods / (created - start), 1),
            "first_bind_after": round(times[0] - start, 3),
            "total_seconds": round(last - start, 3),
            "pods_bound_per_second": round(pods / (last - start), 1),
            "steady_pods_bound_per_second": round((0.8 * pods) / (hi - lo), 1) if hi > lo else None,
            "target": TARGET,
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("inprocess", "process", "both"), default="inprocess")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500, help="pods per BulkApply call (default: %(default)s)")
    parser.add_argument("--sync", choices=("FULL", "NORMAL"), default="FULL", help="the server's SQLite sync mode")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    modes = ("inprocess", "process") if args.mode == "both" else (args.mode,)
    results = []
    for _ in range(args.repeat):
        for mode in modes:
            r = run(mode, args.nodes, args.pods, args.batch, args.sync, args.timeout)
            results.append(r)
            print(f"{mode:>9}: {r['pods']} pods on {r['nodes']} nodes: created in {r['create_seconds']}s "
                  f"({r['creates_per_second']:.0f}/s); all bound {r['total_seconds']}s after the first create: "
                  f"{r['pods_bound_per_second']:.0f} pods/s (steady {r['steady_pods_bound_per_second']:.0f}/s; "
                  f"target {TARGET:.0f}/s, kube-scheduler clusters 100-300/s)", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
