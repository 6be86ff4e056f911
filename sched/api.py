"""The library call: place pods on nodes without a cluster.

    result = place(nodes, pods, existing=bound_pods, profile="sched.yaml", seed=7)
    result.assignments     [Assignment(pod="ns/name", node="node-1"), ...]
    result.unschedulable   [Unschedulable(pod="ns/name", message="0/3 nodes are available: ...")]
    result.stats           {"pods": P, "seconds": S, "pods_per_second": R}

Nodes and pods are core_pb2 messages (or Kubernetes-shaped dicts). `existing` pods are bound
already (spec.nodeName); terminal ones (Succeeded / Failed) are ignored, as kube-scheduler's
informer ignores them. Pods are placed in kube-scheduler's queue order (priority, then creation
time, then input order). `stats.seconds` covers scheduling (queue, filter, score, bind into the
snapshot), not reading the inputs or loading the kernels' machine code (once per process, see
warm_up); PlacementResult.timings has every phase.

Ties between equally scored nodes go to the smallest mix64(pod_salt(seed, class key) ^ node),
the hash shoal.native uses: a pod's class key is a digest of its scheduling-relevant spec, so
equal pods break ties alike (and the equivalence-class paths can keep one order per class).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shoal.v1 import core_pb2

from .framework.config import Profile, build_profile, load_config, parse_config
from .podinfo import PodInfo, PodParser
from .scheduler import Placements, Scheduler
from .snapshot import ClusterSnapshot

TERMINAL_PHASES = ("Succeeded", "Failed")


class PlacementInputError(ValueError):
    """Inputs place() cannot use (duplicate pods, an existing pod on an unknown node, ...)."""


@dataclass(frozen=True)
class Assignment:
    pod: str
    node: str


@dataclass(frozen=True)
class Unschedulable:
    pod: str
    message: str
    nominated_node: str = ""  # where preemption would make room ("" if it cannot)
    victims: tuple[str, ...] = ()  # the pods it would evict there


@dataclass
class PlacementResult:
    assignments: list[Assignment]
    unschedulable: list[Unschedulable]
    stats: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    explanations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `shoal place -o json`."""
        return {
            "assignments": [{"pod": a.pod, "node": a.node} for a in self.assignments],
            "unschedulable": [{"pod": u.pod, "message": u.message} for u in self.unschedulable],
            "stats": dict(self.stats),
        }


def _message(obj: Any, kind: type) -> Any:
    if isinstance(obj, kind):
        return obj
    if isinstance(obj, Mapping):
        from shoal.proto import manifests

        return manifests.from_dict(obj)
    raise TypeError(f"expected a {kind.__name__} message or a manifest dict, got {type(obj).__name__}")


def resolve_profiles(profile: Any) -> dict[str, Profile] | None:
    """None, a Profile, {name: Profile}, a KubeSchedulerConfiguration dict, or a file path."""
    if profile is None:
        return None
    if isinstance(profile, Profile):
        return {profile.scheduler_name: profile}
    if isinstance(profile, str):
        return load_config(profile)
    if isinstance(profile, Mapping):
        if profile and all(isinstance(v, Profile) for v in profile.values()):
            return dict(profile)
        if "profiles" in profile or profile.get("kind") == "KubeSchedulerConfiguration":
            return parse_config(profile)
        p = build_profile(profile)
        return {p.scheduler_name: p}
    raise TypeError(f"profile: expected a path, a mapping or a Profile, got {type(profile).__name__}")


def _named(infos: list[PodInfo], msgs: list, what: str) -> None:
    """Pods with only generateName get a deterministic suffix (their input position)."""
    for i, (info, msg) in enumerate(zip(infos, msgs)):
        if not info.name:
            prefix = msg.metadata.generate_name
            if not prefix:
                raise PlacementInputError(f"{what}[{i}]: pod has neither metadata.name nor generateName")
            info.name = f"{prefix}{i:05d}"


def _name_nodes(nodes: list) -> list:
    out = []
    for i, node in enumerate(nodes):
        if not node.metadata.name:
            if not node.metadata.generate_name:
                raise PlacementInputError(f"nodes[{i}]: node has neither metadata.name nor generateName")
            node = core_pb2.Node.FromString(node.SerializeToString())
            node.metadata.name = f"{node.metadata.generate_name}{i:05d}"
        out.append(node)
    return out


