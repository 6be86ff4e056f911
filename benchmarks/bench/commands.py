"""`shoal bench`: placement benchmarks (entry point `bench = shoal.benchmarks.bench.commands:register`).

    shoal bench perf-config FILE [--case NAME] [--scale K] [--mode library|cluster] [--out DIR]
    shoal bench scale --nodes 1000,5000,20000 --pods 10000 [--mode library|cluster] [--out DIR]
    shoal bench report [--quick] [--only SUITES]      (regenerates benchmarks/RESULTS.md)

Also runnable as `python -m shoal.benchmarks.bench ...`. Importing this module loads nothing heavy.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PERF_EXAMPLE = """\
example:
  shoal bench perf-config ../shared/data/scheduler_perf/performance-config.yaml --scale 0.01 --out /tmp/bench
  shoal bench perf-config performance-config.yaml --case 'SchedulingBasic/5000Nodes' --scale 1
  shoal bench perf-config performance-config.yaml --case 'Scheduling*Affinity*' --window 100
  shoal bench perf-config performance-config.yaml --thresholds upstream --case 'SchedulingBasic/5000Nodes_*'

Each workload of each test case runs in library mode: the pods of createPods ops without
collectMetrics are placed first (untimed), then the collectMetrics pods are timed, and every
binding is replayed by an independent checker. What Shoal cannot run is listed per case.

Thresholds: the ratio column compares with kube-scheduler's `threshold` (pods/s). A file without
any (such as the shared one) gets kube-scheduler's published thresholds from later upstream
versions (--thresholds upstream, the default then): each comes with the upstream workload it was
measured on, run here as an extra workload of that name on the file's own templates, and the
report names the upstream file and commit.

--mode cluster runs each workload through a real `shoal server` (in-process scheduler) with hollow
sim agents as the nodes (template capacity and labels), pods created with BulkApply and watched
until bound and until Running.
"""

SCALE_EXAMPLE = """\
example:
  shoal bench scale --nodes 1000,5000,20000,50000 --pods 10000 --out /tmp/scale
  shoal bench scale --nodes 50000 --pods 1000000 --equivalence on
  shoal bench scale --mode cluster --nodes 100,1000 --pods 5000 --out /tmp/scale-cluster
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="placement benchmarks (scheduler_perf workloads, scaling curves)",
                       description="Benchmark Shoal's scheduler in library mode and write a report.")
    bench = p.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    add_perf_config(bench)
    add_scale(bench)
    from .gpu_commands import add_gpu_frag, add_trace  # (sched/gpu) GPU benchmarks on the Alibaba trace

    add_gpu_frag(bench)
    add_trace(bench)
    from .regenerate import add_parser as add_report

    add_report(bench)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def add_perf_config(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("perf-config", help="run kube-scheduler's scheduler_perf performance-config.yaml",
                         epilog=PERF_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="a scheduler_perf configuration (templates are found relative to it)")
    p.add_argument("--case", metavar="NAME", help="test case name or case/workload; shell wildcards allowed (default: all)")
    p.add_argument("--skip", metavar="NAME", help="leave out the workloads matching NAME (same patterns as --case)")
    p.add_argument("--scale", type=float, default=1.0, metavar="K", help="multiply node and pod counts by K (default: 1)")
    p.add_argument("--out", metavar="DIR", help="write result.json, summary.md and plots here")
    p.add_argument("--window", type=int, default=0, metavar="N",
                   help="time the measured pods in calls of N pods and report percentiles of those rates (default: one call)")
    p.add_argument("--no-equivalence", action="store_true", help="score every node for every pod (same placements, slower)")
    p.add_argument("--no-check", action="store_true", help="skip the independent placement checker")
    p.add_argument("--seed", type=int, default=0, help="tie-break seed (default: 0)")
    p.add_argument("--mode", choices=("library", "cluster"), default="library",
                   help="the scheduler alone (library, default) or a real server with hollow agents (cluster)")
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="cluster mode: pods per BulkApply call (default: 1000)")
    p.add_argument("--thresholds", choices=("auto", "file", "upstream"), default="auto",
                   help="kube-scheduler thresholds to compare with: the file's own (file), or also kube-scheduler's published "
                        "ones, adding the upstream workloads they belong to (upstream); auto (default): upstream when the file "
                        "states none. A threshold the file states always wins")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run_perf_config)


