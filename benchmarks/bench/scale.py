"""Synthetic scaling curves: pods/s against nodes, library mode, with and without equivalence
classes.

Every node is scheduler_perf's default node (4 CPU, 32 GiB, 110 pods) with a hostname label
and one of three zones; every pod is its default pod (100m CPU, 500 MiB). Time covers
Scheduler.place on the pods (as in perf-config), not building the objects.
"""

from __future__ import annotations

import time
from typing import Any

from .perf_config import DEFAULT_NODE, DEFAULT_POD, NodeStep, PodStep
from .runner import Cluster, build_nodes, build_pods, schedule_step

ZONE = "topology.kubernetes.io/zone"


def run_point(nodes: int, pods: int, *, equivalence: bool, seed: int = 0, check: bool = False) -> dict[str, Any]:
    """One point of the curve: `pods` default pods onto `nodes` empty default nodes."""
    from shoal.sched import Scheduler, build_snapshot
    from shoal.sched.api import warm_up
    from shoal.sched.podinfo import PodParser

    from .checker import PlacementChecker
    from .runner import _replay

    warm_up()
    cluster = Cluster()
    build_nodes(NodeStep(nodes, DEFAULT_NODE, "node-", ZONE, ("zone-a", "zone-b", "zone-c")), 0, cluster)
    msgs, dicts = build_pods(PodStep(pods, "default", DEFAULT_POD, "pod-", measured=True))
    parser = PodParser()
    snapshot = build_snapshot(cluster.node_msgs, parser=parser)
    infos = [parser.parse(m, i) for i, m in enumerate(msgs)]
    scheduler = Scheduler(snapshot, seed=seed, equivalence=equivalence)
    outcome = schedule_step(scheduler, snapshot, infos)
    row: dict[str, Any] = {
        "nodes": nodes,
        "pods": pods,
        "equivalence": equivalence,
        "placed": outcome.placed,
        "seconds": round(outcome.seconds, 6),
        "pods_per_second": round(pods / outcome.seconds, 1) if outcome.seconds > 0 else 0.0,
        "ns_per_node_per_pod": round(outcome.seconds / pods / nodes * 1e9, 3) if pods and nodes else None,
    }
    if check:
        t0 = time.perf_counter()
        checker = PlacementChecker(cluster.node_dicts)
        problems = _replay(checker, {f"default/{d['metadata']['name']}": d for d in dicts}, outcome.events)
        row["placements_valid"] = not problems
        row["check_seconds"] = round(time.perf_counter() - t0, 3)
    return row

