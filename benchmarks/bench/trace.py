"""`shoal bench trace DIR`: replay a pod list of the Alibaba GPU trace in simulated time.

Each pod arrives at its creation_time (divided by --speedup) and, once placed, runs for (deletion_time - creation_time)
seconds (at least 1; the trace's run length, shifted by however long it queued). Pods that fit
nowhere wait in a FIFO queue. They are retried when a pod leaves, on the node it left only: every
other node has only lost room since the waiting pod was last tried, so that node is the only
one that can now take it (the same outcome as retrying everywhere, at a fraction of the cost).

Sampled on a fixed grid of simulated time from the first arrival to the last: allocated GPU % (of the GPU nodes' capacity), the
fragmentation rate (FGD's measure against the pod list's typical pods, as % of capacity),
pods running and pods waiting. Every bind and departure is replayed by gpu_check.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from shoal.sched.gpu.devices import allocate, fit_mask, fits_on, release
from shoal.sched.gpu.fragmentation import node_fragmentation, typical_pods
from shoal.sched.gpu.policies import new_policy

from . import alibaba_trace as trace
from .gpu_check import BIND, LEAVE, check_placements

SAMPLES = 400
ARRIVE, DEPART = 1, 0  # at equal times departures first: room is freed before new pods look


def compress(pods: list[trace.TracePod], speedup: float) -> list[trace.TracePod]:
    """Arrivals `speedup` times denser, run lengths unchanged: the pod lists span 149 days with a
    median run of 9 minutes, so at speedup 1 the GPU nodes stay nearly idle."""
    if speedup == 1:
        return pods
    out = []
    for p in pods:
        start = int(p.creation / speedup)
        out.append(replace(p, creation=start, deletion=start + max(p.deletion - p.creation, 1)))
    return out


def replay(trace_dir, pod_list: str, policy_name: str, seed: int = 0, check: bool = True,
           limit: int | None = None, speedup: float = 1.0) -> dict[str, Any]:
    """One policy over one pod list (the first `limit` pods by creation time, if given)."""
    nodes_list = trace.read_nodes(Path(trace_dir) / trace.GPU_NODE_LIST)
    pods = compress(trace.read_pods(trace.pod_list_path(trace_dir, pod_list)), speedup)
    pods = sorted(pods, key=lambda p: (p.creation, p.name))
    if limit:
        pods = pods[:limit]
    nodes = trace.build_nodes(nodes_list)
    demands = trace.demands(nodes, pods)
    policy = new_policy(policy_name)
    policy.prepare(nodes, demands, seed)
    typical = typical_pods(demands)
    scale = float(typical.weight.sum()) * nodes.capacity_milli / 100.0
    events: list[tuple[int, int, int]] = [(p.creation, ARRIVE, i) for i, p in enumerate(pods)]
    heapq.heapify(events)
    t_first = pods[0].creation if pods else 0
    t_last = pods[-1].creation if pods else 0  # sampled while pods arrive, not over the long tail
    grid = np.linspace(t_first, max(t_last, t_first + 1), SAMPLES)
    series: dict[str, list[float]] = {"time": [], "allocated_gpu_pct": [], "fragmentation_pct": [], "running": [], "waiting": []}
    where: dict[int, tuple[int, np.ndarray]] = {}
    started: dict[int, int] = {}
    waiting: deque[int] = deque()
    log: list[tuple[str, int, str, tuple[int, ...]]] = []
    next_sample = 0
    t0 = time.perf_counter()

    def sample(upto: float) -> None:
        nonlocal next_sample
        while next_sample < SAMPLES and grid[next_sample] <= upto:
            frag = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, typical).sum()
            series["time"].append(float(grid[next_sample]))
            series["allocated_gpu_pct"].append(100.0 * nodes.allocated_milli / nodes.capacity_milli)
            series["fragmentation_pct"].append(float(frag) / scale if scale else 0.0)
            series["running"].append(len(where))
            series["waiting"].append(len(waiting))
            next_sample += 1

    def bind(i: int, n: int, devices: np.ndarray, now: int) -> None:
        allocate(nodes, n, demands[i], devices)
        policy.placed(nodes, n, demands[i], devices)
        where[i] = (n, devices)
        started[i] = now
        log.append((BIND, i, nodes.names[n], tuple(int(d) for d in devices)))
        heapq.heappush(events, (now + max(pods[i].deletion - pods[i].creation, 1), DEPART, i))

    while events:
        now, kind, i = heapq.heappop(events)
        sample(now - 1e-9)
        if kind == ARRIVE:
            feasible = fit_mask(nodes, demands[i])
            if feasible.any():
                n, devices = policy.choose(nodes, demands[i], feasible)
                bind(i, n, devices, now)
            else:
                waiting.append(i)
            continue
        n, devices = where.pop(i)
        release(nodes, n, demands[i], devices)
        policy.left(nodes, n, demands[i], devices)
        log.append((LEAVE, i, nodes.names[n], tuple(int(d) for d in devices)))
        only = np.zeros(nodes.n_nodes, dtype=bool)
        only[n] = True
        for j in [j for j in waiting if fits_on(nodes, n, demands[j])]:
            if fits_on(nodes, n, demands[j]):  # earlier retries may have taken the room
                waiting.remove(j)
                _, devices_j = policy.choose(nodes, demands[j], only)
                bind(j, n, devices_j, now)
    sample(float("inf"))
    seconds = time.perf_counter() - t0
    waits = np.array([started[i] - pods[i].creation for i in started], dtype=np.float64)
    problems = check_placements(nodes_list, pods, log) if check else []
    alloc = np.array(series["allocated_gpu_pct"])
    frag = np.array(series["fragmentation_pct"])
    return {
        "pod_list": pod_list,
        "policy": policy_name,
        "speedup": speedup,
        "pods": len(pods),
        "placed": len(started),
        "never_placed": len(pods) - len(started),
        "simulated_seconds": int(t_last - t_first),
        "seconds": round(seconds, 3),
        "mean_allocated_gpu_pct": round(float(alloc.mean()), 2) if len(alloc) else 0.0,
        "peak_allocated_gpu_pct": round(float(alloc.max()), 2) if len(alloc) else 0.0,
        "mean_fragmentation_pct": round(float(frag.mean()), 2) if len(frag) else 0.0,
        "peak_waiting": int(max(series["waiting"], default=0)),
        "queued_pods": int((waits > 0).sum()),
        "wait_seconds_p50": round(float(np.percentile(waits, 50)), 1) if len(waits) else 0.0,
        "wait_seconds_p99": round(float(np.percentile(waits, 99)), 1) if len(waits) else 0.0,
        "placements_valid": (not problems) if check else None,
        "problem_count": len(problems),
        "problems": problems[:20],
        "series": {k: [round(x, 3) for x in v] for k, v in series.items()},
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [("| pod list | policy | pods | placed | never placed | mean GPU alloc % | peak % | mean frag % | "
             "queued | wait p50 s | wait p99 s | valid |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        valid = {True: "yes", False: f"**no** ({r['problem_count']})", None: "not checked"}[r["placements_valid"]]
        lines.append(f"| {r['pod_list']} | {r['policy']} | {r['pods']:,} | {r['placed']:,} | {r['never_placed']:,} | "
                     f"{r['mean_allocated_gpu_pct']:.2f} | {r['peak_allocated_gpu_pct']:.2f} | {r['mean_fragmentation_pct']:.2f} | "
                     f"{r['queued_pods']:,} | {r['wait_seconds_p50']:,.0f} | {r['wait_seconds_p99']:,.0f} | {valid} |")
    return "\n".join(lines)


def plot(out: str, rows: list[dict[str, Any]]) -> str | None:
    """trace.png: allocated GPU %, fragmentation % and waiting pods over simulated time."""
    import os

    from .report import _pyplot

    plt = _pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for r in rows:
        s = r["series"]
        days = (np.array(s["time"]) - (s["time"][0] if s["time"] else 0)) / 86400.0
        label = f"{r['pod_list']} / {r['policy']}"
        axes[0].plot(days, s["allocated_gpu_pct"], label=label)
        axes[1].plot(days, s["fragmentation_pct"], label=label)
        axes[2].plot(days, s["waiting"], label=label)
    axes[0].set_ylabel("allocated GPU %")
    axes[1].set_ylabel("fragmentation % of GPUs")
    axes[2].set_ylabel("pods waiting")
    axes[2].set_xlabel("simulated time, days")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out, "trace.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
