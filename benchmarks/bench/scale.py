"""Synthetic scaling curves: pods/s against nodes, library mode, with and without equivalence
classes.

Every node is scheduler_perf's default node (4 CPU, 32 GiB, 110 pods) with a hostname label
and one of three zones; every pod is its default pod (100m CPU, 500 MiB). Time covers
Scheduler.place on the pods (as in perf-config), not building the objects.

The pods are alike, so the template is parsed once and each pod is a PodInfo sharing its class
(what PodParser would return for each copy): at a million pods, building and parsing a message
per pod took 17 of the command's 27 s, placing them 2.2 s.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .perf_config import DEFAULT_NODE, DEFAULT_POD, NodeStep, PodStep
from .runner import (
    Cluster,
    build_nodes,
    build_pods,
    cdf_points,
    latency_ms,
    percentiles,
    schedule_step,
)

ZONE = "topology.kubernetes.io/zone"


def run_point(nodes: int, pods: int, *, equivalence: bool, seed: int = 0, check: bool = False, window: int = 0) -> dict[str, Any]:
    """One point of the curve: `pods` default pods onto `nodes` empty default nodes, in one
    Scheduler.place call or (window > 0) in calls of `window` pods."""
    from shoal.sched import Scheduler, build_snapshot
    from shoal.sched.api import warm_up
    from shoal.sched.podinfo import PodParser

    from .checker import PlacementChecker
    from .runner import _replay

    warm_up()
    cluster = Cluster()
    build_nodes(NodeStep(nodes, DEFAULT_NODE, "node-", ZONE, ("zone-a", "zone-b", "zone-c")), 0, cluster)
    msgs, dicts = build_pods(PodStep(1, "default", DEFAULT_POD, "pod-", measured=True))
    parser = PodParser()
    snapshot = build_snapshot(cluster.node_msgs, parser=parser)
    infos = alike_pods(parser.parse(msgs[0], 0), pods)
    scheduler = Scheduler(snapshot, seed=seed, equivalence=equivalence)
    outcome = schedule_step(scheduler, snapshot, infos, window, record=check)
    row: dict[str, Any] = {
        "nodes": nodes,
        "pods": pods,
        "equivalence": equivalence,
        "placed": outcome.placed,
        "seconds": round(outcome.seconds, 6),
        "pods_per_second": round(pods / outcome.seconds, 1) if outcome.seconds > 0 else 0.0,
        "ns_per_node_per_pod": round(outcome.seconds / pods / nodes * 1e9, 3) if pods and nodes else None,
        "latency_ms": latency_ms(outcome.completions),
        "latency_basis": "enqueue to the return of the Scheduler.place call placing the pod"
                         + (f" (calls of {window} pods)" if window > 0 else " (one call for all the pods; --window N refines it)"),
        "percentiles": percentiles(outcome.window_rates),
        "throughput_series": cdf_points(outcome.completions, pods),
        "latency_cdf": cdf_points(outcome.completions, pods),
    }
    if check:
        t0 = time.perf_counter()
        checker = PlacementChecker(cluster.node_dicts)
        pod_dicts = {info.key: {**dicts[0], "metadata": {**dicts[0]["metadata"], "name": info.name}} for info in infos}
        problems = _replay(checker, pod_dicts, outcome.events)
        row["placements_valid"] = not problems
        row["check_seconds"] = round(time.perf_counter() - t0, 3)
    return row



def alike_pods(template: Any, count: int) -> list:
    """`count` PodInfos like `template` (a parsed pod), named pod-00000, pod-00001, ... in queue
    order: what parsing `count` copies of its message would give, without the messages."""
    from shoal.sched.podinfo import PodInfo

    cls, ns, creation = template.cls, template.namespace, template.creation
    priority = -cls.priority
    return [
        PodInfo(f"pod-{i:05d}", ns, "", cls, i, creation, None, queue_key=(priority, creation if creation is not None else math.inf, i))
        for i in range(count)
    ]
