"""SchedulingBasic-like placement throughput of the scheduler kernels, reported as pods/s.

    python -m pytest benchmarks/bench_kernels.py --benchmark-only -q

The workload follows kube-scheduler's scheduler_perf SchedulingBasic (templates node-default.yaml
and pod-default.yaml): 5,000 nodes with 4 cpu / 32Gi / 110 pods allocatable, pods requesting
100m / 500Mi (requests present, so non-zero requests equal real ones), default profile
(NodeResourcesFit LeastAllocated + BalancedAllocation, weights 1), every node scanned for every
pod. The fast backends place 10,000 pods; the slow ones fewer, their rate is per pod all the same.

No timing is asserted; the pods/s table is printed after the module runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from shoal.native import kernels, reference
from shoal.native.layout import MAX_NODE_SCORE

N_NODES = 5_000
NODE_ALLOC = (4_000, 32 << 30, 110, 0)  # cpu milli, memory, pods, ephemeral-storage
POD_REQ = (100, 500 << 20, 1, 0)
SEED = 20240601

_RATES: dict[str, float] = {}


def cluster(order: str = "C") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alloc = np.tile(np.array(NODE_ALLOC, dtype=np.int64), (N_NODES, 1))
    requested = np.zeros_like(alloc)
    nonzero = np.zeros((N_NODES, 2), dtype=np.int64)
    return np.asarray(alloc, order=order), np.asarray(requested, order=order), np.asarray(nonzero, order=order)


def pods(n_pods: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    reqs = np.tile(np.array(POD_REQ, dtype=np.int64), (n_pods, 1))
    return reqs, reqs[:, :2].copy(), np.arange(n_pods, dtype=np.uint64)


@pytest.fixture(scope="module", autouse=True)
def report(request):
    """Print the pods/s table once the module's benchmarks ran (past pytest's output capture)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not (_RATES or _COLD):
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"SchedulingBasic-like, {N_NODES} nodes, full scan (best round):")
        for name, rate in _RATES.items():
            reporter.write_line(f"  {name:<44} {rate:>12,.0f} pods/s  {1e9 / rate / N_NODES:8.2f} ns/node/pod")
        for backend, (name, imported, first_select, first_sequence) in _COLD.items():
            reporter.write_line(
                f"  cold start SHOAL_NATIVE={backend} (served by {name}): import {imported * 1e3:.0f} ms, "
                f"first fused_select {first_select * 1e3:.0f} ms, then first place_sequence {first_sequence * 1e3:.0f} ms"
            )


def _record(name: str, benchmark, n_pods: int) -> None:
    if not benchmark.enabled or benchmark.stats is None:  # --benchmark-disable: ran once, untimed
        return
    best = benchmark.stats.stats.min
    rate = n_pods / best
    benchmark.extra_info["pods_per_s"] = rate
    _RATES[name] = rate


def _place_sequence_bench(benchmark, backend: str, n_pods: int, rounds: int, reuse_totals: bool = False) -> None:
    with kernels.using(backend):
        if kernels.backend_of("place_sequence") != backend:
            pytest.skip(f"{backend} backend not available")
        reqs, nonzeros, keys = pods(n_pods)
        mask = np.ones(N_NODES, dtype=bool)

        def setup():
            alloc, requested, nonzero = cluster()
            return (alloc, requested, nonzero, reqs, nonzeros, mask, SEED, keys), {"reuse_totals": reuse_totals}

        args, _ = setup()
        kernels.place_sequence(*args[:3], reqs[:2], nonzeros[:2], mask, SEED, keys[:2])  # load / compile
        chosen = benchmark.pedantic(kernels.place_sequence, setup=setup, rounds=rounds, iterations=1)
        assert np.bincount(chosen, minlength=N_NODES).max() - np.bincount(chosen, minlength=N_NODES).min() <= 1
    _record(f"place_sequence [{backend}{', reuse_totals' if reuse_totals else ''}]", benchmark, n_pods)


def test_place_sequence_numba(benchmark):
    _place_sequence_bench(benchmark, "numba", 10_000, rounds=5)


def test_place_sequence_numba_reusing_totals(benchmark):
    """Identical pods: only the node changed by the previous placement is rescored."""
    _place_sequence_bench(benchmark, "numba", 10_000, rounds=5, reuse_totals=True)


def test_place_sequence_cython(benchmark):
    _place_sequence_bench(benchmark, "cython", 10_000, rounds=3)


