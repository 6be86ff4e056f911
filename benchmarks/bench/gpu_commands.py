"""`shoal bench gpu-frag` and `shoal bench trace`: the GPU benchmarks on the Alibaba trace
(registered by commands.register; kept apart so that module stays small).

Importing this module loads nothing heavy: the simulation modules are imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

GPU_FRAG_EXAMPLE = """\
example:
  shoal bench gpu-frag --out /tmp/gpu-frag                       (default list, every policy, 10 seeds)
  shoal bench gpu-frag --pods default,gpushare40 --policy fgd,shoal --seeds 10
  shoal bench gpu-frag --pods all --policy shoal --seeds 3

The FGD paper's protocol (../shared/docs/gpu-fragmentation-benchmark.md): 1,213 GPU nodes,
pods shuffled and sampled to 130% of GPU capacity per seed, one at a time, no retries.
Allocated GPU % at 100% and 130% arrived, beside the published figures.
"""

TRACE_EXAMPLE = """\
example:
  shoal bench trace ../shared/data/traces/alibaba-gpu-v2023 --out /tmp/trace
  shoal bench trace DIR --pods gpushare40 --policy fgd,shoal,bestfit --speedup 20000
  shoal bench trace DIR --policy bestfit,shoal,cpsat-batch --speedup 100000 --batch-window 5 --time-limit 2

