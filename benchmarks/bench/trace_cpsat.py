"""`shoal bench trace DIR --policy cpsat-batch`: the trace replay with arrivals placed in CP-SAT batches.

    arrivals ──> batch (window: the first pod waits at most --batch-window simulated s,
                  |     or --batch-size pods, whichever comes first)
                  v
    batch = waiting queue (FIFO, pods that fit somewhere) + the window's arrivals, at most --batch-size
                  |
                  |  hint: the greedy policy (--batch-hint, default shoal) one pod after the
                  |        other, tried on the cluster and rolled back
                  |  candidates per pod: the hint's node + the top --candidates feasible nodes by
                  |        the hint policy's own ranking (then best fit), so the model stays small
                  v
    sched/solver/gpu_batch.solve_gpu_batch (per-device model, --time-limit s, --workers)
                  |  never fewer pods nor less GPU than the hint
                  v
    bind its answer; pods it leaves out get the greedy policy if they fit; the rest wait
    departures: the waiting queue is retried on the freed node (as the greedy replay does)

Pods wait for their batch (up to one window): that delay counts in the queueing figures, so the
comparison with the greedy policies, which place on arrival, is fair to them.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from shoal.sched.gpu.devices import GpuNodes, PodDemand, allocate, fit_mask, release
from shoal.sched.gpu.policies import Policy
from shoal.sched.solver.gpu_batch import BatchAnswer, Placement, solve_gpu_batch

from .trace import ARRIVE, DEPART, ReplayState, load_pods

POLICY = "cpsat-batch"
BATCH = 2  # event kind: after departures and arrivals at the same time


@dataclass(frozen=True)
class BatchOptions:
    window: float = 5.0  # simulated seconds (after --speedup) the first pod of a batch waits
    max_batch: int = 200
    time_limit: float = 2.0  # seconds per batch, model building included
    workers: int = 2
    candidates: int = 16  # nodes per pod besides the hint's
    hint_policy: str = "shoal"


def _best_fit_cost(nodes: GpuNodes, pod: PodDemand) -> np.ndarray:
    cpu = (nodes.cpu_free - pod.cpu) / np.maximum(nodes.cpu_cap, 1)
    gpu = (nodes.gpu_free.sum(axis=1) - pod.gpu.total_milli) / (np.maximum(nodes.gpu_count, 1) * 1000)
    return cpu + gpu


def candidate_nodes(policy: Policy, nodes: GpuNodes, pod: PodDemand, k: int) -> np.ndarray:
    """The k feasible nodes the policy ranks best (FGD family: its score; others: their cost),
    ties to the tightest fit, then node order."""
    feasible = np.flatnonzero(fit_mask(nodes, pod))
    if len(feasible) <= k:
        return feasible
    mask = np.zeros(nodes.n_nodes, dtype=bool)
    mask[feasible] = True
    tight = _best_fit_cost(nodes, pod)[feasible]
    if hasattr(policy, "rank"):  # the FGD family (fgd_rules.Ranking: higher score is better)
        primary = -policy.rank(nodes, pod, mask).score[feasible]
    elif hasattr(policy, "scores"):  # the same, before fgd_rules
        primary = -policy.scores(nodes, pod, mask)[0][feasible]
    else:
        try:
            primary = policy.cost(nodes, pod, mask)[feasible]
        except NotImplementedError:  # random: no ranking of its own
            primary = np.zeros(len(feasible))
    return feasible[np.lexsort((feasible, tight, primary))[:k]]


def greedy_hint(state: ReplayState, order: list[int]) -> list[Placement | None]:
    """What the greedy policy would do with `order`, one pod after the other; the cluster and the
    policy's own state are given back as they were."""
    nodes, demands, policy = state.nodes, state.demands, state.policy
    hint: list[Placement | None] = []
    for i in order:
        feasible = fit_mask(nodes, demands[i])
        if not feasible.any():
            hint.append(None)
            continue
        n, devices = policy.choose(nodes, demands[i], feasible)
        allocate(nodes, n, demands[i], devices)
        policy.placed(nodes, n, demands[i], devices)
        hint.append((n, devices))
    for i, where in reversed(list(zip(order, hint))):
        if where is not None:
            release(nodes, where[0], demands[i], where[1])
            policy.left(nodes, where[0], demands[i], where[1])
    return hint


