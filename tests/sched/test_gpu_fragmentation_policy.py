"""GpuFragmentation places as the gpu-frag benchmark's policies do: trace nodes and pods, one at a
time, through the real Scheduler (GpuFragmentation the only score plugin) and through the
benchmark's loop (fit_mask, policy.choose, allocate) given the pods the plugin has learned; the
same node and devices for every pod. And its args are checked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sched_builders import msgs, node, pod
from shared_data import SHARED_DATA
from shoal.benchmarks.bench import alibaba_trace as trace
from shoal.sched import Scheduler, build_snapshot
from shoal.sched.api import resolve_profiles
from shoal.sched.framework.config import ConfigError
from shoal.sched.framework.interface import PluginArgsError
from shoal.sched.framework.registry import REGISTRY
from shoal.sched.gpu.devices import allocate, check_invariants, fit_mask
from shoal.sched.gpu.policies import new_policy
from shoal.sched.gpu.request import (
    GPU_MILLI_RESOURCE,
    GPU_MODEL_LABEL,
    MILLI_PER_GPU,
    model_affinity,
)
from shoal.sched.gpu.tracker import devices_of
from shoal.sched.plugins.gpu_fragmentation import DEFAULT_POLICY
from shoal.sched.podinfo import PodParser

TRACE = SHARED_DATA / "traces" / "alibaba-gpu-v2023"
N_NODES = 40
ARRIVED = 1.2  # pods until their GPU demand passes 120% of capacity: some fit nowhere
POLICY_OF = {"shoal": "shoal", "fgd": "fgd", "exact": "fgd-exact"}  # plugin arg -> benchmark policy

pytestmark = pytest.mark.skipif(not (TRACE / trace.GPU_NODE_LIST).exists(), reason=f"no trace at {TRACE}")


def profile(policy: str) -> dict:
    return {"schedulerName": "default-scheduler",
            "plugins": {"multiPoint": {"enabled": [{"name": "GpuShare"}, {"name": "GpuFragmentation"}]},
                        "score": {"enabled": [{"name": "GpuFragmentation"}], "disabled": [{"name": "*"}]}},
            "pluginConfig": [{"name": "GpuFragmentation", "args": {"policy": policy}}]}


def cluster(pod_list: str, seed: int) -> tuple[list[trace.TraceNode], list[trace.TracePod]]:
    """N_NODES trace nodes drawn by the seed, and the pod list shuffled by it up to ARRIVED."""
    rng = np.random.default_rng(seed)
    all_nodes = trace.read_nodes(TRACE / trace.GPU_NODE_LIST)
    nodes = [all_nodes[i] for i in rng.choice(len(all_nodes), N_NODES, replace=False)]
    capacity = sum(n.gpus for n in nodes) * MILLI_PER_GPU
    listed = trace.read_pods(trace.pod_list_path(TRACE, pod_list))
    pods, arrived = [], 0
    for p in (listed[i] for i in rng.permutation(len(listed))):
        if arrived > ARRIVED * capacity:
            break
        pods.append(p)
        arrived += p.gpu.total_milli
    return nodes, pods


def node_manifest(n: trace.TraceNode) -> dict:
    return node(n.name, cpu=f"{n.cpu_milli}m", memory=f"{n.memory_mib}Mi", pods="10000",
                labels={GPU_MODEL_LABEL: n.model}, extra={GPU_MILLI_RESOURCE: str(n.gpus * MILLI_PER_GPU)})


def pod_manifest(p: trace.TracePod) -> dict:
    extra = {GPU_MILLI_RESOURCE: str(p.gpu.total_milli)} if p.gpu.count else {}
    return pod(p.name, cpu=f"{p.cpu_milli}m", memory=f"{p.memory_mib}Mi", extra=extra, affinity=model_affinity(p.gpu))


def by_scheduler(policy: str, nodes: list[trace.TraceNode], pods: list[trace.TracePod]):
    """(node index or -1, devices) per pod, each pod placed by its own Scheduler.place call."""
    parser = PodParser()
    snapshot = build_snapshot(msgs([node_manifest(n) for n in nodes]), parser=parser)
    tracker = devices_of(snapshot)
    assert tracker.state().names == [n.name for n in nodes]  # the same node order as the benchmark's
    scheduler = Scheduler(snapshot, resolve_profiles(profile(policy)), seed=7)
    out = []
    for i, m in enumerate(msgs([pod_manifest(p) for p in pods])):
        info = parser.parse(m, i)
        (outcome,) = scheduler.place([info]).outcomes()
        out.append((outcome.node, tracker.devices(info.key) or ()))
    assert check_invariants(tracker.state()) == []
    return out, tracker.state().allocated_milli


def by_benchmark_loop(policy_name: str, nodes: list[trace.TraceNode], pods: list[trace.TracePod]):
    """gpu_frag.run_seed's loop, the policy prepared before each pod with the pods that had a
    feasible node so far (what the plugin has learned: it scores only those)."""
    state = trace.build_nodes(nodes)
    demands = trace.demands(state, pods)
    policy = new_policy(policy_name)
    learned, out = [], []
    for pod_demand in demands:
        feasible = fit_mask(state, pod_demand)
        if not feasible.any():
            out.append((-1, ()))
            continue
        learned.append(pod_demand)
        policy.prepare(state, learned, 0)
        n, devices = policy.choose(state, pod_demand, feasible)
        allocate(state, n, pod_demand, devices)
        policy.placed(state, n, pod_demand, devices)
        out.append((n, tuple(int(d) for d in devices)))
    return out, state.allocated_milli


LISTS = [("default", 1), ("gpuspec33", 2), ("gpushare100", 3)]  # plain, model-restricted, shared pods


@pytest.mark.parametrize("policy,pod_list,seed", [("shoal", *case) for case in LISTS] + [("fgd", *case) for case in LISTS]
                         + [("exact", "gpushare100", 3)])
def test_the_scheduler_places_as_the_benchmark_policy(policy, pod_list, seed):
    nodes, pods = cluster(pod_list, seed)
    if policy == "exact":  # pods without GPUs step aside (the plugin's rule before `policy`); fgd-exact scores them
        pods = [p for p in pods if p.gpu.count]
    mine, allocated = by_scheduler(policy, nodes, pods)
    theirs, their_allocated = by_benchmark_loop(POLICY_OF[policy], nodes, pods)
    assert sum(n < 0 for n, _ in theirs) > 0  # the cluster filled up: failures are compared too
    first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), None)
    assert first is None, f"pod {first} ({pods[first]}): scheduler {mine[first]}, policy {theirs[first]}"
    assert allocated == their_allocated


def test_the_rules_differ_on_this_cluster():
    # guards the test above against rules that all place alike
    nodes, pods = cluster("default", 1)
    placements = {policy: by_benchmark_loop(POLICY_OF[policy], nodes, pods)[0] for policy in ("shoal", "fgd", "exact")}
    assert placements["shoal"] != placements["fgd"] != placements["exact"]


def test_shoal_is_the_default_policy():
    assert DEFAULT_POLICY == "shoal" and REGISTRY["GpuFragmentation"](None, None).policy == "shoal"


@pytest.mark.parametrize("args,field", [
    ({"policy": "fgd-exact"}, "policy"),
    ({"policy": "SHOAL"}, "policy"),
    ({"policy": 1}, "policy"),
    ({"policy": None}, "policy"),
    ({"memory": "yes"}, "memory"),
    ({"polcy": "fgd"}, "'polcy'"),
], ids=["benchmark-name", "case", "number", "null", "memory", "unknown-field"])
def test_bad_args_name_the_field(args, field):
    with pytest.raises(PluginArgsError, match=f"GpuFragmentation args: (unknown field )?{field}"):
        REGISTRY["GpuFragmentation"](args, None)


def test_a_bad_policy_in_a_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="pluginConfig: GpuFragmentation args: policy: expected one of shoal, fgd, exact"):
        resolve_profiles(profile("best"))


@pytest.mark.parametrize("policy", ["shoal", "fgd", "exact"])
def test_each_policy_is_accepted(policy):
    assert REGISTRY["GpuFragmentation"]({"policy": policy, "memory": False}, None).policy == policy


@pytest.mark.parametrize("scores,feasible,choice,expected", [
    ([5, 7, 7, -np.inf], [1, 1, 1, 0], None, [0, 100, 99, 0]),  # ties to the first node
    ([5, 7, 7, -np.inf], [1, 1, 1, 0], 2, [0, 99, 100, 0]),  # the rule's node (shoal: least stranding)
    ([3, 3, 3], [1, 1, 1], None, [100, 99, 99]),
    ([1, 2, 3, 4, 101], [1, 1, 1, 1, 1], None, [0, 0, 1, 2, 100]),  # floor(99 x (s - low) / (high - low))
    ([1, 2], [0, 0], None, [0, 0]),
], ids=["first-of-ties", "rule-choice", "all-equal", "linear", "none-feasible"])
def test_normalize_keeps_the_rules_order_with_its_node_alone_on_top(scores, feasible, choice, expected):
    plugin = REGISTRY["GpuFragmentation"](None, None)
    cycle = SimpleNamespace(data={} if choice is None else {"GpuFragmentation/choice": choice})
    out = plugin.normalize(cycle, np.array(scores, dtype=float), np.array(feasible, dtype=bool))
    assert out.tolist() == expected


def test_the_pods_remembered_as_counted_are_bounded(monkeypatch):
    """A long-running scheduler scores pods forever: the keys kept to count each pod once are
    bounded, the oldest forgotten first."""
    from types import SimpleNamespace

    from shoal.sched.gpu.devices import PodDemand
    from shoal.sched.plugins import gpu_fragmentation as plugin_module

    monkeypatch.setattr(plugin_module, "SEEN_PODS_KEPT", 10)
    plugin = plugin_module.GpuFragmentation()
    demand = PodDemand(1000, 1024, 500, 0)
    for i in range(25):
        plugin._learn(SimpleNamespace(pod=SimpleNamespace(key=f"default/p{i}")), demand)
    assert len(plugin._seen_pods) <= 10
    assert "default/p24" in plugin._seen_pods and "default/p0" not in plugin._seen_pods
    assert sum(plugin.kinds.values()) == 25
    plugin._learn(SimpleNamespace(pod=SimpleNamespace(key="default/p24")), demand)  # seen: not counted again
    assert sum(plugin.kinds.values()) == 25
