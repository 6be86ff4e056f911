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
    fgd            the least rise of fragmentation against the workload's typical pods
    shoal          FGD's rise of fragmentation plus a packing term: shared pods to the node
                   left fullest (cpu and GPU), cpu-only pods to nodes whose GPUs are taken

Shared pods take the best-fitting device except under fgd and shoal, which pick the device
whose use raises fragmentation least.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from . import _fgd_kernel
from .devices import GpuNodes, PodDemand, choose_devices
from .fragmentation import WEIGHT_PODS, node_fragmentation, typical_pods
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


class Fgd(Policy):
    NAME = "fgd"
    WEIGHTING = WEIGHT_PODS
    MEMORY = False
    CPU_ONLY = False

    def prepare(self, nodes, workload, seed):
        self.typical = typical_pods(workload, weighting=self.WEIGHTING, memory=self.MEMORY,
                                    cpu_only=self.CPU_ONLY)
        self.frag = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, self.typical)

    def deltas(self, nodes, pod, feasible):
        return _fgd_kernel.fgd_deltas(nodes, pod, self.typical, self.frag, feasible)

    def choose(self, nodes, pod, feasible):
        delta, device = self.deltas(nodes, pod, feasible)
        n = int(np.argmin(delta))
        return n, self._devices(nodes, n, pod, device)

    @staticmethod
    def _devices(nodes, n, pod, device):
        return np.array([device[n]], dtype=np.int64) if pod.gpu.shared else choose_devices(nodes, n, pod.gpu)

    def left(self, nodes, n, pod, devices):
        self.placed(nodes, n, pod, devices)

    def placed(self, nodes, n, pod, devices):
        s = slice(n, n + 1)
        self.frag[n] = node_fragmentation(nodes.cpu_free[s], nodes.mem_free[s], nodes.gpu_free[s], nodes.model[s], self.typical)[0]


class ShoalFgd(Fgd):
    """FGD's rise of fragmentation (milli-GPU per typical pod) plus a packing term in the same
    unit, where FGD is blind (most placements leave fragmentation unchanged, and then node order
    decides): a shared pod goes to the node left fullest in cpu and GPU, so shares gather on
    few nodes; a cpu-only pod goes where GPUs are taken, so GPU nodes keep cpu and memory for
    GPU pods. Whole-GPU pods follow FGD alone (packing them too, or spreading them, lost GPU).
    Packing shares pays when whole-GPU pods need the idle devices it keeps: its weight is
    proportional to the whole-GPU share of the workload's GPU demand (0 when every GPU pod is a
    share, where packing lost GPU). Weights were chosen on the default pod list with seeds 0-2
    and checked on gpushare100 (see benchmarks/RESULTS.md)."""

    NAME = "shoal"
    SHARE_PACKING = 140.0  # x whole-GPU fraction of demand: milli-GPU per unit of (free cpu + free GPU fraction)
    CPU_POD_PACKING = 100.0  # milli-GPU per unit of (GPU_FREE_WEIGHT x free GPU fraction + free cpu fraction)
    GPU_FREE_WEIGHT = 4.0

    def prepare(self, nodes, workload, seed):
        super().prepare(nodes, workload, seed)
        gpu = sum(p.gpu.total_milli for p in workload)
        whole = sum(p.gpu.total_milli for p in workload if p.gpu.count and not p.gpu.shared)
        self.share_packing = self.SHARE_PACKING * (whole / gpu if gpu else 0.0)

    def choose(self, nodes, pod, feasible):
        delta, device = self.deltas(nodes, pod, feasible)
        per_typical = delta / float(max(int(self.typical.weight.sum()), 1))
        gpu_free = (nodes.gpu_free.sum(axis=1) - pod.gpu.total_milli) / _gpu_cap(nodes)
        cpu_free = (nodes.cpu_free - pod.cpu) / np.maximum(nodes.cpu_cap, 1)
        if pod.gpu.shared:
            packing = self.share_packing * (gpu_free + cpu_free)
        elif pod.gpu.count:
            packing = 0.0
        else:
            packing = self.CPU_POD_PACKING * (self.GPU_FREE_WEIGHT * gpu_free + cpu_free)
        n = int(np.argmin(np.where(feasible, per_typical + packing, np.inf)))
        return n, self._devices(nodes, n, pod, device)


POLICIES: dict[str, type[Policy]] = {p.NAME: p for p in (RandomFit, DotProd, GpuClustering, GpuPacking, BestFit, Fgd, ShoalFgd)}
PAPER_POLICIES = ("random", "dotprod", "gpu-clustering", "gpu-packing", "bestfit", "fgd")


def new_policy(name: str) -> Policy:
    cls = POLICIES.get(name)
    if cls is None:
        raise ValueError(f"policy {name!r}: expected one of {', '.join(POLICIES)}")
    return cls()

