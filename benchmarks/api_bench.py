"""Control-plane throughput, measured side by side with a do-nothing gRPC server in one run.

    python -m shoal.benchmarks.api_bench [--seconds 5] [--out result.json]

Cases (each a ratio against the ceiling measured in the same run, on the same machine):
- ceiling: a grpc.aio server whose Create does nothing, with 1 and 16 concurrent callers;
- create: `shoal server` (SQLite, group commit) with 1 and 16 concurrent callers; the two servers
  take --rounds turns and the ratio is the median of the turns' ratios;
- bulk: BulkApply of pods in batches of 1,000;
- watch: 100 watchers while 16 callers create: creates/s, every watcher seeing every event,
  delivery latency percentiles (create acknowledged -> event received);
- idle RSS of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import grpc

from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import cluster_service_pb2_grpc as svc_grpc
from shoal.v1.core_pb2 import Pod
from shoal.v1.object_pb2 import Object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# spec.schedulerName of the bench's pods: "" is the default scheduler's (--scheduler-name).
SCHEDULER_NAME = ""


def make_pod(name: str, namespace: str = "default") -> Object:
    pod = Pod()
    pod.metadata.name = name
    pod.metadata.namespace = namespace
    pod.metadata.labels["app"] = "bench"
    c = pod.spec.containers.add()
    c.name = "app"
    c.image = "registry.local/pause:3.9"
    c.resources.requests["cpu"] = "100m"
    c.resources.requests["memory"] = "128Mi"
    if SCHEDULER_NAME:
        pod.spec.scheduler_name = SCHEDULER_NAME
    return Object(pod=pod)


class _EmptyServicer(svc_grpc.ClusterServiceServicer):
    async def Create(self, request, context):
        return svc.CreateResponse()


async def _run_ceiling_server(port: int, stop: asyncio.Event) -> None:
    server = grpc.aio.server()
    svc_grpc.add_ClusterServiceServicer_to_server(_EmptyServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await stop.wait()
    await server.stop(0)


def start_ceiling_server(port: int) -> subprocess.Popen:
    code = (
        "import asyncio,sys; from shoal.benchmarks.api_bench import _run_ceiling_server;"
        f"asyncio.run(_run_ceiling_server({port}, asyncio.Event()))"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def start_shoal_server(port: int, data_dir: str, extra: list[str] = ()) -> subprocess.Popen:
    exe = shutil.which("shoal")
    cmd = [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]
    return subprocess.Popen(
        [*cmd, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}", "--log-level", "WARNING", *extra],
        stdout=subprocess.DEVNULL,
    )


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(0.2)
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


async def creates_per_second(address: str, callers: int, seconds: float, prefix: str) -> float:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = svc_grpc.ClusterServiceStub(channel)
        await stub.Create(svc.CreateRequest(object=make_pod(f"{prefix}-warm")))
        done = 0
        stop_at = time.perf_counter() + seconds

        async def caller(i: int) -> None:
            nonlocal done
            n = 0
            while time.perf_counter() < stop_at:
                await stub.Create(svc.CreateRequest(object=make_pod(f"{prefix}-{i}-{n}")))
                n += 1
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        return done / (time.perf_counter() - start)


async def bulk_per_second(address: str, total: int, batch: int) -> float:
    async with grpc.aio.insecure_channel(
        address, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    ) as channel:
        stub = svc_grpc.ClusterServiceStub(channel)
        requests = [
            svc.BulkApplyRequest(objects=[make_pod(f"bulk-{b}-{i}") for i in range(batch)], create_only=True)
            for b in range(total // batch)
        ]
        start = time.perf_counter()
        for req in requests:
            resp = await stub.BulkApply(req)
            bad = [r for r in resp.results if r.code != 0]
            if bad:
                raise RuntimeError(f"bulk create failed: {bad[0].message}")
        return total / (time.perf_counter() - start)


async def watch_fanout(address: str, watchers: int, callers: int, seconds: float) -> dict:
    """Creates from `callers` while `watchers` streams follow; latency = receive - ack time."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = svc_grpc.ClusterServiceStub(channel)
        ns = f"watch{int(time.time())}"
        await stub.Create(svc.CreateRequest(object=_namespace(ns)))
        first = await stub.List(svc.ListRequest(kind="Namespace", limit=1))
        start_rv = first.resource_version
        acked: dict[str, float] = {}
        received = [0] * watchers
        latencies: list[float] = []
        ready = asyncio.Event()
        opened = 0

        async def watcher(w: int) -> None:
            nonlocal opened
            call = stub.Watch(svc.WatchRequest(kind="Pod", namespace=ns, resource_version=start_rv))
            opened += 1
            if opened == watchers:
                ready.set()
            sampling = w % 10 == 0  # latencies are sampled on a tenth of the watchers
            async for resp in call:
                now = time.perf_counter()
                if not sampling:  # the others only count: a watcher's own work is not the server's
                    received[w] += len(resp.events)
                else:
                    for ev in resp.events:
                        received[w] += 1
                        t = acked.get(ev.object.pod.metadata.name)
                        if t is not None:
                            latencies.append(now - t)
                if stopping and received[w] >= total_created:
                    call.cancel()
                    return

        stopping = False
        total_created = 0
        tasks = [asyncio.create_task(watcher(w)) for w in range(watchers)]
        await ready.wait()
        await asyncio.sleep(0.5)
        stop_at = time.perf_counter() + seconds
        count = 0

        async def caller(i: int) -> None:
            nonlocal count
            n = 0
            while time.perf_counter() < stop_at:
                name = f"w-{i}-{n}"
                await stub.Create(svc.CreateRequest(object=make_pod(name, ns)))
                acked[name] = time.perf_counter()
                n += 1
                count += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        elapsed = time.perf_counter() - t0
        total_created = count
        stopping = True
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        except asyncio.TimeoutError:
            pass
        latencies.sort()

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

        return {
            "creates_per_second": count / elapsed,
            "created": count,
            "watchers": watchers,
            "watchers_complete": sum(1 for r in received if r == count),
            "min_received": min(received),
            "latency_ms_p50": pct(0.50),
            "latency_ms_p99": pct(0.99),
            "latency_ms_max": latencies[-1] * 1000 if latencies else float("nan"),
        }


