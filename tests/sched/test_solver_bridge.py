"""The bridge between the scheduler's snapshot and the solver: the problem says what the filters
say, and a solver's answer is bound only where the real filters accept it."""

from __future__ import annotations

import numpy as np
from sched_builders import msgs, node, pod, taint
from shoal.sched.api import build_snapshot
from shoal.sched.podinfo import PodParser
from shoal.sched.scheduler import Scheduler
from shoal.sched.solver_bridge import (
    commit_verified,
    problem_from_snapshot,
    release,
    solver_eligible,
)


def setup(pods):
    nodes = [node("n0", "4", "8Gi", labels={"disk": "ssd"}), node("n1", "2", "4Gi"),
             node("n2", "4", "8Gi", taints=[taint("dedicated", "gpu")])]
    existing = [pod("old", "1", "1Gi", node_name="n0")]
    snapshot = build_snapshot(msgs(nodes), msgs(existing))
    scheduler = Scheduler(snapshot)
    parser = PodParser()
    return scheduler, [parser.parse(m, i) for i, m in enumerate(msgs(pods))]


def test_problem_carries_free_room_and_the_filters_as_the_mask():
    scheduler, infos = setup([pod("any", "1"), pod("ssd", "1", node_selector={"disk": "ssd"})])
    problem = problem_from_snapshot(scheduler.snapshot, scheduler.framework_for, infos)
    cpu = list(problem.resource_names).index("cpu")
    assert problem.free[:, cpu].tolist() == [3000, 2000, 4000]  # n0 runs "old" (1 cpu)
    assert problem.mask.tolist() == [[True, True, False], [True, False, False]]  # taint, selector
    assert problem.pod_names == ["default/any", "default/ssd"]


def test_commit_verified_refuses_what_the_filters_refuse_and_release_undoes():
    scheduler, infos = setup([pod("a", "1"), pod("b", "3")])
    snapshot = scheduler.snapshot
    before = snapshot.requested.copy()
    committed, refused = commit_verified(snapshot, scheduler.framework_for, infos, np.array([2, 1]))
    # n2's taint and n1's 2 cpu: a solver answer that ignores them binds nothing
    assert committed == [] and [p.name for p in refused] == ["a", "b"]
    committed, refused = commit_verified(snapshot, scheduler.framework_for, infos, np.array([1, 0]))
    assert [p.name for p in committed] == ["a", "b"] and refused == []
    assert not np.array_equal(snapshot.requested, before)
    release(snapshot, committed)
    assert np.array_equal(snapshot.requested, before) and all(p.row < 0 for p in infos)


def test_pods_with_inter_pod_terms_are_not_solver_eligible():
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "x"}}}]
    _, infos = setup([pod("plain", "1"), pod("anti", "1", labels={"app": "x"}, affinity=anti),
                      pod("spread", "1", labels={"app": "x"}, spread=spread)])
    assert [solver_eligible(p) for p in infos] == [True, False, False]