def build_snapshot(
    nodes: Iterable,
    existing: Iterable = (),
    *,
    parser: PodParser | None = None,
    namespaces: Iterable = (),
    services: Iterable = (),
    replica_sets: Iterable = (),
) -> ClusterSnapshot:
    """A snapshot of `nodes` with the `existing` pods bound (terminal pods left out)."""
    parser = parser or PodParser()
    node_msgs = _name_nodes([_message(n, core_pb2.Node) for n in nodes])
    names = set()
    for node in node_msgs:
        if node.metadata.name in names:
            raise PlacementInputError(f"duplicate node {node.metadata.name!r}")
        names.add(node.metadata.name)
    snapshot = ClusterSnapshot(node_msgs, namespaces=namespaces, services=services, replica_sets=replica_sets)
    msgs = [p for p in (_message(p, core_pb2.Pod) for p in existing) if p.status.phase not in TERMINAL_PHASES]
    infos = [parser.parse(m, i) for i, m in enumerate(msgs)]
    _named(infos, msgs, "existing")
    seen: set[str] = set()
    nodes_of = []
    for info in infos:
        if info.key in seen:
            raise PlacementInputError(f"existing pod {info.key}: listed twice")
        seen.add(info.key)
        if not info.node_name:
            raise PlacementInputError(f"existing pod {info.key}: no spec.nodeName (existing pods must be bound)")
        n = snapshot.node_index.get(info.node_name)
        if n is None:
            raise PlacementInputError(f"existing pod {info.key}: node {info.node_name!r} is not among the nodes")
        nodes_of.append(n)
    snapshot.add_pods(infos, nodes_of)
    return snapshot


def place(
    nodes: Iterable,
    pods: Iterable,
    existing: Iterable = (),
    profile: Any = None,
    seed: int = 0,
    *,
    namespaces: Iterable = (),
    services: Iterable = (),
    replica_sets: Iterable = (),
    priority_classes: Iterable = (),
    equivalence: bool = True,
    batch: bool = True,
    explain: bool = False,
    validate: bool = False,
    solver: str | None = None,
    objective: str = "nodes",
    time_limit: float = 5.0,
    pod_groups: Iterable = (),
) -> PlacementResult:
    """Place `pods` on `nodes` (see the module docstring). `equivalence` and `batch` choose the
    execution path (they never change the result; `validate` checks that, slowly); `explain`
    adds explain() data for every unschedulable pod.

    solver: None or "greedy" (kube-scheduler, one pod at a time) or "cpsat" (the batch placed
    together by the constraint solver, see batch_place; `objective` and `time_limit` apply, and
    pods labelled scheduling.x-k8s.io/pod-group are placed as gangs of their `pod_groups`). With
    a solver named, stats add nodes_in_use and, for cpsat, the solver's figures and gap."""
    warm = warm_up()
    t0 = time.perf_counter()
    profiles = resolve_profiles(profile)
    parser = PodParser(priority_classes)
    snapshot = build_snapshot(
        nodes, existing, parser=parser, namespaces=namespaces, services=services, replica_sets=replica_sets
    )
    t1 = time.perf_counter()
    msgs = [_message(p, core_pb2.Pod) for p in pods]
    infos = [parser.parse(m, i) for i, m in enumerate(msgs)]
    _named(infos, msgs, "pods")
    keys = set(snapshot_keys(snapshot))
    for info in infos:
        if info.key in keys:
            raise PlacementInputError(f"pod {info.key}: listed twice (or already among the existing pods)")
        keys.add(info.key)
    t2 = time.perf_counter()
    scheduler = Scheduler(snapshot, profiles, seed, equivalence=equivalence, batch=batch, explain=explain, validate=validate)
    solver_stats: dict[str, Any] = {}
    if solver == "cpsat":
        from .solver_place import place_with_solver

        placements, solver_stats = place_with_solver(scheduler, infos, pod_groups, objective, time_limit)
    elif solver in (None, "greedy"):
        placements = scheduler.place(infos)
        if solver:
            solver_stats = {"solver": "greedy"}
    else:
        raise PlacementInputError(f"solver: {solver!r} is not one of greedy, cpsat")
    t3 = time.perf_counter()
    result = _result(snapshot, placements, t3 - t2)
    if solver:
        from .solver_bridge import nodes_in_use

        result.stats.update(solver_stats, nodes_in_use=nodes_in_use(snapshot))
    result.timings = {"warm_up": warm, "snapshot": t1 - t0, "parse": t2 - t1, "schedule": t3 - t2, "total": time.perf_counter() - t0}
    if explain:
        result.explanations = {o.pod.key: o.explanation for o in placements.failures.values() if o.explanation is not None}
    return result


