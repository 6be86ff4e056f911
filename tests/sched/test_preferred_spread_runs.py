"""Preferred-spread runs: consecutive pods of one class whose only per-pod-varying score is
PodTopologySpread's ScheduleAnyway spreading are placed by one kernel call
(sched/_preferred_spread_kernel.py).

The kernel equals its NumPy twin (per pod: the plugin's score and normalize over every node, the
resource totals, the weighted sum, the seeded choice) on random clusters; the scheduler with the
path places every pod on the node the per-pod cycle picks (validate mode, and against the path
turned off); pods outside the path's assumptions still take the per-pod cycle.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placement_checker import check_placement
from sched_builders import msgs, node, pod, taint
from shoal.native.profile import DEFAULT_PROFILE
from shoal.native.reference import tie_break_hash
from shoal.sched import _preferred_spread_kernel
from shoal.sched.api import build_snapshot, resolve_profiles
from shoal.sched.podinfo import PodParser
from shoal.sched.preferred_spread import (
    SpreadScoreInputs,
    domain_counts,
    groups_of,
    preferred_run_reference,
)
from shoal.sched.scheduler import Scheduler
from run_kernel_instances import random_resources

# -- the kernel against its NumPy twin ---------------------------------------------------------


def _instance(rng: np.random.Generator):
    n, alloc, requested, nonzero, req, nz, static = random_resources(rng)
    k = int(rng.integers(1, 4))
    width = int(rng.integers(1, 6))
    node_value = rng.integers(0, width, (k, n)).astype(np.int64)
    node_value[rng.random((k, n)) < 0.15] = -1
    require_all = bool(rng.integers(0, 2))
    has_all = (node_value >= 0).all(axis=0)
    included = (has_all if require_all else np.ones(n, dtype=bool)) & (rng.random((k, n)) < 0.9)
    inputs = SpreadScoreInputs(
        node_value=node_value, included=included, counts=rng.integers(0, 6, (k, n)).astype(np.int64),
        max_skew=rng.integers(1, 7, k).astype(np.int64), counted=rng.random(k) < 0.8, require_all=require_all,
        weight=int(rng.choice([0, 1, 2, 5])),
    )
    terminating = rng.random(int(rng.integers(1, 60))) < 0.1
    return alloc, requested, nonzero, req, nz, static, inputs, terminating


def _kernel(alloc, requested, nonzero, req, nz, static, seed, key, profile, inputs, terminating, stale=None):
    """The kernel on the twin's inputs (what PreferredSpreadSelector does, without a Framework).
    stale: (an older requested, the nodes changed since): the tree is built on the older state
    and brought up to date by the run."""
    from shoal.native.reference import balanced_allocation_skipped

    groups = groups_of(inputs.node_value)
    counts = domain_counts(inputs)
    count_on = inputs.included & (inputs.node_value >= 0) & inputs.counted[:, None]
    bal_w = np.int64(0 if balanced_allocation_skipped(req, profile.balanced_columns_array) else profile.balanced_weight)
    log_table = np.array([math.log(k + 2) for k in range(counts.shape[1] + 2)])
    n = alloc.shape[0]
    size = 1
    while size < n:
        size *= 2
    hashes = tie_break_hash(seed, key, np.arange(n))
    eff, tree = np.empty(n, dtype=np.int64), np.full(2 * size, -1, dtype=np.int64)
    resource = (profile.strategy, profile.columns_array, profile.weights_array, np.zeros(101, dtype=np.int64),
                profile.balanced_columns_array, np.int64(profile.fit_weight), bal_w)
    older, dirty = stale if stale is not None else (requested, np.zeros(0, dtype=np.int64))
    _preferred_spread_kernel.preferred_tree_build(alloc, older, nonzero, req, nz, static, hashes, groups.perm, eff, tree, *resource)
    chosen = _preferred_spread_kernel.preferred_spread_run(
        alloc, requested, nonzero, req, nz, static, hashes, eff, tree, dirty, *resource,
        groups.position, groups.start, groups.domain, np.where(inputs.node_value >= 0, inputs.node_value, 0),
        count_on, counts, inputs.max_skew, inputs.require_all, log_table, np.int64(inputs.weight), terminating, False,
    )
    # The tree is left current for the final state: a fresh build gives the same leaves.
    eff2, tree2 = np.empty(n, dtype=np.int64), np.full(2 * size, -1, dtype=np.int64)
    _preferred_spread_kernel.preferred_tree_build(alloc, requested, nonzero, req, nz, static, hashes, groups.perm, eff2, tree2, *resource)
    assert np.array_equal(eff, eff2) and np.array_equal(tree, tree2)
    return chosen, counts


@pytest.mark.parametrize("seed", range(80))
def test_kernel_equals_its_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    alloc, requested, nonzero, req, nz, static, inputs, terminating = _instance(rng)
    key = int(rng.integers(0, 2**62))
    got_req, got_nz = requested.copy(), nonzero.copy()
    older = requested.copy()
    dirty = np.flatnonzero(rng.random(len(static)) < 0.3).astype(np.int64)
    older[dirty, 0] = 0
    chosen, counts = _kernel(alloc, got_req, got_nz, req, nz, static, 7, key, DEFAULT_PROFILE, inputs, terminating,
                             stale=(older, dirty) if seed % 2 else None)
    ref_inputs = copy.deepcopy(inputs)
    ref_req, ref_nz = requested.copy(), nonzero.copy()
    expected = preferred_run_reference(alloc, ref_req, ref_nz, req, nz, static, 7, key, DEFAULT_PROFILE, ref_inputs, terminating)
    assert chosen.tolist() == expected.tolist()
    assert np.array_equal(got_req, ref_req) and np.array_equal(got_nz, ref_nz)
    assert np.array_equal(counts, domain_counts(ref_inputs))  # the carried per-domain counts


def test_twin_follows_the_spread_score_not_only_the_resources():
    """Three equal zones, matching pods piled in one: the spread score steers the pods away from
    it, although its nodes have the most room (the test fails if the spread part is dropped)."""
    n = 6
    alloc = np.tile(np.array([[4000, 8 << 30, 110, 0]], dtype=np.int64), (n, 1))
    requested = np.zeros_like(alloc)
    requested[2:, 0] = 1000  # zones 1 and 2 are fuller
    nonzero = requested[:, :2].copy()
    req = np.array([100, 1 << 27, 1, 0], dtype=np.int64)
    nz = req[:2].copy()
    inputs = SpreadScoreInputs(node_value=np.array([[0, 0, 1, 1, 2, 2]]), included=np.ones((1, n), dtype=bool),
                               counts=np.array([[20, 20, 0, 0, 0, 0]]), max_skew=np.array([1]), counted=np.array([True]),
                               require_all=True, weight=2)
    def args():
        return (alloc, requested.copy(), nonzero.copy(), req, nz, np.ones(n, dtype=bool), 0, 11, DEFAULT_PROFILE)

    expected = preferred_run_reference(*args(), copy.deepcopy(inputs), np.zeros(3, dtype=bool))
    assert not set(expected.tolist()) & {0, 1}
    chosen, _ = _kernel(*args(), inputs, np.zeros(3, dtype=bool))
    assert chosen.tolist() == expected.tolist()


# -- the scheduler: the path equals the per-pod cycle -------------------------------------------


def preferred(skew=5, key="topology.kubernetes.io/zone", color="blue"):
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"color": color}}}


def schedule(nodes, pods, existing=(), seed=0, profile=None, services=(), **kw):
    parser = PodParser()
    snapshot = build_snapshot(msgs(nodes), msgs(list(existing)), parser=parser, services=msgs(list(services)))
    scheduler = Scheduler(snapshot, resolve_profiles(profile), seed, **kw)
    placed = scheduler.place([parser.parse(p, i) for i, p in enumerate(msgs(pods))])
    names = [n["metadata"]["name"] for n in nodes]
    got = {p.key: (names[int(n)] if n >= 0 else None) for p, n in zip(placed.pods, placed.nodes.tolist())}
    messages = {placed.pods[i].key: o.message for i, o in placed.failures.items()}
    return got, messages, scheduler.stats


def paths_agree(nodes, pods, existing=(), seed=0, profile=None, services=()):
    """The path (plain and validate mode: each pod checked against its full cycle) against the
    path turned off, and the per-pod cycle alone. Returns the placements and the path's stats."""
    fast = schedule(nodes, pods, existing, seed, profile, services)
    checked = schedule(nodes, pods, existing, seed, profile, services, validate=True)
    off = schedule(nodes, pods, existing, seed, profile, services, preferred_spread=False)
    cycles = schedule(nodes, pods, existing, seed, profile, services, batch=False, equivalence=False)
    assert fast[:2] == checked[:2] == off[:2] == cycles[:2]
    return fast


