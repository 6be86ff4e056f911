"""`--mode cluster`: a real `shoal server` and a real hollow `shoal agent`, pods through gRPC (seconds)."""

from __future__ import annotations

import json
import subprocess

from shared_data import SHARED_DATA
from test_bench_cli_smoke import bench_command

PERF_CONFIG = SHARED_DATA / "scheduler_perf" / "performance-config.yaml"


def test_scale_cluster_mode_smoke(tmp_path):
    out = tmp_path / "cluster"
    proc = subprocess.run(
        [*bench_command(), "scale", "--mode", "cluster", "--nodes", "4", "--pods", "150", "--batch", "50", "--callers", "2", "--check", "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (point,) = json.loads((out / "result.json").read_text())["points"]
    assert point["mode"] == "cluster" and point["nodes"] == 4 and (point["batch"], point["callers"]) == (50, 2)
    # 4 hollow default nodes (4 CPU) hold 40 pods of 100m each: all 150 fit.
    assert (point["placed"], point["unschedulable"]) == (150, 0)
    assert point["placements_valid"] is True and point["problem_count"] == 0
    assert point["running"] == 150 and point["seconds_to_all_running"] >= point["seconds"] > 0
    assert point["pods_per_second"] > 0 and point["latency_ms"]["p50"] > 0
    assert "registered" in proc.stderr
    for plot in ("scaling.png", "throughput_over_time.png", "latency_cdf.png"):
        assert (out / plot).stat().st_size > 1000, plot


def test_perf_config_cluster_mode_smoke(tmp_path):
    out = tmp_path / "perf"
    proc = subprocess.run(
        [*bench_command(), "perf-config", str(PERF_CONFIG), "--case", "SchedulingBasic/500Nodes", "--scale", "0.01",
         "--mode", "cluster", "--out", str(out), "--quiet"],
        capture_output=True, text=True, check=False, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == "cluster"
    (case,) = result["cases"]
    assert case["status"] == "ran" and case["mode"] == "cluster"
    assert case["nodes"] == 5 and case["pods"] == 10 and case["placed"] == 10
    assert case["seconds_to_all_running"] is not None and case["seconds_to_all_running"] >= case["seconds"]
    assert case["placements_valid"] is True


def test_churn_runs_on_the_wall_clock_in_cluster_mode(tmp_path):
    churn_dir = SHARED_DATA / "scheduler_perf" / "churn"
    config = tmp_path / "churn.yaml"
    config.write_text(f"""\
- name: Churn
  workloadTemplate:
  - opcode: createNodes
    count: 3
  - opcode: churn
    mode: recreate
    number: 1
    templatePaths: ["{churn_dir / 'node-default.yaml'}", "{churn_dir / 'service-default.yaml'}"]
    intervalMilliseconds: 50
  - opcode: createPods
    count: 100
    collectMetrics: true
  workloads:
  - name: w
""")
    out = tmp_path / "out"
    proc = subprocess.run(
        [*bench_command(), "perf-config", str(config), "--mode", "cluster", "--out", str(out), "--quiet"],
        capture_output=True, text=True, check=False, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (case,) = json.loads((out / "result.json").read_text())["cases"]
    assert case["placed"] == 100 and case["placements_valid"] is True
    assert not any("churn" in u for u in case["unsupported"])  # applied, so not listed
    (churn,) = case["churn"]
    assert churn["errors"] == []
    # Recreate, one slot per template: every tick after the first deletes what the previous made.
    assert churn["ticks"] >= 1 and churn["created"] == 2 * churn["ticks"] and churn["deleted"] == churn["created"] - 2


def test_churn_is_listed_in_library_mode(tmp_path):
    proc = subprocess.run(
        [*bench_command(), "perf-config", str(PERF_CONFIG), "--case", "SchedulingWithMixedChurn/1000Nodes", "--scale", "0.01",
         "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (case,) = json.loads((tmp_path / "result.json").read_text())["cases"]
    assert any("churn" in u and "not applied in library mode" in u for u in case["unsupported"])
    assert any("tick(s) would have fired" in n for n in case["notes"])
