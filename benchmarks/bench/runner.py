"""Run a WorkloadPlan through shoal.sched in library mode and check every placement.

As scheduler_perf does, each createPods step is scheduled before the next starts, and only the
pods of `collectMetrics` steps are timed: the others build the initial state (placed by the same
scheduler, untimed). Time covers Scheduler.place on the measured pods (queue, filter, score,
bind into the snapshot) plus, when pods can only fit by preemption, evicting the victims from the
snapshot and placing those pods again (library mode's stand-in for kube-scheduler's
nominate-evict-retry). Building nodes and pods, parsing and checking are not timed.

Nodes get a kubernetes.io/hostname label equal to their name, as a kubelet sets it
(scheduler_perf's API-created nodes lack it, which would make every hostname term vacuous), and
labelNodePrepareStrategy values are given round-robin (scheduler_perf draws them at random).

Throughput percentiles: scheduler_perf samples the scheduled-pod count every second; a library
run of a case takes milliseconds, so there is no per-second series. With `window` > 0 the
measured pods are placed in consecutive calls of `window` pods, each timed, and the percentiles
are those of the per-window rates (`percentiles_basis` says which).

Per-pod latency, as scheduler_perf's scheduling SLI measures it: from the pod entering the queue
to its placement. Every measured pod of a step is enqueued when the step starts (scheduler_perf
creates them together too); a pod counts as placed when the Scheduler.place call that holds it
returns, so the resolution is one call (`--window N` refines it).
"""

from __future__ import annotations

import copy
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from .checker import PlacementChecker
from .kube_thresholds import target_factor
from .perf_config import (
    HOSTNAME,
    ChurnStep,
    NamespaceStep,
    NodeStep,
    PodStep,
    WorkloadPlan,
)

MAX_PREEMPTION_ROUNDS = 20
MAX_PROBLEMS_KEPT = 20


@dataclass
class Cluster:
    """A plan's objects, twice: core_pb2 messages for the scheduler, dicts for the checker."""

    node_msgs: list = field(default_factory=list)
    node_dicts: list[dict[str, Any]] = field(default_factory=list)
    namespace_msgs: list = field(default_factory=list)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def _manifest(doc: dict[str, Any]) -> Any:
    from shoal.proto import manifests

    return manifests.from_dict(doc)


def build_nodes(step: NodeStep, start: int, cluster: Cluster) -> None:
    template = copy.deepcopy(step.template)
    status = template.setdefault("status", {})
    for k, v in step.extra_capacity.items():
        # The API server defaults allocatable to capacity; add to whichever the node reports.
        status.setdefault("allocatable" if "allocatable" in status else "capacity", {})[k] = v
    base = _manifest(template)
    meta = template.setdefault("metadata", {})
    meta.pop("generateName", None)
    base_labels = dict(meta.get("labels") or {})
    for i in range(step.count):
        name = f"{step.name_prefix}{i:05d}"
        labels = dict(base_labels)
        labels[HOSTNAME] = name
        if step.label_key and step.label_values:
            labels[step.label_key] = step.label_values[(start + i) % len(step.label_values)]
        msg = type(base)()
        msg.CopyFrom(base)
        msg.metadata.name = name
        msg.metadata.generate_name = ""
        msg.metadata.labels.clear()
        msg.metadata.labels.update(labels)
        cluster.node_msgs.append(msg)
        cluster.node_dicts.append({"metadata": {"name": name, "labels": labels}, "spec": template.get("spec") or {}, "status": status})


def build_namespaces(step: NamespaceStep, cluster: Cluster) -> None:
    labels = dict((step.template.get("metadata") or {}).get("labels") or {})
    for name in step.names:
        if name in cluster.namespace_labels:
            continue
        cluster.namespace_labels[name] = labels
        cluster.namespace_msgs.append(_manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}))


