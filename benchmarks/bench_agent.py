"""Node agent figures: pod start latency with runc, agent memory, hollow nodes per process.

    python -m shoal.benchmarks.bench_agent [--pods 50] [--hollow 1000,10000] [--out result.json]

Cases:
- start latency: create+bind -> the pod's container is ready (seen on a watch), runc, the busybox
  image already on the node (imagePullPolicy IfNotPresent), pods one after another; p50, p99;
- agent RSS: the runc agent idle, and with 20 pods running;
- hollow: N sim nodes in one `shoal agent --runtime sim --count N` process with 10 s lease
  renewals: registration time, RSS, and the oldest lease after more than one interval.

Needs root, runc, skopeo, umoci, docker-registry, busybox (the runc cases are skipped otherwise).
Starts its own server (SQLite, NORMAL sync), registry and agents in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from shoal.proto.client import ClusterClient
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1.core_pb2 import Pod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoal() -> list[str]:
    exe = shutil.which("shoal")
    return [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(argv: list[str], log_path: str, ready: str, timeout: float = 120.0) -> subprocess.Popen:
    log = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            if ready.encode() in f.read():
                return proc
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[:3]} exited; see {log_path}")
        time.sleep(0.05)
    raise RuntimeError(f"{argv[:3]} not ready; see {log_path}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def busybox_pod(name: str) -> Pod:
    pod = Pod()
    pod.metadata.name = name
    c = pod.spec.containers.add(name="main", image="busybox", image_pull_policy="IfNotPresent")
    c.command.extend(["httpd", "-f", "-p", "80", "-h", "/var/www"])
    pod.spec.termination_grace_period_seconds = 1
    return pod


class ReadyWatcher:
    """Records when each pod is first seen with every container ready."""

    def __init__(self, address: str) -> None:
        self.client = ClusterClient(address, timeout=None)
        self.ready: dict[str, float] = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        time.sleep(0.3)

    def _run(self) -> None:
        for event in self.client.watch("Pod", "default"):
            if event.type == svc.EVENT_TYPE_BOOKMARK:
                continue
            pod = event.object.pod
            statuses = pod.status.container_statuses
            if statuses and all(s.ready for s in statuses):
                with self.cond:
                    self.ready.setdefault(pod.metadata.name, time.monotonic())
                    self.cond.notify_all()

    def wait(self, name: str, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while name not in self.ready:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(name)
                self.cond.wait(left)
            return self.ready[name]


def runc_cases(work: str, address: str, api: ClusterClient, pods: int) -> dict:
    from shoal.node.images.build import seed_busybox
    from shoal.node.registry import LocalRegistry

    reg = LocalRegistry(os.path.join(work, "registry"), port=free_port())
    os.makedirs(reg.work_dir, exist_ok=True)
    reg.start()
    name = f"bench-{uuid.uuid4().hex[:6]}"
    state = f"/var/lib/shoal-bench/{name}"
    agent = None
    try:
        seed_busybox(reg.address, reg.work_dir)
        agent = start([*shoal(), "agent", "--server", address, "--runtime", "runc", "--name", name, "--state-dir",
                       state, "--registry-mirror", f"docker.io={reg.address}"], os.path.join(work, "agent.log"),
                      "registered with")
        time.sleep(2)
        idle = rss_mib(agent.pid)
        watcher = ReadyWatcher(address)
        api.create(busybox_pod("warmup"))
        api.bind("warmup", name, "default")
        watcher.wait("warmup", 60)
        latencies = []
        for i in range(pods):
            pod = busybox_pod(f"lat-{i}")
            t0 = time.monotonic()
            api.create(pod)
            api.bind(pod.metadata.name, name, "default")
            latencies.append(watcher.wait(pod.metadata.name) - t0)
        running = pods + 1
        for i in range(max(0, 20 - running)):
            api.create(busybox_pod(f"extra-{i}"))
            api.bind(f"extra-{i}", name, "default")
            watcher.wait(f"extra-{i}")
        time.sleep(2)
        busy = rss_mib(agent.pid)
        latencies.sort()
        return {
            "start_latency_ms": {"pods": pods, "p50": round(statistics.median(latencies) * 1000, 1),
                                 "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
                                 "max": round(latencies[-1] * 1000, 1)},
            "agent_rss_mib": {"idle": round(idle, 1), f"with_{max(running, 20)}_pods": round(busy, 1)},
        }
    finally:
        if agent is not None:
            stop(agent)
            subprocess.run([*shoal(), "agent", "--clean-up", "--runtime", "runc", "--name", name, "--state-dir", state],
                           capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        reg.stop()


def hollow_case(work: str, address: str, api: ClusterClient, count: int, interval: float = 10.0) -> dict:
    prefix = f"h{count}-"
    t0 = time.monotonic()
    agent = start([*shoal(), "agent", "--server", address, "--runtime", "sim", "--count", str(count), "--name-prefix",
                   prefix, "--lease-interval", str(interval)], os.path.join(work, f"hollow{count}.log"),
                  "registered with", timeout=600)
    registered = time.monotonic() - t0
    try:
        time.sleep(interval * 1.5)
        now = time.time()
        leases, _ = api.list_all("Lease", "shoal-node-lease")
        ages = [now - lease.spec.renew_time.ToNanoseconds() / 1e9 for lease in leases
                if lease.metadata.name.startswith(prefix)]
        return {"nodes": count, "register_s": round(registered, 1), "rss_mib": round(rss_mib(agent.pid), 1),
                "leases": len(ages), "oldest_lease_s": round(max(ages), 1) if ages else None}
    finally:
        stop(agent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=50, help="pods for the latency case")
    parser.add_argument("--hollow", default="1000", help="comma-separated hollow node counts")
    parser.add_argument("--skip-runc", action="store_true")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    results: dict = {"machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="shoal-bench-agent-") as work:
        port = free_port()
        address = f"127.0.0.1:{port}"
        os.makedirs(os.path.join(work, "server"), exist_ok=True)
        server = subprocess.Popen([*shoal(), "server", "--data-dir", os.path.join(work, "server"), "--listen", address,
                                   "--sync", "NORMAL"], stdout=open(os.path.join(work, "server.log"), "ab"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with ClusterClient(address, timeout=60) as api:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if api.health() == "SERVING":
                            break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                    time.sleep(0.1)
                can_runc = os.geteuid() == 0 and all(shutil.which(t) for t in
                                                     ("runc", "skopeo", "umoci", "docker-registry", "busybox"))
                if can_runc and not args.skip_runc:
                    results["runc"] = runc_cases(work, address, api, args.pods)
                    print(json.dumps(results["runc"]), flush=True)
                results["hollow"] = []
                for count in (int(c) for c in args.hollow.split(",") if c):
                    results["hollow"].append(hollow_case(work, address, api, count))
                    print(json.dumps(results["hollow"][-1]), flush=True)
        finally:
            stop(server)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
