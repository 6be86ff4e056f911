"""NodeResourcesFit: the pod's requests must fit in allocatable - requested (Filter, every
insufficient resource reported: "Insufficient cpu", "Too many pods", ...; a request larger than
the whole allocatable is unresolvable), and a score under NodeResourcesFitArgs.scoringStrategy:
LeastAllocated (default), MostAllocated or RequestedToCapacityRatio, over non-zero requests.

The arithmetic lives in shoal.native (kernels.fit_filter, kernels.resource_fit_score, and the
fused kernels the runtime uses when this plugin and BalancedAllocation run together)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shoal.native import kernels
from shoal.native.layout import (
    LEAST_ALLOCATED,
    MOST_ALLOCATED,
    PODS,
    REQUESTED_TO_CAPACITY_RATIO,
    fit_check_order,
)
from shoal.native.profile import ScoringProfile

from ..framework.interface import (
    FILTER,
    PRE_FILTER,
    PRE_SCORE,
    SCORE,
    Cycle,
    FilterVerdict,
    Plugin,
    PluginArgsError,
)
from ..framework.status import Code, Status
from ._args import check_fields, int_field

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_INSUFFICIENT = "Insufficient {resource}"

STRATEGIES = {
    "LeastAllocated": LEAST_ALLOCATED,
    "MostAllocated": MOST_ALLOCATED,
    "RequestedToCapacityRatio": REQUESTED_TO_CAPACITY_RATIO,
}
DEFAULT_RESOURCES = (("cpu", 1), ("memory", 1))


def insufficient_reasons(bits: int, names: list[str]) -> tuple[str, ...]:
    """The reasons of one node's insufficient-resource bitmask, in Kubernetes' order."""
    out = []
    for column in fit_check_order(len(names)):
        if bits >> column & 1:
            out.append(REASON_TOO_MANY_PODS if column == PODS else REASON_INSUFFICIENT.format(resource=names[column]))
    return tuple(out)


def fit_verdict(insufficient: np.ndarray, unresolvable: np.ndarray, names: list[str]) -> FilterVerdict | None:
    """A FilterVerdict from the fit kernel's bitmasks (one Status per distinct combination)."""
    fail = insufficient != 0
    if not fail.any():
        return None
    combo = np.stack([insufficient[fail], (unresolvable[fail] != 0).astype(np.int64)], axis=1)
    unique, reason = np.unique(combo, axis=0, return_inverse=True)
    statuses = [
        Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE if unres else Code.UNSCHEDULABLE, insufficient_reasons(int(bits), names), NAME)
        for bits, unres in unique
    ]
    full = np.zeros(len(insufficient), dtype=np.int32)
    full[fail] = reason.reshape(-1)
    return FilterVerdict(fail, statuses, full)


def fit_status(req: np.ndarray, alloc: np.ndarray, requested: np.ndarray, names: list[str]) -> Status | None:
    """The Filter's status on one node with `requested` already bound (None: the pod fits)."""
    short = (req > 0) & (req > alloc - requested)
    if not short.any():
        return None
    oversize = short & (req > alloc)
    if len(oversize) > PODS:
        oversize[PODS] = False  # "Too many pods" is never unresolvable
    bits = sum(1 << int(column) for column in np.flatnonzero(short))
    code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if oversize.any() else Code.UNSCHEDULABLE
    return Status(code, insufficient_reasons(bits, names), NAME)


@dataclass(frozen=True)
class ScoringStrategy:
    strategy: int = LEAST_ALLOCATED
    resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES
    shape: tuple[tuple[int, int], ...] = ()  # (utilization 0..100, score 0..10)


