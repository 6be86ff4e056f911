"""The batch solver on the Alibaba GPU trace: solve time at 1,000 pods x 1,000 nodes, and nodes in
use, pods placed and GPU fragmentation of one-at-a-time greedy vs CP-SAT batches (not a timed test).

    python -m shoal.benchmarks.bench_solver_trace timing                 # 1,000 x 1,000, 5 s limit
    python -m shoal.benchmarks.bench_solver_trace trace --batch 250 --time-limit 2
    python -m shoal.benchmarks.bench_solver_trace trace --pods openb_pod_list_gpuspec33.csv
    python -m shoal.benchmarks.bench_solver_trace trace --gpu-nodes-for-gpu-pods

Data: ../shared/data/traces/alibaba-gpu-v2023 (openb_node_list_all_node.csv: 1,523 nodes;
openb_pod_list_*.csv: ~8,000 pods). Resources are whole: cpu milli, memory MiB and GPUs, a pod
sharing a GPU (gpu_milli < 1000) taking one whole GPU (GPU sharing is another engineer's work in
the scheduler; this measures the packing alone). gpu_spec ("V100M16|V100M32") becomes the mask:
such a pod may only go to nodes of those GPU models.

    timing   1,000 pods (creation order) on 1,000 nodes (seeded sample): CP-SAT with a 5 s limit
             (objective "nodes"), status, value, bound, gap, seconds, checked by the independent
             checker; beside it one-at-a-time LeastAllocated / MostAllocated and the greedy hint
    trace    every pod in creation order, in batches of --batch pods: each batch placed on what
             the previous ones left, by one-at-a-time LeastAllocated (kube-scheduler's default
             scoring), MostAllocated, and CP-SAT (objective "nodes", the greedy hint inside).
             Reported per placer: pods placed, nodes in use, GPU fragmentation = the share of
             free GPUs on nodes where no GPU pod shape of the trace fits any more (cpu, memory
             or GPUs short), as in "Beware of Fragmentation" (ATC'23), with whole GPUs;
             batch_mode: what `--batch-window` does in the scheduler, LeastAllocated replaced by
             CP-SAT's answer (objective "priority", LeastAllocated as hint) only when it places more
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = (Path(os.environ.get("SHOAL_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
                / "traces" / "alibaba-gpu-v2023")
RESOURCES = ("cpu_milli", "memory_mib", "gpu")


def load_nodes(data: Path, name: str = "openb_node_list_all_node.csv") -> tuple[np.ndarray, list[str], list[str]]:
    """(capacity int64[N, 3], names, GPU models)."""
    with open(data / name) as f:
        rows = list(csv.DictReader(f))
    cap = np.array([[int(r["cpu_milli"]), int(r["memory_mib"]), int(r["gpu"])] for r in rows], np.int64)
    return cap, [r["sn"] for r in rows], [r["model"] or "" for r in rows]


def load_pods(data: Path, name: str = "openb_pod_list_default.csv") -> tuple[np.ndarray, list[str], list[set[str]]]:
    """(requests int64[P, 3] in creation order, names, allowed GPU models per pod (empty: any))."""
    with open(data / name) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (int(r["creation_time"]), r["name"]))
    req = np.array([[int(r["cpu_milli"]), int(r["memory_mib"]), int(r["num_gpu"])] for r in rows], np.int64)
    specs = [set(r["gpu_spec"].split("|")) if r["gpu_spec"] else set() for r in rows]
    return req, [r["name"] for r in rows], specs


def spec_mask(specs: list[set[str]], models: list[str]) -> np.ndarray:
    mask = np.ones((len(specs), len(models)), bool)
    models_arr = np.array(models)
    for p, spec in enumerate(specs):
        if spec:
            mask[p] = np.isin(models_arr, list(spec))
    return mask


def gpu_fragmentation(free: np.ndarray, shapes: np.ndarray) -> float:
    """Share of free GPUs on nodes where no GPU pod shape fits."""
    total = int(free[:, 2].sum())
    if total == 0:
        return 0.0
    fits_any = np.zeros(len(free), bool)
    for s in shapes:
        fits_any |= np.all(free >= s[None, :], axis=1)
    return float(free[~fits_any, 2].sum()) / total


def _problem(free, alloc, requests, mask, names=None):
    from shoal.sched.solver import PlacementProblem

    return PlacementProblem(free=free, requests=requests, mask=mask, allocatable=alloc,
                            resource_names=list(RESOURCES), node_names=names)


def run_timing(args: argparse.Namespace) -> dict[str, Any]:
    from shoal.sched.solver import best_greedy, check, evaluate, one_at_a_time, solve

    cap, _, models = load_nodes(args.data)
    req, _, specs = load_pods(args.data, args.pods)
    rng = np.random.default_rng(args.seed)
    nodes = np.sort(rng.choice(len(cap), size=min(args.nodes, len(cap)), replace=False))
    cap = cap[nodes]
    models = [models[n] for n in nodes]
    req, specs = req[: args.n_pods], specs[: args.n_pods]
    problem = _problem(cap, cap, req, spec_mask(specs, models))
    out: dict[str, Any] = {"pods": len(req), "nodes": len(cap), "pairs": int(problem.feasible_mask().sum())}
    for scoring in ("least", "most"):
        t0 = time.perf_counter()
        r = one_at_a_time(problem, scoring, "nodes")
        out[f"one_at_a_time_{scoring}"] = {"placed": r.placed, "nodes_in_use": r.value.secondary,
                                           "seconds": round(time.perf_counter() - t0, 3)}
    hint = best_greedy(problem, "nodes")
    out["greedy_hint"] = {"name": hint.solver, "placed": hint.placed, "nodes_in_use": hint.value.secondary}
    t0 = time.perf_counter()
    r = solve(problem, "nodes", args.time_limit, hint=hint, max_pairs=args.max_pairs)
    seconds = time.perf_counter() - t0
    problems = check(problem, r.assignment)
    out["cpsat"] = {"status": r.status, "placed": r.placed, "nodes_in_use": r.value.secondary, "bound": r.bound,
                    "gap": None if r.gap is None else round(r.gap, 4), "seconds": round(seconds, 2),
                    "feasible": not problems, "notes": r.notes}
    assert evaluate(problem, r.assignment, "nodes").key <= hint.value.key
    return out


def _place_batches(cap: np.ndarray, req: np.ndarray, mask: np.ndarray, batch: int, placer) -> tuple[np.ndarray, float]:
    free = cap.copy()
    where = np.full(len(req), -1, np.int64)
    seconds = 0.0
    for start in range(0, len(req), batch):
        sl = slice(start, start + batch)
        problem = _problem(free, cap, req[sl], mask[sl])
        t0 = time.perf_counter()
        assignment = placer(problem)
        seconds += time.perf_counter() - t0
        from shoal.sched.solver import check

        problems = check(problem, assignment)
        assert not problems, problems[:3]
        placed = assignment >= 0
        np.subtract.at(free, assignment[placed], req[sl][placed])
        where[sl] = assignment
    return where, seconds


def _counted(statuses: dict[str, int], result) -> np.ndarray:
    """The assignment; tallies how each batch was answered (class model, pair model, greedy)."""
    model = "classes" if any("pod-class model" in n for n in result.notes) else "pairs"
    if any("max_pairs" in n for n in result.notes):
        model = "greedy (too big)"
    key = f"{model}: {result.status}"
    statuses[key] = statuses.get(key, 0) + 1
    return result.assignment


def _batch_mode(problem, args: argparse.Namespace, statuses: dict[str, int]) -> np.ndarray:
    """What the scheduler's batch mode does: kube-scheduler's LeastAllocated answer, replaced by
    CP-SAT's (objective "priority", that answer as the hint) only when it places more."""
    from shoal.sched.solver import one_at_a_time, solve

    kube = one_at_a_time(problem, "least", "priority")
    result = solve(problem, "priority", args.time_limit, hint=kube, max_pairs=args.max_pairs)
    better = result.value.placed_weight > kube.value.placed_weight
    _counted(statuses, result)
    statuses["solver answer taken"] = statuses.get("solver answer taken", 0) + int(better)
    return result.assignment if better else kube.assignment


