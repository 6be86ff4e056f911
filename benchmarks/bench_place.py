"""Offline placement throughput on kube-scheduler's scheduler_perf workloads (not a timed test).

    python -m shoal.benchmarks.bench_place            # all workloads
    python -m shoal.benchmarks.bench_place --only basic --json results.json

Workloads, after ../shared/data/scheduler_perf/performance-config.yaml and its templates
($SHOAL_SHARED_DATA overrides where the shared data lives):

    basic          SchedulingBasic: 5,000 nodes (node-default.yaml), 10,000 pods (pod-default.yaml)
    anti-affinity  SchedulingPodAntiAffinity: 5,000 nodes, pods with required anti-affinity on
                   kubernetes.io/hostname (pod-with-pod-anti-affinity.yaml): 1,000 bound first
                   in namespace sched-0, then 4,000 measured in sched-1 (one per node, filling
                   every node)
    spread         TopologySpreading: 5,000 nodes labelled topology.kubernetes.io/zone
                   moon-1..3, 5,000 default pods bound first, then 2,000 measured
                   pod-with-topology-spreading.yaml pods (DoNotSchedule, maxSkew 5)

Nodes get a kubernetes.io/hostname label equal to their name, as a kubelet would set it
(scheduler_perf's hollow nodes lack it, which would make the anti-affinity case vacuous), and
zones round-robin (scheduler_perf draws them at random). Every path scores every feasible node.

Each workload is measured, in one run, through:

    equivalence classes on (the default): basic runs go through the segment-tree kernel;
        anti-affinity / spread pods keep one tree per class and apply their per-pod filter mask
    full scan: every node scored for every pod (native place_sequence for basic, the per-pod
        cycle with the native fused kernels otherwise)
    the NumPy reference kernels (shoal.native backend "reference"), full scan, fewer pods
    a plain per-node Python loop (fit + LeastAllocated + BalancedAllocation), basic only, on
        fewer pods

Throughput counts scheduling only (queue, filters, scores, select, bind into the snapshot), not
building the snapshot or parsing the pods, as scheduler_perf measures only the measured pods.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml

# $SHOAL_SHARED_DATA, else ../shared/data beside the repository (as CI lays it out).
SHARED_DATA = os.environ.get("SHOAL_SHARED_DATA") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared", "data"
)
TEMPLATES = os.path.join(SHARED_DATA, "scheduler_perf", "templates")
ZONES = ("moon-1", "moon-2", "moon-3")


def _template(name: str) -> dict[str, Any]:
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as f:
        return yaml.safe_load(f)


def make_nodes(count: int, zones: bool = False) -> list:
    from shoal.proto import manifests

    base = manifests.from_dict(_template("node-default.yaml"))
    nodes = []
    for i in range(count):
        n = type(base)()
        n.CopyFrom(base)
        n.metadata.name = f"scheduler-perf-{i:05d}"
        n.metadata.labels["kubernetes.io/hostname"] = n.metadata.name
        if zones:
            n.metadata.labels["topology.kubernetes.io/zone"] = ZONES[i % len(ZONES)]
        nodes.append(n)
    return nodes


def make_pods(template: str, count: int, prefix: str, namespace: str = "default", start: int = 0) -> list:
    from shoal.proto import manifests

    base = manifests.from_dict(_template(template))
    pods = []
    for i in range(start, start + count):
        p = type(base)()
        p.CopyFrom(base)
        p.metadata.name = f"{prefix}-{i:05d}"
        p.metadata.namespace = namespace
        pods.append(p)
    return pods


def run_scheduler(nodes, init_pods, measured, *, equivalence=True, batch=True, backend: str | None = None) -> dict[str, Any]:
    """Bind `init_pods` (untimed), then time placing `measured` (one Scheduler.place call)."""
    from shoal.native import kernels
    from shoal.sched.api import build_snapshot
    from shoal.sched.podinfo import PodParser
    from shoal.sched.scheduler import Scheduler

    parser = PodParser()
    snapshot = build_snapshot(nodes, parser=parser)
    context = kernels.using(backend) if backend else _null()
    with context:
        if init_pods:
            Scheduler(snapshot, equivalence=equivalence, batch=batch).place([parser.parse(p, i) for i, p in enumerate(init_pods)])
        infos = [parser.parse(p, i) for i, p in enumerate(measured)]
        scheduler = Scheduler(snapshot, equivalence=equivalence, batch=batch)
        t0 = time.perf_counter()
        placements = scheduler.place(infos)
        seconds = time.perf_counter() - t0
    placed = int((placements.nodes >= 0).sum())
    return {"pods": len(measured), "placed": placed, "seconds": seconds, "pods_per_second": len(measured) / seconds,
            "nodes": placements.nodes, "cycles": scheduler.stats.cycles, "batched": scheduler.stats.batched}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def python_loop(nodes, pods) -> dict[str, Any]:
    """Plain per-node Python: NodeResourcesFit filter + LeastAllocated + BalancedAllocation,
    argmax with the first node winning ties. The yardstick, not a scheduler."""
    from shoal.proto.quantity import resource_list_to_ints

    alloc = []
    for n in nodes:
        a = resource_list_to_ints(n.status.allocatable or n.status.capacity)
        alloc.append([a.get("cpu", 0), a.get("memory", 0), a.get("pods", 0)])
    used = [[0, 0, 0] for _ in nodes]
    reqs = []
    for p in pods:
        r = resource_list_to_ints(p.spec.containers[0].resources.requests)
        reqs.append((r.get("cpu", 0), r.get("memory", 0)))
    t0 = time.perf_counter()
    for cpu, mem in reqs:
        best, best_score = -1, -1
        for i, (a, u) in enumerate(zip(alloc, used)):
            if u[0] + cpu > a[0] or u[1] + mem > a[1] or u[2] + 1 > a[2]:
                continue
            rc, rm = u[0] + cpu, u[1] + mem
            least = ((a[0] - rc) * 100 // a[0] + (a[1] - rm) * 100 // a[1]) // 2
            fc, fm = min(1.0, rc / a[0]), min(1.0, rm / a[1])
            score = least + int((1 - abs(fc - fm) / 2) * 100)
            if score > best_score:
                best, best_score = i, score
        if best >= 0:
            used[best][0] += cpu
            used[best][1] += mem
            used[best][2] += 1
    seconds = time.perf_counter() - t0
    return {"pods": len(pods), "seconds": seconds, "pods_per_second": len(pods) / seconds}


def best_of(repeats: int, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    runs = [fn() for _ in range(repeats)]
    best = max(runs, key=lambda r: r["pods_per_second"])
    best["median_pods_per_second"] = statistics.median(r["pods_per_second"] for r in runs)
    return best


def warm_up() -> float:
    """Load (or compile) every kernel once, outside the measurements."""
    from shoal.sched import place

    t0 = time.perf_counter()
    nodes = make_nodes(4, zones=True)
    pods = make_pods("pod-default.yaml", 4, "w") + make_pods("pod-with-pod-anti-affinity.yaml", 2, "wa", "sched-1")
    pods += make_pods("pod-with-topology-spreading.yaml", 2, "ws")
    for eq in (True, False):
        place(nodes, pods, equivalence=eq)
    return time.perf_counter() - t0


def bench_basic(args) -> list[dict[str, Any]]:
    nodes = make_nodes(args.nodes)
    pods = make_pods("pod-default.yaml", args.pods, "pod")
    rows = []
    eq = best_of(args.repeats, lambda: run_scheduler(nodes, [], pods, equivalence=True))
    full = best_of(args.repeats, lambda: run_scheduler(nodes, [], pods, equivalence=False))
    assert (eq["nodes"] == full["nodes"]).all(), "equivalence classes and full scan disagree"
    rows.append(_row("basic", "equivalence classes (segment trees)", eq))
    rows.append(_row("basic", "full scan (native place_sequence)", full))
    subset = pods[: args.reference_pods]
    ref = run_scheduler(nodes, [], subset, equivalence=False, backend="reference")
    assert (ref["nodes"] == full["nodes"][: len(subset)]).all(), "NumPy reference disagrees with native"
    rows.append(_row("basic", f"NumPy reference kernels ({len(subset)} pods)", ref))
    loop = python_loop(nodes, pods[: args.loop_pods])
    rows.append(_row("basic", f"plain per-node Python loop ({args.loop_pods} pods)", loop))
    return rows


def _dynamic(workload: str, args, nodes, init, measured) -> list[dict[str, Any]]:
    """Pods whose filters change per pod: class trees + per-pod masks, per-pod full scans
    (native fused kernels), and per-pod full scans on the NumPy reference kernels."""
    eq = best_of(args.repeats, lambda: run_scheduler(nodes, init, measured, equivalence=True))
    full = best_of(args.repeats, lambda: run_scheduler(nodes, init, measured, equivalence=False))
    assert (eq["nodes"] == full["nodes"]).all(), "class trees and full scans disagree"
    subset = measured[: args.reference_pods]
    ref = run_scheduler(nodes, init, subset, equivalence=False, backend="reference")
    assert (ref["nodes"] == full["nodes"][: len(subset)]).all(), "NumPy reference disagrees with native"
    return [
        _row(workload, "equivalence classes (class trees + per-pod filter masks)", eq),
        _row(workload, "full scan per pod (native fused kernels)", full),
        _row(workload, f"full scan per pod, NumPy reference kernels ({len(subset)} pods)", ref),
    ]


def bench_anti_affinity(args) -> list[dict[str, Any]]:
    nodes = make_nodes(args.nodes)
    init = make_pods("pod-with-pod-anti-affinity.yaml", args.anti_init, "anti-init", "sched-0")
    measured = make_pods("pod-with-pod-anti-affinity.yaml", args.nodes - args.anti_init, "anti", "sched-1")
    return _dynamic("anti-affinity", args, nodes, init, measured)


def bench_spread(args) -> list[dict[str, Any]]:
    nodes = make_nodes(args.nodes, zones=True)
    init = make_pods("pod-default.yaml", args.spread_init, "init")
    measured = make_pods("pod-with-topology-spreading.yaml", args.spread_pods, "spread")
    return _dynamic("spread", args, nodes, init, measured)


def _row(workload: str, path: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": workload,
        "path": path,
        "pods": r["pods"],
        "placed": r.get("placed"),
        "seconds": round(r["seconds"], 4),
        "pods_per_second": round(r["pods_per_second"]),
        "median_pods_per_second": round(r.get("median_pods_per_second", r["pods_per_second"])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=("basic", "anti-affinity", "spread"), action="append")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10_000, help="basic: pods placed")
    parser.add_argument("--anti-init", type=int, default=1000)
    parser.add_argument("--spread-init", type=int, default=5000)
    parser.add_argument("--spread-pods", type=int, default=2000)
    parser.add_argument("--reference-pods", type=int, default=500)
    parser.add_argument("--loop-pods", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    warm = warm_up()
    print(f"kernels warm in {warm:.2f}s; {args.nodes} nodes; best of {args.repeats}\n")
    benches = {"basic": bench_basic, "anti-affinity": bench_anti_affinity, "spread": bench_spread}
    rows = []
    for name in args.only or list(benches):
        rows.extend(benches[name](args))
    _print(rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)
    return 0


def _print(rows: list[dict[str, Any]]) -> None:
    print(f"{'workload':<14} {'path':<58} {'pods':>6} {'placed':>6} {'pods/s':>10} {'median':>10} {'ratio':>8}")
    first: dict[str, float] = {}
    for r in rows:
        base = first.setdefault(r["workload"], r["pods_per_second"])
        ratio = base / r["pods_per_second"] if r["pods_per_second"] else float("inf")
        placed = "" if r["placed"] is None else r["placed"]
        print(f"{r['workload']:<14} {r['path']:<58} {r['pods']:>6} {placed:>6} {r['pods_per_second']:>10,} "
              f"{r['median_pods_per_second']:>10,} {ratio:>7.1f}x")
    print("\nratio: how many times faster the first path of the workload is than this one")


if __name__ == "__main__":
    sys.exit(main())
