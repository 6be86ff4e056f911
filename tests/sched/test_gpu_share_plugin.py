"""GpuShare and GpuFragmentation in the scheduling framework: a real snapshot and Scheduler,
pods and nodes as manifests, devices checked after every bind and freed on unbind."""

from __future__ import annotations

import pytest
from sched_builders import msgs, node, pod
from shoal.sched import Scheduler, build_snapshot
from shoal.sched.api import resolve_profiles
from shoal.sched.framework.interface import PluginArgsError
from shoal.sched.framework.registry import REGISTRY
from shoal.sched.gpu.devices import check_invariants
from shoal.sched.gpu.request import (
    GPU_INDEX_ANNOTATION,
    GPU_MILLI_RESOURCE,
    GPU_MODEL_LABEL,
    GpuRequest,
    model_affinity,
)
from shoal.sched.gpu.tracker import devices_of
from shoal.sched.plugins import gpu_share
from shoal.sched.podinfo import PodParser

GPU_PROFILE = {"schedulerName": "default-scheduler",
               "plugins": {"multiPoint": {"enabled": [{"name": "GpuShare"}, {"name": "GpuFragmentation", "weight": 5}]}}}
SHARE_ONLY = {"schedulerName": "default-scheduler", "plugins": {"multiPoint": {"enabled": [{"name": "GpuShare"}]}}}


def gpu_node(name: str, gpus: int, model: str = "V100") -> dict:
    return node(name, cpu="32", memory="128Gi", labels={GPU_MODEL_LABEL: model},
                extra={GPU_MILLI_RESOURCE: str(1000 * gpus)})


def gpu_pod(name: str, milli: int, models: tuple[str, ...] = ()) -> dict:
    return pod(name, cpu="1", memory="1Gi", extra={GPU_MILLI_RESOURCE: str(milli)},
               affinity=model_affinity(GpuRequest(1 if milli < 1000 else milli // 1000, min(milli, 1000), models)))


def run(nodes: list[dict], pods: list[dict], profile=GPU_PROFILE):
    parser = PodParser()
    snapshot = build_snapshot(msgs(nodes), parser=parser)
    infos = [parser.parse(m, i) for i, m in enumerate(msgs(pods))]
    tracker = devices_of(snapshot)
    outcomes = Scheduler(snapshot, resolve_profiles(profile), seed=1).place(infos).outcomes()
    assert check_invariants(tracker.state()) == []
    return snapshot, tracker, {o.pod.name: o for o in outcomes}


def test_registry_knows_the_gpu_plugins_and_the_default_profile_stays_kube_schedulers():
    assert {"GpuShare", "GpuFragmentation"} <= set(REGISTRY)
    (profile,) = resolve_profiles({"schedulerName": "default-scheduler"}).values()
    assert "GpuShare" not in repr(profile)


def test_shares_are_packed_per_device_not_per_node_total():
    # 2 nodes x 2 GPUs; 600-milli shares: the node total (2000) would take 3, the devices only 2.
    _snapshot, tracker, out = run([gpu_node("a", 2), gpu_node("b", 2)], [gpu_pod(f"p{i}", 600) for i in range(5)],
                                 SHARE_ONLY)
    placed = [o for o in out.values() if o.node >= 0]
    assert len(placed) == 4
    assert gpu_share.ERR_REASON_SHARE in out["p4"].message
    per_node = {n: sum(1 for o in placed if o.node == n) for n in (0, 1)}
    assert per_node == {0: 2, 1: 2}
    held = {tracker.devices(f"default/p{i}") for i in range(4)}
    assert held == {(0,), (1,)}


def test_whole_gpus_need_idle_devices_and_the_index_is_recorded():
    _snapshot, tracker, out = run([gpu_node("a", 4)], [gpu_pod("share", 300), gpu_pod("three", 3000), gpu_pod("four", 4000)])
    assert out["share"].node == 0 and out["three"].node == 0 and out["four"].node < 0
    share, three = tracker.devices("default/share"), tracker.devices("default/three")
    assert len(three) == 3 and not set(share) & set(three)
    assert tracker.annotation("default/three") == {GPU_INDEX_ANNOTATION: "-".join(map(str, three))}


def test_unbinding_frees_the_devices():
    snapshot, tracker, out = run([gpu_node("a", 1)], [gpu_pod("x", 700)])
    assert tracker.state().gpu_free[0, 0] == 300
    snapshot.remove_pod(out["x"].pod)
    assert tracker.state().gpu_free[0, 0] == 1000 and tracker.devices("default/x") is None


def test_model_is_filtered():
    _, _tracker, out = run([gpu_node("v", 2, "V100"), gpu_node("t", 2, "T4")],
                          [gpu_pod("wants-t4", 1000, ("T4",)), gpu_pod("wants-a100", 500, ("A100",))])
    assert out["wants-t4"].node == 1 and out["wants-a100"].node < 0


def test_fragmentation_score_completes_a_used_device():
    # After "big" (700) a device has 300 free, a fragment for another 700: FGD puts "small"
    # (300) there, although the resource scores (LeastAllocated) prefer the idle node.
    _, tracker, out = run([gpu_node("a", 2), gpu_node("b", 2)], [gpu_pod("big", 700), gpu_pod("small", 300)])
    assert out["big"].node == out["small"].node
    assert tracker.devices("default/big") == tracker.devices("default/small")


def test_without_the_fragmentation_score_the_resource_scores_spread():
    _, _tracker, out = run([gpu_node("a", 2), gpu_node("b", 2)], [gpu_pod("big", 700), gpu_pod("small", 300)], SHARE_ONLY)
    assert out["big"].node != out["small"].node


def test_plugin_args_are_checked():
    with pytest.raises(PluginArgsError, match="GpuFragmentation args: unknown field 'x'"):
        REGISTRY["GpuFragmentation"]({"x": 1}, None)
    with pytest.raises(PluginArgsError, match="memory"):
        REGISTRY["GpuFragmentation"]({"memory": "yes"}, None)


def test_held_devices_survive_node_changes():
    snapshot, tracker, _ = run([gpu_node("a", 2)], [gpu_pod("x", 700)])
    snapshot.add_node(msgs([gpu_node("b", 1)])[0])
    state = tracker.state()  # rebuilt: node b added, x still holds 700 of a's device 0
    assert state.names == ["a", "b"] and state.gpu_free[0, :2].tolist() == [300, 1000] and state.gpu_count[1] == 1
    snapshot.remove_node("a")  # its pods leave with it
    assert tracker.devices("default/x") is None and tracker.state().names == ["b"]
    assert check_invariants(tracker.state()) == []