def run_trace(args: argparse.Namespace) -> dict[str, Any]:
    from shoal.sched.solver import one_at_a_time, solve

    cap, _, models = load_nodes(args.data)
    req, _, specs = load_pods(args.data, args.pods)
    if args.n_pods:
        req, specs = req[: args.n_pods], specs[: args.n_pods]
    mask = spec_mask(specs, models)
    if args.gpu_nodes_for_gpu_pods:  # as a NoSchedule taint on GPU nodes would: CPU pods stay off them
        mask &= ~((req[:, 2] == 0)[:, None] & (cap[:, 2] > 0)[None, :])
    shapes = np.unique(req[req[:, 2] > 0], axis=0)
    placers = {
        "least_allocated": lambda p: one_at_a_time(p, "least", "nodes").assignment,
        "most_allocated": lambda p: one_at_a_time(p, "most", "nodes").assignment,
        "cpsat": lambda p: _counted(statuses, solve(p, "nodes", args.time_limit, max_pairs=args.max_pairs)),
        "batch_mode": lambda p: _batch_mode(p, args, batch_statuses),
    }
    batch_statuses: dict[str, int] = {}
    statuses: dict[str, int] = {}
    out: dict[str, Any] = {"pods": len(req), "nodes": len(cap), "batch": args.batch, "time_limit": args.time_limit,
                           "gpu_nodes_for_gpu_pods": args.gpu_nodes_for_gpu_pods}
    for name, placer in placers.items():
        if args.only and name not in args.only.split(","):
            continue
        where, seconds = _place_batches(cap, req, mask, args.batch, placer)
        free = cap.copy()
        placed = where >= 0
        np.subtract.at(free, where[placed], req[placed])
        out[name] = {"placed": int(placed.sum()), "nodes_in_use": int(np.any(free < cap, axis=1).sum()),
                     "gpus_used": int((cap[:, 2] - free[:, 2]).sum()),
                     "gpu_fragmentation": round(gpu_fragmentation(free, shapes), 4), "seconds": round(seconds, 2)}
        if name in ("cpsat", "batch_mode"):
            out[name]["batch_statuses"] = dict(statuses if name == "cpsat" else batch_statuses)
        print(name, json.dumps(out[name]), file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("timing", "trace"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--pods", default="openb_pod_list_default.csv", help="the trace's pod list")
    ap.add_argument("--n-pods", type=int, default=None, help="first N pods (timing: default 1000; trace: all)")
    ap.add_argument("--nodes", type=int, default=1000, help="timing: nodes sampled (default 1000)")
    ap.add_argument("--batch", type=int, default=250, help="trace: pods per batch")
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--max-pairs", type=int, default=400_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="trace: placers to run, comma-separated "
                    "(least_allocated, most_allocated, cpsat, batch_mode; default: all)")
    ap.add_argument("--gpu-nodes-for-gpu-pods", action="store_true",
                    help="trace: CPU-only pods may not use GPU nodes (a taint on them)")
    args = ap.parse_args(argv)
    if args.what == "timing":
        args.n_pods = args.n_pods or 1000
        result = run_timing(args)
    else:
        result = run_trace(args)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
