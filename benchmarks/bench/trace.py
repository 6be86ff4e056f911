"""`shoal bench trace DIR`: replay a pod list of the Alibaba GPU trace in simulated time.

Each pod arrives at its creation_time (divided by --speedup) and, once placed, runs for (deletion_time - creation_time)
seconds (at least 1; the trace's run length, shifted by however long it queued). Pods that fit
nowhere wait in a FIFO queue. They are retried when a pod leaves, on the node it left only: every
other node has only lost room since the waiting pod was last tried, so that node is the only
one that can now take it (the same outcome as retrying everywhere, at a fraction of the cost).

Sampled on a fixed grid of simulated time from the first arrival to the last: allocated GPU % (of the GPU nodes' capacity), the
fragmentation rate (FGD's measure against the pod list's typical pods, as % of capacity),
pods running and pods waiting. Every bind and departure is replayed by gpu_check.

`ReplayState` holds one run (cluster, events, samples, the placement log); `replay` is the greedy
loop over it and trace_cpsat.py the CP-SAT batch loop.
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


class ReplayState:
    """One replay's cluster, clock-driven bookkeeping and samples; the placing loop is the caller's
    (`replay` below: greedy, one pod at a time; trace_cpsat.py: CP-SAT batches)."""

    def __init__(self, nodes_list: list[trace.TraceNode], pods: list[trace.TracePod], policy_name: str, seed: int) -> None:
        self.nodes_list, self.pods = nodes_list, pods
        self.nodes = nodes = trace.build_nodes(nodes_list)
        self.demands = trace.demands(nodes, pods)
        self.policy = new_policy(policy_name)
        self.policy.prepare(nodes, self.demands, seed)
        self.typical = typical_pods(self.demands)
        self.scale = float(self.typical.weight.sum()) * nodes.capacity_milli / 100.0
        self.events: list[tuple[int, int, int]] = [(p.creation, ARRIVE, i) for i, p in enumerate(pods)]
        heapq.heapify(self.events)
        self.t_first = pods[0].creation if pods else 0
        self.t_last = pods[-1].creation if pods else 0  # sampled while pods arrive, not over the long tail
        self.grid = np.linspace(self.t_first, max(self.t_last, self.t_first + 1), SAMPLES)
        self.series: dict[str, list[float]] = {"time": [], "allocated_gpu_pct": [], "fragmentation_pct": [], "running": [], "waiting": []}
        self.where: dict[int, tuple[int, np.ndarray]] = {}
        self.started: dict[int, int] = {}
        self.waiting: deque[int] = deque()
        self.log: list[tuple[str, int, str, tuple[int, ...]]] = []
        self.next_sample = 0
        self.pending = 0  # pods arrived and not yet placed nor queued (a batch window's); counted as waiting

    def sample(self, upto: float) -> None:
        nodes = self.nodes
        while self.next_sample < SAMPLES and self.grid[self.next_sample] <= upto:
            frag = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, self.typical).sum()
            self.series["time"].append(float(self.grid[self.next_sample]))
            self.series["allocated_gpu_pct"].append(100.0 * nodes.allocated_milli / nodes.capacity_milli)
            self.series["fragmentation_pct"].append(float(frag) / self.scale if self.scale else 0.0)
            self.series["running"].append(len(self.where))
            self.series["waiting"].append(len(self.waiting) + self.pending)
            self.next_sample += 1

    def bind(self, i: int, n: int, devices: np.ndarray, now: int) -> None:
        allocate(self.nodes, n, self.demands[i], devices)
        self.policy.placed(self.nodes, n, self.demands[i], devices)
        self.where[i] = (n, devices)
        self.started[i] = now
        self.log.append((BIND, i, self.nodes.names[n], tuple(int(d) for d in devices)))
        run = max(self.pods[i].deletion - self.pods[i].creation, 1)
        heapq.heappush(self.events, (now + run, DEPART, i))

    def place_greedy(self, i: int, now: int) -> bool:
        """The policy's choice for pod i if it fits somewhere now."""
        feasible = fit_mask(self.nodes, self.demands[i])
        if not feasible.any():
            return False
        n, devices = self.policy.choose(self.nodes, self.demands[i], feasible)
        self.bind(i, n, devices, now)
        return True

    def depart(self, i: int, now: int) -> None:
        """Pod i leaves; waiting pods are retried on its node only: every other node has only
        lost room since a waiting pod was last tried there."""
        nodes, demands = self.nodes, self.demands
        n, devices = self.where.pop(i)
        release(nodes, n, demands[i], devices)
        self.policy.left(nodes, n, demands[i], devices)
        self.log.append((LEAVE, i, nodes.names[n], tuple(int(d) for d in devices)))
        only = np.zeros(nodes.n_nodes, dtype=bool)
        only[n] = True
        for j in [j for j in self.waiting if fits_on(nodes, n, demands[j])]:
            if fits_on(nodes, n, demands[j]):  # earlier retries may have taken the room
                self.waiting.remove(j)
                _, devices_j = self.policy.choose(nodes, demands[j], only)
                self.bind(j, n, devices_j, now)

    def result(self, pod_list: str, policy_name: str, speedup: float, seconds: float, check: bool) -> dict[str, Any]:
        pods, started, series = self.pods, self.started, self.series
        waits = np.array([started[i] - pods[i].creation for i in started], dtype=np.float64)
        problems = check_placements(self.nodes_list, pods, self.log) if check else []
        alloc = np.array(series["allocated_gpu_pct"])
        frag = np.array(series["fragmentation_pct"])
        return {
            "pod_list": pod_list,
            "policy": policy_name,
            "speedup": speedup,
            "pods": len(pods),
            "placed": len(started),
            "never_placed": len(pods) - len(started),
            "simulated_seconds": int(self.t_last - self.t_first),
            "seconds": round(seconds, 3),
            "mean_allocated_gpu_pct": round(float(alloc.mean()), 2) if len(alloc) else 0.0,
            "peak_allocated_gpu_pct": round(float(alloc.max()), 2) if len(alloc) else 0.0,
            "mean_fragmentation_pct": round(float(frag.mean()), 2) if len(frag) else 0.0,
            "peak_waiting": int(max(series["waiting"], default=0)),
            "queued_pods": int((waits > 0).sum()),
            "wait_seconds_mean": round(float(waits.mean()), 2) if len(waits) else 0.0,
            "wait_seconds_p50": round(float(np.percentile(waits, 50)), 1) if len(waits) else 0.0,
            "wait_seconds_p99": round(float(np.percentile(waits, 99)), 1) if len(waits) else 0.0,
            "placements_valid": (not problems) if check else None,
            "problem_count": len(problems),
            "problems": problems[:20],
            "series": {k: [round(x, 3) for x in v] for k, v in series.items()},
        }


