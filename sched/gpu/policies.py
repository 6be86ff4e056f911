"""Placement policies over the device model: FGD, the baselines of the FGD paper, and Shoal's.

Each policy answers one question per pod: on which feasible node, and on which devices. Nodes
are in the caller's order (the benchmark shuffles them per seed) and every tie goes to the first
node in that order, so a run replays from its seed.

    random         a uniformly random feasible node (seeded)
    dotprod        the node whose free (cpu, GPU), as fractions of capacity, has the smallest
                   dot product with the pod's request after placement (fills nodes that match)
    gpu-clustering nodes already running pods with the same GPU request first
    gpu-packing    for a GPU pod: a node with a partly used device that holds it, then a node
                   with some GPU in use, then an idle one; cpu-only pods where fewest GPUs idle
    bestfit        the least free (cpu fraction + GPU fraction) after placement
    fgd            FGD as the paper's artifact scores it: the fall of fragmentation against the
                   workload's typical pods (cpu-only ones included), as int(100 x sigmoid(fall
                   / 1000 milli)); ties (near-equal placements) to the first node in order
    fgd-exact      the least exact rise of fragmentation (GPU typical pods only); spreads pods,
                   about one point below fgd on the default list
    shoal          fgd's score less a cost for using a GPU model that model-restricted pods
                   need, then, inside the best score class, the placement that leaves the least
                   GPU share stranded without cpu or memory to feed it

Shared pods take the best-fitting device except under the FGD family: fgd-exact takes the
device whose use raises fragmentation least, fgd and shoal the lowest device of the best score.
The FGD family's rules live in fgd_rules.py, shared with the scheduler's GpuFragmentation plugin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from . import _fgd_kernel
from .devices import GpuNodes, PodDemand, choose_devices
from .fgd_rules import (
    RULE_EXACT,
    RULE_FGD,
    RULE_SHOAL,
    Ranking,
    WorkloadView,
    model_scarcity_counted,
    node_devices,
    rank,
    workload_view,
)
from .fragmentation import SCORE_LEVELS, WEIGHT_PODS, node_fragmentation
from .request import MILLI_PER_GPU

Choice = tuple[int, np.ndarray]  # (node index, device indices)


class Policy:
    NAME = ""

    def prepare(self, nodes: GpuNodes, workload: Sequence[PodDemand], seed: int) -> None:
        """Called once per run before the first pod (workload: every pod the run will submit)."""

    def choose(self, nodes: GpuNodes, pod: PodDemand, feasible: np.ndarray) -> Choice:
        """Where the pod goes; `feasible` has at least one node."""
        n = int(np.argmin(self.cost(nodes, pod, feasible)))
        return n, choose_devices(nodes, n, pod.gpu)

    def cost(self, nodes: GpuNodes, pod: PodDemand, feasible: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def placed(self, nodes: GpuNodes, n: int, pod: PodDemand, devices: np.ndarray) -> None:
        """Called after the pod was allocated on node n."""

    def left(self, nodes: GpuNodes, n: int, pod: PodDemand, devices: np.ndarray) -> None:
        """Called after a pod on node n gave its resources back (trace replay)."""


def _gpu_cap(nodes: GpuNodes) -> np.ndarray:
    return np.maximum(nodes.gpu_count, 1) * MILLI_PER_GPU


def _where_feasible(cost: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    return np.where(feasible, cost, np.inf)


class RandomFit(Policy):
    NAME = "random"

    def prepare(self, nodes, workload, seed):
        self.rng = np.random.default_rng(seed)

    def choose(self, nodes, pod, feasible):
        n = int(self.rng.choice(np.flatnonzero(feasible)))
        return n, choose_devices(nodes, n, pod.gpu)


class BestFit(Policy):
    NAME = "bestfit"

    def cost(self, nodes, pod, feasible):
        cpu = (nodes.cpu_free - pod.cpu) / np.maximum(nodes.cpu_cap, 1)
        gpu = (nodes.gpu_free.sum(axis=1) - pod.gpu.total_milli) / _gpu_cap(nodes)
        return _where_feasible(cpu + gpu, feasible)


class DotProd(Policy):
    NAME = "dotprod"

    def cost(self, nodes, pod, feasible):
        cpu_cap = np.maximum(nodes.cpu_cap, 1)
        gpu_cap = _gpu_cap(nodes)
        dot = (pod.cpu / cpu_cap) * ((nodes.cpu_free - pod.cpu) / cpu_cap)
        dot += (pod.gpu.total_milli / gpu_cap) * ((nodes.gpu_free.sum(axis=1) - pod.gpu.total_milli) / gpu_cap)
        return _where_feasible(dot, feasible)


class GpuPacking(Policy):
    NAME = "gpu-packing"

    def cost(self, nodes, pod, feasible):
        free = nodes.gpu_free
        idle_devices = (free >= MILLI_PER_GPU).sum(axis=1)
        if not pod.gpu.count:
            return _where_feasible(idle_devices.astype(float), feasible)
        partly = (free > 0) & (free < MILLI_PER_GPU)
        holds_share = (partly & (free >= pod.gpu.milli)).any(axis=1) if pod.gpu.shared else np.zeros(nodes.n_nodes, bool)
        in_use = idle_devices < nodes.gpu_count
        tier = np.where(holds_share, 0, np.where(in_use, 1, 2))
        return _where_feasible(tier * 16.0 + idle_devices, feasible)


class GpuClustering(Policy):
    NAME = "gpu-clustering"

    def prepare(self, nodes, workload, seed):
        self.kinds: list[Counter] = [Counter() for _ in range(nodes.n_nodes)]

    def cost(self, nodes, pod, feasible):
        kind = (pod.gpu.count, pod.gpu.milli)
        same = np.fromiter((k[kind] > 0 for k in self.kinds), dtype=bool, count=nodes.n_nodes)
        empty = np.fromiter((not k for k in self.kinds), dtype=bool, count=nodes.n_nodes)
        return _where_feasible(np.where(same, 0.0, np.where(empty, 2.0, 1.0)), feasible)

    def placed(self, nodes, n, pod, devices):
        self.kinds[n][(pod.gpu.count, pod.gpu.milli)] += 1

    def left(self, nodes, n, pod, devices):
        self.kinds[n][(pod.gpu.count, pod.gpu.milli)] -= 1
        self.kinds[n] += Counter()  # drop kinds no pod has any more


class FgdExact(Policy):
    """FGD by the exact rise of fragmentation: the least rise wins, ties to the first node; the
    paper's typical pods (GPU pods only). Kept beside `Fgd` to show what the artifact's coarse
    score adds (fragmentation.py). The rule itself is fgd_rules (shared with the scheduler's
    GpuFragmentation plugin); the policy keeps the workload's view and each node's fragmentation."""

    NAME = "fgd-exact"
    RULE = RULE_EXACT
    WEIGHTING = WEIGHT_PODS
    MEMORY = False
    LEVELS = SCORE_LEVELS
    # the view's fields (fgd_rules.WorkloadView), set by prepare, one by one in tests
    cpu_weight = 0
    total_weight = 0
    cpu_per_milli = 1.0
    mem_per_milli = 1.0
    node_scarcity: np.ndarray | None = None

    def prepare(self, nodes, workload, seed):
        view = workload_view(self.RULE, nodes, ((p, 1) for p in workload), self.WEIGHTING, self.MEMORY)
        for f in fields(WorkloadView):
            setattr(self, f.name, getattr(view, f.name))
        self.frag = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, self.typical)

    def view(self) -> WorkloadView:
        return WorkloadView(**{f.name: getattr(self, f.name) for f in fields(WorkloadView)})

    def deltas(self, nodes, pod, feasible):
        return _fgd_kernel.fgd_deltas(nodes, pod, self.typical, self.frag, feasible)

    def rank(self, nodes: GpuNodes, pod: PodDemand, feasible: np.ndarray) -> Ranking:
        delta, device = self.deltas(nodes, pod, feasible)
        return rank(self.RULE, self.view(), nodes, pod, delta, device, feasible, self.LEVELS)

    def choose(self, nodes, pod, feasible):
        ranking = self.rank(nodes, pod, feasible)
        n = ranking.best
        return n, node_devices(self.RULE, self.view(), nodes, n, pod, ranking.device, int(self.frag[n]), self.LEVELS)

    def left(self, nodes, n, pod, devices):
        self.placed(nodes, n, pod, devices)

    def placed(self, nodes, n, pod, devices):
        s = slice(n, n + 1)
        self.frag[n] = node_fragmentation(nodes.cpu_free[s], nodes.mem_free[s], nodes.gpu_free[s], nodes.model[s], self.typical)[0]


class Fgd(FgdExact):
    """FGD as the paper's artifact scores it (fragmentation.py): cpu-only pods among the typical
    pods, the score int(100 x sigmoid(fall of fragmentation per typical pod / 1000 milli)), ties
    to the first node in order, a shared pod on the lowest device scoring the node's best."""

    NAME = "fgd"
    RULE = RULE_FGD

    def _scored_devices(self, nodes, n, pod):
        """The devices on node n: a shared pod's lowest device of the node's best score."""
        return node_devices(self.RULE, self.view(), nodes, n, pod, np.full(nodes.n_nodes, -1), int(self.frag[n]),
                            self.LEVELS)


