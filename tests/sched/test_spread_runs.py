"""Spread runs: consecutive pods of one class whose only per-pod filter is PodTopologySpread
(DoNotSchedule) are placed by one kernel call (_eqclass_kernel.spread_run) on the class's tree.

The kernel equals its NumPy twin (per pod: the filter over every node, then the full scan), and
the scheduler's answers (nodes, messages, the snapshot left behind) equal the full scan and the
per-pod cycle, with skew, minDomains, several constraints, nodes lacking the key, inclusion
policies, selectors that do not match the pod, and pods that fit nowhere in the middle of a run.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from placement_checker import check_placement
from sched_builders import msgs, node, pod, taint
from shoal.native import reference
from shoal.native.profile import DEFAULT_PROFILE
from shoal.native.reference import pod_salt
from shoal.sched import _eqclass_kernel, place
from shoal.sched import labels as lbl
from shoal.sched.api import build_snapshot
from shoal.sched.incremental import IncrementalSelector
from shoal.sched.indices import SpreadMatcher
from shoal.sched.podinfo import PodParser
from shoal.sched.scheduler import Scheduler
from run_kernel_instances import random_resources

# -- the kernel against its NumPy twin ---------------------------------------------------------


def _instance(rng: np.random.Generator):
    n, alloc, requested, nonzero, req, nz, static = random_resources(rng, fortran=True)
    k = int(rng.integers(1, 3))
    width = int(rng.integers(1, 6))
    node_domain = rng.integers(0, width, (k, n)).astype(np.int64)
    node_has = rng.random((k, n)) < 0.9
    node_domain[~node_has] = 0
    count_on = node_has & (rng.random((k, n)) < 0.9)
    present = np.zeros((k, width), dtype=bool)
    for c in range(k):
        present[c, np.unique(node_domain[c][count_on[c]])] = True
    counts = rng.integers(0, 4, (k, width)).astype(np.int64)
    params = np.zeros((k, 4), dtype=np.int64)
    for c in range(k):
        self_match = int(rng.integers(0, 2))
        params[c] = (int(rng.integers(1, 3)), int(rng.choice([1, 1, 3, 7])), self_match, self_match)
    terminating = rng.random(int(rng.integers(1, 30))) < 0.1
    return alloc, requested, nonzero, req, nz, static, node_domain, node_has, count_on, present, counts, params, terminating


@pytest.mark.parametrize("probes", [1, 64])
@pytest.mark.parametrize("seed", range(40))
def test_spread_run_kernel_equals_its_numpy_twin(seed, probes):
    rng = np.random.default_rng(seed)
    alloc, requested, nonzero, req, nz, static, node_domain, node_has, count_on, present, counts, params, terminating = _instance(rng)
    profile = DEFAULT_PROFILE
    key = int(rng.integers(0, 2**62))
    n = alloc.shape[0]
    salt = np.uint64(pod_salt(7, key))
    strategy, columns, weights, bal_columns = profile.strategy, profile.columns_array, profile.weights_array, profile.balanced_columns_array
    table = np.zeros(101, dtype=np.int64)
    skipped = reference.balanced_allocation_skipped(req, bal_columns)  # best-effort pods: as IncrementalSelector
    fit_w, bal_w = np.int64(profile.fit_weight), np.int64(0 if skipped else profile.balanced_weight)
    size = 1
    while size < n:
        size *= 2
    base, eff = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    hashes, tree = np.empty(n, dtype=np.uint64), np.full(2 * size, -1, dtype=np.int64)
    # The tree is built on an older state; `dirty` names the nodes changed since.
    older = requested.copy(order="K")
    dirty = np.flatnonzero(rng.random(n) < 0.3).astype(np.int64)
    older[dirty, 0] = 0
    _eqclass_kernel.tree_build(alloc, older, nonzero, req, nz, static, salt, base, eff, hashes, tree, strategy, columns,
                               weights, table, bal_columns, fit_w, bal_w)
    got_req, got_nz, got_counts = requested.copy(order="K"), nonzero.copy(order="K"), counts.copy()
    chosen = _eqclass_kernel.spread_run(alloc, got_req, got_nz, req, nz, static, dirty, base, eff, hashes, tree,
                                        np.empty(probes, dtype=np.int64), strategy, columns, weights, table, bal_columns,
                                        fit_w, bal_w, node_domain, node_has, count_on, present, got_counts, params, terminating, False)
    ref_req, ref_nz, ref_counts = requested.copy(), nonzero.copy(), counts.copy()
    expected = _eqclass_kernel.spread_run_reference(alloc, ref_req, ref_nz, req, nz, static, 7, key, profile, node_domain,
                                                    node_has, count_on, present, ref_counts, params, terminating)
    assert chosen.tolist() == expected.tolist()
    assert np.array_equal(got_req, ref_req) and np.array_equal(got_nz, ref_nz) and np.array_equal(got_counts, ref_counts)
    # The tree is left current for the final state: a fresh build gives the same leaves.
    base2, eff2, tree2 = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.full(2 * size, -1, dtype=np.int64)
    _eqclass_kernel.tree_build(alloc, got_req, got_nz, req, nz, static, salt, base2, eff2, np.empty(n, dtype=np.uint64), tree2,
                               strategy, columns, weights, table, bal_columns, fit_w, bal_w)
    assert np.array_equal(base, base2) and np.array_equal(eff, eff2) and np.array_equal(tree, tree2)
    # restore=True (the scheduler's call: the snapshot's arrays, bound afterwards) takes the
    # requests back and chooses the same.
    _eqclass_kernel.tree_build(alloc, older, nonzero, req, nz, static, salt, base, eff, hashes, tree, strategy, columns,
                               weights, table, bal_columns, fit_w, bal_w)
    same_req, same_nz, same_counts = requested.copy(order="K"), nonzero.copy(order="K"), counts.copy()
    again = _eqclass_kernel.spread_run(alloc, same_req, same_nz, req, nz, static, dirty, base, eff, hashes, tree,
                                       np.empty(probes, dtype=np.int64), strategy, columns, weights, table, bal_columns,
                                       fit_w, bal_w, node_domain, node_has, count_on, present, same_counts, params, terminating, True)
    assert again.tolist() == expected.tolist() and np.array_equal(same_counts, ref_counts)
    assert np.array_equal(same_req, requested) and np.array_equal(same_nz, nonzero)
    assert np.array_equal(base, base2) and np.array_equal(tree, tree2)


# -- the scheduler: spread runs equal the full scan and the per-pod cycle ---------------------


def run(nodes, pods, seed=0, existing=(), **kw):
    result = place(msgs(nodes), msgs(pods), msgs(list(existing)), seed=seed, **kw).to_dict()
    return result["assignments"], result["unschedulable"]


def all_paths_agree(nodes, pods, seed=0, existing=()):
    eq = run(nodes, pods, seed, existing, equivalence=True, validate=True)
    assert eq == run(nodes, pods, seed, existing, equivalence=False, validate=True)
    assert eq == run(nodes, pods, seed, existing, batch=False, equivalence=False)
    assert eq == run(nodes, pods, seed, existing, batch=False, equivalence=True)
    return eq


def zoned(n, zones=("a", "b", "c"), cpu="4", memory="8Gi", pods_cap="110"):
    return [node(f"n{i}", cpu, memory, pods_cap, labels={"zone": zones[i % len(zones)]}) for i in range(n)]


def constraint(skew=1, key="zone", app="s", **extra):
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": app}}, **extra}


def spread_pods(count, constraints, labels=None, prefix="s", cpu="300m", memory="300Mi", **kw):
    return [pod(f"{prefix}{i}", cpu, memory, labels={"app": "s"} if labels is None else labels, spread=constraints, **kw)
            for i in range(count)]


def test_the_benchmark_shape_goes_through_one_kernel_call():
    nodes = [node(f"n{i}", "4", "16Gi", labels={"zone": f"moon-{i % 3}"}) for i in range(60)]
    pods = [pod(f"d{i}", "100m", "500Mi") for i in range(40)] + spread_pods(120, [constraint(5)], cpu="100m", memory="500Mi")
    parser = PodParser()
    snapshot = build_snapshot(msgs(nodes), parser=parser)
    scheduler = Scheduler(snapshot)
    placed = scheduler.place([parser.parse(p, i) for i, p in enumerate(msgs(pods))])
    assert (placed.nodes >= 0).all()
    assert scheduler.stats.cycles == 0 and scheduler.stats.kernel_calls == 2
    all_paths_agree(nodes, pods)


@pytest.mark.parametrize("skew", [1, 2])
def test_unequal_zones_and_a_node_without_the_key(skew):
    nodes = zoned(7, zones=("a", "a", "a", "b", "c")) + [node("bare", "16", "64Gi")]
    pods = spread_pods(40, [constraint(skew)], cpu="500m", memory="1Gi")
    eq = all_paths_agree(nodes, pods, seed=3)
    assert check_placement(nodes, pods, {a["pod"]: a["node"] for a in eq[0]}) == []
    assert "bare" not in {a["node"] for a in eq[0]}


def test_pods_that_fit_nowhere_in_the_middle_of_a_run_get_the_message_of_their_turn():
    nodes = zoned(3, cpu="1", memory="4Gi")
    pods = spread_pods(8, [constraint(1)], cpu="400m", memory="100Mi")
    assignments, unschedulable = all_paths_agree(nodes, pods)
    assert len(assignments) == 6 and len(unschedulable) == 2
    assert all("Insufficient cpu" in u["message"] for u in unschedulable)


def test_skew_leaves_room_only_in_some_zones_and_min_domains():
    nodes = zoned(6, zones=("a", "b"), cpu="2", memory="4Gi")
    pods = spread_pods(30, [constraint(1, minDomains=3)], cpu="100m", memory="100Mi")
    assignments, unschedulable = all_paths_agree(nodes, pods)
    assert assignments and unschedulable  # two zones of three: skew against a global min of 0
    pods = spread_pods(30, [constraint(2, minDomains=2)], cpu="100m", memory="100Mi")
    all_paths_agree(nodes, pods)


def test_two_constraints_zone_and_hostname():
    nodes = zoned(9)
    pods = spread_pods(60, [constraint(1), constraint(2, key="kubernetes.io/hostname")], cpu="200m", memory="200Mi")
    eq = all_paths_agree(nodes, pods, seed=5)
    assert check_placement(nodes, pods, {a["pod"]: a["node"] for a in eq[0]}) == []


def test_selector_not_matching_the_pod_and_existing_pods():
    nodes = zoned(6)
    existing = [pod(f"e{i}", "100m", "100Mi", labels={"app": "web"}, node_name=f"n{i % 2}") for i in range(5)]
    pods = spread_pods(30, [constraint(1, app="web")], labels={"app": "other"}, cpu="200m", memory="200Mi")
    assignments, _ = all_paths_agree(nodes, pods, existing=existing)
    assert {a["node"] for a in assignments} <= {"n2", "n3", "n4", "n5"}  # the web count never moves


def test_inclusion_policies():
    nodes = zoned(6) + [node("tainted", labels={"zone": "d"}, taints=[taint("dedicated", "x")]),
                        node("ssd", labels={"zone": "e", "disk": "ssd"})]
    for extra in ({"nodeTaintsPolicy": "Honor"}, {"nodeTaintsPolicy": "Ignore"}, {"nodeAffinityPolicy": "Ignore"}, {}):
        pods = spread_pods(25, [constraint(1, **extra)], cpu="200m", memory="200Mi", node_selector={"zone": "a"})
        all_paths_agree(nodes, pods)
        pods = spread_pods(25, [constraint(1, **extra)], cpu="200m", memory="200Mi")
        all_paths_agree(nodes, pods)


def test_runs_of_several_classes_interleaved_with_other_pods():
    nodes = zoned(12, cpu="3", memory="6Gi")
    a = spread_pods(15, [constraint(1)], prefix="a", cpu="300m", memory="300Mi")
    b = spread_pods(15, [constraint(2)], prefix="b", cpu="500m", memory="200Mi")
    plain = [pod(f"d{i}", "250m", "250Mi", labels={"app": "s"}) for i in range(15)]
    pods = [p for trio in zip(a[:5], b[:5], plain[:5]) for p in trio] + a[5:] + plain[5:] + b[5:]
    all_paths_agree(nodes, pods, seed=9)


def test_a_spread_run_leaves_the_same_snapshot_as_single_binds():
    nodes = msgs(zoned(10))
    pods = msgs(spread_pods(40, [constraint(1)], cpu="300m", memory="300Mi"))
    parser = PodParser()
    fast = build_snapshot(nodes, parser=parser)
    scheduler = Scheduler(fast)
    scheduler.place([parser.parse(p, i) for i, p in enumerate(pods)])
    assert scheduler.stats.kernel_calls == 1
    slow = build_snapshot(nodes, parser=parser)
    Scheduler(slow, batch=False, equivalence=False).place([parser.parse(p, i) for i, p in enumerate(pods)])
    assert np.array_equal(fast.requested, slow.requested) and np.array_equal(fast.nonzero, slow.nonzero)
    matcher = SpreadMatcher("default", lbl.Selector.from_set({"app": "s"}))
    assert np.array_equal(fast.pod_counts(matcher), slow.pod_counts(matcher))


def test_the_class_tree_stays_current_after_a_run():
    """A run, then more pods of the class one at a time (a per-pod path on the same tree)."""
    nodes = zoned(8)
    parser = PodParser()
    snapshot = build_snapshot(msgs(nodes), parser=parser)
    scheduler = Scheduler(snapshot, validate=True)
    pods = msgs(spread_pods(20, [constraint(1)]))
    scheduler.place([parser.parse(p, i) for i, p in enumerate(pods)])
    selector = next(iter(scheduler._selectors.values()))
    assert isinstance(selector, IncrementalSelector)
    # Pods of the same class after pods of other classes touched nodes: the tree catches up.
    more = msgs([pod(f"x{i}", "700m", "1Gi") for i in range(5)] + spread_pods(10, [constraint(1)], prefix="t"))
    placed = scheduler.place([parser.parse(p, 100 + i) for i, p in enumerate(more)])  # validate: each against the full cycle
    assert (placed.nodes >= 0).all()
    assert scheduler.stats.kernel_calls == 3 and scheduler.stats.cycles == 0
    assert len(selector._trees) == 1  # the spread class's tree, reused


@st.composite
def spread_clusters(draw):
    n_nodes = draw(st.integers(1, 12))
    nodes = []
    for i in range(n_nodes):
        labels = {} if draw(st.integers(0, 7)) == 0 else {"zone": draw(st.sampled_from(["a", "b", "c"]))}
        taints = [taint("dedicated", "x")] if draw(st.integers(0, 5)) == 0 else None
        nodes.append(node(f"n{i}", draw(st.sampled_from(["1", "2", "4"])), draw(st.sampled_from(["2Gi", "4Gi"])),
                          draw(st.sampled_from(["4", "110"])), labels=labels, taints=taints))
    templates = []
    for t in range(draw(st.integers(1, 3))):
        app = draw(st.sampled_from(["s", "t"]))
        constraints = [constraint(draw(st.integers(1, 3)), app=app, minDomains=draw(st.sampled_from([1, 1, 2, 4])),
                                  nodeTaintsPolicy=draw(st.sampled_from(["Honor", "Ignore"])))]
        if draw(st.booleans()):
            constraints.append(constraint(draw(st.integers(1, 2)), key="kubernetes.io/hostname", app=app))
        templates.append((draw(st.sampled_from(["100m", "400m", "900m"])), constraints, draw(st.sampled_from(["s", "t", "u"]))))
    pods = []
    for t, count in draw(st.lists(st.tuples(st.integers(0, len(templates) - 1), st.integers(1, 10)), min_size=1, max_size=6)):
        cpu, constraints, label = templates[t]
        for _ in range(count):  # in blocks: runs of one class
            pods.append(pod(f"p{len(pods)}", cpu, "200Mi", labels={"app": label}, spread=constraints))
    return nodes, pods, draw(st.integers(0, 2**32))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spread_clusters())
def test_random_spread_runs_equal_the_full_scan(cluster):
    nodes, pods, seed = cluster
    all_paths_agree(nodes, pods, seed)
    # (placement_checker counts a constraint's domains over the nodes with its own key and
    # ignores the inclusion policies, a simplification these clusters step outside of.)
