"""GPU fragmentation (Weng et al., ATC'23, "Fragmentation Gradient Descent"), NumPy reference.

A node's fragmentation against one typical pod t is the free GPU share t could not use there:

    t fits the node (cpu, model, `count` devices with `milli` free)  ->  free share on devices
                                                                        with less than t.milli
    t does not fit                                                    ->  all free GPU share

and against the workload it is the weighted sum over the typical pods (the groups of equal
requests covering 95% of pods, weighted by how many pods each holds). FGD places a pod where its
placement raises that sum least (for a shared pod, also on the device that raises it least).

Weights are integers, so the sums are exact and the native kernel (_fgd_kernel.py) gives the
same numbers bit for bit (tests/sched/test_gpu_fragmentation.py).

The paper's artifact (hkust-adsl/kubernetes-scheduler-simulator, the source of the published
figures) scores placements differently from the exact rise, in three ways that change them, all
reproduced by `split_cpu_only`, `fgd_gain` and `fgd_score` (policies.Fgd):

  - cpu-only pods are typical pods too (they count towards the 95% coverage), and against a
    cpu-only typical pod ALL free GPU share of a node is fragmentation (its "XL"/"XR" classes
    are summed with the others), so each placement's rise is shifted by that pod's weight x the
    GPU share placed (the same on every node);
  - weights are frequencies (fractions summing to 1), and the score of a node is
    int(100 x sigmoid(fall of fragmentation / 1000 milli)): placements whose rise differs by
    less than about 40 milli-GPU per typical pod score the same;
  - ties go to the first node in (shuffled) order, and a shared pod takes the lowest device
    whose score is the node's best.

The score's coarseness is what makes FGD pack: among near-equal placements the first node in
order wins, so pods gather on few nodes. The exact rise (argmin of `fgd_deltas`, ties to the first
node) spreads them and allocates about one point less on the default pod list.

The paper's typical pods have no memory (fragmentation is about GPU share and the cpu that lets it
be used); with `memory=True` they carry it. On this trace the GPU pods that FGD cannot place at
100% arrived are mostly whole-GPU pods for which every node with an idle GPU lacks cpu or memory:
per-typical-pod fits do not see that a node's cpu cannot feed all its free GPUs (the shoal policy's
stranding term does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .devices import GpuNodes, PodDemand
from .request import MILLI_PER_GPU

COVERAGE = 0.95
NO_SCORE = np.iinfo(np.int64).max  # delta of an infeasible node
# Weightings of the typical pods: by how many pods (the paper), or by pods x GPU demand.
WEIGHT_PODS = "pods"
WEIGHT_DEMAND = "demand"
CPU_ONLY_DEMAND = 100  # milli-GPU a cpu-only typical pod counts as under WEIGHT_DEMAND
SCORE_LEVELS = 100.0  # the artifact's score: int(100 x sigmoid(fall / 1000 milli)) (fgd_score)
SCORE_SCALE = 1000.0


@dataclass(frozen=True)
class TypicalPods:
    cpu: np.ndarray  # int64[T]
    mem: np.ndarray  # int64[T] (all 0 when memory is left out, as in the paper)
    count: np.ndarray  # int64[T] devices
    milli: np.ndarray  # int64[T] per device
    model_mask: np.ndarray  # int64[T] (0: any model)
    weight: np.ndarray  # int64[T]

    def __len__(self) -> int:
        return len(self.cpu)


def typical_pods(pods: Iterable[PodDemand], coverage: float = COVERAGE, weighting: str = WEIGHT_PODS,
                 memory: bool = False, cpu_only: bool = False) -> TypicalPods:
    """The most common (cpu, memory, count, milli, model) groups of `pods` (memory only when
    `memory`, cpu-only pods only when `cpu_only`), until they hold `coverage` of those pods; ties
    in size keep first-seen order."""
    return typical_pods_counted(((p, 1) for p in pods), coverage, weighting, memory, cpu_only)


def typical_pods_counted(kinds: Iterable[tuple[PodDemand, int]], coverage: float = COVERAGE,
                         weighting: str = WEIGHT_PODS, memory: bool = False, cpu_only: bool = False) -> TypicalPods:
    """`typical_pods` of a workload given as (pod, how many such pods) pairs, in first-seen order
    (the GpuFragmentation plugin keeps its workload so, to stay O(kinds) per pod)."""
    groups: Counter = Counter()
    for p, n in kinds:
        if cpu_only or p.gpu.count:
            groups[(p.cpu, p.mem if memory else 0, p.gpu.count, p.gpu.milli if p.gpu.count else 0, p.model_mask)] += n
    total = sum(groups.values())
    kept: list[tuple[tuple[int, int, int, int, int], int]] = []
    covered = 0
    for key, n in groups.most_common():
        if total and covered >= coverage * total:
            break
        kept.append((key, n))
        covered += n
    def weight(key: tuple[int, int, int, int, int], n: int) -> int:
        if weighting == WEIGHT_PODS:
            return n
        if weighting == WEIGHT_DEMAND:
            return n * (key[2] * key[3] if key[2] else CPU_ONLY_DEMAND)
        raise ValueError(f"typical pods: weighting: expected {WEIGHT_PODS!r} or {WEIGHT_DEMAND!r}, got {weighting!r}")
    col = lambda i: np.array([k[i] for k, _ in kept], dtype=np.int64)
    return TypicalPods(col(0), col(1), col(2), col(3), col(4), np.array([weight(k, n) for k, n in kept], dtype=np.int64))


def split_cpu_only(typical: TypicalPods) -> tuple[TypicalPods, int]:
    """(the GPU typical pods, the total weight of the cpu-only ones): the artifact's cpu-only
    typical pods count every node's whole free GPU share, so they shift every placement's rise
    by the same amount and need no place in the kernel."""
    keep = typical.count > 0
    gpu = TypicalPods(typical.cpu[keep], typical.mem[keep], typical.count[keep], typical.milli[keep],
                      typical.model_mask[keep], typical.weight[keep])
    return gpu, int(typical.weight[~keep].sum())


def fgd_gain(delta: np.ndarray, gpu_milli: int, cpu_weight: int, total_weight: int) -> np.ndarray:
    """float[N]: the artifact's fall of fragmentation per typical pod (milli-GPU; frequencies as
    weights), cpu-only typical pods included, from the GPU typical pods' rise `delta`."""
    return (cpu_weight * gpu_milli - delta.astype(np.float64)) / max(total_weight, 1)


