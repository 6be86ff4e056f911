"""The snapshot's GPU devices: which devices every bound pod holds, kept beside ClusterSnapshot.

ClusterSnapshot counts a pod's alibabacloud.com/gpu-milli against the node's total like any
extended resource; this tracker adds what a total cannot say: the free share of each device.
It is made by the GPU plugins on first use (`devices_of(snapshot)`), and from then on the
snapshot calls `on_bind` / `on_unbind` as pods come and go. Node changes (added, removed,
relabelled) are picked up lazily: the arrays are rebuilt from the nodes and the held devices
when the snapshot's node_version moved.

Device choice at bind: the device a score plugin proposed for this pod on that node
(`propose`, e.g. GpuFragmentation's least-fragmenting device), else best fit for a share and
the first idle devices for whole GPUs (devices.choose_devices).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .devices import GpuNodes, PodDemand, allocate, choose_devices, release
from .request import (
    GPU_INDEX_ANNOTATION,
    GPU_MILLI_RESOURCE,
    GPU_MODEL_LABEL,
    MILLI_PER_GPU,
    GpuRequest,
    format_devices,
    from_total,
)


def gpu_request_of(cls: Any) -> GpuRequest:
    """The GPU request of a PodClass (its gpu-milli total and the models its node affinity allows)."""
    total = dict(cls.requests).get(GPU_MILLI_RESOURCE, 0)
    if not total:
        return GpuRequest()
    return from_total(int(total), _affinity_models(cls), where=f"pod class in {cls.namespace}")


def _affinity_models(cls: Any) -> tuple[str, ...]:
    """Models named by an `In` requirement on the model label in the required node affinity
    (informational: NodeAffinity enforces the affinity itself)."""
    models: list[str] = []
    for term in cls.required_node_affinity.terms or ():
        for r in term.labels or ():
            if r.key == GPU_MODEL_LABEL and r.operator == "In":
                models.extend(r.values)
    return tuple(dict.fromkeys(models))


class SnapshotGpuDevices:
    def __init__(self, snapshot: Any) -> None:
        self.snapshot = snapshot
        self.held: dict[str, tuple[str, tuple[int, ...], int]] = {}  # pod key -> (node, devices, milli)
        self.proposed: dict[str, np.ndarray] = {}  # pod key -> device per node index (-1: none)
        self.node_version = -1
        self.nodes: GpuNodes | None = None

    def state(self) -> GpuNodes:
        """The device arrays, rebuilt if nodes changed since the last call."""
        s = self.snapshot
        if self.nodes is None or self.node_version != s.node_version:
            self.nodes = self._build()
            self.node_version = s.node_version
        return self.nodes

    def _build(self) -> GpuNodes:
        s = self.snapshot
        col = s.columns.index.get(GPU_MILLI_RESOURCE)
        totals = s.alloc[:, col] if col is not None else np.zeros(s.n_nodes, dtype=np.int64)
        names = [n.name for n in s.nodes]
        models = [n.labels.get(GPU_MODEL_LABEL, "") for n in s.nodes]
        nodes = GpuNodes.build(names, s.alloc[:, 0], s.alloc[:, 1], np.minimum(totals // MILLI_PER_GPU, 8), models)
        for key, (node, devices, milli) in list(self.held.items()):
            n = s.node_index.get(node)
            if n is None:
                del self.held[key]
                continue
            keep = [d for d in devices if d < nodes.gpu_count[n]]
            nodes.gpu_free[n, keep] -= milli
        return nodes

    def propose(self, pod_key: str, device_per_node: np.ndarray) -> None:
        """The device a shared pod should take on each node, should it be bound there."""
        self.proposed[pod_key] = device_per_node

    def on_bind(self, infos: list, nodes: np.ndarray) -> None:
        state = self.state()
        for info, n in zip(infos, np.asarray(nodes).tolist()):
            req = gpu_request_of(info.cls)
            if not req.count:
                continue
            proposal = self.proposed.pop(info.key, None)
            hint = int(proposal[n]) if proposal is not None and n < len(proposal) else -1
            if hint >= 0 and req.shared and state.gpu_free[n, hint] >= req.milli:
                devices = np.array([hint], dtype=np.int64)
            else:
                devices = choose_devices(state, n, req)
            if len(devices) != req.count:  # bound past the filter (e.g. an existing pod): keep counts sane
                continue
            allocate(state, n, PodDemand(0, 0, req), devices)
            self.held[info.key] = (state.names[n], tuple(int(d) for d in devices), req.milli)

    def on_unbind(self, info: Any) -> None:
        held = self.held.pop(info.key, None)
        if held is None or self.nodes is None:
            return
        node, devices, milli = held
        n = self.snapshot.node_index.get(node)
        if n is not None and self.node_version == self.snapshot.node_version:
            release(self.nodes, n, PodDemand(0, 0, GpuRequest(len(devices), milli)), devices)

    def devices(self, pod_key: str) -> tuple[int, ...] | None:
        held = self.held.get(pod_key)
        return held[1] if held else None

    def annotation(self, pod_key: str) -> dict[str, str]:
        """{alibabacloud.com/gpu-index: "0-1"} for a pod holding devices, else {}."""
        devices = self.devices(pod_key)
        return {GPU_INDEX_ANNOTATION: format_devices(devices)} if devices else {}


def devices_of(snapshot: Any) -> SnapshotGpuDevices:
    """The snapshot's tracker, made on first use (binds before that hold no devices)."""
    tracker = getattr(snapshot, "gpu_devices", None)
    if tracker is None:
        tracker = SnapshotGpuDevices(snapshot)
        snapshot.gpu_devices = tracker
        pods = [i for i in snapshot.pods.infos if i is not None]
        if pods:
            tracker.on_bind(pods, np.array([snapshot.pods.node[i.row] for i in pods], dtype=np.int64))
    return tracker