class ShoalFgd(Fgd):
    """FGD's score (the artifact's, `Fgd`) with two things FGD does not see, both read from the
    workload's own distribution:

    - scarce GPU models: a model whose GPUs the model-restricted pods alone ask for
      (restricted demand / capacity, a restricted pod's demand split over the models it allows)
      costs a pod fgd_rules.SCARCITY x that ratio x its GPU milli on the score's scale, so pods that may
      run elsewhere leave it to the pods that may not (0 when no pod is restricted);
    - stranded GPUs: a node's free GPU share that its free cpu or memory cannot feed, at the
      workload's cpu and memory per milli-GPU (GPU pods' totals / their GPU demand). FGD checks
      each typical pod alone, so a node with 8 idle GPUs and cpu for 7 typical pods looks whole
      to it. Among the nodes of FGD's best score class the placement that strands least wins
      (then node order, as in FGD).
    """

    NAME = "shoal"
    RULE = RULE_SHOAL


def model_scarcity(nodes: GpuNodes, workload: Sequence[PodDemand]) -> np.ndarray:
    """float[M]: per GPU model, the GPU demand of the model-restricted pods (each split evenly over
    the models it allows that some node has) / the model's capacity."""
    return model_scarcity_counted(nodes, ((p, 1) for p in workload))


POLICIES: dict[str, type[Policy]] = {p.NAME: p for p in (RandomFit, DotProd, GpuClustering, GpuPacking, BestFit, Fgd, ShoalFgd,
                                                         FgdExact)}
PAPER_POLICIES = ("random", "dotprod", "gpu-clustering", "gpu-packing", "bestfit", "fgd")


def new_policy(name: str) -> Policy:
    cls = POLICIES.get(name)
    if cls is None:
        raise ValueError(f"policy {name!r}: expected one of {', '.join(POLICIES)}")
    return cls()

