"""GpuFragmentation: FGD (Weng et al., ATC'23) as a Score plugin. A GPU pod scores a node by how
little its placement raises the node's fragmentation against the typical pods of the workload
(shoal.sched.gpu.fragmentation); for a shared pod the least-fragmenting device on each node is
proposed to the snapshot's GPU tracker, which takes it at bind.

The typical pods are learned from the GPU pods this plugin has scored (each pod counted once),
so the measure follows the workload the scheduler actually sees. Pods without GPUs score every
node alike (the plugin steps aside). Normalized to 0..100, the least rise scoring 100.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from ..framework.interface import PRE_SCORE, SCORE, Cycle, Plugin, PluginArgsError
from ..framework.status import Status
from ..gpu import _fgd_kernel
from ..gpu.devices import PodDemand
from ..gpu.fragmentation import COVERAGE, NO_SCORE, node_fragmentation, typical_pods
from ..gpu.tracker import devices_of
from ._args import check_fields
from .gpu_share import demand_of, request_of

NAME = "GpuFragmentation"
MAX_SCORE = 100


class GpuFragmentation(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, memory: bool = False) -> None:
        super().__init__(args, profile)
        self.memory = memory
        self.seen: Counter = Counter()
        self._seen_pods: set[str] = set()
        self._typical = None
        self._typical_size = -1

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        return Status() if request_of(cycle).count else Status.skip()

    def _learn(self, cycle: Cycle, demand) -> None:
        if cycle.pod.key not in self._seen_pods:
            self._seen_pods.add(cycle.pod.key)
            self.seen[(demand.cpu, demand.mem, demand.gpu, demand.model_mask)] += 1

    def typical(self):
        size = sum(self.seen.values())
        if self._typical is None or size != self._typical_size:
            pods = [PodDemand(c, m, g, k) for (c, m, g, k), n in self.seen.items() for _ in range(n)]
            self._typical = typical_pods(pods, COVERAGE, memory=self.memory)
            self._typical_size = size
        return self._typical

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        req = request_of(cycle)
        s = cycle.snapshot
        tracker = devices_of(s)
        devices = tracker.state()
        nodes = replace(devices, cpu_free=s.alloc[:, 0] - s.requested[:, 0], mem_free=s.alloc[:, 1] - s.requested[:, 1])
        demand = demand_of(cycle, req, nodes)
        self._learn(cycle, demand)
        typical = self.typical()
        frag_now = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, typical)
        delta, device = _fgd_kernel.fgd_deltas(nodes, demand, typical, frag_now, np.asarray(feasible, dtype=bool))
        if req.shared:
            tracker.propose(cycle.pod.key, device)
        return np.where(delta == NO_SCORE, np.iinfo(np.int64).min, -delta)

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        if not feasible.any():
            return np.zeros_like(scores)
        low, high = scores[feasible].min(), scores[feasible].max()
        if high == low:
            return np.where(feasible, MAX_SCORE, 0).astype(np.int64)
        within = np.where(feasible, scores, low)
        return np.where(feasible, (within - low) * MAX_SCORE // (high - low), 0).astype(np.int64)


def new(args, profile) -> GpuFragmentation:
    fields = check_fields(NAME, args, ("memory",))
    memory = fields.get("memory", False)
    if not isinstance(memory, bool):
        raise PluginArgsError(f"{NAME} args: memory: expected true or false, got {memory!r}")
    return GpuFragmentation(args, profile, memory)
