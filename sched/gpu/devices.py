"""The device model: the free share of every GPU on every node, as NumPy arrays.

    gpu_free   int64[N, G]  free milli of device g on node n (1000 = idle; 0 for a device the
                            node does not have, so absent devices never fit and never count)
    gpu_count  int64[N]     devices per node
    model      int64[N]     index into `models` (-1: no GPU)
    cpu_free, mem_free, cpu_cap, mem_cap   int64[N]  (millicores, MiB or bytes: any one unit)

A placement takes `count` devices: a shared pod takes `milli` of one device, a whole-GPU pod
takes 1000 of each of `count` idle devices. Everything here is pure (no I/O), so the scheduler's
plugins, the snapshot tracker and the benchmarks share one set of rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .request import MAX_GPUS_PER_NODE, MILLI_PER_GPU, GpuRequest


class DeviceError(ValueError):
    """A placement or release the devices cannot take (names the node and device)."""


@dataclass
class PodDemand:
    """One pod as the device model sees it. `model_mask` has bit m set for each allowed model
    index (0: any model)."""

    cpu: int
    mem: int
    gpu: GpuRequest
    model_mask: int = 0


@dataclass
class GpuNodes:
    names: list[str]
    cpu_cap: np.ndarray
    mem_cap: np.ndarray
    cpu_free: np.ndarray
    mem_free: np.ndarray
    gpu_count: np.ndarray
    gpu_free: np.ndarray
    model: np.ndarray
    models: list[str]

    @classmethod
    def build(cls, names: Sequence[str], cpu: Sequence[int], mem: Sequence[int], gpus: Sequence[int],
              models: Sequence[str], width: int = MAX_GPUS_PER_NODE) -> GpuNodes:
        """Idle nodes. `models[i]` is node i's GPU model ("" when it has none)."""
        n = len(names)
        count = np.asarray(gpus, dtype=np.int64)
        if n and (count.max() > width or count.min() < 0):
            bad = int(np.flatnonzero((count > width) | (count < 0))[0])
            raise DeviceError(f"node {names[bad]!r}: gpu count {int(count[bad])} outside 0..{width}")
        model_names = sorted({m for m in models if m})
        model_index = {m: i for i, m in enumerate(model_names)}
        free = np.where(np.arange(width)[None, :] < count[:, None], MILLI_PER_GPU, 0).astype(np.int64)
        cpu_a = np.asarray(cpu, dtype=np.int64)
        mem_a = np.asarray(mem, dtype=np.int64)
        return cls(list(names), cpu_a.copy(), mem_a.copy(), cpu_a.copy(), mem_a.copy(), count, free,
                   np.array([model_index.get(m, -1) if m else -1 for m in models], dtype=np.int64), model_names)

    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def capacity_milli(self) -> int:
        return int(self.gpu_count.sum()) * MILLI_PER_GPU

    @property
    def allocated_milli(self) -> int:
        return self.capacity_milli - int(self.gpu_free.sum())

    def model_mask(self, models: Sequence[str]) -> int:
        """The bit mask of `models` (0: any). Models no node has get no bit; a pod asking only
        for such models gets a bit no node carries, so it fits nowhere."""
        if not models:
            return 0
        mask = 0
        for m in models:
            if m in self.models:
                mask |= 1 << self.models.index(m)
        return mask if mask else 1 << 62  # only unknown models: a bit no node carries

    def demand(self, cpu: int, mem: int, gpu: GpuRequest) -> PodDemand:
        return PodDemand(int(cpu), int(mem), gpu, self.model_mask(gpu.models) if gpu.count else 0)

    def clone(self) -> GpuNodes:
        return GpuNodes(list(self.names), self.cpu_cap.copy(), self.mem_cap.copy(), self.cpu_free.copy(),
                        self.mem_free.copy(), self.gpu_count.copy(), self.gpu_free.copy(), self.model.copy(),
                        list(self.models))


# -- filtering ---------------------------------------------------------------------------------

def model_allowed(model: np.ndarray, model_mask: int) -> np.ndarray:
    if not model_mask:
        return np.ones(len(model), dtype=bool)
    bits = np.where(model >= 0, np.left_shift(np.int64(1), np.maximum(model, 0)), 0)
    return (bits & np.int64(model_mask)) != 0


def gpu_fit_mask(nodes: GpuNodes, pod: PodDemand) -> np.ndarray:
    """bool[N]: nodes with `count` devices of an allowed model having `milli` free each."""
    req = pod.gpu
    if not req.count:
        return np.ones(nodes.n_nodes, dtype=bool)
    ok = model_allowed(nodes.model, pod.model_mask)
    return ok & ((nodes.gpu_free >= req.milli).sum(axis=1) >= req.count)


