"""A batch of GPU pods placed together by CP-SAT, device by device (the trace replay's cpsat-batch).

    answer = solve_gpu_batch(nodes, pods, candidates, hint, time_limit=2.0, workers=2)

`nodes` is the device model of `shoal.sched.gpu.devices` (free cpu, memory and milli per device);
`candidates[p]` the nodes pod p may go to (each must fit it alone: `fit_mask`), `hint[p]` a
placement of the batch the caller already has (the greedy policy's, one pod after the other), or
None for pods it leaves out. The model, only over the candidate nodes:

    x[p, n]     pod p (cpu-only or whole GPUs) on node n
    z[p, n, d]  shared pod p on device d of node n (only devices with `milli` free)
    y[n, d]     idle device d of node n given whole to some whole-GPU pod
    broken[n, d] an idle device that some shared pod starts to use

    each pod at most once                sum_n x[p, n] + sum_{n,d} z[p, n, d] <= 1
    cpu, memory per node                 sum_p cpu[p] (x + z) <= cpu_free[n]     (memory alike)
    whole GPUs per node                  sum_p count[p] x[p, n] == sum_d y[n, d]
    share per device                     sum_p milli[p] z[p, n, d] <= free[n, d] - 1000 y[n, d]
    idle devices are alike               use[n, d] >= use[n, d'] for consecutive idle d < d'
    no fewer pods than the hint          sum placed >= hint's pods

The rules are those of `fit_mask` / `allocate`: a shared pod takes `milli` of one device, a
whole-GPU pod `count` devices idle before the batch and untouched by shares, cpu and memory by
the node's totals; so every answer can be allocated device by device as it comes back.

Objective, lexicographic in one sum: most GPU milli placed (what allocated GPU % measures), then
most pods, then fewest idle devices broken by shares (a broken device can no longer take a
whole-GPU pod: the part of fragmentation a batch controls), then most pods where the hint put
them (the greedy policy's finer judgement, FGD's for instance, stands unless the solver gains one
of the measures above by moving a pod). The hint is feasible in the model (its
nodes are among the candidates), given to CP-SAT as a start, and returned whenever the solver finds
nothing better within the limit: the answer never places fewer pods or less GPU than the hint.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from ..gpu.devices import GpuNodes, PodDemand
from ..gpu.request import MILLI_PER_GPU

Placement = tuple[int, np.ndarray]  # (node, devices), as Policy.choose returns
BUILD_SHARE = 0.6  # of the time limit, at most, for building the model
SOLVE_MARGIN = 0.1  # seconds of the limit left for CP-SAT to stop and the answer to be read


@dataclass(frozen=True)
class BatchValue:
    """What the objective ranks, in its order."""

    milli: int
    pods: int
    broken: int

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.milli, self.pods, -self.broken)


@dataclass
class BatchAnswer:
    placements: list[Placement | None]
    value: BatchValue
    hint_value: BatchValue
    status: str  # optimal | feasible | hint (the solver found nothing better) | empty
    seconds: float
    variables: int = 0
    notes: list[str] = field(default_factory=list)


def batch_value(nodes: GpuNodes, pods: Sequence[PodDemand], placements: Sequence[Placement | None]) -> BatchValue:
    """The objective's measures of `placements` made on `nodes` as they are (before the batch)."""
    milli = count = 0
    broken: set[tuple[int, int]] = set()
    for pod, where in zip(pods, placements):
        if where is None:
            continue
        n, devices = where
        count += 1
        milli += pod.gpu.total_milli
        if pod.gpu.shared:
            for d in devices:
                if nodes.gpu_free[n, int(d)] == MILLI_PER_GPU:
                    broken.add((n, int(d)))
    return BatchValue(milli, count, len(broken))


