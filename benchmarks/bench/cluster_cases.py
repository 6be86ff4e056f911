"""`--mode cluster` for `shoal bench scale` and `shoal bench perf-config`: the same workloads as
library mode, run through a real control plane with hollow agents (cluster.py).

perf-config plans map onto hollow agents where the agent can say it: each createNodes op is one
agent process per labelNodePrepareStrategy value, with the template's cpu, memory and pods
capacity and labels. What an agent cannot report (taints, other resources such as volume
attach limits, per-node unique labels) is listed in the row's `unsupported`, never dropped
silently. Churn ops run on the wall clock (churn.py). The checker replays the final state read
back from the server: every bound pod in the order it was seen bound, against the Nodes as the
server holds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .checker import PlacementChecker
from .churn import ChurnDriver
from .cluster import HollowCluster, NodeGroup, Timeline
from .perf_config import (
    DEFAULT_NODE,
    DEFAULT_POD,
    ChurnStep,
    NamespaceStep,
    NodeStep,
    PodStep,
    WorkloadPlan,
)
from .runner import MAX_PROBLEMS_KEPT, build_pods, threshold_fields

AGENT_RESOURCES = {"cpu", "memory", "pods"}


def scale_groups(nodes: int) -> list[NodeGroup]:
    """scheduler_perf's default node (4 CPU, 32 GiB, 110 pods), as in library mode's scale."""
    cap = DEFAULT_NODE["status"]["capacity"]
    return [NodeGroup(nodes, cpu=cap["cpu"], memory=cap["memory"], pods=int(cap["pods"]))]


def node_groups(plan: WorkloadPlan) -> tuple[list[NodeGroup], list[str]]:
    """Hollow node groups for the plan's createNodes ops, and what they leave out."""
    groups: list[NodeGroup] = []
    left_out: list[str] = []
    for k, step in enumerate(s for s in plan.steps if isinstance(s, NodeStep)):
        status = step.template.get("status") or {}
        capacity = {**(status.get("capacity") or {}), **(status.get("allocatable") or {}), **step.extra_capacity}
        extra = sorted(set(capacity) - AGENT_RESOURCES)
        if extra:
            left_out.append(f"createNodes {k}: {', '.join(extra)} not reported by hollow agents (cpu, memory, pods only)")
        if (step.template.get("spec") or {}).get("taints"):
            left_out.append(f"createNodes {k}: taints not set (hollow agents register untainted nodes)")
        labels = dict((step.template.get("metadata") or {}).get("labels") or {})
        values = step.label_values if step.label_key and step.label_values else ("",)
        for j, value in enumerate(values):
            count = step.count // len(values) + (1 if j < step.count % len(values) else 0)
            if not count:
                continue
            group_labels = dict(labels, **({step.label_key: value} if value else {}))
            groups.append(NodeGroup(count, cpu=str(capacity.get("cpu", "4")), memory=str(capacity.get("memory", "32Gi")),
                                    pods=int(capacity.get("pods", 110)), labels=group_labels, prefix=f"{step.name_prefix}{j}-"))
    return groups, left_out


def check_final_state(cluster: HollowCluster, bound_order: dict[str, float], namespaces: dict[str, dict[str, str]]) -> list[str]:
    """Problems in the cluster's final placements (empty: valid), by an independent checker."""
    from shoal.proto import manifests

    checker = PlacementChecker(cluster.node_dicts(), namespaces)
    pods, _ = cluster.client.list_all("Pod")
    bound = [p for p in pods if p.spec.node_name and not p.metadata.HasField("deletion_timestamp")]
    key = lambda p: bound_order.get(f"{p.metadata.namespace}/{p.metadata.name}", 0.0)
    problems = []
    for pod in sorted(bound, key=key):
        doc = manifests.to_dict(pod)
        doc["spec"].pop("nodeName", None)  # the checker compares a pinned nodeName; this one is the binding
        for problem in checker.check(doc, pod.spec.node_name):
            problems.append(f"{pod.metadata.namespace}/{pod.metadata.name} on {pod.spec.node_name}: {problem}")
    return problems