def zoned(n, zones=("moon-1", "moon-2", "moon-3"), cpu="4", memory="16Gi", **kw):
    return [node(f"n{i}", cpu, memory, labels={"topology.kubernetes.io/zone": zones[i % len(zones)]}, **kw) for i in range(n)]


def blue(count, constraints, prefix="b", cpu="100m", memory="500Mi", labels=None):
    return [pod(f"{prefix}{i}", cpu, memory, labels={"color": "blue"} if labels is None else labels, spread=constraints)
            for i in range(count)]


def test_the_benchmark_shape_takes_one_kernel_call_and_no_cycles():
    nodes = zoned(60)
    pods = [pod(f"d{i}", "100m", "500Mi") for i in range(40)] + blue(150, [preferred()])
    got, _, stats = paths_agree(nodes, pods)
    assert stats.cycles == 0 and stats.kernel_calls == 2
    assert all(got.values())


def test_existing_matching_pods_and_unequal_zones_and_nodes_without_the_key():
    nodes = zoned(9, zones=("a", "a", "a", "a", "b", "c")) + [node("bare", "16", "64Gi")]
    existing = [pod(f"e{i}", "100m", "100Mi", labels={"color": "blue"}, node_name=f"n{i % 4}") for i in range(12)]
    pods = blue(50, [preferred(1)], cpu="300m", memory="300Mi")
    got, _, stats = paths_agree(nodes, pods, existing, seed=3)
    assert stats.cycles == 0
    assert check_placement(nodes, pods, {k: v for k, v in got.items() if v}, existing) == []