def fit_mask(nodes: GpuNodes, pod: PodDemand) -> np.ndarray:
    """bool[N]: nodes where the pod fits (cpu, memory and devices)."""
    return (nodes.cpu_free >= pod.cpu) & (nodes.mem_free >= pod.mem) & gpu_fit_mask(nodes, pod)


def fits_on(nodes: GpuNodes, n: int, pod: PodDemand) -> bool:
    """fit_mask for one node (scalar work: retrying a queue against the node that just freed)."""
    if nodes.cpu_free[n] < pod.cpu or nodes.mem_free[n] < pod.mem:
        return False
    req = pod.gpu
    if not req.count:
        return True
    if pod.model_mask and (nodes.model[n] < 0 or not (pod.model_mask >> int(nodes.model[n])) & 1):
        return False
    return int((nodes.gpu_free[n] >= req.milli).sum()) >= req.count


# -- choosing devices --------------------------------------------------------------------------

def whole_devices(free_row: np.ndarray, count: int) -> np.ndarray:
    """The first `count` idle devices of a node (all idle devices are alike)."""
    return np.flatnonzero(free_row >= MILLI_PER_GPU)[:count]


def best_fit_device(free_row: np.ndarray, milli: int) -> int:
    """For a shared pod: the device with the least free share that still holds `milli`
    (lowest index on ties), or -1."""
    fits = free_row >= milli
    if not fits.any():
        return -1
    return int(np.argmin(np.where(fits, free_row, np.iinfo(np.int64).max)))


def choose_devices(nodes: GpuNodes, n: int, req: GpuRequest) -> np.ndarray:
    """Default device choice on node n: best fit for a share, the first idle ones for whole GPUs."""
    if not req.count:
        return np.zeros(0, dtype=np.int64)
    row = nodes.gpu_free[n]
    if req.shared:
        d = best_fit_device(row, req.milli)
        return np.array([d] if d >= 0 else [], dtype=np.int64)
    return whole_devices(row, req.count)


# -- binding -----------------------------------------------------------------------------------

def allocate(nodes: GpuNodes, n: int, pod: PodDemand, devices: Sequence[int]) -> None:
    """Take the pod's cpu, memory and `milli` of each device in `devices` on node n."""
    req = pod.gpu
    devices = np.asarray(devices, dtype=np.int64)
    name = nodes.names[n]
    if len(devices) != req.count or len(set(devices.tolist())) != len(devices):
        raise DeviceError(f"node {name!r}: pod asks for {req.count} distinct devices, got {devices.tolist()}")
    if len(devices) and (devices.min() < 0 or devices.max() >= nodes.gpu_count[n]):
        raise DeviceError(f"node {name!r}: device index out of 0..{int(nodes.gpu_count[n]) - 1}: {devices.tolist()}")
    short = devices[nodes.gpu_free[n, devices] < req.milli]
    if len(short):
        raise DeviceError(f"node {name!r}: device {int(short[0])} has {int(nodes.gpu_free[n, short[0]])} milli free, "
                          f"pod needs {req.milli}")
    nodes.gpu_free[n, devices] -= req.milli
    nodes.cpu_free[n] -= pod.cpu
    nodes.mem_free[n] -= pod.mem


def release(nodes: GpuNodes, n: int, pod: PodDemand, devices: Sequence[int]) -> None:
    """Give back what allocate took."""
    devices = np.asarray(devices, dtype=np.int64)
    if len(devices) and (nodes.gpu_free[n, devices] + pod.gpu.milli > MILLI_PER_GPU).any():
        raise DeviceError(f"node {nodes.names[n]!r}: releasing devices {devices.tolist()} would pass 1000 milli")
    nodes.gpu_free[n, devices] += pod.gpu.milli
    nodes.cpu_free[n] += pod.cpu
    nodes.mem_free[n] += pod.mem


def check_invariants(nodes: GpuNodes) -> list[str]:
    """Problems with the state (empty when sound): every device within 0..1000, absent devices
    untouched, cpu and memory within 0..capacity."""
    problems = []
    present = np.arange(nodes.gpu_free.shape[1])[None, :] < nodes.gpu_count[:, None]
    for n, g in np.argwhere((nodes.gpu_free < 0) | (nodes.gpu_free > MILLI_PER_GPU) | (~present & (nodes.gpu_free != 0))):
        problems.append(f"node {nodes.names[n]!r}: device {g} has {int(nodes.gpu_free[n, g])} milli free")
    for what, free, cap in (("cpu", nodes.cpu_free, nodes.cpu_cap), ("memory", nodes.mem_free, nodes.mem_cap)):
        for n in np.flatnonzero((free < 0) | (free > cap)):
            problems.append(f"node {nodes.names[n]!r}: {what} free {int(free[n])} outside 0..{int(cap[n])}")
    return problems
