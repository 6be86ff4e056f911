"""`shoal place --solver cpsat`: the offline batch through CP-SAT, the rest through the per-pod
cycle, in the shape the greedy path returns (Placements), plus the solver's figures.

    pods --queue order--> place_batch (gangs from the pod-group label and the PodGroups given)
             |  bound: the solver's answer, re-checked by the filters
             |  gang members left out: the solver's gang reason
             v
         the rest (pods with inter-pod terms or host ports, refused or unplaced ones)
             --> Scheduler.place: kube-scheduler's cycle, messages and preemption
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .batch_place import GangSpec, place_batch
from .podgroup import group_key, group_of, min_member
from .podinfo import PodInfo
from .scheduler import Outcome, Placements, Scheduler


def gangs_of(pods: Sequence[PodInfo], pod_groups: Iterable = ()) -> list[GangSpec]:
    """The gangs among `pods` (indices), min_member from the PodGroup of that name (every member
    when none is given)."""
    groups = {group_key(pg): pg for pg in pod_groups}
    members: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pods):
        key = group_of(p.namespace, p.cls.label_map or dict(p.cls.labels))
        if key is not None:
            members[key].append(i)
    out = []
    for key, idx in sorted(members.items()):
        pg = groups.get(key)
        need = min(min_member(pg), len(idx)) if pg is not None else len(idx)
        out.append(GangSpec(key, tuple(idx), need))
    return out


def place_with_solver(scheduler: Scheduler, pods: list[PodInfo], pod_groups: Iterable = (),
                      objective: Any = "nodes", time_limit: float = 5.0) -> tuple[Placements, dict[str, Any]]:
    order = scheduler.queue(pods)
    batch = place_batch(scheduler, order, gangs_of(order, pod_groups), objective, time_limit)
    nodes = batch.nodes.copy()
    failures: dict[int, Outcome] = {i: Outcome(order[i], -1, why) for i, why in batch.gang_reasons.items()}
    if batch.rest:
        later = scheduler.place([order[i] for i in batch.rest])
        position = {id(p): i for i, p in enumerate(order)}
        for j, (info, n) in enumerate(zip(later.pods, later.nodes.tolist())):
            i = position[id(info)]
            nodes[i] = n
            if n < 0:
                o = later.failures[j]
                failures[i] = o
    stats = batch.stats()
    stats["per_pod_path"] = len(batch.rest)
    if batch.problems:
        stats["checker"] = batch.problems[:5]
    return Placements(order, np.asarray(nodes, np.int64), failures), stats