def build_pods(step: PodStep) -> tuple[list, list[dict[str, Any]]]:
    template = copy.deepcopy(step.template)
    meta = template.setdefault("metadata", {})
    meta.pop("generateName", None)
    meta["namespace"] = step.namespace
    base = _manifest(template)
    labels = dict(meta.get("labels") or {})
    spec = template.get("spec") or {}
    msgs, dicts = [], []
    for i in range(step.count):
        name = f"{step.name_prefix}{i:05d}"
        msg = type(base)()
        msg.CopyFrom(base)
        msg.metadata.name = name
        msgs.append(msg)
        dicts.append({"metadata": {"name": name, "namespace": step.namespace, "labels": labels}, "spec": spec})
    return msgs, dicts


@dataclass
class StepOutcome:
    seconds: float
    placed: int
    unschedulable: int
    evicted: int
    window_rates: list[float]
    events: list[tuple[str, str, str]]  # ("bind", pod key, node) / ("evict", pod key, "")
    paths: dict[str, int]
    # (pods placed by the call, seconds from the step's start to the call's return), per call
    completions: list[tuple[int, float]] = field(default_factory=list)


def schedule_step(scheduler: Any, snapshot: Any, infos: list, window: int = 0, record: bool = True) -> StepOutcome:
    """Place `infos` (timed); then, in queue order, each pod that only fits by preemption has
    its victims evicted and is placed again, as kube-scheduler nominates, evicts and retries.
    `record=False` keeps no per-pod events (nothing to check; saves time at a million pods)."""
    names = [n.name for n in snapshot.nodes]
    events: list[tuple[str, str, str]] = []
    evicted: set[str] = set()
    rates: list[float] = []
    completions: list[tuple[int, float]] = []
    seconds = 0.0
    placed = 0
    chunks = [infos[i:i + window] for i in range(0, len(infos), window)] if window > 0 else [infos]
    for chunk in chunks:
        t0 = time.perf_counter()
        placements = scheduler.place(chunk)
        preemptors = [o for o in placements.failures.values() if o.victims]
        nodes = placements.nodes
        if record:
            for pod, node in zip(placements.pods, nodes.tolist()):
                if node >= 0:
                    events.append(("bind", pod.key, names[node]))
        in_call = int((nodes >= 0).sum())
        for k, outcome in enumerate(preemptors):
            if _preempt(scheduler, snapshot, outcome, fresh=(k == 0), evicted=evicted, events=events, names=names):
                in_call += 1
        dt = time.perf_counter() - t0
        seconds += dt
        placed += in_call
        completions.append((in_call, seconds))
        if window > 0 and dt > 0:
            rates.append(len(chunk) / dt)
    paths = {"batched": scheduler.stats.batched, "cycles": scheduler.stats.cycles}
    return StepOutcome(seconds, placed, len(infos) - placed, len(evicted), rates, events, paths, completions)


def _preempt(scheduler: Any, snapshot: Any, outcome: Any, *, fresh: bool, evicted: set[str], events: list, names: list[str]) -> bool:
    """Evict one preemptor's victims and place it again; True when it binds. Victims chosen
    before an earlier preemptor changed the cluster are chosen anew first."""
    pod = outcome.pod
    for _ in range(MAX_PREEMPTION_ROUNDS):
        if not fresh:
            placements = scheduler.place([pod])
            node = int(placements.nodes[0])
            if node >= 0:
                events.append(("bind", pod.key, names[node]))
                return True
            outcome = placements.failures[0]
        fresh = False
        if not outcome.victims:
            return False
        for victim in outcome.victims:
            if victim.key not in evicted:
                snapshot.remove_pod(victim)
                evicted.add(victim.key)
                events.append(("evict", victim.key, ""))
    return False


def percentiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    qs = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return {"p50": round(qs[49], 1), "p90": round(qs[89], 1), "p99": round(qs[98], 1)}