_warm = False


def warm_up() -> float:
    """Load the kernels (compiled once, cached on disk) with a tiny placement, once per process,
    so that stats.seconds measures scheduling rather than loading machine code. Returns the
    seconds spent (0 after the first call)."""
    global _warm
    if _warm:
        return 0.0
    _warm = True
    t0 = time.perf_counter()
    node = {"apiVersion": "v1", "kind": "Node", "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "4"}}}
    nodes = [dict(node, metadata={"name": f"n{i}", "labels": {"zone": str(i % 2)}}) for i in range(2)]
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"a": "b"}}}]
    preferred = [dict(spread[0], whenUnsatisfiable="ScheduleAnyway")]  # preferred-spread runs
    pods = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "labels": {"a": "b"}},
         "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "100m"}}}],
                  **({"topologySpreadConstraints": preferred if i >= 4 else spread} if i % 2 or i >= 4 else {})}}
        for i in range(6)
    ]
    for eq in (True, False):
        snapshot = build_snapshot(nodes)
        parser = PodParser()
        Scheduler(snapshot, equivalence=eq).place([parser.parse(_message(p, core_pb2.Pod), i) for i, p in enumerate(pods)])
    return time.perf_counter() - t0


def explain(
    nodes: Iterable,
    pod: Any,
    existing: Iterable = (),
    profile: Any = None,
    seed: int = 0,
    *,
    namespaces: Iterable = (),
    services: Iterable = (),
    replica_sets: Iterable = (),
    priority_classes: Iterable = (),
) -> dict[str, Any]:
    """explain() data for one pod against `nodes` with `existing` bound: where it would go, or,
    per reason, what would make it fit (see shoal.sched.explanation)."""
    from .explanation import explain_cycle
    from .framework.config import DEFAULT_SCHEDULER_NAME, default_profile
    from .framework.runtime import Framework

    parser = PodParser(priority_classes)
    snapshot = build_snapshot(nodes, existing, parser=parser, namespaces=namespaces, services=services, replica_sets=replica_sets)
    info = parser.parse(_message(pod, core_pb2.Pod))
    _named([info], [_message(pod, core_pb2.Pod)], "pod")
    profiles = resolve_profiles(profile) or {DEFAULT_SCHEDULER_NAME: default_profile()}
    chosen = profiles.get(info.cls.scheduler_name or DEFAULT_SCHEDULER_NAME)
    if chosen is None:
        raise PlacementInputError(f"pod {info.key}: no scheduler profile named {info.cls.scheduler_name!r}")
    return explain_cycle(Framework(chosen, snapshot, seed), info)


def snapshot_keys(snapshot: ClusterSnapshot) -> list[str]:
    return [snapshot.pods.infos[r].key for r in snapshot.pods.live_rows().tolist()]  # type: ignore[union-attr]


def _result(snapshot: ClusterSnapshot, placements: Placements, seconds: float) -> PlacementResult:
    names = [n.name for n in snapshot.nodes]
    assignments = []
    unschedulable = []
    for i, (pod, node) in enumerate(zip(placements.pods, placements.nodes.tolist())):
        if node >= 0:
            assignments.append(Assignment(pod.key, names[node]))
        else:
            o = placements.failures[i]
            unschedulable.append(Unschedulable(pod.key, o.message, o.nominated_node, tuple(v.key for v in o.victims)))
    count = len(placements.pods)
    stats = {"pods": count, "seconds": round(seconds, 6), "pods_per_second": round(count / seconds, 1) if seconds > 0 else 0.0}
    return PlacementResult(assignments, unschedulable, stats)
