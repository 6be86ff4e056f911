"""The GPU device model (shoal.sched.gpu.devices, request): requests, fit, device choice, bind
and release, with the errors naming node and device."""

from __future__ import annotations

import numpy as np
import pytest
from shoal.sched.gpu.devices import (
    DeviceError,
    GpuNodes,
    allocate,
    best_fit_device,
    check_invariants,
    choose_devices,
    fit_mask,
    release,
)
from shoal.sched.gpu.request import (
    GPU_MILLI_RESOURCE,
    GpuRequest,
    GpuRequestError,
    format_devices,
    from_annotations,
    from_total,
    from_trace,
    manifest_resources,
    parse_devices,
)


def cluster() -> GpuNodes:
    # a: 2 x V100 (idle), b: 4 x T4, c: cpu only
    return GpuNodes.build(["a", "b", "c"], [8000, 16000, 32000], [64, 64, 64], [2, 4, 0], ["V100", "T4", ""])


@pytest.mark.parametrize(
    "total, expected",
    [(0, GpuRequest()), (250, GpuRequest(1, 250)), (1000, GpuRequest(1, 1000)), (3000, GpuRequest(3, 1000))],
    ids=["none", "share", "one-whole", "three-whole"],
)
def test_request_from_total(total, expected):
    assert from_total(total) == expected


@pytest.mark.parametrize("total", [1500, 9000, -1], ids=["not-whole", "too-many", "negative"])
def test_request_from_total_rejects_and_names_the_resource(total):
    with pytest.raises(GpuRequestError, match=GPU_MILLI_RESOURCE):
        from_total(total, where="pod default/p")


def test_request_from_trace_and_annotations_agree():
    spec = from_trace(1, 460, "V100M16|V100M32")
    assert spec == GpuRequest(1, 460, ("V100M16", "V100M32")) and spec.shared
    ann = from_annotations({"alibabacloud.com/gpu-count": "1", "alibabacloud.com/gpu-milli": "460",
                            "alibabacloud.com/gpu-card-model": "V100M16|V100M32"})
    assert ann == spec
    assert manifest_resources(from_trace(2, 1000)) == {GPU_MILLI_RESOURCE: "2000"}
    with pytest.raises(GpuRequestError, match="gpu_milli"):
        from_trace(2, 500)


def test_device_annotation_round_trip():
    assert format_devices([0, 3]) == "0-3"
    assert parse_devices("0-3") == (0, 3)
    with pytest.raises(GpuRequestError, match="gpu-index"):
        parse_devices("a-b")


def test_fit_counts_devices_share_model_and_cpu():
    nodes = cluster()
    share = nodes.demand(1000, 1, GpuRequest(1, 500))
    assert fit_mask(nodes, share).tolist() == [True, True, False]
    allocate(nodes, 0, share, [0])
    allocate(nodes, 0, share, [0])  # device 0 of a is now full, device 1 idle
    assert fit_mask(nodes, nodes.demand(1000, 1, GpuRequest(2, 1000))).tolist() == [False, True, False]
    assert fit_mask(nodes, nodes.demand(1000, 1, GpuRequest(1, 1000, ("V100",)))).tolist() == [True, False, False]
    assert fit_mask(nodes, nodes.demand(1000, 1, GpuRequest(1, 100, ("A100",)))).tolist() == [False, False, False]
    assert fit_mask(nodes, nodes.demand(7000, 1, GpuRequest())).tolist() == [False, True, True]  # a has 6000 cpu left


def test_best_fit_takes_the_fullest_device_that_holds_the_share():
    assert best_fit_device(np.array([1000, 300, 600, 0]), 250) == 1
    assert best_fit_device(np.array([1000, 300, 600, 0]), 500) == 2
    assert best_fit_device(np.array([200, 0]), 500) == -1


def test_allocate_and_release_restore_the_state():
    nodes = cluster()
    before = nodes.clone()
    pod = nodes.demand(2000, 8, GpuRequest(2, 1000))
    devices = choose_devices(nodes, 1, pod.gpu)
    assert devices.tolist() == [0, 1]
    allocate(nodes, 1, pod, devices)
    assert nodes.gpu_free[1].tolist()[:4] == [0, 0, 1000, 1000] and nodes.allocated_milli == 2000
    release(nodes, 1, pod, devices)
    assert (nodes.gpu_free == before.gpu_free).all() and (nodes.cpu_free == before.cpu_free).all()
    assert check_invariants(nodes) == []


@pytest.mark.parametrize(
    "node, devices, message",
    [(0, [0], "distinct devices"), (0, [0, 0], "distinct devices"), (0, [0, 5], "out of"), (2, [0, 1], "out of")],
    ids=["too-few", "same-twice", "no-such-device", "cpu-only-node"],
)
def test_allocate_rejects_bad_device_lists(node, devices, message):
    nodes = cluster()
    with pytest.raises(DeviceError, match=message):
        allocate(nodes, node, nodes.demand(0, 0, GpuRequest(2, 1000)), devices)


def test_allocate_rejects_a_device_without_the_share_and_names_it():
    nodes = cluster()
    allocate(nodes, 0, nodes.demand(0, 0, GpuRequest(1, 700)), [1])
    with pytest.raises(DeviceError, match="node 'a': device 1 has 300 milli free"):
        allocate(nodes, 0, nodes.demand(0, 0, GpuRequest(1, 400)), [1])


def test_invariant_check_finds_an_overcommitted_device():
    nodes = cluster()
    nodes.gpu_free[0, 0] = -100
    nodes.cpu_free[1] = -1
    problems = check_invariants(nodes)
    assert any("device 0 has -100" in p for p in problems) and any("cpu free -1" in p for p in problems)