class BatchReplay:
    def __init__(self, state: ReplayState, options: BatchOptions, seed: int, note: Callable[[str], None] | None) -> None:
        self.state, self.options, self.seed, self.note = state, options, seed, note
        self.arrived: list[int] = []
        self.generation = 0
        self.answers: list[BatchAnswer] = []
        self.fallback = 0
        self.t0 = time.perf_counter()

    def arrive(self, i: int, now: float) -> None:
        self.arrived.append(i)
        self.state.pending += 1
        if len(self.arrived) == 1:
            heapq.heappush(self.state.events, (now + self.options.window, BATCH, self.generation))
        if len(self.arrived) >= self.options.max_batch:
            self.run(now)

    def due(self, generation: int, now: float) -> None:
        if generation == self.generation and self.arrived:
            self.run(now)

    def run(self, now: float) -> None:
        state, o = self.state, self.options
        self.generation += 1
        queue = list(state.waiting) + self.arrived
        fits = {i: bool(fit_mask(state.nodes, state.demands[i]).any()) for i in queue}
        order = [i for i in queue if fits[i]][:o.max_batch]
        answer = self.solve(order)
        placed = set()
        for i, where in zip(order, answer.placements):
            if where is not None:
                state.bind(i, where[0], where[1], now)
                placed.add(i)
        for i in queue:  # the solver's leftovers and pods past the batch size, in queue order
            if i not in placed and fits[i] and state.place_greedy(i, now):
                placed.add(i)
                self.fallback += 1
        state.waiting = type(state.waiting)(i for i in queue if i not in placed)
        state.pending -= len(self.arrived)
        self.arrived = []
        if self.note and len(self.answers) % 20 == 0:
            done = sum(1 for _ in state.started)
            self.note(f"  batch {len(self.answers)}: {done:,}/{len(state.pods):,} placed, {len(state.waiting):,} waiting, "
                      f"{time.perf_counter() - self.t0:.0f} s")

    def solve(self, order: list[int]) -> BatchAnswer:
        state, o = self.state, self.options
        hint = greedy_hint(state, order)
        by_shape: dict[tuple, np.ndarray] = {}
        candidates = []
        for i, where in zip(order, hint):
            pod = state.demands[i]
            shape = (pod.cpu, pod.mem, pod.gpu.count, pod.gpu.milli, pod.model_mask)
            if shape not in by_shape:
                by_shape[shape] = candidate_nodes(state.policy, state.nodes, pod, o.candidates)
            nodes = by_shape[shape]
            if where is not None and where[0] not in nodes:
                nodes = np.append(nodes, where[0])
            candidates.append(nodes)
        answer = solve_gpu_batch(state.nodes, [state.demands[i] for i in order], candidates, hint,
                                 time_limit=o.time_limit, workers=o.workers, seed=self.seed)
        self.answers.append(answer)
        return answer

    def stats(self) -> dict[str, Any]:
        a = self.answers
        seconds = np.array([x.seconds for x in a]) if a else np.zeros(1)
        return {
            **asdict(self.options),
            "batches": len(a),
            "batch_pods_mean": round(float(np.mean([len(x.placements) for x in a])), 1) if a else 0.0,
            "statuses": dict(Counter(x.status for x in a)),
            "solver_pods_over_hint": sum(x.value.pods - x.hint_value.pods for x in a),
            "solver_milli_over_hint": sum(x.value.milli - x.hint_value.milli for x in a),
            "broken_devices_solver": sum(x.value.broken for x in a),
            "broken_devices_hint": sum(x.hint_value.broken for x in a),
            "batches_better_than_hint": sum(x.value.key > x.hint_value.key for x in a),
            "greedy_fallback_pods": self.fallback,
            "solve_seconds_mean": round(float(seconds.mean()), 3),
            "solve_seconds_max": round(float(seconds.max()), 3),
            "variables_max": max((x.variables for x in a), default=0),
        }


def replay_batches(trace_dir, pod_list: str, options: BatchOptions = BatchOptions(), seed: int = 0, check: bool = True,
                   limit: int | None = None, speedup: float = 1.0,
                   note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The trace replay of trace.replay, arrivals placed in CP-SAT batches (module docstring)."""
    nodes_list, pods = load_pods(trace_dir, pod_list, limit, speedup)
    state = ReplayState(nodes_list, pods, options.hint_policy, seed)
    batches = BatchReplay(state, options, seed, note)
    while state.events:
        now, kind, i = heapq.heappop(state.events)
        state.sample(now - 1e-9)
        if kind == ARRIVE:
            batches.arrive(i, now)
        elif kind == DEPART:
            state.depart(i, now)
        else:
            batches.due(i, now)
    state.sample(float("inf"))
    row = state.result(pod_list, POLICY, speedup, time.perf_counter() - batches.t0, check)
    row["batch"] = batches.stats()
    return row


def batch_table(rows: list[dict[str, Any]]) -> str:
    """The CP-SAT batches of each cpsat-batch row: what the solver added to its greedy hint."""
    lines = [("| pod list | hint | batches | pods per batch | optimal / feasible / hint | better than hint | "
              "pods over hint | GPU milli over hint | idle GPUs broken (solver / hint) | greedy fallback | solve s mean / max |"),
             "|---|---|---:|---:|---|---:|---:|---:|---|---:|---|"]
    for r in rows:
        b = r.get("batch")
        if not b:
            continue
        st = b["statuses"]
        lines.append(f"| {r['pod_list']} | {b['hint_policy']} | {b['batches']:,} | {b['batch_pods_mean']:.1f} | "
                     f"{st.get('optimal', 0)} / {st.get('feasible', 0)} / {st.get('hint', 0)} | {b['batches_better_than_hint']} | "
                     f"{b['solver_pods_over_hint']:,} | {b['solver_milli_over_hint']:,} | "
                     f"{b['broken_devices_solver']:,} / {b['broken_devices_hint']:,} | {b['greedy_fallback_pods']:,} | "
                     f"{b['solve_seconds_mean']:.2f} / {b['solve_seconds_max']:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""
