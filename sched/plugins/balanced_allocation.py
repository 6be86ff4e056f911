"""NodeResourcesBalancedAllocation: favours nodes whose resource fractions stay close together:
int64((1 - std(min(1, requested/allocatable))) * 100) over real requests (no 100m / 200Mi
defaults). Best-effort pods are skipped (#129138). Arithmetic in shoal.native."""

from __future__ import annotations

import numpy as np
from shoal.native import kernels

from ..framework.interface import PRE_SCORE, SCORE, Cycle, Plugin, PluginArgsError
from ..framework.status import Status
from ._args import check_fields

NAME = "NodeResourcesBalancedAllocation"
DEFAULT_RESOURCES = ("cpu", "memory")


class BalancedAllocation(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_SCORE, SCORE})

    def __init__(self, args=None, profile=None, resources: tuple[str, ...] = DEFAULT_RESOURCES) -> None:
        super().__init__(args, profile)
        self.resources = resources

    def columns(self, snapshot) -> np.ndarray:
        return np.array([snapshot.column(r) for r in self.resources], dtype=np.int64)

    def pre_score(self, cycle: Cycle, feasible: np.ndarray) -> Status:
        if kernels.balanced_allocation_skipped(cycle.state.req, self.columns(cycle.snapshot)):
            return Status.skip()
        return Status()

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        s = cycle.snapshot
        return kernels.balanced_allocation(s.alloc, s.requested, cycle.state.req, self.columns(cycle.snapshot))


def new(args, profile) -> BalancedAllocation:
    fields = check_fields(NAME, args, ("resources",))
    if "resources" not in fields:
        return BalancedAllocation(args, profile)
    value = fields["resources"]
    if not isinstance(value, list) or not value:
        raise PluginArgsError(f"{NAME} args: resources: expected a non-empty list of {{name, weight}}")
    names = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or set(item) - {"name", "weight"}:
            raise PluginArgsError(f"{NAME} args: resources[{i}]: expected {{name, weight}}")
        names.append(item["name"])
    return BalancedAllocation(args, profile, tuple(names))
