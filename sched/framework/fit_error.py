"""Why a pod fits nowhere: per-node statuses (Diagnosis) and kube-scheduler's FitError message.

    0/5000 nodes are available: 1000 Insufficient cpu, 4000 node(s) had untolerated taint
    {dedicated: gpu}. preemption: 0/5000 nodes are available: 1000 No preemption victims found
    for incoming pod, 4000 Preemption is not helpful for scheduling.

Every reason of every node's status is counted; nodes without an explicit status count under
the absent status; "<count> <reason>" strings are sorted as plain strings (so "10 x" < "9 y").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .status import Code, Status

NO_NODE_AVAILABLE = "0/{n} nodes are available:"
NO_NODES = "no nodes available to schedule pods"


@dataclass
class Diagnosis:
    """NodeToStatus: node n has statuses[status_index[n]], or the absent status when -1."""

    status_index: np.ndarray
    statuses: list[Status]
    absent: Status | None = None
    prefilter_msg: str = ""

    @property
    def n_nodes(self) -> int:
        return len(self.status_index)

    def status_of(self, n: int) -> Status | None:
        i = int(self.status_index[n])
        return self.statuses[i] if i >= 0 else self.absent

    def codes(self) -> np.ndarray:
        """int8[N]: each node's status code (SUCCESS for an absent node without absent status)."""
        table = np.array([int(s.code) for s in self.statuses] + [int(self.absent.code) if self.absent else 0], dtype=np.int8)
        return table[np.where(self.status_index >= 0, self.status_index, len(self.statuses))]

    def reason_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        explicit = self.status_index[self.status_index >= 0]
        if len(explicit):
            per_status = np.bincount(explicit, minlength=len(self.statuses))
            for i in np.flatnonzero(per_status):
                for reason in self.statuses[i].reasons:
                    counts[reason] += int(per_status[i])
        absent = self.n_nodes - len(explicit)
        if absent > 0 and self.absent is not None:
            for reason in self.absent.reasons:
                counts[reason] += absent
        return counts

    @staticmethod
    def uniform(n_nodes: int, status: Status, prefilter_msg: str = "") -> Diagnosis:
        return Diagnosis(np.full(n_nodes, -1, dtype=np.int32), [], status, prefilter_msg)


def fit_error_message(n_all: int, diagnosis: Diagnosis, post_filter_msg: str = "") -> str:
    """FitError.Error() (framework/types.go)."""
    if n_all == 0:
        return NO_NODES
    message = NO_NODE_AVAILABLE.format(n=n_all)
    if diagnosis.prefilter_msg:
        message += f" {diagnosis.prefilter_msg}."
    else:
        parts = sorted(f"{count} {reason}" for reason, count in diagnosis.reason_counts().items())
        if parts:
            message += " " + ", ".join(parts) + "."
    if post_filter_msg:
        message += " " + post_filter_msg
    return message


def rejected_code(code: int) -> bool:
    return code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
