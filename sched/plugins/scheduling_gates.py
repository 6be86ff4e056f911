"""SchedulingGates: a pod with spec.schedulingGates is not scheduled until they are removed."""

from __future__ import annotations

from ..framework.interface import PRE_ENQUEUE, Plugin
from ..framework.status import Status
from ..podinfo import PodInfo

NAME = "SchedulingGates"
REASON_GATED = "SchedulingGated"
MESSAGE_GATED = "Scheduling is blocked due to non-empty scheduling gates"


class SchedulingGates(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_ENQUEUE})

    def pre_enqueue(self, pod: PodInfo) -> Status:
        if pod.cls.scheduling_gates:
            return Status.unresolvable(MESSAGE_GATED, plugin=NAME)
        return Status()


def new(args, profile) -> SchedulingGates:
    return SchedulingGates(args, profile)