def test_pods_that_fit_nowhere_in_the_middle_of_a_run_get_the_message_of_their_turn():
    nodes = zoned(3, cpu="1", memory="4Gi")
    got, messages, _ = paths_agree(nodes, blue(8, [preferred(1)], cpu="400m", memory="100Mi"))
    assert sum(v is not None for v in got.values()) == 6 and len(messages) == 2
    assert all("Insufficient cpu" in m for m in messages.values())


def test_two_constraints_a_selector_not_matching_the_pod_and_a_weight():
    nodes = [node(f"n{i}", "4", "8Gi", labels={"zone": "abc"[i % 3], "region": "xy"[i % 2]}) for i in range(12)]
    existing = [pod(f"e{i}", "100m", "100Mi", labels={"color": "red"}, node_name=f"n{i % 5}") for i in range(9)]
    constraints = [preferred(2, key="zone"), preferred(1, key="region", color="red")]
    weighted = {"plugins": {"score": {"enabled": [{"name": "PodTopologySpread", "weight": 7}]}}}
    for profile in (None, weighted):
        _, _, stats = paths_agree(nodes, blue(40, constraints, cpu="200m", memory="200Mi"), existing, seed=5, profile=profile)
        assert stats.cycles == 0


def test_inclusion_policies_and_a_node_selector():
    nodes = zoned(6, zones=("a", "b", "c")) + [
        node("tainted", labels={"topology.kubernetes.io/zone": "d"}, taints=[taint("dedicated", "x")])]
    for extra in ({"nodeTaintsPolicy": "Honor"}, {"nodeAffinityPolicy": "Ignore"}, {}):
        constraint = dict(preferred(1), **extra)
        pods = [pod(f"p{i}", "200m", "200Mi", labels={"color": "blue"}, spread=[constraint],
                    node_selector={"topology.kubernetes.io/zone": "a"} if i % 2 else None) for i in range(30)]
        paths_agree(nodes, sorted(pods, key=lambda p: p["spec"].get("nodeSelector") is None))


