"""What the scheduler needs of a pod, parsed once per distinct spec.

    PodClass   the scheduling-relevant part of a pod: requests, constraints, labels, namespace,
               priority. Pods with equal classes are interchangeable for every plugin, so they
               form an equivalence class and share filter masks and scores. `key` (64 bits of a
               hash of the class) is the pod part of the tie-break hash, so a placement replays
               and the equivalence-class path breaks ties exactly as the full scan does.
    PodInfo    one pod: its name and the per-pod facts (creation order, start time, terminating)
               plus its PodClass.
    PodParser  turns core_pb2.Pod messages into PodInfos, caching classes by the serialized spec
               so 10,000 pods from one template are parsed once.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from shoal.proto.quantity import QuantityError

from . import labels as lbl
from .labels import PreferredTerm, RequiredNodeAffinity, Selector, SelectorError
from .resources import pod_request

DEFAULT_NAMESPACE = "default"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
PREEMPT_NEVER = "Never"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
BIND_ALL_IP = "0.0.0.0"


_SERIALS = itertools.count()


class PodSpecError(ValueError):
    """A pod the scheduler cannot evaluate (an invalid quantity or selector)."""


class Taint(NamedTuple):
    key: str
    value: str
    effect: str


class Toleration(NamedTuple):
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        """v1.Toleration.ToleratesTaint."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


class HostPort(NamedTuple):
    ip: str
    protocol: str
    port: int