def fgd_score(gain: np.ndarray, levels: float = SCORE_LEVELS, scale: float = SCORE_SCALE) -> np.ndarray:
    """float[N]: the artifact's node score, int(levels x sigmoid(gain / scale)) (levels 100 and
    scale 1000 milli there); higher is better."""
    return np.floor(levels / (1.0 + np.exp(np.clip(-gain / scale, -60.0, 60.0))))


def device_deltas(nodes: GpuNodes, n: int, pod: PodDemand, typical: TypicalPods, frag_n: int) -> np.ndarray:
    """int64[G]: for a shared pod on node n, the rise of fragmentation if it took each device
    (NO_SCORE for a device that does not hold its share)."""
    s = slice(n, n + 1)
    free = nodes.gpu_free[s]
    out = np.full(free.shape[1], NO_SCORE, dtype=np.int64)
    for g in np.flatnonzero(free[0] >= pod.gpu.milli):
        after = free.copy()
        after[0, g] -= pod.gpu.milli
        out[g] = node_fragmentation(nodes.cpu_free[s] - pod.cpu, nodes.mem_free[s] - pod.mem, after,
                                    nodes.model[s], typical)[0] - frag_n
    return out


def _models_ok(model: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool[N, T]: node n's model is allowed by typical pod t."""
    bits = np.where(model >= 0, np.left_shift(np.int64(1), np.maximum(model, 0)), 0)
    return (masks[None, :] == 0) | ((bits[:, None] & masks[None, :]) != 0)


def node_fragmentation(cpu_free: np.ndarray, mem_free: np.ndarray, gpu_free: np.ndarray, model: np.ndarray,
                       typical: TypicalPods) -> np.ndarray:
    """int64[N]: each node's fragmentation (milli x weight) against the typical pods."""
    free = gpu_free[:, None, :]
    milli = typical.milli[None, :, None]
    enough = (free >= milli).sum(axis=2) >= typical.count[None, :]
    fits = (cpu_free[:, None] >= typical.cpu[None, :]) & (mem_free[:, None] >= typical.mem[None, :])
    fits &= _models_ok(model, typical.model_mask) & enough
    below = np.where(free < milli, free, 0).sum(axis=2)
    frag = np.where(fits, below, gpu_free.sum(axis=1)[:, None])
    return frag @ typical.weight


def fgd_deltas(nodes: GpuNodes, pod: PodDemand, typical: TypicalPods, frag_now: np.ndarray,
               feasible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int64[N] rise of fragmentation if the pod went to each node, NO_SCORE where infeasible;
    int64[N] the device a shared pod would take there, -1 otherwise). A shared pod tries every
    device that holds its share; ties go to the lowest device index."""
    req = pod.gpu
    cpu_after = nodes.cpu_free - pod.cpu
    mem_after = nodes.mem_free - pod.mem
    free = nodes.gpu_free
    device = np.full(nodes.n_nodes, -1, dtype=np.int64)
    if not req.shared:
        after = free
        if req.count:
            idle = free >= MILLI_PER_GPU
            after = free - MILLI_PER_GPU * (idle & (np.cumsum(idle, axis=1) <= req.count))
        delta = node_fragmentation(cpu_after, mem_after, after, nodes.model, typical) - frag_now
    else:
        delta = np.full(nodes.n_nodes, NO_SCORE, dtype=np.int64)
        for g in range(free.shape[1]):
            holds = free[:, g] >= req.milli
            if not (holds & feasible).any():
                continue
            after = free.copy()
            after[:, g] -= req.milli
            d = node_fragmentation(cpu_after, mem_after, after, nodes.model, typical) - frag_now
            better = holds & (d < delta)
            delta = np.where(better, d, delta)
            device = np.where(better, g, device)
    return np.where(feasible, delta, NO_SCORE), np.where(feasible, device, -1)
