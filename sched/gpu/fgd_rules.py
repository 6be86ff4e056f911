"""The FGD family's placement rules, as pure functions shared by the gpu-frag benchmark's policies
(policies.FgdExact, Fgd, ShoalFgd) and the scheduler's GpuFragmentation Score plugin, so the
scheduler places by the rule the benchmark measures.

    workload: (pod, how many) pairs ──► workload_view(rule) ──► WorkloadView
    nodes, frag now, pod, feasible ──► fgd_deltas (the kernel) ──► rank(rule) ──► Ranking.best
                                                                   node_devices ──► devices on it

    exact  the least exact rise of fragmentation against the GPU typical pods
    fgd    the paper artifact's score: int(100 x sigmoid(fall per typical pod / 1000 milli)), cpu-only
           pods among the typical pods
    shoal  fgd's score less SCARCITY x the node's model scarcity x the pod's GPU milli, then, inside
           the best score class, the least rise of stranded GPU share (free GPU that the node's
           free cpu or memory cannot feed at the workload's cpu and memory per GPU milli)

Every rule breaks the remaining ties to the first node in the nodes' order (the benchmark
shuffles it per seed; the scheduler uses the snapshot's). A shared pod takes, on the chosen node,
the device of least rise (exact) or the lowest device of the node's best score class (fgd, shoal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import lcm

import numpy as np

from .devices import GpuNodes, PodDemand, choose_devices
from .fragmentation import (
    NO_SCORE,
    SCORE_LEVELS,
    WEIGHT_PODS,
    TypicalPods,
    device_deltas,
    fgd_gain,
    fgd_score,
    split_cpu_only,
    typical_pods_counted,
)
from .request import MILLI_PER_GPU

RULE_EXACT = "exact"
RULE_FGD = "fgd"
RULE_SHOAL = "shoal"
RULES = (RULE_SHOAL, RULE_FGD, RULE_EXACT)
SCARCITY = 0.2  # score-scale milli per GPU milli, per unit of restricted demand / capacity

Kinds = Iterable[tuple[PodDemand, int]]  # the workload: each kind of pod and how many pods are of it


@dataclass(frozen=True)
class WorkloadView:
    """What a rule reads from the workload (and, for scarcity, from the nodes' models)."""

    typical: TypicalPods  # the GPU typical pods
    cpu_weight: int = 0  # weight of the cpu-only typical pods (fgd, shoal)
    total_weight: int = 0  # weight of all typical pods (fgd, shoal)
    cpu_per_milli: float = 1.0  # the GPU pods' cpu / their GPU milli (shoal)
    mem_per_milli: float = 1.0  # the GPU pods' memory / their GPU milli (shoal)
    node_scarcity: np.ndarray | None = None  # float[N]: the scarcity of each node's model (shoal)


@dataclass(frozen=True)
class Ranking:
    """One pod's placements under a rule."""

    score: np.ndarray  # float[N]: the rule's score, higher is better; -inf where infeasible
    device: np.ndarray  # int64[N]: a shared pod's device of least rise on each node (-1 otherwise)
    best: int  # the rule's node (-1: nothing feasible); for shoal not always the first top score


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: expected one of {', '.join(RULES)}")
    return rule


def workload_view(rule: str, nodes: GpuNodes, kinds: Kinds, weighting: str = WEIGHT_PODS,
                  memory: bool = False) -> WorkloadView:
    """The rule's view of a workload given as (pod, count) pairs in first-seen order."""
    kinds = list(kinds)
    if check_rule(rule) == RULE_EXACT:
        return WorkloadView(typical_pods_counted(kinds, weighting=weighting, memory=memory))
    typical = typical_pods_counted(kinds, weighting=weighting, memory=memory, cpu_only=True)
    gpu, cpu_weight = split_cpu_only(typical)
    if rule == RULE_FGD:
        return WorkloadView(gpu, cpu_weight, int(typical.weight.sum()))
    gpu_kinds = [(p, n) for p, n in kinds if p.gpu.count]
    milli = max(sum(p.gpu.total_milli * n for p, n in gpu_kinds), 1)
    scarcity = model_scarcity_counted(nodes, kinds)[np.maximum(nodes.model, 0)] * (nodes.model >= 0)
    return WorkloadView(gpu, cpu_weight, int(typical.weight.sum()),
                        max(sum(p.cpu * n for p, n in gpu_kinds) / milli, 1e-9),
                        max(sum(p.mem * n for p, n in gpu_kinds) / milli, 1e-9), scarcity)


def model_scarcity_counted(nodes: GpuNodes, kinds: Kinds) -> np.ndarray:
    """float[M]: per GPU model, the GPU demand of the model-restricted pods (each split evenly
    over the models it allows that some node has) / the model's capacity. The split is summed
    exactly (integers over a common denominator), so the order and grouping of `kinds` do not
    change the result."""
    n_models = len(nodes.models)
    if not n_models:
        return np.zeros(1)
    capacity = np.array([nodes.gpu_count[nodes.model == m].sum() * MILLI_PER_GPU for m in range(n_models)],
                        dtype=np.float64)
    denominator = lcm(*range(1, n_models + 1))
    demand = [0] * n_models  # x denominator
    for p, n in kinds:
        if p.gpu.count and p.model_mask:
            allowed = [m for m in range(n_models) if (p.model_mask >> m) & 1 and capacity[m] > 0]
            for m in allowed:
                demand[m] += p.gpu.total_milli * n * (denominator // len(allowed))
    per_model = np.array([d / denominator for d in demand], dtype=np.float64)
    return np.where(capacity > 0, per_model / np.maximum(capacity, 1.0), 0.0)


def stranded(view: WorkloadView, gpu_free: np.ndarray, cpu_free: np.ndarray, mem_free: np.ndarray) -> np.ndarray:
    """float[N]: free GPU milli that the free cpu or memory cannot feed."""
    usable = np.minimum(gpu_free, np.minimum(cpu_free / view.cpu_per_milli, mem_free / view.mem_per_milli))
    return gpu_free - np.maximum(usable, 0.0)


def stranding_rise(view: WorkloadView, nodes: GpuNodes, pod: PodDemand) -> np.ndarray:
    """float[N]: how much more GPU share each node would strand with the pod on it."""
    gpu = nodes.gpu_free.sum(axis=1).astype(np.float64)
    cpu = nodes.cpu_free.astype(np.float64)
    mem = nodes.mem_free.astype(np.float64)
    return stranded(view, gpu - pod.gpu.total_milli, cpu - pod.cpu, mem - pod.mem) - stranded(view, gpu, cpu, mem)


def rank(rule: str, view: WorkloadView, nodes: GpuNodes, pod: PodDemand, delta: np.ndarray, device: np.ndarray,
         feasible: np.ndarray, levels: float = SCORE_LEVELS) -> Ranking:
    """The rule's scores and node, from the rise of fragmentation (`delta`, `device`: fgd_deltas
    against `view.typical`)."""
    if rule == RULE_EXACT:
        score = np.where(feasible, -delta.astype(np.float64), -np.inf)
        return Ranking(score, device, int(np.argmax(score)) if feasible.any() else -1)
    gain = fgd_gain(delta, pod.gpu.total_milli, view.cpu_weight, view.total_weight)
    if rule == RULE_SHOAL and pod.gpu.count and view.node_scarcity is not None:
        gain = gain - SCARCITY * view.node_scarcity * pod.gpu.total_milli
    score = np.where(feasible, fgd_score(gain, levels), -np.inf)
    if not feasible.any():
        return Ranking(score, device, -1)
    if check_rule(rule) == RULE_FGD:
        return Ranking(score, device, int(np.argmax(score)))
    rise = stranding_rise(view, nodes, pod)
    return Ranking(score, device, int(np.argmin(np.where(score == score.max(), rise, np.inf))))


def node_devices(rule: str, view: WorkloadView, nodes: GpuNodes, n: int, pod: PodDemand, device: np.ndarray,
                 frag_n: int, levels: float = SCORE_LEVELS) -> np.ndarray:
    """The devices the pod takes on node n (`device`: Ranking.device, `frag_n`: n's fragmentation now)."""
    if not pod.gpu.shared:
        return choose_devices(nodes, n, pod.gpu)
    if rule == RULE_EXACT:
        return np.array([device[n]], dtype=np.int64)
    d = device_deltas(nodes, n, pod, view.typical, frag_n)
    gain = fgd_gain(d, pod.gpu.milli, view.cpu_weight, view.total_weight)
    score = np.where(d != NO_SCORE, fgd_score(gain, levels), -np.inf)
    return np.array([int(np.argmax(score))], dtype=np.int64)