Pods arrive at their creation times (divided by --speedup) and leave after their run length;
pods that fit nowhere wait and are retried when room is freed. cpsat-batch collects arrivals for
up to --batch-window simulated seconds (or --batch-size pods) and places them with the waiting
queue by CP-SAT, starting from the --batch-hint policy's placement (benchmarks/bench/trace_cpsat.py).
"""

POLICY_HELP = "comma-separated: random, dotprod, gpu-clustering, gpu-packing, bestfit, fgd, shoal"


def add_gpu_frag(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("gpu-frag", help="GPU fragmentation: the FGD paper's protocol on the Alibaba trace",
                         epilog=GPU_FRAG_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", metavar="DIR", help="the trace folder (default: ../shared/data/traces/alibaba-gpu-v2023)")
    p.add_argument("--pods", default="default", metavar="LIST",
                   help="comma-separated pod lists (default, gpushare40, ... or 'all', or .csv paths)")
    p.add_argument("--policy", default="random,dotprod,gpu-clustering,gpu-packing,bestfit,fgd,shoal", metavar="LIST",
                   help=POLICY_HELP + " (default: all)")
    p.add_argument("--seeds", type=int, default=10, help="how many seeds (default: 10, as published)")
    p.add_argument("--first-seed", type=int, default=0, metavar="S", help="seeds S .. S+N-1 (default: 0)")
    p.add_argument("--no-check", action="store_true", help="skip the independent placement checker")
    p.add_argument("--out", metavar="DIR", help="write result.json, summary.md and gpu_frag.png here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run_gpu_frag)


def add_trace(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("trace", help="replay an Alibaba GPU pod list in simulated time (arrivals, departures, queueing)",
                         epilog=TRACE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="the trace folder (node list and pod lists)")
    p.add_argument("--pods", default="default", metavar="FILE", help="pod list name or .csv path (default: default)")
    p.add_argument("--policy", default="fgd,shoal", metavar="LIST",
                   help=POLICY_HELP + ", cpsat-batch (CP-SAT batches from --batch-hint), cpsat-batch:POLICY (from POLICY) "
                        "(default: fgd,shoal)")
    p.add_argument("--speedup", type=float, default=1.0, metavar="K",
                   help="arrivals K times denser, run lengths unchanged (default: 1, the trace as recorded)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N pods by creation time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check", action="store_true", help="skip the independent placement checker")
    p.add_argument("--out", metavar="DIR", help="write result.json, summary.md and trace.png here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    b = p.add_argument_group("cpsat-batch (CP-SAT batches)")
    b.add_argument("--batch-window", type=float, default=5.0, metavar="S",
                   help="simulated seconds (after --speedup) the first pod of a batch waits (default: 5)")
    b.add_argument("--batch-size", type=int, default=200, metavar="N", help="at most N pods per batch, waiting ones first (default: 200)")
    b.add_argument("--time-limit", type=float, default=2.0, metavar="S", help="CP-SAT seconds per batch, model included (default: 2)")
    b.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default: 2)")
    b.add_argument("--candidates", type=int, default=16, metavar="K", help="nodes per pod in the model, besides the hint's (default: 16)")
    b.add_argument("--batch-hint", default="shoal", metavar="POLICY", help="the greedy policy giving the hint and the fallback (default: shoal)")
    p.set_defaults(func=run_trace)


def _policies(value: str, extra: tuple[str, ...] = (), extra_shown: str = "") -> list[str] | None:
    from shoal.sched.gpu.policies import POLICIES

    known = [*POLICIES, *extra]
    names = [x.strip() for x in value.split(",") if x.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        print(f"error: --policy: unknown {', '.join(bad) or '(empty)'}; expected {', '.join(POLICIES)}{extra_shown}", file=sys.stderr)
        return None
    return names


def run_gpu_frag(args: argparse.Namespace) -> int:
    from . import alibaba_trace, gpu_frag, report
    from .progress import Progress

    trace_dir = args.trace or alibaba_trace.default_trace_dir()
    policies = _policies(args.policy)
    if policies is None:
        return 1
    if args.seeds < 1:
        print("error: --seeds must be at least 1", file=sys.stderr)
        return 1
    lists = alibaba_trace.pod_list_names(trace_dir) if args.pods == "all" else [x.strip() for x in args.pods.split(",") if x.strip()]
    missing = [x for x in lists if not alibaba_trace.pod_list_path(trace_dir, x).exists()]
    if missing or not lists:
        print(f"error: --pods: no pod list {', '.join(missing) or '(empty)'} in {trace_dir}", file=sys.stderr)
        return 1
    cases = [(pod_list, policy) for pod_list in lists for policy in policies]
    progress = Progress(len(cases), quiet=args.quiet)
    rows: list[dict[str, Any]] = []
    for pod_list, policy in cases:
        name = f"{pod_list} / {policy}"
        progress.start(name, f"({args.seeds} seeds)")
        row = gpu_frag.run_case(trace_dir, pod_list, policy, args.seeds, check=not args.no_check, first_seed=args.first_seed)
        rows.append(row)
        published = f" (published {row['published_at_100']:.2f})" if row["published_at_100"] is not None else ""
        valid = {True: "valid", False: f"INVALID ({row['problem_count']} problems)", None: "not checked"}[row["placements_valid"]]
        progress.finish(name, f"{row['allocated_at_100']:.2f}% allocated at 100% arrived{published}, {valid}")
    summary = gpu_frag.table(rows)
    verdicts = gpu_frag.best_versus_fgd(rows)
    print(summary)
    print("\n".join(verdicts))
    if args.out:
        meta = {"command": "gpu-frag", "trace": str(trace_dir), "seeds": args.seeds, "first_seed": args.first_seed, "env": report.environment()}
        report.write_json(args.out, {**meta, "cases": rows})
        report.write_text(args.out, "summary.md", "# shoal bench gpu-frag\n\n" + summary + "\n\n" + "\n".join(verdicts) + "\n")
        path = gpu_frag.plot(args.out, rows)
        print(f"wrote {path}" if path else report.PLOTS_NEED + "; plots skipped", file=sys.stderr)
    return 0 if all(r["placements_valid"] is not False for r in rows) else 2


def run_trace(args: argparse.Namespace) -> int:
    from shoal.sched.gpu.policies import POLICIES

    from . import alibaba_trace, report, trace, trace_cpsat
    from .progress import Progress

    # cpsat-batch takes its hint from --batch-hint; cpsat-batch:POLICY names it (several in one run).
    batch_names = (trace_cpsat.POLICY, *(f"{trace_cpsat.POLICY}:{p}" for p in POLICIES))
    policies = _policies(args.policy, extra=batch_names, extra_shown=f", {trace_cpsat.POLICY}, {trace_cpsat.POLICY}:POLICY")
    if policies is None:
        return 1
    if args.batch_hint not in POLICIES:
        print(f"error: --batch-hint: unknown {args.batch_hint!r}; expected {', '.join(POLICIES)}", file=sys.stderr)
        return 1
    if args.batch_window < 0 or args.batch_size < 1 or args.time_limit <= 0 or args.workers < 1 or args.candidates < 1:
        print("error: --batch-window >= 0, --batch-size >= 1, --time-limit > 0, --workers >= 1, --candidates >= 1", file=sys.stderr)
        return 1
    options = trace_cpsat.BatchOptions(window=args.batch_window, max_batch=args.batch_size, time_limit=args.time_limit,
                                       workers=args.workers, candidates=args.candidates, hint_policy=args.batch_hint)
    if args.speedup <= 0:
        print("error: --speedup must be positive", file=sys.stderr)
        return 1
    if not alibaba_trace.pod_list_path(args.dir, args.pods).exists():
        print(f"error: --pods: no pod list {args.pods!r} in {args.dir}", file=sys.stderr)
        return 1
    progress = Progress(len(policies), quiet=args.quiet)
    rows = []
    for policy in policies:
        name = f"{args.pods} / {policy}"
        progress.start(name, f"(speedup {args.speedup:g})")
        if policy in batch_names:
            hint = policy.partition(":")[2] or args.batch_hint
            row = trace_cpsat.replay_batches(args.dir, args.pods, replace(options, hint_policy=hint), args.seed, check=not args.no_check,
                                             limit=args.limit, speedup=args.speedup, note=progress.note)
            row["policy"] = policy
        else:
            row = trace.replay(args.dir, args.pods, policy, args.seed, check=not args.no_check, limit=args.limit, speedup=args.speedup)
        rows.append(row)
        valid = {True: "valid", False: f"INVALID ({row['problem_count']} problems)", None: "not checked"}[row["placements_valid"]]
        progress.finish(name, f"{row['placed']:,}/{row['pods']:,} placed, mean GPU allocation {row['mean_allocated_gpu_pct']:.2f}%, {valid}")
    summary = trace.table(rows)
    batches = trace_cpsat.batch_table(rows)
    if batches:
        summary += "\n\nCP-SAT batches:\n\n" + batches
    print(summary)
    if args.out:
        meta = {"command": "trace", "trace": str(args.dir), "pods": args.pods, "speedup": args.speedup, "env": report.environment()}
        report.write_json(args.out, {**meta, "cases": rows})
        report.write_text(args.out, "summary.md", "# shoal bench trace\n\n" + summary + "\n")
        path = trace.plot(args.out, rows)
        print(f"wrote {path}" if path else report.PLOTS_NEED + "; plots skipped", file=sys.stderr)
    return 0 if all(r["placements_valid"] is not False for r in rows) else 2
