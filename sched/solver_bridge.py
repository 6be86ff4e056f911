"""The scheduler's snapshot and filters in, a solver's answer back into the snapshot.

    problem_from_snapshot(snapshot, framework_for, pods)   PlacementProblem: free = allocatable -
                                                            requested (every resource column, pod
                                                            count included), the pods' requests,
                                                            mask = every filter but the resource fit
    commit_verified(snapshot, framework_for, pods, nodes)  binds each pod into the snapshot after
                                                            the real filters (resources included)
                                                            accept it on its node, in order
    release(snapshot, pods)                                 unbinds them again (all or nothing)

The solver reads arrays and knows nothing of plugins, so the mask is computed against the
snapshot without the batch: constraints between pods of the batch itself (required pod
(anti-)affinity, topology spread among them) are not in it. `solver_eligible` keeps such pods out
of solver batches, and commit_verified re-checks every placement with the framework, so a
solver answer can never bind what kube-scheduler's filters would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from shoal.native.layout import PODS

from .framework.runtime import Framework
from .podinfo import PodInfo
from .snapshot import ClusterSnapshot
from .solver.problem import Gang, PlacementProblem

FrameworkFor = Callable[[PodInfo], "Framework | None"]


def solver_eligible(pod: PodInfo) -> bool:
    """Pods whose fit depends on nodes and resources only, not on the other pods of a batch."""
    cls = pod.cls
    return cls.error is None and not (cls.required_affinity or cls.required_anti_affinity or cls.spread_constraints)


def filter_mask(framework_for: FrameworkFor, pod: PodInfo) -> np.ndarray | None:
    """Nodes passing every filter but NodeResourcesFit (None: no profile, gated or rejected by
    PreFilter: no node)."""
    fw = framework_for(pod)
    if fw is None or not fw.gated(pod).is_success or pod.cls.error is not None:
        return None
    cycle = fw.cycle(pod)
    if not fw.run_pre_filter(cycle).is_success:
        return None
    return fw.filter_mask(cycle)


def problem_from_snapshot(snapshot: ClusterSnapshot, framework_for: FrameworkFor, pods: Sequence[PodInfo],
                          gangs: Sequence[Gang] = ()) -> PlacementProblem:
    """The placement of `pods` on the snapshot as it is now, as a solver-neutral problem."""
    for p in pods:
        snapshot.class_state(p.cls)  # may add resource columns: before the matrices are read
    n, r = snapshot.n_nodes, len(snapshot.columns)
    requests = np.zeros((len(pods), r), np.int64)
    mask = np.zeros((len(pods), n), bool)
    for i, p in enumerate(pods):
        requests[i] = snapshot.class_state(p.cls).req[:r]
        m = filter_mask(framework_for, p) if n else None
        if m is not None:
            mask[i] = m
    alloc = np.ascontiguousarray(snapshot.alloc[:, :r])
    # An overcommitted node (allocatable shrunk under its pods) has no room, not negative room: a
    # pod that requests none of that resource may still go there, as NodeResourcesFit allows.
    free = np.maximum(alloc - np.ascontiguousarray(snapshot.requested[:, :r]), 0)
    return PlacementProblem(
        free=free,
        requests=requests,
        mask=mask,
        priority=np.array([p.cls.priority for p in pods], np.int64),
        allocatable=alloc,
        gangs=gangs,
        node_names=[node.name for node in snapshot.nodes],
        pod_names=[p.key for p in pods],
        resource_names=list(snapshot.columns.names),
    )


def fits_now(framework_for: FrameworkFor, pod: PodInfo, node: int) -> bool:
    """Every filter of the pod's profile (PreFilter included) accepts `node` on the snapshot as
    it is now."""
    fw = framework_for(pod)
    if fw is None:
        return False
    cycle = fw.cycle(pod)
    if not fw.run_pre_filter(cycle).is_success:
        return False
    if cycle.prefilter_mask is not None and not cycle.prefilter_mask[node]:
        return False
    return fw.node_status(cycle, node).is_success


def commit_verified(snapshot: ClusterSnapshot, framework_for: FrameworkFor, pods: Sequence[PodInfo],
                    nodes: Sequence[int]) -> tuple[list[PodInfo], list[PodInfo]]:
    """Bind the placed pods (node >= 0) into the snapshot one at a time, each only if the real
    filters accept it there with the ones before it bound. Returns (committed, refused)."""
    committed: list[PodInfo] = []
    refused: list[PodInfo] = []
    for pod, node in zip(pods, nodes):
        node = int(node)
        if node < 0:
            continue
        if fits_now(framework_for, pod, node):
            snapshot.add_pods([pod], np.array([node]))
            committed.append(pod)
        else:
            refused.append(pod)
    return committed, refused


def release(snapshot: ClusterSnapshot, pods: Sequence[PodInfo]) -> None:
    """Unbind pods this placement bound, made fit to be placed again (as a pod never bound)."""
    for pod in pods:
        if pod.row >= 0:
            snapshot.remove_pod(pod)
        pod.start_ns = None
        pod.special = pod.terminating
        pod.node_name = ""


def nodes_in_use(snapshot: ClusterSnapshot) -> int:
    """Nodes running at least one pod (the "nodes" objective's measure on the whole snapshot)."""
    return int(np.count_nonzero(snapshot.requested[:, PODS] > 0))