def _namespace(name: str) -> Object:
    from shoal.v1.core_pb2 import Namespace

    ns = Namespace()
    ns.metadata.name = name
    return Object(namespace=ns)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case and server")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the ceiling and Shoal take turns this many times per case (each a share of "
                             "--seconds): on a shared machine load drifts, and turns keep both under the same")
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--watch-runs", type=int, default=3, help="watch fan-out runs (the median is reported)")
    parser.add_argument("--out", default="")
    parser.add_argument("--server-arg", action="append", default=[], help="extra flag for shoal server")
    parser.add_argument("--scheduler-name", default="",
                        help="spec.schedulerName of the pods: another scheduler's name lets a full server "
                             "(controllers and scheduler running) leave them alone, so only the API's work "
                             "is measured; by default the server's own scheduler tries each pod")
    args = parser.parse_args(argv)
    global SCHEDULER_NAME
    SCHEDULER_NAME = args.scheduler_name

    result: dict = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    data_dir = tempfile.mkdtemp(prefix="shoal-bench-")
    cport, sport = free_port(), free_port()
    ceiling = start_ceiling_server(cport)
    shoal = start_shoal_server(sport, data_dir, args.server_arg)
    try:
        wait_port(cport)
        wait_port(sport)
        time.sleep(1.0)
        result["idle_rss_mb"] = rss_mb(shoal.pid)
        rounds = max(1, args.rounds)
        for callers in (1, 16):
            turns = []
            for r in range(rounds):
                c = asyncio.run(creates_per_second(f"127.0.0.1:{cport}", callers, args.seconds / rounds, f"c{r}"))
                s = asyncio.run(creates_per_second(f"127.0.0.1:{sport}", callers, args.seconds / rounds, f"s{callers}-{r}"))
                turns.append((c, s))
            c = statistics.median(t[0] for t in turns)
            s = statistics.median(t[1] for t in turns)
            ratio = statistics.median(t[1] / t[0] for t in turns)
            result[f"create_{callers}"] = {"ceiling_per_s": c, "shoal_per_s": s, "ratio": ratio,
                                           "turns": [{"ceiling_per_s": a, "shoal_per_s": b} for a, b in turns]}
            print(f"create, {callers:2d} callers: shoal {s:8.0f}/s  ceiling {c:8.0f}/s  ratio {ratio:.2f} "
                  f"(median of {rounds} turns: {', '.join(f'{b / a:.2f}' for a, b in turns)})", flush=True)
        ceiling.send_signal(signal.SIGTERM)
        b = asyncio.run(bulk_per_second(f"127.0.0.1:{sport}", args.bulk, 1000))
        result["bulk_objects_per_s"] = b
        print(f"bulk create: {b:8.0f} objects/s", flush=True)
        runs = [asyncio.run(watch_fanout(f"127.0.0.1:{sport}", 100, 16, args.seconds)) for _ in range(max(1, args.watch_runs))]
        w = sorted(runs, key=lambda x: x["creates_per_second"])[len(runs) // 2]  # the median run
        result["watch"] = dict(w, runs=runs)
        for x in runs:
            print(
                f"watch: {x['creates_per_second']:.0f} creates/s with {x['watchers']} watchers, "
                f"{x['watchers_complete']}/{x['watchers']} saw all {x['created']} events, "
                f"p50 {x['latency_ms_p50']:.1f} ms p99 {x['latency_ms_p99']:.1f} ms"
                + (" (the median run)" if x is w and len(runs) > 1 else ""),
                flush=True,
            )
        result["rss_after_mb"] = rss_mb(shoal.pid)
        print(f"server RSS idle {result['idle_rss_mb']:.0f} MB, after the run {result['rss_after_mb']:.0f} MB")
    finally:
        for p in (ceiling, shoal):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
