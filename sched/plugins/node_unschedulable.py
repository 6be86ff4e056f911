"""NodeUnschedulable: nodes with spec.unschedulable take no new pods, unless the pod tolerates
the node.kubernetes.io/unschedulable:NoSchedule taint."""

from __future__ import annotations

from ..framework.interface import FILTER, Cycle, FilterVerdict, Plugin
from ..framework.status import Status
from ..podinfo import NO_SCHEDULE, Taint, tolerated

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


class NodeUnschedulable(Plugin):
    NAME = NAME
    POINTS = frozenset({FILTER})

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        if tolerated(cycle.cls.tolerations, Taint(TAINT_NODE_UNSCHEDULABLE, "", NO_SCHEDULE)):
            return None
        fail = cycle.snapshot.unschedulable
        if not fail.any():
            return None
        return FilterVerdict.uniform(fail.copy(), Status.unresolvable(ERR_REASON_UNSCHEDULABLE, plugin=NAME))

    def filter_static(self, cycle: Cycle) -> bool:
        return True


def new(args, profile) -> NodeUnschedulable:
    return NodeUnschedulable(args, profile)