@dataclass(frozen=True)
class AffinityTerm:
    """An inter-pod (anti-)affinity term with its namespaces resolved as the scheduler does
    (framework.AffinityTerm): `namespaces` sorted; `namespace_selector` None when nil."""

    namespaces: tuple[str, ...]
    namespace_selector: Selector | None
    selector: Selector
    topology_key: str

    def matches(self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> bool:
        if namespace in self.namespaces or (
            self.namespace_selector is not None and self.namespace_selector.matches(namespace_labels)
        ):
            return self.selector.matches(labels)
        return False


class WeightedTerm(NamedTuple):
    weight: int
    term: AffinityTerm


@dataclass(frozen=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: Selector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE


@dataclass(frozen=True)
class PodClass:
    """Everything a plugin may look at, and nothing else (see the module docstring)."""

    namespace: str
    labels: tuple[tuple[str, str], ...]
    requests: tuple[tuple[str, int], ...]
    nonzero_cpu: int
    nonzero_memory: int
    priority: int
    preempt_never: bool
    node_name: str
    required_node_affinity: RequiredNodeAffinity
    prefilter_node_names: tuple[str, ...] | None
    preferred_node_terms: tuple[PreferredTerm, ...]
    tolerations: tuple[Toleration, ...]
    host_ports: tuple[HostPort, ...]
    images: tuple[str, ...]
    n_containers: int
    spread_constraints: tuple[SpreadConstraint, ...]
    required_affinity: tuple[AffinityTerm, ...]
    required_anti_affinity: tuple[AffinityTerm, ...]
    preferred_affinity: tuple[WeightedTerm, ...]
    preferred_anti_affinity: tuple[WeightedTerm, ...]
    owner: tuple[str, str, str] | None  # controller (apiVersion, kind, name)
    scheduling_gates: tuple[str, ...]
    scheduler_name: str = ""
    claims: tuple[str, ...] = ()  # PersistentVolumeClaims the pod's volumes name (VolumeBinding)
    error: str | None = None
    key: int = field(default=0, compare=False, repr=False)
    serial: int = field(default=-1, compare=False, repr=False)  # unique per interned class in this process
    label_map: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def request_map(self) -> dict[str, int]:
        return dict(self.requests)

    @property
    def has_inter_pod_terms(self) -> bool:
        return bool(
            self.required_affinity or self.required_anti_affinity or self.preferred_affinity or self.preferred_anti_affinity
        )


@dataclass(eq=False)
class PodInfo:
    """One pod: identity, queue facts, and its class."""

    name: str
    namespace: str
    uid: str
    cls: PodClass
    order: int  # position in the input, the tie-breaker of queue order
    creation: float | None  # creationTimestamp in seconds, if set
    start_ns: int | None  # status.startTime in nanoseconds, if set
    terminating: bool = False
    preempted_by_scheduler: bool = False
    node_name: str = ""  # where an existing pod is bound (spec.nodeName)
    nominated_node_name: str = ""
    queue_key: tuple = ()  # PrioritySort's order: (-priority, creation time, input order)
    row: int = -1  # the pod's row in the snapshot's PodTable while bound
    # Carries a start time or is terminating: bulk binds look at these pods only.
    special: bool = False

    def __post_init__(self) -> None:
        self.special = self.start_ns is not None or self.terminating

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def priority(self) -> int:
        return self.cls.priority


# ---------------------------------------------------------------------------------------------
# Parsing


def _timestamp_seconds(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


def _affinity_term(term, pod_namespace: str, pod_labels: Mapping[str, str]) -> AffinityTerm:
    selector = lbl.label_selector(term.label_selector, term.HasField("label_selector"))
    extra = []
    for key in term.match_label_keys:
        if key in pod_labels:
            extra.append(lbl.Requirement(key, lbl.IN, (pod_labels[key],)))
    for key in term.mismatch_label_keys:
        if key in pod_labels:
            extra.append(lbl.Requirement(key, lbl.NOT_IN, (pod_labels[key],)))
    if extra:
        selector = selector.add(tuple(extra))
    has_ns_selector = term.HasField("namespace_selector")
    if not term.namespaces and not has_ns_selector:
        namespaces: tuple[str, ...] = (pod_namespace,)
    else:
        namespaces = tuple(sorted(set(term.namespaces)))
    ns_selector = lbl.label_selector(term.namespace_selector) if has_ns_selector else None
    return AffinityTerm(namespaces, ns_selector, selector, term.topology_key)


def _spread_constraint(c, pod_labels: Mapping[str, str]) -> SpreadConstraint:
    selector = lbl.label_selector(c.label_selector, c.HasField("label_selector"))
    extra = tuple(lbl.Requirement(k, lbl.IN, (pod_labels[k],)) for k in c.match_label_keys if k in pod_labels)
    if extra:
        selector = selector.add(extra)
    return SpreadConstraint(
        max_skew=int(c.max_skew),
        topology_key=c.topology_key,
        when_unsatisfiable=c.when_unsatisfiable,
        selector=selector,
        min_domains=int(c.min_domains) if c.HasField("min_domains") else 1,
        node_affinity_policy=c.node_affinity_policy if c.HasField("node_affinity_policy") else HONOR,
        node_taints_policy=c.node_taints_policy if c.HasField("node_taints_policy") else IGNORE,
    )


def normalized_image_name(name: str) -> str:
    """ImageLocality's normalizedImageName: an untagged image means ':latest'."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


def _host_ports(spec) -> tuple[HostPort, ...]:
    """schedutil.GetHostPorts: host ports of sidecars and app containers, sanitized."""
    containers = [c for c in spec.init_containers if c.HasField("restart_policy") and c.restart_policy == "Always"]
    containers += list(spec.containers)
    ports = []
    for c in containers:
        for p in c.ports:
            if p.host_port > 0:
                ports.append(HostPort(p.host_ip or BIND_ALL_IP, p.protocol or "TCP", int(p.host_port)))
    return tuple(ports)


def _controller(meta) -> tuple[str, str, str] | None:
    for ref in meta.owner_references:
        if ref.HasField("controller") and ref.controller:
            return (ref.api_version, ref.kind, ref.name)
    return None


def class_key(cls: PodClass) -> int:
    """64 bits of BLAKE2b over the class's canonical repr (stable across runs and machines)."""
    digest = hashlib.blake2b(repr(cls).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass
class PriorityClassInfo:
    value: int
    global_default: bool
    preemption_policy: str | None


class PodParser:
    """Parses pods into PodInfos, one PodClass per distinct scheduling-relevant spec.

    `priority_classes` resolves spec.priorityClassName for pods whose spec.priority is unset
    (as admission would); unknown names resolve to the global default, else 0.
    """

    def __init__(self, priority_classes: Iterable = ()) -> None:
        self._by_fingerprint: dict[tuple, PodClass] = {}
        self._by_class: dict[PodClass, PodClass] = {}
        self._priority_classes: dict[str, PriorityClassInfo] = {}
        self._default_priority: PriorityClassInfo | None = None
        for pc in priority_classes:
            info = PriorityClassInfo(
                int(pc.value), bool(pc.global_default), pc.preemption_policy if pc.HasField("preemption_policy") else None
            )
            self._priority_classes[pc.metadata.name] = info
            if info.global_default:
                self._default_priority = info
        self._count = 0

    @property
    def classes(self) -> int:
        return len(self._by_class)

    def parse(self, pod, order: int | None = None) -> PodInfo:
        meta = pod.metadata
        namespace = meta.namespace or DEFAULT_NAMESPACE
        labels = tuple(sorted(meta.labels.items()))
        owner = _controller(meta)
        fingerprint = (namespace, labels, owner, pod.spec.SerializeToString(deterministic=True))
        cls = self._by_fingerprint.get(fingerprint)
        if cls is None:
            cls = self._intern(self._build_class(pod.spec, namespace, labels, owner))
            self._by_fingerprint[fingerprint] = cls
        if order is None:
            order = self._count
        self._count += 1
        status = pod.status
        creation = _timestamp_seconds(meta.creation_timestamp) if meta.HasField("creation_timestamp") else None
        preempted = any(
            c.type == "DisruptionTarget" and c.reason == "PreemptionByScheduler" for c in status.conditions
        )
        return PodInfo(
            name=meta.name,
            namespace=namespace,
            uid=meta.uid,
            cls=cls,
            order=order,
            creation=creation,
            start_ns=(status.start_time.seconds * 10**9 + status.start_time.nanos) if status.HasField("start_time") else None,
            terminating=meta.HasField("deletion_timestamp"),
            preempted_by_scheduler=preempted,
            node_name=pod.spec.node_name,
            nominated_node_name=status.nominated_node_name,
            queue_key=(-cls.priority, creation if creation is not None else math.inf, order),
        )

    def _intern(self, cls: PodClass) -> PodClass:
        known = self._by_class.get(cls)
        if known is not None:
            return known
        object.__setattr__(cls, "key", class_key(cls))
        object.__setattr__(cls, "label_map", dict(cls.labels))
        object.__setattr__(cls, "serial", next(_SERIALS))
        self._by_class[cls] = cls
        return cls

    def _priority(self, spec) -> tuple[int, bool]:
        pc = self._priority_classes.get(spec.priority_class_name) if spec.priority_class_name else self._default_priority
        if spec.HasField("priority"):
            priority = int(spec.priority)
        else:
            priority = pc.value if pc is not None else 0
        if spec.HasField("preemption_policy"):
            policy = spec.preemption_policy
        else:
            policy = pc.preemption_policy if pc is not None and pc.preemption_policy else "PreemptLowerPriority"
        return priority, policy == PREEMPT_NEVER

    def _build_class(self, spec, namespace: str, labels: tuple, owner) -> PodClass:
        label_map = dict(labels)
        priority, preempt_never = self._priority(spec)
        try:
            request = pod_request(spec)
            required = lbl.required_node_affinity(spec)
            preferred = lbl.preferred_node_terms(spec)
            spread = tuple(_spread_constraint(c, label_map) for c in spec.topology_spread_constraints)
            terms = _inter_pod_terms(spec, namespace, label_map)
        except (QuantityError, SelectorError) as exc:
            return _error_class(namespace, labels, priority, preempt_never, owner, spec.scheduler_name, str(exc))
        tolerations = tuple(Toleration(t.key, t.operator, t.value, t.effect) for t in spec.tolerations)
        images = tuple(normalized_image_name(c.image) for c in list(spec.init_containers) + list(spec.containers))
        return PodClass(
            namespace=namespace,
            labels=labels,
            requests=tuple(sorted(request.requests.items())),
            nonzero_cpu=request.nonzero_cpu,
            nonzero_memory=request.nonzero_memory,
            priority=priority,
            preempt_never=preempt_never,
            node_name=spec.node_name,
            required_node_affinity=required,
            prefilter_node_names=lbl.prefilter_node_names(spec),
            preferred_node_terms=preferred,
            tolerations=tolerations,
            host_ports=_host_ports(spec),
            images=images,
            n_containers=len(spec.init_containers) + len(spec.containers),
            spread_constraints=spread,
            required_affinity=terms[0],
            required_anti_affinity=terms[1],
            preferred_affinity=terms[2],
            preferred_anti_affinity=terms[3],
            owner=owner,
            scheduling_gates=tuple(g.name for g in spec.scheduling_gates),
            scheduler_name=spec.scheduler_name,
            claims=tuple(sorted({v.persistent_volume_claim.claim_name for v in spec.volumes
                                 if v.HasField("persistent_volume_claim")})),
        )


def _inter_pod_terms(spec, namespace: str, label_map: Mapping[str, str]):
    if not spec.HasField("affinity"):
        return (), (), (), ()
    affinity = spec.affinity
    req_a: tuple[AffinityTerm, ...] = ()
    req_anti: tuple[AffinityTerm, ...] = ()
    pref_a: tuple[WeightedTerm, ...] = ()
    pref_anti: tuple[WeightedTerm, ...] = ()
    if affinity.HasField("pod_affinity"):
        pa = affinity.pod_affinity
        req_a = tuple(_affinity_term(t, namespace, label_map) for t in pa.required_during_scheduling_ignored_during_execution)
        pref_a = tuple(
            WeightedTerm(int(w.weight), _affinity_term(w.pod_affinity_term, namespace, label_map))
            for w in pa.preferred_during_scheduling_ignored_during_execution
        )
    if affinity.HasField("pod_anti_affinity"):
        pa = affinity.pod_anti_affinity
        req_anti = tuple(_affinity_term(t, namespace, label_map) for t in pa.required_during_scheduling_ignored_during_execution)
        pref_anti = tuple(
            WeightedTerm(int(w.weight), _affinity_term(w.pod_affinity_term, namespace, label_map))
            for w in pa.preferred_during_scheduling_ignored_during_execution
        )
    return req_a, req_anti, pref_a, pref_anti


def _error_class(namespace, labels, priority, preempt_never, owner, scheduler_name: str, error: str) -> PodClass:
    return PodClass(
        namespace=namespace, labels=labels, requests=(), nonzero_cpu=0, nonzero_memory=0, priority=priority,
        preempt_never=preempt_never, node_name="", required_node_affinity=RequiredNodeAffinity(None, None),
        prefilter_node_names=None, preferred_node_terms=(), tolerations=(), host_ports=(), images=(), n_containers=0,
        spread_constraints=(), required_affinity=(), required_anti_affinity=(), preferred_affinity=(),
        preferred_anti_affinity=(), owner=owner, scheduling_gates=(), scheduler_name=scheduler_name, error=error,
    )
