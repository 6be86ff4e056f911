"""Every native kernel gives exactly the NumPy reference's answer on random clusters.

Clusters come from native_strategies: up to 200 nodes, 2..6 resources, zeros in allocatable,
requests above allocatable, identical nodes (ties), and now and then magnitudes beyond the
float fast path's exact bounds, so both fused paths are exercised.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_strategies import clusters, pods_for, profiles
from shoal.native import kernels, reference

# SHOAL_NATIVE_EXAMPLES raises the example count for a longer soak (the default keeps the suite fast).
SETTINGS = settings(
    max_examples=int(os.environ.get("SHOAL_NATIVE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _available(backend: str) -> bool:
    with kernels.using(backend):
        return kernels.backend_of("place_sequence") == backend


NATIVE = [b for b in ("numba", "cython") if _available(b)]
pytestmark = pytest.mark.skipif(not NATIVE, reason="no native backend available")


def on_each_native(call):
    """call() under every native backend, as a list of results."""
    results = []
    for backend in NATIVE:
        with kernels.using(backend):
            results.append((backend, call()))
    return results


@st.composite
def cluster_and_pod(draw, max_pods: int = 1):
    cluster = draw(clusters())
    pods = draw(pods_for(cluster.n_res, max_pods))
    profile = draw(profiles(cluster.n_res))
    return cluster, pods, profile


@SETTINGS
@given(cluster_and_pod())
def test_fit_filter_matches_reference(case):
    c, pods, _ = case
    expected = reference.fit_filter(c.alloc, c.requested, pods.reqs[0], c.static_mask, c.static_reason)
    for backend, got in on_each_native(
        lambda: kernels.fit_filter(c.alloc, c.requested, pods.reqs[0], c.static_mask, c.static_reason)
    ):
        for name, want, have in zip(expected._fields, expected, got):
            np.testing.assert_array_equal(have, want, err_msg=f"{backend}: {name}")


@SETTINGS
@given(cluster_and_pod())
def test_resource_scores_match_reference(case):
    c, pods, profile = case
    args = (c.alloc, c.requested, c.nonzero_requested, pods.reqs[0], pods.nonzeros[0])
    fit = reference.resource_fit_score(*args, profile)
    balanced = reference.balanced_allocation(c.alloc, c.requested, pods.reqs[0], profile.balanced_columns_array)
    assert ((fit >= 0) & (fit <= 100)).all() and ((balanced >= 0) & (balanced <= 100)).all()
    for backend, (got_fit, got_balanced) in on_each_native(
        lambda: (
            kernels.resource_fit_score(*args, profile),
            kernels.balanced_allocation(c.alloc, c.requested, pods.reqs[0], profile.balanced_columns_array),
        )
    ):
        np.testing.assert_array_equal(got_fit, fit, err_msg=f"{backend}: {profile.strategy_name}")
        np.testing.assert_array_equal(got_balanced, balanced, err_msg=f"{backend}: balanced")


@st.composite
def score_rows(draw):
    n_nodes = draw(st.integers(1, 200))
    n_rows = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    top = draw(st.sampled_from([0, 3, 100]))  # small ranges make many ties
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, top + 1, size=(n_rows, n_nodes)).astype(np.int64)
    feasible = rng.random(n_nodes) >= draw(st.sampled_from([0.0, 0.5, 1.0]))
    weights = rng.integers(0, 4, size=n_rows).astype(np.int64)
    return scores, feasible, weights, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**64 - 1))


@SETTINGS
@given(score_rows(), st.booleans())
def test_normalize_sum_select_match_reference(rows, reverse):
    scores, feasible, weights, seed, pod_key = rows
    normalized = reference.normalize_scores(scores[0], feasible, reverse)
    total = reference.weighted_sum(scores, weights)
    chosen = reference.select_node(total, feasible, seed, pod_key)
    for backend, got in on_each_native(
        lambda: (
            kernels.normalize_scores(scores[0], feasible, reverse),
            kernels.weighted_sum(scores, weights),
            kernels.select_node(total, feasible, seed, pod_key),
        )
    ):
        np.testing.assert_array_equal(got[0], normalized, err_msg=f"{backend}: normalize")
        np.testing.assert_array_equal(got[1], total, err_msg=f"{backend}: weighted sum")
        assert got[2] == chosen, backend


@SETTINGS
@given(cluster_and_pod(), st.integers(0, 2**64 - 1), st.booleans())
def test_fused_pass_matches_reference(case, seed, column_major):
    c, pods, profile = case
    order = "F" if column_major else "C"
    alloc, requested, nonzero = (np.asarray(a, order=order) for a in (c.alloc, c.requested, c.nonzero_requested))
    args = (alloc, requested, nonzero, pods.reqs[0], pods.nonzeros[0], c.static_mask)
    feasible, total = reference.fused_totals(*args, profile)
    chosen = reference.fused_select(*args, seed, int(pods.keys[0]), profile)
    for backend, got in on_each_native(
        lambda: (kernels.fused_totals(*args, profile), kernels.fused_select(*args, seed, int(pods.keys[0]), profile))
    ):
        np.testing.assert_array_equal(got[0][0], feasible, err_msg=f"{backend}: feasible")
        np.testing.assert_array_equal(got[0][1], total, err_msg=f"{backend}: totals")
        assert got[1] == chosen, backend


@SETTINGS
@given(cluster_and_pod(max_pods=24), st.integers(0, 2**64 - 1), st.booleans())
def test_place_sequence_matches_reference_pod_by_pod(case, seed, per_pod_masks):
    c, pods, profile = case
    n_pods = pods.reqs.shape[0]
    masks = np.tile(c.static_mask, (n_pods, 1)) if per_pod_masks else c.static_mask
    if per_pod_masks:
        masks[::3] = ~masks[::3]

    # The reference, one pod at a time, applying each placement before the next pod.
    requested, nonzero = c.requested.copy(), c.nonzero_requested.copy()
    expected = []
    for i in range(n_pods):
        mask = masks[i] if per_pod_masks else masks
        node = reference.fused_select(
            c.alloc, requested, nonzero, pods.reqs[i], pods.nonzeros[i], mask, seed, int(pods.keys[i]), profile
        )
        expected.append(node)
        if node >= 0:
            requested[node] += pods.reqs[i]
            nonzero[node] += pods.nonzeros[i]

    def run(reuse_totals):
        r, nz = c.requested.copy(), c.nonzero_requested.copy()
        chosen = kernels.place_sequence(
            c.alloc, r, nz, pods.reqs, pods.nonzeros, masks, seed, pods.keys, profile, reuse_totals=reuse_totals
        )
        return chosen, r, nz

    for reuse_totals in (False, True):
        for backend, (chosen, r, nz) in on_each_native(lambda reuse_totals=reuse_totals: run(reuse_totals)):
            assert chosen.tolist() == expected, (backend, reuse_totals)
            np.testing.assert_array_equal(r, requested, err_msg=f"{backend}: requested")
            np.testing.assert_array_equal(nz, nonzero, err_msg=f"{backend}: nonzero_requested")


@st.composite
def near_float_bound(draw):
    """Allocatable right at FLOAT_EXACT_ALLOC_LIMIT, where the fast path is exact by the thinnest
    margin, and just above it, where the kernels must switch to the integer path."""
    from shoal.native.layout import FLOAT_EXACT_ALLOC_LIMIT

    n_nodes = draw(st.integers(1, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    above = draw(st.booleans())
    top = FLOAT_EXACT_ALLOC_LIMIT + (1 << 20 if above else 0)
    alloc = rng.integers(top - (1 << 20), top + 1, size=(n_nodes, 3))
    alloc[:, 2] = 110
    requested = (alloc * rng.random((n_nodes, 3)) * 1.1).astype(np.int64)
    requested[:, 2] = rng.integers(0, 111, size=n_nodes)
    pod = np.array([rng.integers(1, 1 << 40), rng.integers(1, 1 << 40), 1], dtype=np.int64)
    return alloc, requested, requested[:, :2].copy(), pod, draw(st.sampled_from([0, 1]))


@SETTINGS
@given(near_float_bound())
def test_fused_pass_exact_at_the_float_bound(case):
    from shoal.native.profile import ScoringProfile

    alloc, requested, nonzero, pod, strategy = case
    profile = ScoringProfile(strategy=strategy)
    mask = np.ones(alloc.shape[0], dtype=bool)
    _, total = reference.fused_totals(alloc, requested, nonzero, pod, pod[:2], mask, profile)
    for backend, got in on_each_native(lambda: kernels.fused_totals(alloc, requested, nonzero, pod, pod[:2], mask, profile)):
        np.testing.assert_array_equal(got[1], total, err_msg=backend)