def _merge(timelines: list[Timeline]) -> Timeline:
    first = timelines[0]
    merged = Timeline(first.start, {}, {}, {}, {}, 0.0)
    for t in timelines:
        merged.sent.update(t.sent)
        merged.bound.update(t.bound)
        merged.running.update(t.running)
        merged.nodes.update(t.nodes)
        merged.create_seconds += t.create_seconds
    return merged


def run_scale_point(nodes: int, pods: int, *, batch: int = 1000, callers: int = 1, wait_running: bool = True,
                    check: bool = False, log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """`pods` default pods onto `nodes` hollow default nodes, through the control plane."""
    with HollowCluster(scale_groups(nodes), log=log) as cluster:
        cluster.create_namespaces({"bench": {}})
        msgs, _ = build_pods(PodStep(pods, "bench", DEFAULT_POD, "pod-", measured=True))
        log(f"  {nodes:,} nodes registered in {cluster.register_seconds:.1f} s; creating {pods:,} pods")
        timeline = cluster.run_pods(msgs, batch=batch, callers=callers, wait_running=wait_running)
        row: dict[str, Any] = {"mode": "cluster", "nodes": nodes, "equivalence": True, **timeline.summary(),
                               "register_seconds": round(cluster.register_seconds, 1), "batch": batch, "callers": callers}
        if check:
            t0 = time.perf_counter()
            problems = check_final_state(cluster, timeline.bound, {"bench": {}})
            row.update(placements_valid=not problems, problem_count=len(problems), problems=problems[:MAX_PROBLEMS_KEPT],
                       check_seconds=round(time.perf_counter() - t0, 3))
    seconds = row["seconds"]
    row["ns_per_node_per_pod"] = round(seconds / pods / nodes * 1e9, 3) if pods and nodes and seconds else None
    return row


def run_plan_cluster(plan: WorkloadPlan, row: dict[str, Any], *, batch: int = 1000, check: bool = True,
                     log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """One perf-config workload in cluster mode; fills and returns `row` (runner._row(plan))."""
    groups, left_out = node_groups(plan)
    # Churn runs here (churn.py): the library-mode line about it does not apply.
    row["unsupported"] = [u for u in row["unsupported"] if "not applied in library mode" not in u] + left_out
    if not groups:
        row.update(status="skipped", blocking=row["blocking"] + ["no createNodes op"])
        return row
    namespaces: dict[str, dict[str, str]] = {}
    for step in plan.steps:
        if isinstance(step, NamespaceStep):
            labels = dict((step.template.get("metadata") or {}).get("labels") or {})
            for name in step.names:
                namespaces.setdefault(name, labels)
    with HollowCluster(groups, log=log) as cluster:
        cluster.create_namespaces(namespaces)
        measured: list[Timeline] = []
        churn: list[ChurnDriver] = []
        t_init = time.perf_counter()
        for step in plan.steps:
            if isinstance(step, ChurnStep):
                churn.append(ChurnDriver(cluster.address, step))
                churn[-1].start()
            if not isinstance(step, PodStep):
                continue
            msgs, _ = build_pods(step)
            timeline = cluster.run_pods(msgs, batch=batch, wait_running=step.measured, wait_bound=step.wait or step.measured)
            if step.measured:
                measured.append(timeline)
        init_seconds = time.perf_counter() - t_init - sum(t.summary()["seconds"] for t in measured)
        if churn:
            row["churn"] = [driver.stop() for driver in churn]
        summary = _merge(measured).summary()
        row.update(status="ran", mode="cluster", nodes=sum(g.count for g in groups), **summary,
                   register_seconds=round(cluster.register_seconds, 1), init_seconds=round(init_seconds, 1),
                   **threshold_fields(plan, summary["pods_per_second"]))
        if check:
            all_bound = {}
            for t in measured:
                all_bound.update(t.bound)
            problems = check_final_state(cluster, all_bound, namespaces)
            row.update(placements_valid=not problems, problem_count=len(problems), problems=problems[:MAX_PROBLEMS_KEPT])
        else:
            row.update(placements_valid=None, problem_count=0, problems=[])
    return row