class NodeResourcesFit(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, strategy: ScoringStrategy = ScoringStrategy(),
                 ignored: frozenset[str] = frozenset(), ignored_groups: frozenset[str] = frozenset()) -> None:
        super().__init__(args, profile)
        self.strategy = strategy
        self.ignored = ignored
        self.ignored_groups = ignored_groups

    def filter_request(self, cycle: Cycle) -> np.ndarray:
        """The pod's request vector with ignored extended resources zeroed."""
        req = cycle.state.req
        if not self.ignored and not self.ignored_groups:
            return req
        names = cycle.snapshot.columns.names
        req = req.copy()
        for col, name in enumerate(names):
            if "/" in name and not name.startswith("kubernetes.io/") and (
                name in self.ignored or name.split("/", 1)[0] in self.ignored_groups
            ):
                req[col] = 0
        return req

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        snapshot = cycle.snapshot
        n = snapshot.n_nodes
        result = kernels.fit_filter(
            snapshot.alloc, snapshot.requested, self.filter_request(cycle), np.ones(n, dtype=bool), np.zeros(n, dtype=np.int32)
        )
        return fit_verdict(result.insufficient, result.unresolvable, snapshot.columns.names)

    def filter_node(self, cycle: Cycle, n: int) -> Status | None:
        """filter() on one node: the same bits from one row, without a pass over every node."""
        snapshot = cycle.snapshot
        return fit_status(self.filter_request(cycle), snapshot.alloc[n], snapshot.requested[n], snapshot.columns.names)

    def scoring_profile(self, snapshot, fit_weight: int, balanced_columns=(0, 1), balanced_weight: int = 0) -> ScoringProfile:
        columns = [snapshot.column(name) for name, _ in self.strategy.resources]
        return ScoringProfile(
            strategy=self.strategy.strategy,
            columns=tuple(columns),
            weights=tuple(w for _, w in self.strategy.resources),
            balanced_columns=tuple(balanced_columns),
            fit_weight=fit_weight,
            balanced_weight=balanced_weight,
            shape_utilization=tuple(u for u, _ in self.strategy.shape),
            shape_score=tuple(s for _, s in self.strategy.shape),
        )

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        s = cycle.snapshot
        profile = self.scoring_profile(s, 1)
        return kernels.resource_fit_score(s.alloc, s.requested, s.nonzero, cycle.state.req, cycle.state.nonzero, profile)


def _resources(field: str, value) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list) or not value:
        raise PluginArgsError(f"{NAME} args: {field}: expected a non-empty list of {{name, weight}}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise PluginArgsError(f"{NAME} args: {field}[{i}]: expected {{name, weight}}")
        unknown = set(item) - {"name", "weight"}
        if unknown:
            raise PluginArgsError(f"{NAME} args: {field}[{i}]: unknown field {min(unknown)!r}")
        weight = int_field(NAME, f"{field}[{i}].weight", item.get("weight", 0), 0, 100)
        out.append((item["name"], weight or 1))
    return tuple(out)


def _shape(value) -> tuple[tuple[int, int], ...]:
    field = "scoringStrategy.requestedToCapacityRatio.shape"
    if not isinstance(value, list) or not value:
        raise PluginArgsError(f"{NAME} args: {field}: at least one point is required")
    points = []
    for i, point in enumerate(value):
        if not isinstance(point, dict) or set(point) - {"utilization", "score"}:
            raise PluginArgsError(f"{NAME} args: {field}[{i}]: expected {{utilization, score}}")
        u = int_field(NAME, f"{field}[{i}].utilization", point.get("utilization", 0), 0, 100)
        s = int_field(NAME, f"{field}[{i}].score", point.get("score", 0), 0, 10)
        if points and u <= points[-1][0]:
            raise PluginArgsError(f"{NAME} args: {field}[{i}].utilization: values must be sorted in increasing order")
        points.append((u, s))
    return tuple(points)


def parse_strategy(value) -> ScoringStrategy:
    if value is None:
        return ScoringStrategy()
    if not isinstance(value, dict):
        raise PluginArgsError(f"{NAME} args: scoringStrategy: expected a mapping")
    unknown = set(value) - {"type", "resources", "requestedToCapacityRatio"}
    if unknown:
        raise PluginArgsError(f"{NAME} args: scoringStrategy: unknown field {min(unknown)!r}")
    kind = value.get("type", "LeastAllocated")
    if kind not in STRATEGIES:
        raise PluginArgsError(
            f"{NAME} args: scoringStrategy.type: {kind!r} is not one of {', '.join(STRATEGIES)}"
        )
    resources = _resources("scoringStrategy.resources", value["resources"]) if "resources" in value else DEFAULT_RESOURCES
    shape: tuple[tuple[int, int], ...] = ()
    if kind == "RequestedToCapacityRatio":
        rtcr = value.get("requestedToCapacityRatio")
        if not isinstance(rtcr, dict) or set(rtcr) - {"shape"}:
            raise PluginArgsError(f"{NAME} args: scoringStrategy.requestedToCapacityRatio: expected {{shape: [...]}}")
        shape = _shape(rtcr.get("shape"))
    elif "requestedToCapacityRatio" in value:
        raise PluginArgsError(f"{NAME} args: scoringStrategy.requestedToCapacityRatio: only for type RequestedToCapacityRatio")
    return ScoringStrategy(STRATEGIES[kind], resources, shape)


def new(args, profile) -> NodeResourcesFit:
    fields = check_fields(NAME, args, ("ignoredResources", "ignoredResourceGroups", "scoringStrategy"))
    ignored = fields.get("ignoredResources", []) or []
    groups = fields.get("ignoredResourceGroups", []) or []
    for field, value in (("ignoredResources", ignored), ("ignoredResourceGroups", groups)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PluginArgsError(f"{NAME} args: {field}: expected a list of names")
    return NodeResourcesFit(args, profile, parse_strategy(fields.get("scoringStrategy")), frozenset(ignored), frozenset(groups))