def add_scale(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("scale", help="synthetic clusters: pods/s against nodes",
                         epilog=SCALE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="1000,5000,20000", metavar="LIST", help="comma-separated node counts (default: 1000,5000,20000)")
    p.add_argument("--pods", type=int, default=10000, metavar="P", help="pods placed at each size (default: 10000)")
    p.add_argument("--mode", choices=("library", "cluster"), default="library",
                   help="the scheduler alone (library, default) or a real server with hollow agents (cluster)")
    p.add_argument("--equivalence", choices=("both", "on", "off"), default="both",
                   help="library mode: equivalence classes on, off (a full scan per pod) or both (default)")
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="cluster mode: pods per BulkApply call (default: 1000)")
    p.add_argument("--no-wait-running", action="store_true", help="cluster mode: stop when all are bound, not Running")
    p.add_argument("--callers", type=int, default=1, metavar="N", help="cluster mode: BulkApply calls in flight at once (default: 1)")
    p.add_argument("--window", type=int, default=0, metavar="N",
                   help="library mode: place the pods in calls of N pods (per-pod latency and rate percentiles; default: one call)")
    p.add_argument("--check", action="store_true", help="replay every placement through the independent checker")
    p.add_argument("--out", metavar="DIR", help="write result.json, summary.md and plots here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run_scale)


def _plots(out: str, paths: list[str | None]) -> None:
    from .report import PLOTS_NEED, _pyplot

    if _pyplot() is None:
        print(PLOTS_NEED + "; plots skipped", file=sys.stderr)
        return
    for path in paths:
        if path:
            print(f"wrote {path}", file=sys.stderr)


def _run_case(plan, args, progress) -> dict[str, Any]:
    """One perf-config workload in the chosen mode."""
    from .runner import _row, run_plan

    if args.mode == "library" or not plan.runnable:
        return run_plan(plan, equivalence=not args.no_equivalence, window=args.window, seed=args.seed, check=not args.no_check)
    from .cluster import ClusterModeError
    from .cluster_cases import run_plan_cluster

    try:
        return run_plan_cluster(plan, _row(plan), batch=args.batch, check=not args.no_check, log=progress.note)
    except ClusterModeError as exc:
        return {**_row(plan), "status": "failed", "blocking": [f"cluster mode: {exc}"]}


def run_perf_config(args: argparse.Namespace) -> int:
    from . import report
    from .perf_config import ConfigError, load_plans
    from .progress import Progress

    if args.scale <= 0:
        print("error: --scale must be positive", file=sys.stderr)
        return 1
    try:
        plans = load_plans(args.file, args.case, args.scale, args.skip, thresholds=args.thresholds)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not plans:
        print(f"error: no workload matches --case {args.case!r}", file=sys.stderr)
        return 1
    progress = Progress(len(plans), quiet=args.quiet)
    rows: list[dict[str, Any]] = []
    for plan in plans:
        progress.start(plan.name, f"({plan.nodes:,} nodes, {plan.init_pods:,} + {plan.measured_pods:,} pods)" if plan.runnable else "")
        row = _run_case(plan, args, progress)
        rows.append(row)
        progress.finish(plan.name, _outcome(row))
    meta = {"config": args.file, "scale": args.scale, "mode": args.mode, "equivalence": not args.no_equivalence, "window": args.window,
            "thresholds": args.thresholds, "env": report.environment()}
    print(report.perf_table(rows) + "\n\n" + report.threshold_notes(rows))
    if args.out:
        report.write_json(args.out, {"command": "perf-config", **meta, "cases": rows})
        report.write_text(args.out, "summary.md", report.perf_summary(rows, meta))
        _plots(args.out, [report.plot_throughput(args.out, rows), report.plot_over_time(args.out, rows),
                          report.plot_latency_cdf(args.out, rows)])
    if any(r.get("status") == "failed" for r in rows):
        return 2
    return 0 if all(r.get("placements_valid") is not False for r in rows) else 2


def _outcome(row: dict[str, Any]) -> str:
    if row.get("status") != "ran":
        return ("failed: " if row.get("status") == "failed" else "skipped: ") + "; ".join(row.get("blocking", [])[:2])
    valid = {True: "valid", False: f"INVALID ({row['problem_count']} problems)", None: "not checked"}[row["placements_valid"]]
    return f"{row['pods_per_second']:,.0f} pods/s, {row['placed']:,}/{row['pods']:,} placed, {valid}"


def run_scale(args: argparse.Namespace) -> int:
    from . import report
    from .progress import Progress

    try:
        sizes = [int(x) for x in args.nodes.split(",") if x.strip()]
    except ValueError:
        print(f"error: --nodes: expected comma-separated integers, got {args.nodes!r}", file=sys.stderr)
        return 1
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.equivalence] if args.mode == "library" else (True,)
    points = [(n, eq) for n in sizes for eq in modes]
    progress = Progress(len(points), quiet=args.quiet)
    rows = []
    for n, eq in points:
        name = f"{n:,} nodes, {args.pods:,} pods, " + (("equivalence classes" if eq else "full scan") if args.mode == "library" else "cluster mode")
        progress.start(name)
        try:
            row = _scale_point(args, n, eq, progress)
        except RuntimeError as exc:  # cluster mode: the cluster did not come up or the pods did not bind
            progress.finish(name, f"failed: {exc}")
            return 2
        rows.append(row)
        progress.finish(name, f"{row['pods_per_second']:,.0f} pods/s" + (
            f", all Running after {row['seconds_to_all_running']} s" if row.get("seconds_to_all_running") else ""))
    print(report.scale_table(rows))
    if args.out:
        meta = {"command": "scale", "mode": args.mode, "nodes": sizes, "pods": args.pods, "env": report.environment()}
        report.write_json(args.out, {**meta, "points": rows})
        report.write_text(args.out, "summary.md", report.scale_summary(rows, meta))
        _plots(args.out, [report.plot_scaling(args.out, rows), report.plot_over_time(args.out, rows, label=_point_label),
                          report.plot_latency_cdf(args.out, rows, label=_point_label)])
    return 0 if all(r.get("placements_valid") is not False for r in rows) else 2


def _scale_point(args: argparse.Namespace, nodes: int, equivalence: bool, progress: Any) -> dict[str, Any]:
    if args.mode == "cluster":
        from .cluster_cases import run_scale_point as run_cluster_point

        return run_cluster_point(nodes, args.pods, batch=args.batch, callers=args.callers, wait_running=not args.no_wait_running,
                                 check=args.check, log=progress.note)
    from .scale import run_point

    return run_point(nodes, args.pods, equivalence=equivalence, seed=args.seed, check=args.check, window=args.window)


def _point_label(row: dict[str, Any]) -> str:
    return f"{row['nodes']:,} nodes" + ("" if row.get("equivalence", True) else ", full scan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shoal")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)