def solve_gpu_batch(nodes: GpuNodes, pods: Sequence[PodDemand], candidates: Sequence[np.ndarray],
                    hint: Sequence[Placement | None], time_limit: float = 2.0, workers: int = 2,
                    seed: int = 0) -> BatchAnswer:
    """Place `pods` on `nodes` (not modified) within `time_limit` seconds, model building included."""
    t0 = time.perf_counter()
    hint = list(hint)
    hint_value = batch_value(nodes, pods, hint)
    if not any(len(c) for c in candidates):
        return BatchAnswer(hint, hint_value, hint_value, "empty", time.perf_counter() - t0)
    try:
        # Building stops at BUILD_SHARE of the limit: past that, the search could not start in time.
        m = _GpuBatchModel(nodes, pods, candidates, deadline=t0 + BUILD_SHARE * time_limit)
    except _OutOfTime:
        return BatchAnswer(hint, hint_value, hint_value, "hint", time.perf_counter() - t0, 0,
                           [f"the model took more than {BUILD_SHARE:.0%} of {time_limit:g} s to build: the hint is kept"])
    canonical = _canonical(nodes, pods, hint, m.idle)
    m.add_hint(canonical)
    m.set_objective(canonical)
    m.model.add(cp_model.LinearExpr.sum(m.placed) >= hint_value.pods)
    solver = cp_model.CpSolver()
    # CP-SAT stops a little after its limit (~0.05 s on 200 pods, more on a loaded machine): a margin.
    solver.parameters.max_time_in_seconds = max(0.05, time_limit - SOLVE_MARGIN - (time.perf_counter() - t0))
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # A batch waits on the solver: a light presolve lets the search start from the hint within
    # a fraction of a second (full probing and symmetry detection took ~1 s on 200 pods); the
    # model already orders idle devices, the symmetry that matters.
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.max_presolve_iterations = 1
    solver.parameters.symmetry_level = 0
    status = solver.solve(m.model)
    seconds = time.perf_counter() - t0
    variables = len(m.model.proto.variables)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return BatchAnswer(hint, hint_value, hint_value, "hint", seconds, variables,
                           [f"CP-SAT {solver.status_name(status)} in {time_limit:g} s: the hint is kept"])
    placements = m.read(solver)
    value = batch_value(nodes, pods, placements)
    if value.key < hint_value.key:  # cannot happen through the model; a guard, not a path
        return BatchAnswer(hint, hint_value, hint_value, "hint", seconds, variables, ["the solver's answer ranked below the hint"])
    name = "optimal" if status == cp_model.OPTIMAL else "feasible"
    return BatchAnswer(placements, value, hint_value, name, seconds, variables)


class _OutOfTime(Exception):
    """Building the model took the batch's time: the hint stands."""


def _weighted(pairs: Sequence[tuple[int, cp_model.IntVar]], weight) -> cp_model.LinearExprT:
    return cp_model.LinearExpr.weighted_sum([v for _, v in pairs], [weight(p) for p, _ in pairs])


