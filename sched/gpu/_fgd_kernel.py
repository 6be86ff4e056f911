"""Numba twin of fragmentation.fgd_deltas: one pass over the feasible nodes, no temporaries.

The NumPy reference builds [N, T, G] arrays for each device a shared pod could take; this loop
costs O(feasible nodes x devices tried x T x G) with no allocation, which is what makes the
10-seed protocol over 1,213 nodes affordable. Like sched/_eqclass_kernel.py it belongs in native/
once that package takes Numba kernels; `fgd_deltas` below is the dispatcher.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .devices import GpuNodes, PodDemand
from .fragmentation import NO_SCORE, TypicalPods
from .request import MILLI_PER_GPU


@njit(cache=True, nogil=True)
def _node_frag(cpu: int, mem: int, free: np.ndarray, bits: int, t_cpu, t_mem, t_count, t_milli, t_mask, t_weight) -> int:
    total = 0
    for g in range(free.shape[0]):
        total += free[g]
    out = 0
    for t in range(t_cpu.shape[0]):
        milli = t_milli[t]
        enough = 0
        below = 0
        for g in range(free.shape[0]):
            if free[g] >= milli:
                enough += 1
            else:
                below += free[g]
        fits = cpu >= t_cpu[t] and mem >= t_mem[t] and enough >= t_count[t] and (t_mask[t] == 0 or (bits & t_mask[t]) != 0)
        out += t_weight[t] * (below if fits else total)
    return out


@njit(cache=True, nogil=True)
def _deltas(cpu_free, mem_free, gpu_free, model, feasible, frag_now, pod_cpu, pod_mem, pod_count, pod_milli, shared,
            t_cpu, t_mem, t_count, t_milli, t_mask, t_weight, out_delta, out_device):
    n_nodes, width = gpu_free.shape
    row = np.empty(width, dtype=np.int64)
    for n in range(n_nodes):
        out_device[n] = -1
        if not feasible[n]:
            out_delta[n] = NO_SCORE
            continue
        bits = (np.int64(1) << model[n]) if model[n] >= 0 else np.int64(0)
        cpu = cpu_free[n] - pod_cpu
        mem = mem_free[n] - pod_mem
        for g in range(width):
            row[g] = gpu_free[n, g]
        if not shared:
            taken = 0
            for g in range(width):
                if taken < pod_count and row[g] >= MILLI_PER_GPU:
                    row[g] -= MILLI_PER_GPU
                    taken += 1
            out_delta[n] = _node_frag(cpu, mem, row, bits, t_cpu, t_mem, t_count, t_milli, t_mask, t_weight) - frag_now[n]
            continue
        best = NO_SCORE
        for g in range(width):
            if row[g] < pod_milli:
                continue
            row[g] -= pod_milli
            d = _node_frag(cpu, mem, row, bits, t_cpu, t_mem, t_count, t_milli, t_mask, t_weight) - frag_now[n]
            row[g] += pod_milli
            if d < best:
                best = d
                out_device[n] = g
        out_delta[n] = best


def fgd_deltas(nodes: GpuNodes, pod: PodDemand, typical: TypicalPods, frag_now: np.ndarray,
               feasible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as fragmentation.fgd_deltas."""
    n = nodes.n_nodes
    delta = np.empty(n, dtype=np.int64)
    device = np.empty(n, dtype=np.int64)
    req = pod.gpu
    _deltas(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, np.ascontiguousarray(feasible, dtype=np.bool_),
            np.ascontiguousarray(frag_now, dtype=np.int64), pod.cpu, pod.mem, req.count, req.milli if req.count else 0,
            req.shared, typical.cpu, typical.mem, typical.count, typical.milli, typical.model_mask, typical.weight, delta, device)
    return delta, device
