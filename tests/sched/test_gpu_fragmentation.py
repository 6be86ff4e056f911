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
    device_deltas,
    fgd_deltas,
    fgd_gain,
    fgd_score,
    node_fragmentation,
    split_cpu_only,
    typical_pods,
)
from shoal.sched.gpu.policies import Fgd, FgdExact, ShoalFgd, model_scarcity
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


def test_the_artifacts_score_is_a_coarse_sigmoid_of_the_fall():
    # int(100 x sigmoid(fall / 1000 milli)): no change and a fall below ~40 milli score the same
    assert fgd_score(np.array([0.0, 39.0, 41.0, -1.0, -39.0, 5000.0, -1e9])).tolist() == [50, 50, 51, 49, 49, 99, 0]


def test_cpu_only_typical_pods_shift_every_placement_by_the_share_placed():
    pods = [PodDemand(1000, 0, GpuRequest())] * 2 + [PodDemand(1000, 0, GpuRequest(1, 500))] * 6
    gpu, cpu_weight = split_cpu_only(typical_pods(pods, coverage=1.0, cpu_only=True))
    assert gpu.milli.tolist() == [500] and gpu.weight.tolist() == [6] and cpu_weight == 2
    # a rise of 600 (x weight) for the GPU typical pods, a fall of 2 x 500 for the cpu-only ones, per 8 pods
    assert fgd_gain(np.array([600]), 500, cpu_weight, 8).tolist() == [(1000 - 600) / 8]


def test_fgd_sends_near_equal_placements_to_the_first_node_and_the_exact_rise_does_not():
    nodes = GpuNodes.build(["first", "second", "third"], [32000] * 3, [1 << 20] * 3, [2] * 3, ["G"] * 3)
    workload = [PodDemand(1000, 0, GpuRequest(1, 1000))] * 10
    pod = workload[0]
    rises = np.array([20 * 10, 5 * 10, 60 * 10], dtype=np.int64)  # per typical pod: 20, 5 and 60 milli

    class Stub:
        def deltas(self, nodes, pod, feasible):
            return rises, np.full(3, -1, dtype=np.int64)

    exact = type("E", (Stub, FgdExact), {})()
    paper = type("P", (Stub, Fgd), {})()
    for policy in (exact, paper):
        policy.prepare(nodes, workload, 0)
    assert exact.choose(nodes, pod, fit_mask(nodes, pod))[0] == 1  # the least rise
    # the artifact: rises of 20 and 5 fall in one score class (49), the first node in order wins
    assert paper.choose(nodes, pod, fit_mask(nodes, pod))[0] == 0


def test_a_shared_pod_takes_the_lowest_device_of_the_best_score():
    nodes = one_node([1000, 1000, 690, 700])
    t = typical((1000, 1, 200, 1), (1000, 1, 1000, 20))
    now = node_fragmentation(nodes.cpu_free, nodes.mem_free, nodes.gpu_free, nodes.model, t)
    pod = PodDemand(1000, 0, GpuRequest(1, 500))
    d = device_deltas(nodes, 0, pod, t, int(now[0]))
    # 690 -> 190 leaves a fragment for the share typical pod: 700 -> 200 is the exact best
    assert d.tolist() == [20 * 500, 20 * 500, -20 * 500 + 190, -20 * 500] + [NO_SCORE] * 4
    assert fgd_deltas(nodes, pod, t, now, fit_mask(nodes, pod))[1].tolist() == [3]
    fgd = Fgd()
    fgd.typical, fgd.cpu_weight, fgd.total_weight, fgd.frag = t, 0, 21, now
    score = fgd_score(fgd_gain(d[:4], 500, 0, 21))
    assert score[2] == score[3] > score[0]  # one score class: the lowest device of it wins
    assert fgd._scored_devices(nodes, 0, pod).tolist() == [2]


def test_shoal_leaves_a_scarce_model_to_the_pods_restricted_to_it():
    nodes = GpuNodes.build(["t4", "g2"], [64000] * 2, [1 << 20] * 2, [2, 8], ["T4", "G2"])
    free = GpuRequest(1, 1000)
    t4_only = GpuRequest(1, 1000, ("T4",))
    # the T4-only pods are too few to be typical pods: FGD does not see them at all
    workload = [nodes.demand(4000, 0, free)] * 96 + [nodes.demand(4000, 0, t4_only)] * 4
    assert model_scarcity(nodes, workload).tolist() == [0.0, 4000 / 2000]  # models sorted: G2, T4
    pod = workload[0]
    fgd, shoal = Fgd(), ShoalFgd()
    for policy in (fgd, shoal):
        policy.prepare(nodes, workload, 0)
    assert fgd.choose(nodes, pod, fit_mask(nodes, pod))[0] == 0  # a tie: the first node
    assert shoal.choose(nodes, pod, fit_mask(nodes, pod))[0] == 1  # keeps the T4s for the T4-only pods


def test_shoal_puts_a_cpu_only_pod_where_its_cpu_strands_no_gpu():
    # "tight" has cpu for its 8 idle GPUs at the workload's 10 cores per GPU and 4 cores more;
    # "roomy" has cpu to spare: FGD sees no change on either (a typical pod still fits both)
    nodes = GpuNodes.build(["tight", "roomy"], [84000, 128000], [1 << 20] * 2, [8, 2], ["G", "G"])
    workload = [PodDemand(10000, 0, GpuRequest(1, 1000))] * 9 + [PodDemand(8000, 0, GpuRequest())]
    pod = workload[-1]
    fgd, shoal = Fgd(), ShoalFgd()
    for policy in (fgd, shoal):
        policy.prepare(nodes, workload, 0)
    assert fgd.choose(nodes, pod, fit_mask(nodes, pod))[0] == 0
    assert shoal.choose(nodes, pod, fit_mask(nodes, pod))[0] == 1


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
