"""FGD's fragmentation measure (shoal.sched.gpu.fragmentation) on hand-made nodes, and the
Numba kernel against the NumPy reference on random clusters (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shoal.sched.gpu import _fgd_kernel
from shoal.sched.gpu.devices import GpuNodes, PodDemand, allocate, fit_mask
from shoal.sched.gpu.fragmentation import (
    NO_SCORE,
    WEIGHT_DEMAND,
    fgd_deltas,
    node_fragmentation,
    typical_pods,
)
from shoal.sched.gpu.request import GpuRequest


def one_node(free: list[int], cpu: int = 32000) -> GpuNodes:
    nodes = GpuNodes.build(["n"], [cpu], [1 << 20], [len(free)], ["G"])
    nodes.gpu_free[0, : len(free)] = free
    return nodes


def typical(*pods: tuple[int, int, int, int]):
    """(cpu, count, milli, how many) each."""
    return typical_pods([PodDemand(c, 0, GpuRequest(k, m) if k else GpuRequest()) for c, k, m, n in pods for _ in range(n)],
                        coverage=1.0)


def frag(nodes: GpuNodes, t) -> int:
    return int(node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, t)[0])


def test_a_fitting_pod_sees_only_devices_too_small_for_it():
    t = typical((1000, 1, 500, 1))
    assert frag(one_node([1000, 300, 600, 200]), t) == 300 + 200


def test_a_pod_that_does_not_fit_sees_all_free_share():
    assert frag(one_node([300, 200]), typical((1000, 1, 500, 1))) == 500
    assert frag(one_node([1000, 1000], cpu=500), typical((1000, 1, 500, 1))) == 2000  # cpu short
    assert frag(one_node([1000, 600]), typical((1000, 2, 1000, 1))) == 1600  # needs two idle GPUs


def test_typical_pods_are_weighted_by_how_many_pods_they_stand_for():
    t = typical((1000, 1, 500, 3), (1000, 1, 1000, 1))
    # vs 500: device of 300 is a fragment (x3); vs whole GPU: 300 + 600 are (x1)
    assert frag(one_node([1000, 300, 600]), t) == 3 * 300 + 1 * 900


def test_typical_pods_keep_the_most_common_groups_up_to_the_coverage():
    pods = [PodDemand(1000, 0, GpuRequest(1, 500))] * 90 + [PodDemand(2000, 0, GpuRequest(1, 1000))] * 9 + \
        [PodDemand(3000, 0, GpuRequest(2, 1000))]
    t = typical_pods(pods, coverage=0.95)
    assert t.milli.tolist() == [500, 1000] and t.weight.tolist() == [90, 9]
    assert typical_pods(pods, coverage=0.95, weighting=WEIGHT_DEMAND).weight.tolist() == [90 * 500, 9 * 1000]


def test_fgd_puts_a_share_where_it_completes_a_device():
    nodes = GpuNodes.build(["idle", "half"], [32000, 32000], [1 << 20] * 2, [2, 2], ["G", "G"])
    nodes.gpu_free[1] = [500, 1000, 0, 0, 0, 0, 0, 0]
    t = typical((1000, 1, 500, 1), (1000, 1, 1000, 1))
    now = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, t)
    pod = PodDemand(1000, 0, GpuRequest(1, 500))
    delta, device = fgd_deltas(nodes, pod, t, now, fit_mask(nodes, pod))
    assert int(np.argmin(delta)) == 1 and device[1] == 0  # fills the half-used device


@st.composite
def clusters(draw):
    n = draw(st.integers(1, 12))
    width = 8
    count = draw(st.lists(st.sampled_from([0, 1, 2, 4, 8]), min_size=n, max_size=n))
    nodes = GpuNodes.build([f"n{i}" for i in range(n)], draw(st.lists(st.integers(0, 64), min_size=n, max_size=n)),
                           draw(st.lists(st.integers(0, 64), min_size=n, max_size=n)), count,
                           draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n, max_size=n)), width)
    for i in range(n):
        for g in range(count[i]):
            nodes.gpu_free[i, g] = draw(st.sampled_from([0, 100, 250, 500, 750, 1000]))

    def demand():
        k = draw(st.sampled_from([0, 1, 1, 2, 4]))
        milli = draw(st.sampled_from([100, 300, 500, 1000])) if k == 1 else 1000
        models = tuple(draw(st.sets(st.sampled_from(["A", "B", "C", "D"]), max_size=2)))
        return nodes.demand(draw(st.integers(0, 16)), draw(st.integers(0, 16)), GpuRequest(k, milli, models) if k else GpuRequest())

    workload = [demand() for _ in range(draw(st.integers(1, 10)))]
    return nodes, workload, demand(), draw(st.booleans())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_native_kernel_equals_the_numpy_reference(case):
    nodes, workload, pod, memory = case
    t = typical_pods(workload, coverage=1.0, memory=memory)
    now = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, t)
    feasible = fit_mask(nodes, pod)
    ref = fgd_deltas(nodes, pod, t, now, feasible)
    native = _fgd_kernel.fgd_deltas(nodes, pod, t, now, feasible)
    assert ref[0].tolist() == native[0].tolist()
    assert ref[1].tolist() == native[1].tolist()
    assert ((ref[0] == NO_SCORE) == ~feasible).all()
    if feasible.any():  # the chosen placement is a valid one
        n = int(np.argmin(native[0]))
        devices = [native[1][n]] if pod.gpu.shared else np.flatnonzero(nodes.gpu_free[n] >= 1000)[: pod.gpu.count]
        allocate(nodes, n, pod, devices)