def test_place_sequence_reference_numpy(benchmark):
    _place_sequence_bench(benchmark, "reference", 200, rounds=3)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_fused_select_per_pod_call(benchmark, backend, order):
    """One dispatcher call per pod, as a Python scheduling loop would make it."""
    n_pods = 500
    with kernels.using(backend):
        if kernels.backend_of("fused_select") != backend:
            pytest.skip(f"{backend} backend not available")
        reqs, nonzeros, keys = pods(n_pods)
        mask = np.ones(N_NODES, dtype=bool)

        def setup():
            return cluster(order), {}

        def place(alloc, requested, nonzero):
            for i in range(n_pods):
                node = kernels.fused_select(alloc, requested, nonzero, reqs[i], nonzeros[i], mask, SEED, int(keys[i]))
                requested[node] += reqs[i]
                nonzero[node] += nonzeros[i]

        place(*cluster(order))  # load / compile
        benchmark.pedantic(place, setup=setup, rounds=3, iterations=1)
    _record(f"fused_select per call [{backend}, order={order}]", benchmark, n_pods)


# ---------------------------------------------------------------------------------------------
# A plain per-node Python loop: what the kernels replace


def python_place_one(alloc, requested, nonzero, req, req_nonzero, seed, pod_key) -> int:
    salt = reference.pod_salt(seed, pod_key)
    best, best_total, best_hash = -1, -1, 0
    for n in range(len(alloc)):
        a = alloc[n]
        r = requested[n]
        if any(p > 0 and p > a[c] - r[c] for c, p in enumerate(req)):
            continue
        least = 0
        fractions = []
        for c in (0, 1):
            z = nonzero[n][c] + req_nonzero[c]
            least += 0 if z > a[c] else (a[c] - z) * MAX_NODE_SCORE // a[c]
            fractions.append(min(1.0, (r[c] + req[c]) / a[c]))
        balanced = int((1 - abs((fractions[0] - fractions[1]) / 2)) * MAX_NODE_SCORE)
        total = least // 2 + balanced
        if total >= best_total:
            h = reference._mix64_int(salt ^ n)
            if total > best_total or h < best_hash:
                best, best_total, best_hash = n, total, h
    return best


def test_plain_python_loop(benchmark):
    n_pods = 10
    alloc_np, _, _ = cluster()
    alloc = alloc_np.tolist()
    req = list(POD_REQ)

    def place():
        requested = [[0] * 4 for _ in range(N_NODES)]
        nonzero = [[0, 0] for _ in range(N_NODES)]
        chosen = []
        for i in range(n_pods):
            node = python_place_one(alloc, requested, nonzero, req, req[:2], SEED, i)
            chosen.append(node)
            requested[node] = [x + y for x, y in zip(requested[node], req)]
            nonzero[node] = [x + y for x, y in zip(nonzero[node], req[:2])]
        return chosen

    chosen = benchmark.pedantic(place, rounds=3, iterations=1)
    alloc, requested, nonzero = cluster()
    reqs, nonzeros, keys = pods(n_pods)
    assert chosen == reference.place_sequence(alloc, requested, nonzero, reqs, nonzeros, np.ones(N_NODES, bool), SEED, keys).tolist()
    _record("plain Python per-node loop", benchmark, n_pods)


def test_cold_start(benchmark):
    """Import of the dispatcher plus the first calls, in a fresh interpreter per backend (numba
    loads its on-disk cache; nothing compiles when the cache is warm)."""
    import os
    import subprocess
    import sys

    code = (
        "import time; t0 = time.perf_counter();"
        "from shoal.native import kernels; t1 = time.perf_counter();"
        "import numpy as np;"
        f"a = np.tile(np.array({NODE_ALLOC}, dtype=np.int64), ({N_NODES}, 1)); r = np.zeros_like(a);"
        f"z = np.zeros(({N_NODES}, 2), dtype=np.int64); p = np.array({POD_REQ}); m = np.ones({N_NODES}, bool);"
        "t2 = time.perf_counter(); kernels.fused_select(a, r, z, p, p[:2], m, 1, 2); t3 = time.perf_counter();"
        "kernels.place_sequence(a, r, z, p[None], p[None, :2], m, 1, [3]); t4 = time.perf_counter();"
        "print(kernels.backend_of('fused_select'), t1 - t0, t3 - t2, t4 - t3)"
    )

    def cold_starts():
        for backend in ("numba", "cython"):
            env = {**os.environ, "SHOAL_NATIVE": backend}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
            name, imported, first_select, first_sequence = out.stdout.split()
            _COLD[backend] = (name, float(imported), float(first_select), float(first_sequence))

    benchmark.pedantic(cold_starts, rounds=1, iterations=1)


_COLD: dict[str, tuple[str, float, float, float]] = {}
