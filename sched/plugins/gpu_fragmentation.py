"""GpuFragmentation: FGD (Weng et al., ATC'23) as a Score plugin, by the rule the gpu-frag
benchmark measures (shoal.sched.gpu.fgd_rules, the same code as its policies):

    args: {policy: shoal | fgd | exact, memory: false}
    shoal (default)  FGD's artifact score less a cost for scarce GPU models, then, among the nodes
                     of the best score, the least rise of stranded GPU share (policies.ShoalFgd)
    fgd              the paper artifact's score (policies.Fgd)
    exact            the least exact rise of fragmentation (policies.FgdExact; the plugin's
                     rule before `policy` existed); pods without GPUs step aside

What the benchmark's policies read from the whole run's workload, the plugin learns from the pods
it has scored (each pod counted once, by its cpu, memory and GPU request; pods that fit nowhere
are never scored, so never learned): the typical pods, the cpu and memory per GPU milli and the
GPU demand of model-restricted pods (model scarcity, over the snapshot's nodes' GPU capacity).

Normalized to 0..100, in the rule's order: the rule's node scores 100, every other feasible node
floor(99 x (score - lowest) / (highest - lowest)). Raw scores: the rule's score (exact: minus the
rise). So when this plugin is the only score plugin (or its weight passes 100 x the sum of the
other score plugins' weights: its node leads the rest by the weight), the scheduler takes the node the benchmark's policy would, ties going to the first node in the snapshot's node
order (then, for shoal, the least stranding) instead of the framework's seeded hash
(tests/sched/test_gpu_fragmentation_policy.py).

A shared pod's device goes to the snapshot's GPU tracker, taken at bind: on the rule's node the
device the policy would take, on the other nodes the device of least rise (in the best score
class too, maybe not the lowest one). Under fgd and shoal pods without GPUs are scored as well
(their cpu and memory can leave GPUs unusable), except where no feasible node has a GPU.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import islice

import numpy as np

from ..framework.interface import PRE_SCORE, SCORE, Cycle, Plugin, PluginArgsError
from ..framework.status import Status
from ..gpu import _fgd_kernel
from ..gpu.devices import GpuNodes, PodDemand
from ..gpu.fgd_rules import (
    RULE_EXACT,
    RULE_SHOAL,
    RULES,
    WorkloadView,
    node_devices,
    rank,
    workload_view,
)
from ..gpu.fragmentation import node_fragmentation
from ..gpu.request import GpuRequest
from ..gpu.tracker import devices_of
from ._args import check_fields
from .gpu_share import demand_of, request_of

NAME = "GpuFragmentation"
MAX_SCORE = 100
DEFAULT_POLICY = RULE_SHOAL
SEEN_PODS_KEPT = 200_000  # pod keys remembered so that a pod scored again is not counted twice
_CHOICE = NAME + "/choice"  # cycle.data: the rule's node, from Score to NormalizeScore


class GpuFragmentation(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, memory: bool = False, policy: str = DEFAULT_POLICY) -> None:
        super().__init__(args, profile)
        self.memory = memory
        self.policy = policy
        self.kinds: dict[tuple[int, int, GpuRequest], int] = {}  # the pods scored, by kind, in first-seen order
        self._seen_pods: dict[str, None] = {}  # pod keys already counted, oldest first
        self._learned = 0
        self._view: WorkloadView | None = None
        self._view_key: tuple[int, int] = (-1, -1)

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        if request_of(cycle).count:
            return Status()
        if self.policy == RULE_EXACT or not (devices_of(cycle.snapshot).state().gpu_count[feasible] > 0).any():
            return Status.skip()
        return Status()

    def _learn(self, cycle: Cycle, demand: PodDemand) -> None:
        if cycle.pod.key not in self._seen_pods:
            if len(self._seen_pods) >= SEEN_PODS_KEPT:
                # Bounded memory in a long-running scheduler: the oldest half is forgotten (one
                # of those pods scored again, e.g. retried, counts twice).
                for key in list(islice(self._seen_pods, SEEN_PODS_KEPT // 2)):
                    del self._seen_pods[key]
            self._seen_pods[cycle.pod.key] = None
            key = (demand.cpu, demand.mem, demand.gpu)
            self.kinds[key] = self.kinds.get(key, 0) + 1
            self._learned += 1

    def view(self, nodes: GpuNodes, node_version: int) -> WorkloadView:
        """The rule's view of the pods learned so far (model masks against the current nodes)."""
        key = (self._learned, node_version)
        if self._view is None or key != self._view_key:
            kinds = ((nodes.demand(cpu, mem, gpu), n) for (cpu, mem, gpu), n in self.kinds.items())
            self._view = workload_view(self.policy, nodes, kinds, memory=self.memory)
            self._view_key = key
        return self._view

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        req = request_of(cycle)
        s = cycle.snapshot
        tracker = devices_of(s)
        devices = tracker.state()
        nodes = replace(devices, cpu_free=s.alloc[:, 0] - s.requested[:, 0], mem_free=s.alloc[:, 1] - s.requested[:, 1])
        demand = demand_of(cycle, req, nodes)
        self._learn(cycle, demand)
        view = self.view(nodes, s.node_version)
        feasible = np.asarray(feasible, dtype=bool)
        frag = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, view.typical)
        delta, device = _fgd_kernel.fgd_deltas(nodes, demand, view.typical, frag, feasible)
        ranking = rank(self.policy, view, nodes, demand, delta, device, feasible)
        cycle.data[_CHOICE] = ranking.best
        if req.shared and ranking.best >= 0:
            device = device.copy()
            device[ranking.best] = node_devices(self.policy, view, nodes, ranking.best, demand, device,
                                                int(frag[ranking.best]))[0]
            tracker.propose(cycle.pod.key, device)
        return ranking.score

    def normalize(self, cycle: Cycle, scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
        out = np.zeros(len(scores), dtype=np.int64)
        if not feasible.any():
            return out
        high = scores[feasible].max()
        low = scores[feasible].min()
        best = cycle.data.get(_CHOICE, -1)
        if not (0 <= best < len(scores) and feasible[best] and scores[best] == high):
            best = int(np.flatnonzero(feasible & (scores == high))[0])  # scores from elsewhere: ties to the first
        if high > low:
            scaled = np.floor((np.where(feasible, scores, low) - low) * (MAX_SCORE - 1) / (high - low))
            out = np.where(feasible, scaled, 0).astype(np.int64)
        else:
            out[feasible] = MAX_SCORE - 1
        out[best] = MAX_SCORE
        return out


def new(args, profile) -> GpuFragmentation:
    fields = check_fields(NAME, args, ("policy", "memory"))
    memory = fields.get("memory", False)
    if not isinstance(memory, bool):
        raise PluginArgsError(f"{NAME} args: memory: expected true or false, got {memory!r}")
    policy = fields.get("policy", DEFAULT_POLICY)
    if policy not in RULES:
        raise PluginArgsError(f"{NAME} args: policy: expected one of {', '.join(RULES)}, got {policy!r}")
    return GpuFragmentation(args, profile, memory, policy)