def test_listed_default_constraints_and_nodes_without_the_key():
    """Pods without constraints get the profile's default ones (defaultingType List) with the
    selector of the Service selecting them; nodes lacking the key are ignored (score 0)."""
    profile = {"pluginConfig": [{"name": "PodTopologySpread", "args": {"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}}]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "blue", "namespace": "default"},
               "spec": {"selector": {"color": "blue"}}}
    nodes = [node(f"n{i}", "4", "8Gi", labels={"zone": "ab"[i % 2]} if i % 5 else None) for i in range(10)]
    existing = [pod(f"e{i}", "100m", "100Mi", labels={"color": "blue"}, node_name=f"n{i % 3}") for i in range(7)]
    pods = [pod(f"p{i}", "300m", "300Mi", labels={"color": "blue"}) for i in range(40)]
    got, _, stats = paths_agree(nodes, pods, existing, seed=2, profile=profile, services=[service])
    assert stats.cycles == 0 and stats.kernel_calls == 1
    assert not {"n0", "n5"} & set(got.values())  # ignored: no spread score, the others' is higher


@pytest.mark.parametrize("case", ["hostname", "do-not-schedule", "preferred-node-affinity"])
def test_pods_outside_the_assumptions_take_the_per_pod_cycle(case):
    nodes = [node(f"n{i}", "4", "8Gi", labels={"topology.kubernetes.io/zone": "abc"[i % 3], "disk": "ssd" if i % 4 else "hdd"})
             for i in range(9)]
    if case == "hostname":
        pods = blue(20, [preferred(), preferred(1, key="kubernetes.io/hostname")])
    elif case == "do-not-schedule":
        pods = blue(20, [preferred(), dict(preferred(2), whenUnsatisfiable="DoNotSchedule")])
    else:
        affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 9, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}}]}}
        pods = [dict(p, spec=dict(p["spec"], affinity=affinity)) for p in blue(20, [preferred()])]
    _, _, stats = paths_agree(nodes, pods)
    assert stats.cycles == 20 - (stats.batched if case == "do-not-schedule" else 0)
    if case != "do-not-schedule":
        assert stats.kernel_calls == 0


@st.composite
def spread_clusters(draw):
    nodes = []
    for i in range(draw(st.integers(1, 14))):
        labels = {}
        if draw(st.integers(0, 6)):
            labels["zone"] = draw(st.sampled_from(["a", "b", "c"]))
        if draw(st.booleans()):
            labels["region"] = draw(st.sampled_from(["x", "y"]))
        taints = [taint("dedicated", "x")] if draw(st.integers(0, 5)) == 0 else None
        nodes.append(node(f"n{i}", draw(st.sampled_from(["1", "2", "4"])), draw(st.sampled_from(["2Gi", "4Gi"])),
                          draw(st.sampled_from(["4", "110"])), labels=labels, taints=taints))
    names = [n["metadata"]["name"] for n in nodes]
    existing = [pod(f"e{i}", "100m", "100Mi", labels={"color": draw(st.sampled_from(["blue", "red"]))},
                    node_name=draw(st.sampled_from(names))) for i in range(draw(st.integers(0, 8)))]
    templates = []
    for _ in range(draw(st.integers(1, 3))):
        constraints = [dict(preferred(draw(st.integers(1, 6)), key="zone", color=draw(st.sampled_from(["blue", "red"]))),
                            nodeTaintsPolicy=draw(st.sampled_from(["Honor", "Ignore"])))]
        if draw(st.booleans()):
            constraints.append(preferred(draw(st.integers(1, 3)), key="region"))
        templates.append((draw(st.sampled_from(["100m", "400m", "900m"])), constraints, draw(st.sampled_from(["blue", "red"]))))
    pods = []
    for t, count in draw(st.lists(st.tuples(st.integers(0, len(templates) - 1), st.integers(1, 12)), min_size=1, max_size=5)):
        cpu, constraints, color = templates[t]
        for _ in range(count):  # in blocks: runs of one class
            pods.append(pod(f"p{len(pods)}", cpu, "200Mi", labels={"color": color}, spread=constraints))
    return nodes, pods, existing, draw(st.integers(0, 2**32))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spread_clusters())
def test_random_preferred_spread_runs_equal_the_per_pod_cycle(cluster):
    nodes, pods, existing, seed = cluster
    paths_agree(nodes, pods, existing, seed)
