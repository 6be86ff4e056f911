"""The cluster snapshot: NumPy arrays over all nodes, updated in place, never rebuilt per pod.

    nodes      name, labels, taints, images, unschedulable          (one row each, index n)
    alloc      int64[N, R]  allocatable per resource column         (Fortran order: a column
    requested  int64[N, R]  sum of the bound pods' requests          of all nodes is contiguous,
    nonzero    int64[N, 2]  cpu / memory with the 100m / 200Mi       which the kernels read)
                            defaults, for NodeResourcesFit scoring
    pods       PodTable: node, class, labels, priority, start time of every bound pod
    indices    built on first use and then kept up to date by every add / remove:
               label columns (interned values per label key = topology domains),
               pod counters (per node, pods matching a selector: spread, affinity),
               holder terms (per node, pods carrying an inter-pod term: existing pods' rules),
               host ports in use, images present

Resource columns follow shoal.native.layout: cpu, memory, pods, ephemeral-storage, then scalar
resources interned in order of first appearance. Removing a node moves the last node into its
row (node indices are positions, and the tie-break hash hashes positions).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np
from shoal.native.layout import NONZERO_COLUMNS, PODS

from . import labels as lbl
from .indices import (
    ClassState,
    DomainCounter,
    HolderKey,
    LabelColumn,
    PodCounter,
    PodTable,
    holder_keys,
)
from .podinfo import NAMESPACE_NAME_LABEL, HostPort, PodClass, PodInfo, Taint
from .resources import FIXED_COLUMNS, node_allocatable

TOUCH_LOG_KEEP = 1 << 20  # (sched/loop) entries of the touch log kept (8 MB)
NOT_STARTED = 1 << 62  # start time of pods that have none: after every real one, in bind order
_SPECIAL = attrgetter("special")


class SnapshotError(ValueError):
    """An update the snapshot cannot apply (unknown node, duplicate pod, ...)."""


@dataclass
class NodeInfo:
    name: str
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    images: dict[str, int]  # image name -> size in bytes


def node_info(msg) -> NodeInfo:
    images: dict[str, int] = {}
    for image in msg.status.images:
        for name in image.names:
            images[name] = int(image.size_bytes)
    return NodeInfo(
        name=msg.metadata.name,
        labels=dict(msg.metadata.labels),
        taints=tuple(Taint(t.key, t.value, t.effect) for t in msg.spec.taints),
        unschedulable=bool(msg.spec.unschedulable),
        images=images,
    )


class ResourceColumns:
    """Resource name <-> matrix column."""

    def __init__(self) -> None:
        self.names: list[str] = list(FIXED_COLUMNS)
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)


# ---------------------------------------------------------------------------------------------
# The snapshot


class ClusterSnapshot:
    """See the module docstring. Build with nodes, then bind existing pods with add_pod."""

    def __init__(
        self,
        nodes: Iterable = (),
        *,
        namespaces: Iterable = (),
        services: Iterable = (),
        replica_sets: Iterable = (),
    ) -> None:
        self.columns = ResourceColumns()
        self.columns_version = 0
        self.nodes: list[NodeInfo] = []
        self.node_index: dict[str, int] = {}
        n_res = len(self.columns)
        self.alloc = np.zeros((0, n_res), dtype=np.int64, order="F")
        self.requested = np.zeros((0, n_res), dtype=np.int64, order="F")
        self.nonzero = np.zeros((0, NONZERO_COLUMNS), dtype=np.int64, order="F")
        self.unschedulable = np.zeros(0, dtype=bool)
        self.node_version = 0
        self.pod_version = 0
        self.holders_version = 0
        self.pods = PodTable()
        self._classes: list[PodClass] = []
        self._class_ids: dict[int, int] = {}
        self._class_states: list[ClassState] = []
        self._labelsets: list[tuple[str, Mapping[str, str]]] = []
        self._labelset_ids: dict[tuple, int] = {}
        self._label_columns: dict[str, LabelColumn] = {}
        self._counters: dict[Any, PodCounter] = {}
        self._domain_counters: dict[tuple, DomainCounter] = {}
        self._holders: dict[HolderKey, np.ndarray] = {}
        self.ports: dict[int, Counter[HostPort]] = {}
        self._taint_cache: tuple[int, list[Taint], np.ndarray] | None = None
        self._image_cache: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self._singleton_cache: dict[str, tuple[int, bool]] = {}
        self._all_have_cache: dict[str, tuple[int, bool]] = {}
        # Nodes whose requested amounts changed, in order (for incremental rescoring).
        self.touched: list[np.ndarray] = []
        self.touched_count = 0
        self._touch_floor = 0  # (sched/loop) positions before it are no longer in the log
        self._start_seq = 0
        self.gpu_devices: Any = None  # (sched/gpu) per-device GPU share, made by the GPU plugins on first use
        self.namespace_labels_by_name: dict[str, dict[str, str]] = {}
        self.claims: dict[str, Any] = {}  # "namespace/name" -> PersistentVolumeClaim
        self.volumes: dict[str, Any] = {}  # name -> PersistentVolume
        for ns in namespaces:
            labels = dict(ns.metadata.labels)
            labels.setdefault(NAMESPACE_NAME_LABEL, ns.metadata.name)
            self.namespace_labels_by_name[ns.metadata.name] = labels
        self.services = list(services)
        self.replica_sets = list(replica_sets)
        self.add_nodes(nodes)

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        labels = self.namespace_labels_by_name.get(namespace)
        if labels is None:
            labels = {NAMESPACE_NAME_LABEL: namespace}
            self.namespace_labels_by_name[namespace] = labels
        return labels

    # -- resource columns ----------------------------------------------------------------------

    def column(self, name: str) -> int:
        """The column of a resource, adding one (allocatable 0 everywhere) if it is new."""
        col = self.columns.index.get(name)
        if col is None:
            col = len(self.columns.names)
            self.columns.names.append(name)
            self.columns.index[name] = col
            self.columns_version += 1
            self.alloc = _add_column(self.alloc)
            self.requested = _add_column(self.requested)
        return col

    # -- nodes ---------------------------------------------------------------------------------

    def add_nodes(self, msgs: Iterable) -> None:
        """Add nodes (core_pb2.Node) in one step."""
        msgs = list(msgs)
        if not msgs:
            return
        infos = [node_info(m) for m in msgs]
        amounts = []
        for m in msgs:
            try:
                amounts.append(node_allocatable(m.status))
            except ValueError as exc:
                raise SnapshotError(f"node {m.metadata.name!r}: {exc}") from None
        for info in infos:
            if info.name in self.node_index or not info.name:
                raise SnapshotError(f"node {info.name!r}: {'duplicate' if info.name else 'empty'} name")
            self.node_index[info.name] = len(self.nodes)
            self.nodes.append(info)
        for amount in amounts:
            for name in amount:
                self.column(name)
        k = len(infos)
        rows = np.zeros((k, len(self.columns)), dtype=np.int64)
        for i, amount in enumerate(amounts):
            for name, value in amount.items():
                rows[i, self.columns.index[name]] = value
        self.alloc = np.asfortranarray(np.vstack([self.alloc, rows]))
        self.requested = np.asfortranarray(np.vstack([self.requested, np.zeros_like(rows)]))
        self.nonzero = np.asfortranarray(np.vstack([self.nonzero, np.zeros((k, NONZERO_COLUMNS), dtype=np.int64)]))
        self.unschedulable = np.concatenate([self.unschedulable, [i.unschedulable for i in infos]])
        for key, col in self._label_columns.items():
            extra = np.array([col.value_id(i.labels[key]) if key in i.labels else -1 for i in infos], dtype=np.intp)
            col.node_value = np.concatenate([col.node_value, extra])
        for counter in self._counters.values():
            counter.counts = np.concatenate([counter.counts, np.zeros(k, dtype=np.int64)])
        for key, counts in list(self._holders.items()):
            self._holders[key] = np.concatenate([counts, np.zeros(k, dtype=np.int64)])
        self._node_changed()

    def add_node(self, msg) -> int:
        self.add_nodes([msg])
        return self.node_index[msg.metadata.name]

    def update_node(self, msg) -> None:
        """Replace a node's labels, taints, allocatable, images and schedulability."""
        n = self.node_index.get(msg.metadata.name)
        if n is None:
            raise SnapshotError(f"node {msg.metadata.name!r} not found")
        try:
            amount = node_allocatable(msg.status)
        except ValueError as exc:
            raise SnapshotError(f"node {msg.metadata.name!r}: {exc}") from None
        info = node_info(msg)
        self.nodes[n] = info
        for name in amount:
            self.column(name)
        self.alloc[n, :] = 0
        for name, value in amount.items():
            self.alloc[n, self.columns.index[name]] = value
        self.unschedulable[n] = info.unschedulable
        for key, col in self._label_columns.items():
            col.node_value[n] = col.value_id(info.labels[key]) if key in info.labels else -1
        self._node_changed()

    def remove_node(self, name: str) -> None:
        """Remove a node and the pods bound to it; the last node takes its row."""
        n = self.node_index.pop(name, None)
        if n is None:
            raise SnapshotError(f"node {name!r} not found")
        for row in self.pods.rows_on(n):
            info = self.pods.infos[row]
            assert info is not None
            self.remove_pod(info)
        last = len(self.nodes) - 1
        if n != last:
            moved = self.nodes[last]
            self.nodes[n] = moved
            self.node_index[moved.name] = n
            for array in (self.alloc, self.requested, self.nonzero):
                array[n] = array[last]
            self.unschedulable[n] = self.unschedulable[last]
            for col in self._label_columns.values():
                col.node_value[n] = col.node_value[last]
            for counter in self._counters.values():
                counter.counts[n] = counter.counts[last]
            for counts in self._holders.values():
                counts[n] = counts[last]
            self.pods.renumber_node(last, n)
        self.ports.pop(n, None)
        if last in self.ports:
            self.ports[n] = self.ports.pop(last)
        self.nodes.pop()
        self.alloc = np.asfortranarray(self.alloc[:last])
        self.requested = np.asfortranarray(self.requested[:last])
        self.nonzero = np.asfortranarray(self.nonzero[:last])
        self.unschedulable = self.unschedulable[:last].copy()
        for col in self._label_columns.values():
            col.node_value = col.node_value[:last].copy()
        for counter in self._counters.values():
            counter.counts = counter.counts[:last].copy()
        for key in list(self._holders):
            self._holders[key] = self._holders[key][:last].copy()
        self._node_changed()

    def _node_changed(self) -> None:
        self.node_version += 1
        self._taint_cache = None
        self._image_cache.clear()

    # -- cluster context (added for the in-cluster loop, sched/loop) ---------------------------

    def set_context(self, *, namespaces: Iterable | None = None, services: Iterable | None = None,
                    replica_sets: Iterable | None = None, claims: Iterable | None = None,
                    volumes: Iterable | None = None) -> None:
        """Replace what plugins read besides nodes and pods: namespace labels (namespaceSelector),
        Services and ReplicaSets (default spreading), PersistentVolumeClaims and PersistentVolumes
        (VolumeBinding). Arguments left None stay. Everything derived from them is recomputed on
        next use (both versions move; pod counters are rebuilt)."""
        if claims is not None:
            self.claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in claims}
        if volumes is not None:
            self.volumes = {v.metadata.name: v for v in volumes}
        if namespaces is not None:
            self.namespace_labels_by_name = {}
            for ns in namespaces:
                labels = dict(ns.metadata.labels)
                labels.setdefault(NAMESPACE_NAME_LABEL, ns.metadata.name)
                self.namespace_labels_by_name[ns.metadata.name] = labels
            self._counters.clear()  # their matches per label set read namespace labels
            self._domain_counters.clear()
        if services is not None:
            self.services = list(services)
        if replica_sets is not None:
            self.replica_sets = list(replica_sets)
        self._node_changed()
        self.holders_version += 1

    # -- end cluster context ----------------------------------------------------------------------

    # -- label columns and node matching -------------------------------------------------------

    def label_column(self, key: str) -> LabelColumn:
        col = self._label_columns.get(key)
        if col is None:
            col = LabelColumn([], {}, np.zeros(0, dtype=np.intp))
            col.node_value = np.array(
                [col.value_id(n.labels[key]) if key in n.labels else -1 for n in self.nodes], dtype=np.intp
            )
            self._label_columns[key] = col
        return col

    def match_requirement(self, r: lbl.Requirement) -> np.ndarray:
        """bool[N]: nodes whose labels satisfy one requirement."""
        col = self.label_column(r.key)
        values = col.node_value
        has = values >= 0
        if r.operator in (lbl.IN, lbl.NOT_IN):
            ids = [col.ids[v] for v in r.values if v in col.ids]
            inside = np.isin(values, np.array(ids, dtype=np.intp)) if ids else np.zeros(len(values), dtype=bool)
            return inside if r.operator == lbl.IN else ~inside
        if r.operator == lbl.EXISTS:
            return has
        if r.operator == lbl.DOES_NOT_EXIST:
            return ~has
        numbers, parsable = col.numbers()
        safe = np.where(has, values, 0)
        ok = has & parsable[safe] if len(parsable) else np.zeros(len(values), dtype=bool)
        if not len(parsable):
            return ok
        cmp = numbers[safe] > r.number if r.operator == lbl.GT else numbers[safe] < r.number
        return ok & cmp

    def match_selector(self, selector: lbl.Selector) -> np.ndarray:
        if selector.nothing:
            return np.zeros(self.n_nodes, dtype=bool)
        out = np.ones(self.n_nodes, dtype=bool)
        for r in selector.requirements:
            out &= self.match_requirement(r)
        return out

    def match_term(self, term: lbl.NodeSelectorTerm) -> np.ndarray:
        n = self.n_nodes
        if term.error is not None:
            return np.zeros(n, dtype=bool)
        out = np.ones(n, dtype=bool)
        for r in term.labels or ():
            out &= self.match_requirement(r)
        for r in term.fields or ():
            value = r.values[0]
            hit = np.zeros(n, dtype=bool)
            if r.key == lbl.OBJECT_NAME_FIELD and value in self.node_index:
                hit[self.node_index[value]] = True
            out &= hit if r.operator == lbl.IN else ~hit
        return out

    def match_required_affinity(self, required: lbl.RequiredNodeAffinity) -> np.ndarray:
        out = np.ones(self.n_nodes, dtype=bool)
        if required.node_selector is not None:
            out &= self.match_selector(required.node_selector)
        if required.terms is not None:
            any_term = np.zeros(self.n_nodes, dtype=bool)
            for t in required.terms:
                any_term |= self.match_term(t)
            out &= any_term
        return out

    def has_all_keys(self, keys: Iterable[str]) -> np.ndarray:
        out = np.ones(self.n_nodes, dtype=bool)
        for key in keys:
            out &= self.label_column(key).node_value >= 0
        return out

    def singleton_domains(self, key: str) -> bool:
        """Whether no two nodes share a value of `key` (kubernetes.io/hostname, typically)."""
        hit = self._singleton_cache.get(key)
        if hit is None or hit[0] != self.node_version:
            values = self.label_column(key).node_value
            present = values[values >= 0]
            hit = (self.node_version, not len(present) or int(np.bincount(present).max()) <= 1)
            self._singleton_cache[key] = hit
        return hit[1]

    def domain_any(self, key: str, per_node: np.ndarray) -> np.ndarray:
        """bool[N]: nodes with label `key` whose domain holds a nonzero `per_node` count."""
        if self.singleton_domains(key):
            hit = per_node > 0
            return hit if self.all_have(key) else hit & (self.label_column(key).node_value >= 0)
        return self.domain_sum(key, per_node) > 0

    def all_have(self, key: str) -> bool:
        hit = self._all_have_cache.get(key)
        if hit is None or hit[0] != self.node_version:
            hit = (self.node_version, bool((self.label_column(key).node_value >= 0).all()))
            self._all_have_cache[key] = hit
        return hit[1]

    def domain_sum(self, key: str, per_node: np.ndarray, over: np.ndarray | None = None) -> np.ndarray:
        """int64[N]: for each node with label `key`, the sum of `per_node` over the nodes of its
        domain (restricted to `over` when given); 0 for nodes without the key."""
        col = self.label_column(key)
        values = col.node_value
        has = values >= 0
        src = has if over is None else has & over
        if self.singleton_domains(key):
            return np.where(src, per_node, 0).astype(np.int64, copy=False)
        sums = np.bincount(values[src], weights=per_node[src], minlength=len(col.values)).astype(np.int64)
        return np.where(has, sums[np.where(has, values, 0)] if len(sums) else 0, 0)

    # -- taints and images ---------------------------------------------------------------------

    def taint_matrix(self) -> tuple[list[Taint], np.ndarray]:
        """(distinct taints, int32[N, T] of taint ids per node in order, -1 padded)."""
        if self._taint_cache is None or self._taint_cache[0] != self.node_version:
            table: list[Taint] = []
            ids: dict[Taint, int] = {}
            tainted = [i for i, n in enumerate(self.nodes) if n.taints]
            width = max((len(self.nodes[i].taints) for i in tainted), default=0)
            matrix = np.full((self.n_nodes, width), -1, dtype=np.int32)
            for i in tainted:
                for j, taint in enumerate(self.nodes[i].taints):
                    tid = ids.get(taint)
                    if tid is None:
                        tid = ids[taint] = len(table)
                        table.append(taint)
                    matrix[i, j] = tid
            self._taint_cache = (self.node_version, table, matrix)
        return self._taint_cache[1], self._taint_cache[2]

    def image_nodes(self, image: str) -> tuple[np.ndarray, np.ndarray]:
        """(node indices having the image, its size on each)."""
        hit = self._image_cache.get(image)
        if hit is None or hit[0] != self.node_version:
            idx = [i for i, n in enumerate(self.nodes) if image in n.images]
            sizes = [self.nodes[i].images[image] for i in idx]
            hit = (self.node_version, np.array(idx, dtype=np.int64), np.array(sizes, dtype=np.int64))
            self._image_cache[image] = hit
        return hit[1], hit[2]

    # -- classes -------------------------------------------------------------------------------

    def class_state(self, cls: PodClass) -> ClassState:
        cid = self._class_ids.get(id(cls))
        if cid is None:
            cid = len(self._classes)
            self._classes.append(cls)
            self._class_ids[id(cls)] = cid
            self._class_states.append(ClassState(cid, self._labelset((cls.namespace, cls.labels), cls)))
        state = self._class_states[cid]
        if state.columns_version != self.columns_version:
            for name in cls.request_map:
                self.column(name)
            req = np.zeros(len(self.columns), dtype=np.int64)
            for name, value in cls.requests:
                req[self.columns.index[name]] = value
            req[PODS] = 1
            state.req = req
            state.nonzero = np.array([cls.nonzero_cpu, cls.nonzero_memory], dtype=np.int64)
            state.columns_version = self.columns_version
        return state

    def class_of_id(self, cid: int) -> PodClass:
        return self._classes[cid]

    def _labelset(self, key: tuple, cls: PodClass) -> int:
        lid = self._labelset_ids.get(key)
        if lid is None:
            lid = len(self._labelsets)
            self._labelset_ids[key] = lid
            self._labelsets.append((cls.namespace, cls.label_map))
        return lid

    def cached(self, state: ClassState, name: str, version: Any, compute: Callable[[], Any]) -> Any:
        hit = state.cache.get(name)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        state.cache[name] = (version, value)
        return value

    # -- pods ----------------------------------------------------------------------------------

    def node_of(self, name: str) -> int:
        n = self.node_index.get(name)
        if n is None:
            raise SnapshotError(f"node {name!r} not found")
        return n

    def add_pod(self, info: PodInfo, node: int | str) -> None:
        """Bind one pod to a node (by index or name)."""
        if info.row >= 0:
            raise SnapshotError(f"pod {info.key} is already bound")
        self.add_pods([info], np.array([node if isinstance(node, int) else self.node_of(node)]))

    def add_pods(self, infos: list[PodInfo], nodes, class_of: np.ndarray | None = None,
                 classes: list[PodClass] | None = None) -> None:
        """Bind pods to nodes in one step. `class_of[i]` indexes `classes` (the pods' classes);
        both are derived from the pods when not given. Work is vectorized per class."""
        k = len(infos)
        if not k:
            return
        nodes = np.asarray(nodes, dtype=np.int64)
        self._touch(nodes)
        if self.gpu_devices is not None:  # (sched/gpu) devices taken at bind
            self.gpu_devices.on_bind(infos, nodes)
        if k == 1:
            self._add_one(infos[0], int(nodes[0]))
            return
        if class_of is None or classes is None:
            by_id: dict[int, int] = {}
            classes = []
            index = []
            for info in infos:
                c = by_id.get(id(info.cls))
                if c is None:
                    c = by_id[id(info.cls)] = len(classes)
                    classes.append(info.cls)
                index.append(c)
            class_of = np.array(index, dtype=np.int64)
        for cls in classes:  # every column first: a column added later would outdate earlier states
            for name in cls.request_map:
                self.column(name)
        states = [self.class_state(c) for c in classes]
        n_nodes = self.n_nodes
        for c, state in enumerate(states):
            on = nodes if len(states) == 1 else nodes[class_of == c]
            if not len(on):
                continue
            per_node = np.bincount(on, minlength=n_nodes)
            touched = np.flatnonzero(per_node)
            self.requested[touched] += per_node[touched, None] * state.req[None, :]
            self.nonzero[touched] += per_node[touched, None] * state.nonzero[None, :]
        starts = np.full(k, -1, dtype=np.int64)
        terminating = np.zeros(k, dtype=bool)
        if any(map(_SPECIAL, infos)):
            for j, info in enumerate(infos):
                if info.start_ns is not None:
                    starts[j] = info.start_ns
                terminating[j] = info.terminating
        unstarted = starts < 0
        count = int(unstarted.sum())
        if count:  # not started: after every real start, in bind order
            starts[unstarted] = NOT_STARTED + self._start_seq + np.arange(count)
            self._start_seq += count
        cls_ids = np.array([s.cls_id for s in states], dtype=np.int32)[class_of]
        labelsets = np.array([s.labelset for s in states], dtype=np.int32)[class_of]
        priorities = np.array([c.priority for c in classes], dtype=np.int64)[class_of]
        rows = self.pods.append(list(infos), nodes, cls_ids, labelsets, priorities, starts, terminating)
        deque(map(setattr, infos, repeat("row"), rows.tolist()), maxlen=0)
        self._count_pods(rows, nodes, +1)
        for c, cls in enumerate(classes):
            if not cls.host_ports and not cls.has_inter_pod_terms:
                continue
            for node in (nodes if len(classes) == 1 else nodes[class_of == c]).tolist():
                if cls.host_ports:
                    self.ports.setdefault(node, Counter()).update(cls.host_ports)
                for key in holder_keys(cls):
                    self._holder_counts(key)[node] += 1
        self.pod_version += 1

    def _add_one(self, info: PodInfo, node: int) -> None:
        """add_pods for one pod: scalar updates only (preemption's dry runs remove and re-add
        pods one at a time, with their start times)."""
        state = self.class_state(info.cls)
        self.requested[node] += state.req
        self.nonzero[node] += state.nonzero
        if info.start_ns is not None:
            start = info.start_ns
        else:
            start = NOT_STARTED + self._start_seq
            self._start_seq += 1
        cls = info.cls
        row = self.pods.append_one(info, node, state.cls_id, state.labelset, cls.priority, start, info.terminating)
        info.row = row
        lid = state.labelset
        for counter in self._counters.values():
            if self._labelset_matches(counter, lid)[lid] and not (info.terminating and counter.matcher.skip_terminating):
                counter.counts[node] += 1
        for dc in self._domain_counters.values():
            fresh = dc.version == self.node_version and dc.eligible[node]
            if fresh and self._labelset_matches(dc.counter, lid)[lid] and not (info.terminating and dc.counter.matcher.skip_terminating):
                dc.per_domain[dc.domain[node]] += 1
        if cls.host_ports:
            self.ports.setdefault(node, Counter()).update(cls.host_ports)
        if cls.has_inter_pod_terms:
            for key in holder_keys(cls):
                self._holder_counts(key)[node] += 1
        self.pod_version += 1

    def _touch(self, nodes: np.ndarray) -> None:
        self.touched.append(nodes)
        self.touched_count += len(nodes)
        if len(self.touched) > 4096:  # keep the log short to walk; positions stay valid
            merged = np.concatenate(self.touched)
            # (sched/loop) A long-running scheduler binds without end: keep the log's tail only.
            # Positions older than the tail read as "every node changed" (touched_since).
            if len(merged) > TOUCH_LOG_KEEP:
                self._touch_floor = self.touched_count - TOUCH_LOG_KEEP
                merged = merged[-TOUCH_LOG_KEEP:]
            self.touched = [merged]

    def touched_since(self, position: int) -> tuple[np.ndarray, int]:
        """(nodes whose requested amounts changed after log position `position`, the log's
        current position)."""
        if position < self._touch_floor:  # (sched/loop) older than the log keeps: all nodes
            return np.arange(self.n_nodes, dtype=np.int64), self.touched_count
        total = 0
        parts = []
        for chunk in reversed(self.touched):
            if self.touched_count - total <= position:
                break
            parts.append(chunk)
            total += len(chunk)
        skip = position - (self.touched_count - total)
        if not parts:
            return np.zeros(0, dtype=np.int64), self.touched_count
        merged = np.concatenate(parts[::-1])[max(skip, 0):]
        return merged, self.touched_count

    def remove_pod(self, pod: PodInfo | str) -> PodInfo:
        """Unbind a pod (a bound PodInfo, or "namespace/name"); returns it."""
        table = self.pods
        if isinstance(pod, str):
            rows = [r for r in table.live_rows().tolist() if table.infos[r].key == pod]  # type: ignore[union-attr]
            if not rows:
                raise SnapshotError(f"pod {pod} is not bound")
            row = rows[0]
        else:
            row = pod.row
            if row < 0 or table.infos[row] is not pod:
                raise SnapshotError(f"pod {pod.key} is not bound")
        info = table.infos[row]
        assert info is not None
        node = int(table.node[row])
        self._touch(np.array([node], dtype=np.int64))
        if self.gpu_devices is not None:  # (sched/gpu) devices freed
            self.gpu_devices.on_unbind(info)
        state = self.class_state(info.cls)
        self.requested[node] -= state.req
        self.nonzero[node] -= state.nonzero
        self._count_pods(np.array([row]), np.array([node]), -1)
        info.start_ns = int(table.start[row])  # a re-bound pod keeps its start time
        info.special = True
        table.kill(row)
        info.row = -1
        cls = info.cls
        if cls.host_ports:
            used = self.ports[node]
            used.subtract(cls.host_ports)
            for port in [p for p, c in used.items() if c <= 0]:
                del used[port]
        if cls.has_inter_pod_terms:
            for hk in holder_keys(cls):
                self._holders[hk][node] -= 1
        self.pod_version += 1
        return info

    def pods_on(self, node: int) -> list[PodInfo]:
        return [self.pods.infos[r] for r in self.pods.rows_on(node)]  # type: ignore[misc]

    def start_of(self, info: PodInfo) -> int:
        """The start time the snapshot orders the pod by (its own, or its bind order)."""
        return int(self.pods.start[info.row]) if info.row >= 0 else (info.start_ns if info.start_ns is not None else NOT_STARTED)

    # -- counters (pods matching a selector, per node) ------------------------------------------

    def _labelset_matches(self, counter: PodCounter, upto: int) -> np.ndarray:
        """bool per label set id (at least up to `upto`): does the counter's matcher accept it."""
        memo = counter.by_labelset
        if len(memo) <= upto:
            for lid in range(len(memo), len(self._labelsets)):
                ns, labels = self._labelsets[lid]
                memo.append(counter.matcher.matches(ns, labels, self.namespace_labels(ns)))
            counter.memo_array = np.array(memo, dtype=bool)
        return counter.memo_array

    def pod_counts(self, matcher) -> np.ndarray:
        """int64[N]: bound pods per node that `matcher` accepts (kept up to date from now on)."""
        counter = self._counters.get(matcher)
        if counter is None:
            counter = PodCounter(matcher, self.n_nodes)
            rows = self.pods.live_rows()
            if len(rows):
                self._apply_counter(counter, rows, self.pods.node[rows].astype(np.int64), +1)
            self._counters[matcher] = counter
        return counter.counts

    def _apply_counter(self, counter: PodCounter, rows: np.ndarray, nodes: np.ndarray, sign: int) -> None:
        table = self.pods
        lids = table.labelset[rows]
        ok = self._labelset_matches(counter, int(lids.max()))[lids]
        if counter.matcher.skip_terminating:
            ok &= ~table.terminating[rows]
        if ok.all():
            np.add.at(counter.counts, nodes, sign)
        elif ok.any():
            np.add.at(counter.counts, nodes[ok], sign)

    def _count_pods(self, rows: np.ndarray, nodes: np.ndarray, sign: int) -> None:
        for counter in self._counters.values():
            self._apply_counter(counter, rows, nodes, sign)
        for dc in self._domain_counters.values():
            if dc.version == self.node_version:
                lids = self.pods.labelset[rows]
                ok = self._labelset_matches(dc.counter, int(lids.max()))[lids] & dc.eligible[nodes]
                if dc.counter.matcher.skip_terminating:
                    ok &= ~self.pods.terminating[rows]
                if ok.any():
                    np.add.at(dc.per_domain, dc.domain[nodes[ok]], sign)

    def domain_counts(self, matcher, key: str, eligible: np.ndarray) -> np.ndarray:
        """int64 per value id of label `key`: bound pods `matcher` accepts on the `eligible`
        nodes having the key. Kept up to date in place until a node changes."""
        ident = (matcher, key, hash(eligible.tobytes()))
        dc = self._domain_counters.get(ident)
        if dc is None or dc.version != self.node_version:
            col = self.label_column(key)
            counts = self.pod_counts(matcher)
            ok = eligible & (col.node_value >= 0)
            per_domain = np.bincount(col.node_value[ok], weights=counts[ok], minlength=len(col.values)).astype(np.int64)
            dc = DomainCounter(self._counters[matcher], self.node_version, ok, col.node_value, per_domain)
            self._domain_counters[ident] = dc
        return dc.per_domain

    # -- holder terms (bound pods' own inter-pod terms) -----------------------------------------

    def _holder_counts(self, key: HolderKey) -> np.ndarray:
        counts = self._holders.get(key)
        if counts is None:
            counts = self._holders[key] = np.zeros(self.n_nodes, dtype=np.int64)
            self.holders_version += 1
        return counts

    def holder_terms(self) -> dict[HolderKey, np.ndarray]:
        """Every term carried by some bound pod (possibly none any more), with per-node counts."""
        return self._holders


def _add_column(matrix: np.ndarray) -> np.ndarray:
    return np.asfortranarray(np.hstack([matrix, np.zeros((matrix.shape[0], 1), dtype=matrix.dtype)]))

