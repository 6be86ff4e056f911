"""`shoal bench report`: run the benchmark suites and write their figures into RESULTS.md.

    shoal bench report                       # every suite, full size (tens of minutes)
    shoal bench report --quick               # every suite, small sizes (a minute or two)
    shoal bench report --only scale,kernels --results /tmp/RESULTS.md

Each suite runs as its own command (a subprocess, so the figure is what a user typing that
command gets) and becomes one generated section of the results file, holding the command, the
machine (CPU count and model, memory), the load average before and after, and the date. Text
outside the generated sections is left as it is (results_file.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report
from .results_file import replace_section

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / "benchmarks" / "RESULTS.md"
DEFAULT_CONFIG = Path(os.environ.get("SHOAL_SHARED_DATA") or REPO.parent / "shared" / "data") / "scheduler_perf" / "performance-config.yaml"


class SuiteError(RuntimeError):
    """A suite's command failed; the message holds the end of its output."""


@dataclass
class Options:
    quick: bool
    config: str
    work: str
    timeout: float


@dataclass
class Suite:
    name: str
    title: str
    build: Callable[[Options, str], list[str]]  # options, output dir -> the `shoal bench ...` argv (after "shoal")
    render: Callable[[str, list[str]], str]  # output dir, argv -> Markdown body


# -- commands --------------------------------------------------------------------------------


def _bench_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "shoal.benchmarks.bench", *args]


def _shown(argv: list[str]) -> str:
    """How a user would type it: `shoal bench ...` / `python -m pytest ...`."""
    if argv[1:3] == ["-m", "shoal.benchmarks.bench"]:
        return "shoal bench " + shlex.join(argv[3:])
    if argv[1:3] == ["-m", "pytest"]:
        return "python -m pytest " + shlex.join(argv[3:])
    return shlex.join(argv)


def _perf_config(o: Options, out: str) -> list[str]:
    scale = "0.05" if o.quick else "1"
    # Every workload, preemption's included (its dry runs take seconds per case since session 2).
    # --thresholds upstream: kube-scheduler's published thresholds (and their workloads) for the ratio column.
    return _bench_argv(["perf-config", o.config, "--scale", scale, "--thresholds", "upstream", "--out", out, "--quiet"])


def _perf_config_cluster(o: Options, out: str) -> list[str]:
    # Every workload starts its own server and agents (a few seconds each): small scales.
    extra = ["--scale", "0.01", "--case", "SchedulingBasic*"] if o.quick else ["--scale", "0.02"]
    return _bench_argv(["perf-config", o.config, *extra, "--mode", "cluster", "--out", out, "--quiet"])


def _scale(o: Options, out: str) -> list[str]:
    nodes, pods = ("500,2000", "2000") if o.quick else ("1000,5000,20000,50000", "10000")
    return _bench_argv(["scale", "--nodes", nodes, "--pods", pods, "--out", out, "--quiet"])


def _million(o: Options, out: str) -> list[str]:
    nodes, pods = ("5000", "100000") if o.quick else ("50000", "1000000")
    return _bench_argv(["scale", "--nodes", nodes, "--pods", pods, "--equivalence", "on", "--out", out, "--quiet"])


def _cluster(o: Options, out: str) -> list[str]:
    nodes, pods = ("20", "500") if o.quick else ("5000", "50000")
    return _bench_argv(["scale", "--mode", "cluster", "--nodes", nodes, "--pods", pods, "--check", "--out", out, "--quiet"])


def _trace(o: Options, out: str) -> list[str]:
    # Greedy policies beside CP-SAT batches started from two of them, one replay of the default list each.
    from .alibaba_trace import default_trace_dir

    extra = ["--limit", "2000"] if o.quick else []
    return _bench_argv(["trace", str(default_trace_dir()), "--pods", "default", "--policy",
                        "bestfit,fgd,shoal,cpsat-batch,cpsat-batch:bestfit", "--speedup", "300000", "--batch-window", "5",
                        "--time-limit", "2", "--workers", "2", *extra, "--out", out, "--quiet"])


def _pytest_suite(file: str) -> Callable[[Options, str], list[str]]:
    def build(o: Options, out: str) -> list[str]:
        return [sys.executable, "-m", "pytest", f"benchmarks/{file}", "--benchmark-only", "-q", "-p", "no:cacheprovider",
                f"--benchmark-json={os.path.join(out, 'benchmark.json')}"]
    return build


# -- rendering -------------------------------------------------------------------------------


def _result(out: str) -> dict[str, Any]:
    with open(os.path.join(out, "result.json"), encoding="utf-8") as f:
        return json.load(f)


def _render_perf(out: str, argv: list[str]) -> str:
    rows = _result(out)["cases"]
    ran = [r for r in rows if r.get("status") == "ran"]
    return (report.perf_table(rows) + "\n\n" + report.threshold_notes(rows)
            + f"\n\n{len(ran)} of {len(rows)} workloads ran; latency: " + report._latency_basis(rows) + ".")


def _render_scale(out: str, argv: list[str]) -> str:
    return report.scale_table(_result(out)["points"])


def _render_cluster(out: str, argv: list[str]) -> str:
    points = _result(out)["points"]
    notes = [f"{p['nodes']:,} nodes registered in {p['register_seconds']} s; {p['pods']:,} pods created through BulkApply "
             f"({p['batch']:,} per call) at {_rate(p.get('creates_per_second'))} creates/s while the scheduler bound them"
             for p in points]
    return report.scale_table(points) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def _rate(x: float | None) -> str:
    return f"{x:,.0f}" if x else "—"