def latency_ms(completions: list[tuple[int, float]]) -> dict[str, float] | None:
    """p50/p90/p99/max of the per-pod latency in ms, each pod weighted once: `completions` holds
    (pods placed, seconds since the step started) per Scheduler.place call."""
    import numpy as np

    counts = np.array([c for c, _ in completions if c > 0], dtype=np.int64)
    if not counts.size:
        return None
    times = np.array([t for c, t in completions if c > 0]) * 1e3
    order = np.argsort(times)
    times, cum = times[order], np.cumsum(counts[order])
    out = {}
    for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99)):
        out[name] = round(float(times[int(np.searchsorted(cum, q * cum[-1]))]), 3)
    out["max"] = round(float(times[-1]), 3)
    return out


def cdf_points(completions: list[tuple[int, float]], total: int, limit: int = 200) -> list[list[float]]:
    """[ms since the first measured pod was enqueued, fraction of the `total` measured pods
    placed by then], at most `limit` points: the latency CDF (it tops out below 1 when some
    pods stay unschedulable) and, times the pod count, pods placed over time."""
    total = total or 1
    points, done = [], 0
    for count, t in sorted(completions, key=lambda ct: ct[1]):
        done += count
        points.append([round(t * 1e3, 3), round(done / total, 5)])
    step = max(1, len(points) // limit)
    return points[::step] + ([points[-1]] if points and (len(points) - 1) % step else [])


def run_plan(plan: WorkloadPlan, *, equivalence: bool = True, window: int = 0, seed: int = 0, check: bool = True) -> dict[str, Any]:
    """One workload: the result row of result.json."""
    from shoal.sched import Scheduler, build_snapshot
    from shoal.sched.api import warm_up
    from shoal.sched.podinfo import PodParser

    row = _row(plan)
    if not plan.runnable:
        row["status"] = "skipped"
        return row
    warm_up()
    t_setup = time.perf_counter()
    cluster = Cluster()
    for step in plan.steps:
        if isinstance(step, NodeStep):
            build_nodes(step, len(cluster.node_msgs), cluster)
        elif isinstance(step, NamespaceStep):
            build_namespaces(step, cluster)
    parser = PodParser()
    snapshot = build_snapshot(cluster.node_msgs, parser=parser, namespaces=cluster.namespace_msgs)
    checker = PlacementChecker(cluster.node_dicts, cluster.namespace_labels) if check else None
    pod_dicts: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    setup = time.perf_counter() - t_setup
    measured = {"pods": 0, "seconds": 0.0, "placed": 0, "unschedulable": 0, "evicted": 0, "rates": [], "batched": 0, "cycles": 0,
                "completions": [], "series": []}
    init_unscheduled = 0
    check_seconds = 0.0
    order = 0
    for step in plan.steps:
        if not isinstance(step, PodStep):
            continue
        t0 = time.perf_counter()
        msgs, dicts = build_pods(step)
        infos = [parser.parse(m, order + i) for i, m in enumerate(msgs)]
        order += len(msgs)
        for d in dicts:
            pod_dicts[f"{step.namespace}/{d['metadata']['name']}"] = d
        scheduler = Scheduler(snapshot, seed=seed, equivalence=equivalence)
        if step.measured:
            # The untimed work before (building pods, the checker's replay) leaves many objects
            # behind; collected here, so a full collection of them does not land in the timed
            # placement (as timeit keeps the collector out of its timings). The collector stays
            # on while placing: the scheduler's own garbage is its cost.
            gc.collect()
        setup += time.perf_counter() - t0
        outcome = schedule_step(scheduler, snapshot, infos, window if step.measured else 0)
        if step.measured:
            measured["pods"] += len(infos)
            measured["seconds"] += outcome.seconds
            measured["placed"] += outcome.placed
            measured["unschedulable"] += outcome.unschedulable
            measured["evicted"] += outcome.evicted
            measured["rates"] += outcome.window_rates
            # Latency counts from the step's own start; the throughput series runs across steps.
            measured["completions"] += outcome.completions
            offset = measured["seconds"] - outcome.seconds
            measured["series"] += [(c, offset + t) for c, t in outcome.completions]
            measured["batched"] += outcome.paths["batched"]
            measured["cycles"] += outcome.paths["cycles"]
        else:
            init_unscheduled += outcome.unschedulable
        if checker is not None:
            t0 = time.perf_counter()
            problems += _replay(checker, pod_dicts, outcome.events)
            check_seconds += time.perf_counter() - t0
    seconds = measured["seconds"]
    pps = measured["pods"] / seconds if seconds > 0 else 0.0
    for churn in (s for s in plan.steps if isinstance(s, ChurnStep)):
        ticks = int(seconds * 1000 // churn.interval_ms)
        row["notes"].append(f"churn every {churn.interval_ms} ms: {ticks} tick(s) would have fired in the {seconds * 1e3:.1f} ms measured")
    row.update(
        status="ran",
        nodes=len(cluster.node_msgs),
        pods=measured["pods"],
        placed=measured["placed"],
        unschedulable=measured["unschedulable"],
        preemption_victims=measured["evicted"],
        init_pods_unscheduled=init_unscheduled,
        seconds=round(seconds, 6),
        pods_per_second=round(pps, 1),
        percentiles=percentiles(measured["rates"]),
        percentiles_basis=(f"per-window rates, {window} pods per Scheduler.place call" if window > 0 and len(measured["rates"]) >= 2
                           else "none: the measured pods take well under a second, so there is no per-second series (use --window N)"),
        latency_ms=latency_ms(measured["completions"]),
        latency_basis=("enqueue (step start) to the return of the Scheduler.place call holding the pod; "
                       + (f"calls of {window} pods" if window > 0 else "one call per step (--window N refines it)")),
        throughput_series=cdf_points(measured["series"], measured["pods"]),
        latency_cdf=cdf_points(measured["completions"], measured["pods"]),
        **threshold_fields(plan, pps),
        placements_valid=(not problems) if checker is not None else None,
        problem_count=len(problems),
        problems=problems[:MAX_PROBLEMS_KEPT],
        paths={"batched": measured["batched"], "cycles": measured["cycles"]},
        setup_seconds=round(setup, 3),
        check_seconds=round(check_seconds, 3),
        equivalence=equivalence,
    )
    return row


def threshold_fields(plan: WorkloadPlan, pods_per_second: float) -> dict[str, Any]:
    """ratio: Shoal's pods/s over kube-scheduler's threshold; target_met: whether that reaches the
    case's target (kube_thresholds.target_factor). Both None without a threshold."""
    if not plan.threshold:
        return {"ratio": None, "target_met": None}
    ratio = pods_per_second / plan.threshold
    return {"ratio": round(ratio, 1), "target_met": ratio >= target_factor(plan.case)}


def _replay(checker: PlacementChecker, pods: dict[str, dict[str, Any]], events: list[tuple[str, str, str]]) -> list[str]:
    problems = []
    for kind, key, node in events:
        if kind == "evict":
            checker.unbind(key)
            continue
        for problem in checker.check(pods[key], node):
            problems.append(f"{key} on {node}: {problem}")
    return problems


def _row(plan: WorkloadPlan) -> dict[str, Any]:
    return {
        "case": plan.case,
        "workload": plan.workload,
        "name": plan.name,
        "scale": plan.scale,
        "params": plan.params,
        "labels": plan.labels,
        "nodes": plan.nodes,
        "init_pods": plan.init_pods,
        "pods": plan.measured_pods,
        "threshold": plan.threshold,
        "threshold_source": plan.threshold_source,
        "target": target_factor(plan.case) if plan.threshold else None,
        "unsupported": list(plan.unsupported),
        "blocking": list(plan.blocking),
        "notes": list(plan.notes),
    }
