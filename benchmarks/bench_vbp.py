"""Vector bin packing: Shoal's solver beside FFD and kube-scheduler-like greedy packing (not a timed test).

    python -m shoal.benchmarks.bench_vbp                          # all 66 instances, 60 s each
    python -m shoal.benchmarks.bench_vbp --time-limit 10 --filter _20_ --out vbp.md
    python -m shoal.benchmarks.bench_vbp --filter 're:class[67]_250' --out vbp.json
    python -m shoal.benchmarks.bench_vbp --planted 20             # plus 20 planted-optimum instances

Instances: ../shared/data/vbp/ (VPSolver .vbp; known_optima.csv gives the lower bound, the optimum
where known and the best of the source paper's heuristics). Per instance:

    solver        shoal.sched.solver.vbp.solve_vbp with the time limit: bins, proven lower bound,
                  gap = (bins - bound) / bins, the stage that found the packing, seconds
    ffd           first-fit decreasing (sum of relative sizes)
    most / least  one item at a time in file order (kube-scheduler's queue), each on the
                  best-scored node by MostAllocated / LeastAllocated; a new node is opened only
                  when no open one has room (as under a cluster autoscaler)

Every packing is verified by the independent checker before it is counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(os.environ.get("SHOAL_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data") / "vbp"


def load_catalog(data: Path) -> list[dict[str, Any]]:
    with open(data / "known_optima.csv") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        opt = int(r["OPT(-1=unknown)"])
        out.append({
            "file": r["file"],
            "instance": r["instance"],
            "lb_csv": int(r["LB"]),
            "opt": opt if opt >= 0 else (int(r["LB"]) if r["LB"] == r["best_known_UB"] else None),
            "paper_ub": int(r["best_known_UB"]),
        })
    return out


def selected(name: str, pattern: str | None) -> bool:
    if not pattern:
        return True
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return pattern in name


def run_instance(instance: Any, time_limit: float, workers: int | None) -> dict[str, Any]:
    from shoal.sched.solver import check
    from shoal.sched.solver.greedy import one_at_a_time
    from shoal.sched.solver.vbp import solve_vbp
    from shoal.sched.solver.vbp_heuristics import ffd, n_bins

    def verified(bins: int, assignment: Any) -> int:
        errors = check(instance.to_problem(max(bins, 1)), assignment)
        if errors:
            raise AssertionError(f"{instance.name}: infeasible packing: {errors[:3]}")
        return bins

    row: dict[str, Any] = {"instance": instance.name, "n": instance.n_items, "d": instance.dims}
    sol = solve_vbp(instance, time_limit=time_limit, workers=workers)
    row.update(bins=verified(sol.bins, sol.assignment), lower_bound=sol.lower_bound, gap=round(sol.gap, 4),
               status=sol.status, method=sol.method, seconds=round(sol.seconds, 2))
    a = ffd(instance.capacity, instance.items)
    row["ffd"] = verified(n_bins(a), a)
    problem = instance.to_problem()
    for scoring in ("most", "least"):
        res = one_at_a_time(problem, scoring, scale_up=True)
        if res.placed != instance.n_items:
            raise AssertionError(f"{instance.name}: greedy {scoring} left items out")
        row[scoring] = verified(res.value.secondary, res.assignment)
    return row


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    cols = ["instance", "n", "d", "opt", "paper_ub", "bins", "lower_bound", "gap", "status", "method", "seconds",
            "ffd", "most", "least"]
    names = {"opt": "optimum", "paper_ub": "paper best", "bins": "solver", "lower_bound": "bound",
             "most": "MostAllocated", "least": "LeastAllocated"}
    lines = [header, "", "| " + " | ".join(names.get(c, c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if v is None:
                cells.append("-")
            elif c == "bins" and r.get("opt") is not None and v > r["opt"]:
                cells.append(f"**{v}**")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    def at_opt(rs: list[dict[str, Any]]) -> str:
        known = [r for r in rs if r.get("opt") is not None]
        hit = sum(r["bins"] == r["opt"] for r in known)
        within1 = sum(r["bins"] <= r["opt"] + 1 for r in known)
        return f"{hit}/{len(known)} at the optimum, {within1}/{len(known)} within one bin"

    pan = [r for r in rows if r["instance"].startswith("class") and not r["instance"].startswith("classC")
           and not r["instance"].startswith("classF")]
    trip = [r for r in rows if r["instance"].startswith(("classC", "classF"))]
    out = [
        (f"- n <= 61: {at_opt([r for r in pan if r['n'] <= 61])}; proven optimal: "
         f"{sum(r['status'] == 'optimal' for r in pan if r['n'] <= 61)}/{len([r for r in pan if r['n'] <= 61])}"),
        f"- n = 250: {at_opt([r for r in pan if r['n'] > 61])}",
        f"- Triplet: {at_opt(trip)}",
        f"- planted: {at_opt([r for r in rows if r['instance'].startswith('planted')])}",
        (f"- total bins: solver {sum(r['bins'] for r in rows)}, ffd {sum(r['ffd'] for r in rows)}, "
         f"MostAllocated {sum(r['most'] for r in rows)}, LeastAllocated {sum(r['least'] for r in rows)}"),
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance for the solver (default 60)")
    ap.add_argument("--filter", default=None, help="substring of the file name, or re:REGEX")
    ap.add_argument("--out", default=None, help="write the table (.md) or the rows (.json) here")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="the vbp folder (default: ../shared/data/vbp)")
    ap.add_argument("--workers", type=int, default=None, help="CP-SAT workers (default 8)")
    ap.add_argument("--planted", type=int, default=0, help="also run this many planted-optimum instances")
    args = ap.parse_args(argv)

    from shoal.sched.solver.planted import planted_instance
    from shoal.sched.solver.vbp import read_vbp

    data = Path(args.data)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for entry in load_catalog(data):
        if not selected(entry["file"], args.filter):
            continue
        row = run_instance(read_vbp(data / entry["file"]), args.time_limit, args.workers)
        row.update(opt=entry["opt"], paper_ub=entry["paper_ub"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    for k in range(args.planted):
        bins, dims = (10, 20, 40)[k % 3], (2, 3, 5)[(k // 3) % 3]
        per_bin = ((2, 3), (3, 3), (2, 5), (3, 6))[(k // 9) % 4]
        inst, _ = planted_instance(bins, dims, 100, per_bin, seed=1000 + k)
        if not selected(inst.name, args.filter):
            continue
        row = run_instance(inst, args.time_limit, args.workers)
        row.update(opt=bins, paper_ub=None)
        rows.append(row)
        print(json.dumps(row), flush=True)
    load1 = os.getloadavg()
    header = (f"vbp benchmark: {len(rows)} instances, solver time limit {args.time_limit:g} s each, "
              f"{os.cpu_count()} cores, load average {load0[0]:.2f} at start, {load1[0]:.2f} at end, "
              f"{time.perf_counter() - t0:.0f} s in all")
    table = markdown(rows, header)
    text = table + "\n\n" + "\n".join(summary(rows)) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            if args.out.endswith(".json"):
                json.dump({"header": header, "rows": rows}, f, indent=1)
            else:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