def load_pods(trace_dir, pod_list: str, limit: int | None, speedup: float) -> tuple[list[trace.TraceNode], list[trace.TracePod]]:
    """The node list and the pod list in creation order (the first `limit` pods, if given)."""
    nodes_list = trace.read_nodes(Path(trace_dir) / trace.GPU_NODE_LIST)
    pods = compress(trace.read_pods(trace.pod_list_path(trace_dir, pod_list)), speedup)
    pods = sorted(pods, key=lambda p: (p.creation, p.name))
    return nodes_list, pods[:limit] if limit else pods


def replay(trace_dir, pod_list: str, policy_name: str, seed: int = 0, check: bool = True,
           limit: int | None = None, speedup: float = 1.0) -> dict[str, Any]:
    """One greedy policy over one pod list (the first `limit` pods by creation time, if given):
    each pod placed as it arrives, or queued (FIFO) until a departure makes room."""
    nodes_list, pods = load_pods(trace_dir, pod_list, limit, speedup)
    state = ReplayState(nodes_list, pods, policy_name, seed)
    t0 = time.perf_counter()
    while state.events:
        now, kind, i = heapq.heappop(state.events)
        state.sample(now - 1e-9)
        if kind == ARRIVE:
            if not state.place_greedy(i, now):
                state.waiting.append(i)
        else:
            state.depart(i, now)
    state.sample(float("inf"))
    return state.result(pod_list, policy_name, speedup, time.perf_counter() - t0, check)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [("| pod list | policy | pods | placed | never placed | mean GPU alloc % | peak % | mean frag % | "
             "queued | wait mean s | wait p50 s | wait p99 s | valid |"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        valid = {True: "yes", False: f"**no** ({r['problem_count']})", None: "not checked"}[r["placements_valid"]]
        lines.append(f"| {r['pod_list']} | {r['policy']} | {r['pods']:,} | {r['placed']:,} | {r['never_placed']:,} | "
                     f"{r['mean_allocated_gpu_pct']:.2f} | {r['peak_allocated_gpu_pct']:.2f} | {r['mean_fragmentation_pct']:.2f} | "
                     f"{r['queued_pods']:,} | {r.get('wait_seconds_mean', 0.0):,.2f} | {r['wait_seconds_p50']:,.0f} | "
                     f"{r['wait_seconds_p99']:,.0f} | {valid} |")
    return "\n".join(lines)


def plot(out: str, rows: list[dict[str, Any]]) -> str | None:
    """trace.png: allocated GPU %, fragmentation % and waiting pods over simulated time; greedy
    policies on the left, CP-SAT batches (beside their hint policy's greedy run) on the right."""
    import os

    from .report import _pyplot

    plt = _pyplot()
    if plt is None:
        return None
    batch = [r for r in rows if "batch" in r]
    hints = {r["batch"]["hint_policy"] for r in batch}
    panels = [("greedy, one pod at a time", [r for r in rows if "batch" not in r])]
    if batch:
        panels.append(("CP-SAT batches (dashed: the hint policy, greedy)", batch + [r for r in rows if "batch" not in r and r["policy"] in hints]))
    fig, axes = plt.subplots(3, len(panels), figsize=(9 * len(panels) if len(panels) > 1 else 9, 8), sharex=True, sharey="row",
                             squeeze=False)
    span = max((r["simulated_seconds"] for r in rows), default=0)
    unit, per = ("days", 86400.0) if span > 2 * 86400 else ("seconds", 1.0)  # --speedup can make the span short
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, (title, shown) in enumerate(panels):
        pairs = sorted({_greedy_of(r) for r in shown})
        for k, r in enumerate(shown):
            s = r["series"]
            days = (np.array(s["time"]) - (s["time"][0] if s["time"] else 0)) / per
            label = f"{r['pod_list']} / {r['policy']}"
            # on the right a CP-SAT run and its hint policy's greedy run share a colour
            color = colors[(pairs.index(_greedy_of(r)) if col else k) % len(colors)]
            style = "--" if col and "batch" not in r else "-"
            for ax, what in zip(axes[:, col], ("allocated_gpu_pct", "fragmentation_pct", "waiting")):
                ax.plot(days, s[what], style, color=color, label=label)
        axes[0][col].set_title(title, fontsize=9)
        axes[2][col].set_xlabel(f"simulated time, {unit}")
        axes[0][col].legend(fontsize=7)
    axes[0][0].set_ylabel("allocated GPU %")
    axes[1][0].set_ylabel("fragmentation % of GPUs")
    axes[2][0].set_ylabel("pods waiting (batch windows included)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out, "trace.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _greedy_of(row: dict[str, Any]) -> tuple[str, str]:
    """(pod list, the greedy policy behind the row): a CP-SAT run's hint policy, else its own."""
    return row["pod_list"], row["batch"]["hint_policy"] if "batch" in row else row["policy"]
