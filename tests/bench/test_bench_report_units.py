"""The pure parts of the bench reports: latency percentiles, series, node groups, RESULTS.md sections."""

from __future__ import annotations

import pytest
from shoal.benchmarks.bench.cluster import per_second_percentiles, series
from shoal.benchmarks.bench.cluster_cases import node_groups
from shoal.benchmarks.bench.perf_config import NodeStep, WorkloadPlan
from shoal.benchmarks.bench.results_file import replace_section, sections
from shoal.benchmarks.bench.runner import cdf_points, latency_ms


@pytest.mark.parametrize(
    "completions, expected",
    [
        pytest.param([(100, 0.010)], {"p50": 10.0, "p90": 10.0, "p99": 10.0, "max": 10.0}, id="one-call"),
        pytest.param([(50, 0.001), (50, 0.002)], {"p50": 1.0, "p90": 2.0, "p99": 2.0, "max": 2.0}, id="two-halves"),
        pytest.param([(98, 0.001), (1, 0.002), (1, 0.5)], {"p50": 1.0, "p90": 1.0, "p99": 2.0, "max": 500.0}, id="tail"),
        pytest.param([(0, 0.004), (10, 0.003)], {"p50": 3.0, "p90": 3.0, "p99": 3.0, "max": 3.0}, id="empty-call-ignored"),
    ],
)
def test_latency_percentiles_weight_each_pod_once(completions, expected):
    assert latency_ms(completions) == expected


def test_latency_of_nothing_placed_is_none():
    assert latency_ms([(0, 1.0)]) is None


def test_cdf_points_end_at_the_placed_fraction():
    points = cdf_points([(30, 0.001), (50, 0.002)], total=100)
    assert points == [[1.0, 0.3], [2.0, 0.8]]
    assert len(cdf_points([(1, i / 1000) for i in range(1, 1001)], total=1000, limit=50)) <= 51


def test_per_second_percentiles_leave_out_the_partial_last_second():
    start = 100.0
    times = [start + 0.1] * 10 + [start + 1.5] * 20 + [start + 2.5] * 30 + [start + 3.2] * 5
    pct = per_second_percentiles(times, start)
    assert pct == {"p50": 20.0, "p90": 28.0, "p99": 29.8}  # seconds 0, 1, 2: 10, 20, 30 pods
    assert per_second_percentiles([start + 0.5], start) is None


def test_series_is_cumulative_and_bounded():
    pts = series([1.0, 1.5, 2.0], 1.0, total=4)
    assert pts == [[0.0, 0.25], [500.0, 0.5], [1000.0, 0.75]]


def test_node_groups_follow_the_template_and_label_strategy():
    template = {"metadata": {"labels": {"tier": "x"}}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
                "status": {"capacity": {"cpu": "8", "memory": "16Gi", "pods": "50", "attachable-volumes-csi-ebs": "39"}}}
    plan = WorkloadPlan("Case", "w", {}, 1.0, steps=[NodeStep(5, template, "n-0-", "zone", ("a", "b"))])
    groups, left_out = node_groups(plan)
    assert [(g.count, g.labels, g.prefix) for g in groups] == [(3, {"tier": "x", "zone": "a"}, "n-0-0-"), (2, {"tier": "x", "zone": "b"}, "n-0-1-")]
    assert all((g.cpu, g.memory, g.pods) == ("8", "16Gi", 50) for g in groups)
    assert any("attachable-volumes-csi-ebs" in line for line in left_out)
    assert any("taints" in line for line in left_out)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("# R\n\nhand\n", "# R\n\nhand\n\n<!-- generated:a -->\nnew\n<!-- /generated:a -->\n", id="appended"),
        pytest.param("top\n<!-- generated:a -->\nold\nlines\n<!-- /generated:a -->\nbottom\n",
                     "top\n<!-- generated:a -->\nnew\n<!-- /generated:a -->\nbottom\n", id="replaced-in-place"),
        pytest.param("<!-- generated:b -->\nkeep\n<!-- /generated:b -->\n",
                     "<!-- generated:b -->\nkeep\n<!-- /generated:b -->\n\n<!-- generated:a -->\nnew\n<!-- /generated:a -->\n",
                     id="other-section-kept"),
    ],
)
def test_replace_section(text, expected):
    assert replace_section(text, "a", "new\n") == expected


def test_replace_section_body_with_backslashes_is_literal():
    text = replace_section("", "a", r"C:\path \1 \g<0>")
    assert sections(text) == {"a": r"C:\path \1 \g<0>"}