class _GpuBatchModel:
    def __init__(self, nodes: GpuNodes, pods: Sequence[PodDemand], candidates: Sequence[np.ndarray],
                 deadline: float = float("inf")) -> None:
        self.nodes, self.pods = nodes, pods
        model = self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.z: dict[tuple[int, int, int], cp_model.IntVar] = {}
        self.placed: list[cp_model.LinearExprT] = []
        on_node: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)  # node -> (pod, var)
        on_device: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        whole_on: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        for p, pod in enumerate(pods):
            if time.perf_counter() > deadline:
                raise _OutOfTime
            mine = []
            for n in np.asarray(candidates[p], dtype=np.int64).tolist():
                if pod.gpu.shared:
                    for d in np.flatnonzero(nodes.gpu_free[n] >= pod.gpu.milli).tolist():
                        v = self.z[p, n, d] = model.new_bool_var("")
                        on_node[n].append((p, v))
                        on_device[n, d].append((p, v))
                        mine.append(v)
                else:
                    v = self.x[p, n] = model.new_bool_var("")
                    on_node[n].append((p, v))
                    if pod.gpu.count:
                        whole_on[n].append((p, v))
                    mine.append(v)
            if mine:
                model.add_at_most_one(mine)
            self.placed.append(cp_model.LinearExpr.sum(mine) if mine else 0)
        self.idle = {n: np.flatnonzero(nodes.gpu_free[n] == MILLI_PER_GPU).tolist() for n in on_node}
        self.y: dict[tuple[int, int], cp_model.IntVar] = {}
        self.broken: dict[tuple[int, int], cp_model.IntVar] = {}
        for n, users in on_node.items():
            if time.perf_counter() > deadline:
                raise _OutOfTime
            model.add(_weighted(users, lambda p: pods[p].cpu) <= int(nodes.cpu_free[n]))
            model.add(_weighted(users, lambda p: pods[p].mem) <= int(nodes.mem_free[n]))
            if whole_on[n]:
                for d in self.idle[n]:
                    self.y[n, d] = model.new_bool_var("")
                model.add(_weighted(whole_on[n], lambda p: pods[p].gpu.count)
                          == cp_model.LinearExpr.sum([self.y[n, d] for d in self.idle[n]]))
            use = {}
            for d in range(int(nodes.gpu_count[n])):
                shares = on_device.get((n, d), [])
                whole = self.y.get((n, d))
                if not shares and whole is None:
                    continue
                share = _weighted(shares, lambda p: pods[p].gpu.milli)
                if shares:
                    room = int(nodes.gpu_free[n, d]) - (MILLI_PER_GPU * whole if whole is not None else 0)
                    model.add(share <= room)
                if d in self.idle[n] and shares:
                    b = self.broken[n, d] = model.new_bool_var("")
                    for _, v in shares:
                        model.add_implication(v, b)
                use[d] = share + MILLI_PER_GPU * whole if whole is not None else share
            # Idle devices are interchangeable: any answer sorted by use per idle device is one too.
            idle = [d for d in self.idle[n] if d in use]
            for a, b in itertools.pairwise(idle):
                model.add(use[a] >= use[b])

    def set_objective(self, hint: Sequence[Placement | None]) -> None:
        """Lexicographic in one sum: GPU milli placed, pods placed, idle devices kept whole, then
        agreement with the hint (so the answer moves a pod only for one of the others)."""
        pods = self.pods
        unit = math.gcd(*(pod.gpu.total_milli for pod in pods if pod.gpu.count), 0) or 1
        gpu_pods = [p for p, pod in enumerate(pods) if pod.gpu.count]
        milli = cp_model.LinearExpr.weighted_sum([self.placed[p] for p in gpu_pods], [pods[p].gpu.total_milli // unit for p in gpu_pods])
        kept = [self.x.get((p, w[0])) if not pods[p].gpu.shared else self.z.get((p, w[0], int(w[1][0])))
                for p, w in enumerate(hint) if w is not None]
        broken_w = len(kept) + 1
        pods_w = broken_w * (len(self.broken) + 1)
        milli_w = pods_w * (len(pods) + 1)
        self.model.maximize(milli_w * milli + pods_w * cp_model.LinearExpr.sum(self.placed)
                            - broken_w * cp_model.LinearExpr.sum(list(self.broken.values()))
                            + cp_model.LinearExpr.sum([v for v in kept if v is not None]))

    def add_hint(self, hint: Sequence[Placement | None]) -> None:
        chosen_x = {(p, w[0]) for p, w in enumerate(hint) if w is not None and not self.pods[p].gpu.shared}
        chosen_z = {(p, w[0], int(w[1][0])) for p, w in enumerate(hint) if w is not None and self.pods[p].gpu.shared}
        whole = {(w[0], int(d)) for p, w in enumerate(hint) if w is not None and self.pods[p].gpu.count and not self.pods[p].gpu.shared
                 for d in w[1]}
        broken = {(n, d) for (_, n, d) in chosen_z}
        for key, v in self.x.items():
            self.model.add_hint(v, key in chosen_x)
        for key, v in self.z.items():
            self.model.add_hint(v, key in chosen_z)
        for key, v in self.y.items():
            self.model.add_hint(v, key in whole)
        for key, v in self.broken.items():
            self.model.add_hint(v, key in broken)

    def read(self, solver: cp_model.CpSolver) -> list[Placement | None]:
        out: list[Placement | None] = [None] * len(self.pods)
        for (p, n, d), v in self.z.items():
            if solver.boolean_value(v):
                out[p] = (n, np.array([d], dtype=np.int64))
        free_whole: dict[int, list[int]] = defaultdict(list)
        for (n, d), v in sorted(self.y.items()):
            if solver.boolean_value(v):
                free_whole[n].append(d)
        for (p, n), v in self.x.items():
            if solver.boolean_value(v):
                k = self.pods[p].gpu.count
                devices, free_whole[n] = free_whole[n][:k], free_whole[n][k:]
                out[p] = (n, np.array(devices, dtype=np.int64))
        return out


def _canonical(nodes: GpuNodes, pods: Sequence[PodDemand], hint: Sequence[Placement | None],
               idle: dict[int, list[int]]) -> list[Placement | None]:
    """The hint with each node's idle devices renumbered by use, most used first, as the model's
    symmetry rule asks (idle devices are alike, so this is the same placement)."""
    use: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for pod, w in zip(pods, hint):
        if w is not None:
            for d in w[1]:
                use[w[0]][int(d)] += pod.gpu.milli
    rename: dict[int, dict[int, int]] = {}
    for n, per_device in use.items():
        devices = idle.get(n, [])
        ranked = sorted(devices, key=lambda d: -per_device.get(d, 0))  # stable: ties keep index order
        rename[n] = dict(zip(ranked, devices))
    out: list[Placement | None] = []
    for w in hint:
        if w is None:
            out.append(None)
            continue
        n, devices = w
        out.append((n, np.array([rename.get(n, {}).get(int(d), int(d)) for d in devices], dtype=np.int64)))
    return out
