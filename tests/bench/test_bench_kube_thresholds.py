"""kube-scheduler's published thresholds for a configuration that states none: the upstream
workloads are added with their own params, a threshold the file states wins, the ratio and the
target are filled, and the report names where each threshold came from."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap

import pytest
import yaml
from shared_data import SHARED_DATA
from shoal.benchmarks.bench import kube_thresholds, regenerate, report
from shoal.benchmarks.bench.kube_thresholds import THRESHOLDS, for_case, target_factor
from shoal.benchmarks.bench.perf_config import ConfigError, load_plans, scaled
from shoal.benchmarks.bench.runner import run_plan
from test_bench_cli_smoke import bench_command

PERF_CONFIG = SHARED_DATA / "scheduler_perf" / "performance-config.yaml"
BASIC = for_case("SchedulingBasic")


def write_config(tmp_path, workloads: str, case: str = "SchedulingBasic") -> str:
    body = f"""\
    - name: {case}
      workloadTemplate:
      - opcode: createNodes
        countParam: $initNodes
      - opcode: createPods
        countParam: $initPods
      - opcode: createPods
        countParam: $measurePods
        collectMetrics: true
      workloads:
    """
    path = tmp_path / "performance-config.yaml"
    path.write_text(textwrap.dedent(body) + textwrap.indent(textwrap.dedent(workloads), "  "))
    return str(path)


def params_yaml(params) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in params.items()) + "}"


def by_name(plans):
    return {p.workload: p for p in plans}


def test_upstream_workloads_are_added_with_their_threshold_params_and_source(tmp_path):
    path = write_config(tmp_path, "- name: small\n  params: {initNodes: 50, initPods: 10, measurePods: 20}\n")
    plans = by_name(load_plans(path, scale=0.01, thresholds="upstream"))
    assert set(plans) == {"small"} | {t.workload for t in BASIC}
    assert plans["small"].threshold is None and plans["small"].threshold_source is None
    for t in BASIC:
        plan = plans[t.workload]
        assert plan.threshold == t.threshold
        assert plan.params == dict(t.params)
        # --scale applies to the upstream sizes as to the file's own
        assert plan.nodes == scaled(t.params["initNodes"], 0.01)
        assert plan.init_pods == scaled(t.params["initPods"], 0.01)
        assert plan.measured_pods == scaled(t.params["measurePods"], 0.01)
        src = plan.threshold_source
        assert src["from"] == "upstream" and (src["path"], src["commit"]) == t.source
        assert src["workload"] == f"SchedulingBasic/{t.workload}" and src["feature_gates"] == dict(t.feature_gates)


def test_thresholds_file_adds_nothing(tmp_path):
    path = write_config(tmp_path, "- name: small\n  params: {initNodes: 50, initPods: 10, measurePods: 20}\n")
    (plan,) = load_plans(path, scale=0.01, thresholds="file")
    assert plan.threshold is None


def test_a_threshold_the_file_states_wins_over_upstream(tmp_path):
    t = BASIC[0]
    path = write_config(tmp_path, f"- name: mine\n  threshold: 5\n  params: {params_yaml(t.params)}\n")
    plans = by_name(load_plans(path, scale=0.01, thresholds="upstream"))
    assert plans["mine"].threshold == 5.0 and plans["mine"].threshold_source == {"from": "file"}
    assert t.workload not in plans  # same params as the file's workload: not run twice
    assert all(p.threshold_source["from"] == "upstream" for name, p in plans.items() if name != "mine")


def test_upstream_threshold_goes_to_the_files_workload_with_the_same_params(tmp_path):
    t = BASIC[0]
    path = write_config(tmp_path, f"- name: mine\n  params: {params_yaml(t.params)}\n")
    plans = by_name(load_plans(path, scale=0.01, thresholds="upstream"))
    assert plans["mine"].threshold == t.threshold and plans["mine"].threshold_source["from"] == "upstream"
    assert t.workload not in plans


def test_same_name_other_params_gets_a_suffix(tmp_path):
    t = BASIC[0]
    path = write_config(tmp_path, f"- name: {t.workload}\n  params: {{initNodes: 7, initPods: 1, measurePods: 3}}\n")
    plans = by_name(load_plans(path, scale=1, thresholds="upstream"))
    assert plans[t.workload].threshold is None and plans[t.workload].nodes == 7
    assert plans[f"{t.workload}_upstream"].threshold == t.threshold


@pytest.mark.parametrize("workloads, upstream", [
    ("- name: small\n  params: {initNodes: 50, initPods: 10, measurePods: 20}\n", True),
    ("- name: small\n  threshold: 3\n  params: {initNodes: 50, initPods: 10, measurePods: 20}\n", False),
], ids=["file-states-none", "file-states-one"])
def test_auto_takes_upstream_only_when_the_file_states_no_threshold(tmp_path, workloads, upstream):
    plans = load_plans(write_config(tmp_path, workloads), scale=0.01, thresholds="auto")
    assert (len(plans) > 1) is upstream


def test_unknown_threshold_mode_is_an_error(tmp_path):
    path = write_config(tmp_path, "- name: small\n  params: {initNodes: 5, initPods: 1, measurePods: 2}\n")
    with pytest.raises(ConfigError, match="thresholds"):
        load_plans(path, thresholds="nope")


@pytest.mark.parametrize("case, factor", [
    ("SchedulingBasic", 100), ("SchedulingNodeAffinity", 100), ("TopologySpreading", 100),
    ("PreferredTopologySpreading", 100), ("NodeTaintTolerationUpdate", 100),
    ("SchedulingPodAffinity", 10), ("PreemptionBasic", 10), ("SchedulingWithNodeInclusionPolicy", 10),
])
def test_target_factor(case, factor):
    assert target_factor(case) == factor


def test_every_entry_cites_a_commit_and_fits_the_shared_file():
    cases = {c["name"]: c for c in yaml.safe_load(PERF_CONFIG.read_text())}
    assert len({(t.case, t.workload) for t in THRESHOLDS}) == len(THRESHOLDS)
    for t in THRESHOLDS:
        path, commit = t.source
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and path.startswith("test/integration/scheduler_perf/"), t
        assert t.threshold > 0 and t.case in cases, t
        needed = set(re.findall(r"\$(\w+)", yaml.safe_dump(cases[t.case]["workloadTemplate"])))
        assert needed == set(t.params), (t.case, needed, dict(t.params))


@pytest.mark.parametrize("threshold, met", [(1e-3, True), (1e9, False)], ids=["far-below", "far-above"])
def test_ratio_and_target_filled(tmp_path, threshold, met):
    path = write_config(tmp_path, f"- name: mine\n  threshold: {threshold}\n  params: {{initNodes: 20, initPods: 5, measurePods: 40}}\n")
    (plan,) = load_plans(path, thresholds="upstream", case="SchedulingBasic/mine")
    row = run_plan(plan)
    assert row["ratio"] == pytest.approx(row["pods_per_second"] / threshold, rel=1e-3, abs=0.1)
    assert row["target"] == 100 and row["target_met"] is met


def test_table_marks_upstream_thresholds_and_names_their_source(tmp_path):
    t = BASIC[0]
    path = write_config(tmp_path, "- name: mine\n  threshold: 2\n  params: {initNodes: 20, initPods: 5, measurePods: 40}\n")
    rows = [run_plan(p) for p in load_plans(path, scale=0.002, thresholds="upstream", case="SchedulingBasic/[m5]*")]
    table, notes = report.perf_table(rows), report.threshold_notes(rows)
    assert f"| {t.workload} |" in table and f"| {t.threshold:,.0f} [1] |" in table
    assert "| 2 |" in table  # the file's own threshold carries no mark
    assert f"[1] kubernetes/kubernetes `{t.source[0]}` @{t.source[1][:8]}" in notes and "not stated by the configuration" in notes
    judged = [r for r in rows if r["target_met"] is not None]
    assert f"met by {sum(r['target_met'] for r in judged)} of {len(judged)} thresholded workloads" in notes


def test_without_any_threshold_the_notes_say_so():
    assert "states no `threshold`" in report.threshold_notes([{"name": "a/b", "threshold": None}])


def test_report_suite_asks_for_upstream_thresholds(tmp_path):
    argv = regenerate._perf_config(regenerate.Options(quick=True, config="c.yaml", work=str(tmp_path), timeout=1), str(tmp_path))
    assert argv[argv.index("--thresholds") + 1] == "upstream"


def test_cli_fills_ratio_from_upstream_on_the_shared_file(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [*bench_command(), "perf-config", str(PERF_CONFIG), "--case", "SchedulingBasic/*", "--scale", "0.01",
         "--thresholds", "upstream", "--out", str(out), "--quiet"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["workload"]: r for r in json.loads((out / "result.json").read_text())["cases"]}
    for t in BASIC:
        assert rows[t.workload]["ratio"] == pytest.approx(rows[t.workload]["pods_per_second"] / t.threshold, abs=0.11)
        assert rows[t.workload]["threshold_source"]["commit"] == t.source[1]
    assert rows["5000Nodes"]["ratio"] is None  # no upstream threshold for the file's own sizes
    assert t.source[0] in (out / "summary.md").read_text() and kube_thresholds.REPO in proc.stdout