def _render_million(out: str, argv: list[str]) -> str:
    (point,) = _result(out)["points"]
    return (report.scale_table([point]) + f"\n\nPlacement alone: {point['seconds']:.2f} s; the whole command (start-up, "
            "building the cluster, placing, writing the report): see the wall time above.")


def _render_trace(out: str, argv: list[str]) -> str:
    from . import trace, trace_cpsat

    rows = _result(out)["cases"]
    return trace.table(rows) + "\n\nCP-SAT batches (what each batch's solver added to its greedy hint):\n\n" + trace_cpsat.batch_table(rows)


def _render_pytest(out: str, argv: list[str]) -> str:
    with open(os.path.join(out, "benchmark.json"), encoding="utf-8") as f:
        data = json.load(f)
    lines = ["| benchmark | best round | rate |", "|---|---:|---:|"]
    for b in data["benchmarks"]:
        extra = b.get("extra_info") or {}
        rate = next(((k, v) for k, v in extra.items() if k.endswith("_per_s")), None)
        shown = f"{rate[1]:,.0f} {rate[0].removesuffix('_per_s').replace('_', ' ')}/s" if rate else "—"
        lines.append(f"| {b['name']} | {b['stats']['min'] * 1e3:,.2f} ms | {shown} |")
    return "\n".join(lines)


SUITES = [
    Suite("perf-config", "kube-scheduler's scheduler_perf workloads (library mode)", _perf_config, _render_perf),
    Suite("perf-config-cluster", "kube-scheduler's scheduler_perf workloads (cluster mode: server + hollow agents)",
          _perf_config_cluster, _render_perf),
    Suite("scale", "Scaling curve: pods/s against nodes (library mode)", _scale, _render_scale),
    Suite("million", "A million pods (library mode, whole command)", _million, _render_million),
    Suite("cluster", "Cluster mode: a real server, hollow agents, pods through gRPC", _cluster, _render_cluster),
    Suite("kernels", "Kernels (pytest-benchmark)", _pytest_suite("bench_kernels.py"), _render_pytest),
    Suite("store", "Store (pytest-benchmark)", _pytest_suite("bench_store.py"), _render_pytest),
    Suite("trace", "Trace replay in time: greedy policies and CP-SAT batches (Alibaba GPU trace, default list)", _trace,
          _render_trace),
]


# -- running ---------------------------------------------------------------------------------


def run_suite(suite: Suite, options: Options) -> str:
    """Run one suite; its section body (Markdown)."""
    out = os.path.join(options.work, suite.name)
    os.makedirs(out, exist_ok=True)
    argv = suite.build(options, out)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=options.timeout, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SuiteError(f"{_shown(argv)} exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}")
    env = report.environment()
    shown = _shown(argv).replace(out, "OUT")
    return "\n".join([
        f"### {suite.title}{' (--quick sizes)' if options.quick else ''}",
        "",
        f"Command: `{shown}` (wall time {wall:.1f} s)  ",
        (f"Machine: {env['cpus']} CPUs ({env['cpu_model']}), {env['memory_gib']} GiB, Python {env['python']}; "
         f"load average {load_before:.2f} before, {env['load_average'][0]:.2f} after; {env['date']} "
         "(generated by `shoal bench report`; the machine may be shared: compare figures measured side by side)"),
        "",
        suite.render(out, argv),
    ])


def regenerate(results: str, suites: list[Suite], options: Options, log: Callable[[str], None] = print) -> int:
    """Run `suites` and rewrite their sections of `results`; the number that failed."""
    failed = 0
    for suite in suites:
        log(f"[{suite.name}] running ...")
        t0 = time.perf_counter()
        try:
            body = run_suite(suite, options)
        except (SuiteError, subprocess.TimeoutExpired) as exc:
            failed += 1
            log(f"[{suite.name}] FAILED: {exc}")
            continue
        # Read right before writing (others may edit the file meanwhile), and write after each
        # suite: a later failure keeps the earlier ones.
        text = Path(results).read_text(encoding="utf-8") if os.path.exists(results) else "# Benchmark results\n"
        Path(results).write_text(replace_section(text, suite.name, body), encoding="utf-8")
        log(f"[{suite.name}] done in {time.perf_counter() - t0:.1f} s")
    return failed


def add_parser(bench: argparse._SubParsersAction) -> None:
    p = bench.add_parser("report", help="run the benchmark suites and regenerate benchmarks/RESULTS.md",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="every suite (the default unless --only)")
    p.add_argument("--only", metavar="LIST", help=f"comma-separated suites: {', '.join(s.name for s in SUITES)}")
    p.add_argument("--quick", action="store_true", help="small sizes: a minute or two instead of tens of minutes")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), metavar="FILE", help="the file to update (default: benchmarks/RESULTS.md)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="FILE", help="the scheduler_perf configuration for perf-config")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S", help="longest a suite may take (default: 3600)")
    p.add_argument("--out", metavar="DIR", help="keep each suite's output (result.json, summary.md, plots) in DIR/SUITE")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    by_name = {s.name: s for s in SUITES}
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        print(f"error: unknown suite {', '.join(unknown)} (known: {', '.join(by_name)})", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="shoal-bench-report-") as tmp:
        options = Options(quick=args.quick, config=args.config, work=args.out or tmp, timeout=args.timeout)
        failed = regenerate(args.results, [by_name[n] for n in names], options, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{args.results}: {len(names) - failed} of {len(names)} sections regenerated", file=sys.stderr)
    return 0 if not failed else 2
