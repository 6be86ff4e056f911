"""PrioritySort: the queue order. Higher priority first, then the earlier arrival (creation
time when known, else input order; pods without a creation time come after those with one)."""

from __future__ import annotations

import math

from ..framework.interface import QUEUE_SORT, Plugin
from ..podinfo import PodInfo

NAME = "PrioritySort"


class PrioritySort(Plugin):
    NAME = NAME
    POINTS = frozenset({QUEUE_SORT})

    @staticmethod
    def sort_key(pod: PodInfo) -> tuple[int, float, int]:
        return (-pod.priority, pod.creation if pod.creation is not None else math.inf, pod.order)

    def less(self, a: PodInfo, b: PodInfo) -> bool:
        return self.sort_key(a) < self.sort_key(b)


def new(args, profile) -> PrioritySort:
    return PrioritySort(args, profile)
