"""A solver-neutral placement problem: what every placer in this package reads.

Arrays, not objects, so the scheduler's snapshot can hand its matrices over without copying pods:

    free       int64[N, R]  what each node has left for this batch (allocatable - requested by
                            pods outside the batch); a pod of the batch fits where requests <= free
    requests   int64[P, R]  each pod's requests (any integer unit: cpu milli, bytes, ...)
    mask       bool[P, N]   the scheduler's filters (taints, affinity, ports ...): a solver creates
                            variables only where True
    priority   int64[P]     pod priority (PriorityClass value)
    current    int64[P]     where a pod runs now (-1: nowhere), for least disruption; its requests
                            are NOT counted in `free` (the batch is placed afresh)
    allocatable int64[N, R] the node's whole allocatable, for utilization scores and "node in use"
                            (a node is in use if allocatable > free in some resource); default free

and hard constraints over groups of pods (indices into the P pods):

    Gang          all or nothing: 0 or at least min_member of its members placed
    AntiAffinity  at most max_per_domain members per topology domain (per node by default)
    Spread        topology spread with DoNotSchedule: max skew between domains

Domain arrays map each node to a domain id (0..D-1). -1 means the node lacks the topology key:
anti-affinity does not count such nodes (as a required anti-affinity term does not match there),
spread does not allow them (as kube-scheduler filters them out for DoNotSchedule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# Seconds CP-SAT searches by default (here, not in cpsat.py, so callers can name it without
# loading OR-Tools).
DEFAULT_TIME_LIMIT = 5.0

Objective = Literal["nodes", "priority", "balanced", "disruption"]
OBJECTIVES: tuple[Objective, ...] = ("nodes", "priority", "balanced", "disruption")

# Priority weights above this switch from strict per-level precedence to rank weights, which keeps
# every objective coefficient exact in CP-SAT's double-precision bounds.
_MAX_LEXICOGRAPHIC_WEIGHT = 1 << 40


@dataclass(frozen=True)
class Gang:
    """A PodGroup: its members are placed together (at least min_member of them) or not at all."""

    name: str
    members: tuple[int, ...]
    min_member: int = 0  # 0: every member

    @property
    def required(self) -> int:
        return self.min_member or len(self.members)


@dataclass(frozen=True)
class AntiAffinity:
    """Required pod anti-affinity among members: at most max_per_domain of them per domain.

    domains=None makes each node its own domain (topologyKey kubernetes.io/hostname). `existing`
    counts matching pods already running in each domain (per node when domains is None).
    """

    name: str
    members: tuple[int, ...]
    max_per_domain: int = 1
    domains: np.ndarray | None = None
    existing: np.ndarray | None = None


@dataclass(frozen=True)
class Spread:
    """Topology spread (whenUnsatisfiable: DoNotSchedule) over members.

    Every domain that receives a member must end with count - min(count over all domains) <=
    max_skew, counts including `existing` matching pods; placing pods one at a time with
    kube-scheduler's check (count + 1 - min <= max_skew) always ends in such a state.
    """

    name: str
    members: tuple[int, ...]
    max_skew: int
    domains: np.ndarray
    existing: np.ndarray | None = None

    @property
    def n_domains(self) -> int:
        top = int(self.domains.max()) + 1 if self.domains.size else 0
        return max(top, 0 if self.existing is None else len(self.existing))


def _i64(a: object, shape: tuple[int, ...] | None = None, what: str = "") -> np.ndarray:
    out = np.ascontiguousarray(np.asarray(a, dtype=np.int64))
    if shape is not None and out.shape != shape:
        raise ValueError(f"{what}: shape {out.shape}, expected {shape}")
    return out


@dataclass
class PlacementProblem:
    free: np.ndarray
    requests: np.ndarray
    mask: np.ndarray | None = None
    priority: np.ndarray | None = None
    current: np.ndarray | None = None
    allocatable: np.ndarray | None = None
    gangs: Sequence[Gang] = ()
    anti_affinity: Sequence[AntiAffinity] = ()
    spread: Sequence[Spread] = ()
    node_names: Sequence[str] | None = None
    pod_names: Sequence[str] | None = None
    resource_names: Sequence[str] | None = None
    _feasible: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.free = _i64(self.free)
        self.requests = _i64(self.requests)
        if self.free.ndim != 2 or self.requests.ndim != 2 or self.free.shape[1] != self.requests.shape[1]:
            raise ValueError(f"free {self.free.shape} and requests {self.requests.shape} must be [N, R] and [P, R]")
        n, p = self.n_nodes, self.n_pods
        self.mask = np.ones((p, n), dtype=bool) if self.mask is None else np.asarray(self.mask, dtype=bool)
        if self.mask.shape != (p, n):
            raise ValueError(f"mask: shape {self.mask.shape}, expected {(p, n)}")
        self.priority = np.zeros(p, np.int64) if self.priority is None else _i64(self.priority, (p,), "priority")
        self.current = np.full(p, -1, np.int64) if self.current is None else _i64(self.current, (p,), "current")
        self.allocatable = self.free.copy() if self.allocatable is None else _i64(self.allocatable, self.free.shape, "allocatable")
        self.gangs = tuple(self.gangs)
        self.anti_affinity = tuple(self.anti_affinity)
        self.spread = tuple(self.spread)
        self._validate()

    # -- shape ------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return int(self.free.shape[0])

    @property
    def n_pods(self) -> int:
        return int(self.requests.shape[0])

    @property
    def n_resources(self) -> int:
        return int(self.free.shape[1])

    def node_name(self, n: int) -> str:
        return self.node_names[n] if self.node_names is not None else f"node-{n}"

    def pod_name(self, p: int) -> str:
        return self.pod_names[p] if self.pod_names is not None else f"pod-{p}"

    def resource_name(self, r: int) -> str:
        return self.resource_names[r] if self.resource_names is not None else f"resource-{r}"

    def _validate(self) -> None:
        n = self.n_nodes
        if np.any((self.current < -1) | (self.current >= n)):
            raise ValueError("current: node indices must be -1 or in 0..N-1")
        seen: dict[int, str] = {}
        for g in self.gangs:
            self._check_members(g.name, g.members)
            if not 0 <= g.min_member <= len(g.members):
                raise ValueError(f"gang {g.name}: min_member {g.min_member} outside 0..{len(g.members)}")
            for m in g.members:
                if m in seen:
                    raise ValueError(f"pod {m} is in two gangs: {seen[m]} and {g.name}")
                seen[m] = g.name
        for a in self.anti_affinity:
            self._check_members(a.name, a.members)
            if a.max_per_domain < 1:
                raise ValueError(f"anti-affinity {a.name}: max_per_domain must be >= 1")
            if a.domains is not None and np.asarray(a.domains).shape != (n,):
                raise ValueError(f"anti-affinity {a.name}: domains must have one entry per node")
        for s in self.spread:
            self._check_members(s.name, s.members)
            if s.max_skew < 1:
                raise ValueError(f"spread {s.name}: max_skew must be >= 1")
            if np.asarray(s.domains).shape != (n,):
                raise ValueError(f"spread {s.name}: domains must have one entry per node")

    def _check_members(self, name: str, members: tuple[int, ...]) -> None:
        if len(set(members)) != len(members):
            raise ValueError(f"{name}: a pod is listed twice")
        if any(not 0 <= m < self.n_pods for m in members):
            raise ValueError(f"{name}: member index outside 0..{self.n_pods - 1}")

    # -- derived ----------------------------------------------------------------------------

    def feasible_mask(self) -> np.ndarray:
        """mask AND the pod fits the node's free capacity alone AND spread allows the node.

        The pairs a solver needs variables for: anything outside can never hold the pod."""
        if self._feasible is None:
            fits = np.all(self.requests[:, None, :] <= self.free[None, :, :], axis=2)
            feas = self.mask & fits
            for s in self.spread:
                no_key = np.asarray(s.domains) < 0
                if no_key.any():
                    feas[np.ix_(list(s.members), np.flatnonzero(no_key))] = False
            self._feasible = feas
        return self._feasible

    def anti_affinity_domains(self, a: AntiAffinity) -> tuple[np.ndarray, np.ndarray]:
        """(domain per node, existing count per domain), per-node domains filled in."""
        if a.domains is None:
            dom = np.arange(self.n_nodes, dtype=np.int64)
            size = self.n_nodes
        else:
            dom = _i64(a.domains)
            size = int(dom.max()) + 1 if dom.size and dom.max() >= 0 else 0
        size = max(size, 1)  # so counts[max(dom, 0)] can always be read
        existing = np.zeros(size, np.int64)
        if a.existing is not None:
            e = _i64(a.existing)
            existing = np.zeros(max(size, len(e)), np.int64)
            existing[: len(e)] = e
        return dom, existing

    def spread_counts(self, s: Spread) -> tuple[np.ndarray, np.ndarray]:
        """(domain per node, existing count per domain) of a spread constraint."""
        dom = _i64(s.domains)
        existing = np.zeros(max(s.n_domains, 1), np.int64)
        if s.existing is not None:
            existing[: len(s.existing)] = _i64(s.existing)
        return dom, existing

    def spread_domain_ids(self, s: Spread) -> np.ndarray:
        """The domains the minimum is taken over: those some node belongs to."""
        dom = _i64(s.domains)
        return np.unique(dom[dom >= 0])

    def nodes_in_use(self) -> np.ndarray:
        """bool[N]: nodes already running something (allocatable > free in some resource)."""
        return np.any(self.allocatable > self.free, axis=1)

    def gang_of(self) -> np.ndarray:
        """int64[P]: the gang index of each pod, -1 for pods in no gang."""
        out = np.full(self.n_pods, -1, np.int64)
        for gi, g in enumerate(self.gangs):
            out[list(g.members)] = gi
        return out

    def priority_weights(self) -> np.ndarray:
        """Weights for "most priority placed": one pod of a higher priority outweighs every pod
        of lower priorities together (kube-scheduler never leaves a higher-priority pod out for
        lower ones). With many levels the weights would overflow: then weight = rank of the level."""
        levels, inverse = np.unique(self.priority, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(levels))
        weights = np.zeros(len(levels), np.int64)
        below = 0
        for i in range(len(levels)):
            weights[i] = below + 1
            below += int(counts[i]) * int(weights[i])
            if below > _MAX_LEXICOGRAPHIC_WEIGHT:
                weights = np.arange(1, len(levels) + 1, dtype=np.int64)
                break
        return weights[inverse]


# -- objective values, one definition for every placer ------------------------------------------


@dataclass(frozen=True)
class ObjectiveValue:
    """How good an assignment is under one objective; smaller `key` is better.

    placed_weight comes first for every objective (pods that can be placed are placed, higher
    priorities first); then the objective's own measure:
      nodes       nodes in use (already busy ones count)
      priority    nothing more
      balanced    peak utilization, per mille, over every node and resource
      disruption  pods moved away from their current node (or left unplaced)
    """

    objective: Objective
    placed: int
    placed_weight: int
    secondary: int

    @property
    def key(self) -> tuple[int, int]:
        return (-self.placed_weight, self.secondary)


def peak_utilization_permille(problem: PlacementProblem, assignment: np.ndarray) -> int:
    used = problem.allocatable - problem.free
    used = used.copy()
    placed = assignment >= 0
    np.add.at(used, assignment[placed], problem.requests[placed])
    alloc = problem.allocatable
    ok = alloc > 0
    if not ok.any():
        return 0
    # ceil(1000 * used / alloc), as the CP-SAT model bounds it
    util = -((-1000 * used[ok]) // alloc[ok])
    return int(max(util.max(), 0))


def evaluate(problem: PlacementProblem, assignment: np.ndarray, objective: Objective) -> ObjectiveValue:
    assignment = np.asarray(assignment, dtype=np.int64)
    placed = assignment >= 0
    weight = int(problem.priority_weights()[placed].sum())
    if objective == "nodes":
        busy = problem.nodes_in_use().copy()
        busy[assignment[placed]] = True
        secondary = int(busy.sum())
    elif objective == "balanced":
        secondary = peak_utilization_permille(problem, assignment)
    elif objective == "disruption":
        has_home = problem.current >= 0
        secondary = int(np.sum(has_home & (assignment != problem.current)))
    elif objective == "priority":
        secondary = 0
    else:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    return ObjectiveValue(objective, int(placed.sum()), weight, secondary)
