"""The FitError message, exactly as kube-scheduler's FitError.Error() builds it."""

from __future__ import annotations

import numpy as np
from shoal.sched.framework.fit_error import Diagnosis, fit_error_message
from shoal.sched.framework.status import Status


def diagnosis(per_node: list[Status | None], absent: Status | None = None, prefilter_msg: str = "") -> Diagnosis:
    statuses: list[Status] = []
    index = []
    for s in per_node:
        if s is None:
            index.append(-1)
        else:
            index.append(len(statuses))
            statuses.append(s)
    return Diagnosis(np.array(index, dtype=np.int32), statuses, absent, prefilter_msg)


def test_the_documented_example():
    cpu = Status.unschedulable("Insufficient cpu")
    taint = Status.unresolvable("node(s) had untolerated taint {dedicated: gpu}")
    d = diagnosis([cpu] * 1000 + [taint] * 4000)
    post = "preemption: " + fit_error_message(5000, diagnosis(
        [Status.unresolvable("No preemption victims found for incoming pod")] * 1000 + [None] * 4000,
        absent=Status.unresolvable("Preemption is not helpful for scheduling"),
    ))
    assert fit_error_message(5000, d, post) == (
        "0/5000 nodes are available: 1000 Insufficient cpu, 4000 node(s) had untolerated taint {dedicated: gpu}. "
        "preemption: 0/5000 nodes are available: 1000 No preemption victims found for incoming pod, "
        "4000 Preemption is not helpful for scheduling."
    )


def test_counts_sort_as_strings():
    d = diagnosis([Status.unschedulable("x")] * 10 + [Status.unschedulable("y")] * 9)
    assert fit_error_message(19, d) == "0/19 nodes are available: 10 x, 9 y."


def test_every_reason_of_a_status_counts():
    d = diagnosis([Status.unschedulable("Insufficient cpu", "Insufficient memory")] * 2 + [Status.unschedulable("Insufficient cpu")])
    assert fit_error_message(3, d) == "0/3 nodes are available: 2 Insufficient memory, 3 Insufficient cpu."


def test_absent_nodes_use_the_absent_status():
    d = diagnosis([Status.unresolvable("node(s) didn't match Pod's node affinity/selector"), None, None],
                  absent=Status.unresolvable("node(s) didn't satisfy plugin(s) [NodeAffinity]"))
    assert fit_error_message(3, d) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
    )


def test_prefilter_message_replaces_the_histogram():
    status = Status.unresolvable("pod affinity terms conflict")
    d = Diagnosis.uniform(4, status, prefilter_msg=status.message)
    assert fit_error_message(4, d, "preemption: x") == "0/4 nodes are available: pod affinity terms conflict. preemption: x"


def test_no_nodes():
    assert fit_error_message(0, Diagnosis.uniform(0, Status())) == "no nodes available to schedule pods"
