"""`shoal bench gpu-frag` and `shoal bench trace` on a small trace written here (seconds), and
the independent GPU placement checker they rely on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from shoal.benchmarks.bench.alibaba_trace import TraceNode, TracePod, read_pods
from shoal.benchmarks.bench.gpu_check import BIND, LEAVE, check_placements
from shoal.benchmarks.bench.gpu_frag import run_seed, sample_pods
from shoal.sched.gpu.request import GpuRequest

NODES_CSV = """sn,cpu_milli,memory_mib,gpu,model
n0,32000,131072,4,V100M16
n1,32000,131072,4,V100M32
n2,64000,262144,8,G2
n3,16000,65536,2,T4
n4,8000,32768,0,
"""


def pods_csv(n: int = 60) -> str:
    kinds = [(2000, 4096, 1, 500, ""), (4000, 8192, 1, 1000, ""), (8000, 16384, 2, 1000, ""), (1000, 2048, 0, 0, ""),
             (2000, 4096, 1, 250, "V100M16|V100M32"), (16000, 32768, 4, 1000, "G2")]
    rows = ["name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"]
    for i in range(n):
        cpu, mem, k, milli, spec = kinds[i % len(kinds)]
        start = 10 * i
        rows.append(f"p{i:03d},{cpu},{mem},{k},{milli},{spec},LS,Running,{start},{start + 100 + 37 * (i % 5)},{start}")
    return "\n".join(rows) + "\n"


@pytest.fixture
def small_trace(tmp_path):
    d = tmp_path / "trace"
    d.mkdir()
    (d / "openb_node_list_gpu_node.csv").write_text(NODES_CSV)
    (d / "openb_pod_list_small.csv").write_text(pods_csv())
    return d


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shoal.benchmarks.bench", *args], capture_output=True, text=True,
                          check=False, timeout=180)


def test_gpu_frag_smoke(small_trace, tmp_path):
    out = tmp_path / "report"
    proc = bench("gpu-frag", "--trace", str(small_trace), "--pods", "small", "--policy", "bestfit,fgd,shoal",
                 "--seeds", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = json.loads((out / "result.json").read_text())["cases"]
    assert [c["policy"] for c in cases] == ["bestfit", "fgd", "shoal"]
    for c in cases:
        assert c["placements_valid"] is True, c["problems"]
        assert 30 < c["allocated_at_100"] <= c["allocated_at_130"] <= 100
        assert c["placed_per_seed"] > 0 and len(c["curve"]) == 131
    assert "| small | fgd | 2 |" in (out / "summary.md").read_text()
    assert (out / "gpu_frag.png").stat().st_size > 0
    assert proc.stderr.count(" s; total ") == 3  # one progress line per case


def test_trace_smoke(small_trace, tmp_path):
    out = tmp_path / "report"
    proc = bench("trace", str(small_trace), "--pods", "small", "--policy", "fgd,random", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = json.loads((out / "result.json").read_text())["cases"]
    for c in cases:
        assert c["placements_valid"] is True, c["problems"]
        assert c["placed"] == c["pods"] == 60  # every pod runs, some after waiting
        assert max(c["series"]["allocated_gpu_pct"]) > 0
    assert (out / "trace.png").stat().st_size > 0


def test_trace_queues_pods_that_do_not_fit_until_room_is_freed(small_trace, tmp_path):
    out = tmp_path / "report"
    proc = bench("trace", str(small_trace), "--pods", "small", "--policy", "fgd", "--speedup", "100", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (case,) = json.loads((out / "result.json").read_text())["cases"]
    assert case["queued_pods"] > 0 and case["peak_waiting"] > 0 and case["placed"] == case["pods"]
    assert case["placements_valid"] is True


def test_unknown_policy_is_an_error(small_trace):
    proc = bench("gpu-frag", "--trace", str(small_trace), "--pods", "small", "--policy", "tetris")
    assert proc.returncode == 1 and "--policy: unknown tetris" in proc.stderr


def test_sampling_reaches_but_never_passes_130_percent(small_trace):
    import numpy as np

    pods = read_pods(small_trace / "openb_pod_list_small.csv")
    total = sum(p.gpu.total_milli for p in pods)
    for capacity in (total // 2, total * 2):  # trimmed, then topped up
        order = sample_pods(pods, capacity, np.random.default_rng(3))
        demand = sum(pods[i].gpu.total_milli for i in order)
        assert demand <= 1.3 * capacity
        assert demand > 1.3 * capacity - max(p.gpu.total_milli for p in pods)
        assert (len(order) < len(pods)) if capacity < total else (len(order) > len(pods))
    run = run_seed([TraceNode("n", 64000, 262144, 8, "G2")], pods, "fgd", seed=1)
    assert run.problems == [] and run.allocated_at_100 <= run.allocated_at_end


NODE = [TraceNode("a", 4000, 1000, 2, "T4")]


@pytest.mark.parametrize(
    "pods, events, problem",
    [
        ([TracePod("x", 1000, 10, GpuRequest(1, 600), 0, 1), TracePod("y", 1000, 10, GpuRequest(1, 600), 0, 1)],
         [(BIND, 0, "a", (0,)), (BIND, 1, "a", (0,))], "device 0 at 1200 milli"),
        ([TracePod("x", 3000, 10, GpuRequest(), 0, 1), TracePod("y", 3000, 10, GpuRequest(), 0, 1)],
         [(BIND, 0, "a", ()), (BIND, 1, "a", ())], "cpu 6000 > 4000"),
        ([TracePod("x", 0, 10, GpuRequest(1, 1000), 0, 1), TracePod("y", 0, 10, GpuRequest(1, 200), 0, 1)],
         [(BIND, 1, "a", (1,)), (BIND, 0, "a", (1,))], "whole device 1 already in use"),
        ([TracePod("x", 0, 10, GpuRequest(2, 1000), 0, 1)], [(BIND, 0, "a", (0,))], "2 devices asked"),
        ([TracePod("x", 0, 10, GpuRequest(1, 100, ("V100",)), 0, 1)], [(BIND, 0, "a", (0,))], "model T4 not in"),
        ([TracePod("x", 0, 10, GpuRequest(1, 100), 0, 1)], [(BIND, 0, "a", (2,))], "no device 2"),
        ([TracePod("x", 0, 10, GpuRequest(), 0, 1)], [(LEAVE, 0, "a", ())], "left without being placed"),
    ],
    ids=["device-over-1000", "cpu-over-capacity", "whole-on-shared", "device-count", "model", "no-such-device", "leave"],
)
def test_checker_finds_each_broken_rule(pods, events, problem):
    problems = check_placements(NODE, pods, events)
    assert any(problem in p for p in problems), problems


def test_checker_accepts_shares_that_fit_and_freed_devices():
    pods = [TracePod("x", 1000, 10, GpuRequest(1, 600), 0, 1), TracePod("y", 1000, 10, GpuRequest(1, 400), 0, 1),
            TracePod("z", 1000, 10, GpuRequest(1, 1000), 0, 1)]
    events = [(BIND, 0, "a", (0,)), (BIND, 1, "a", (0,)), (LEAVE, 0, "a", (0,)), (LEAVE, 1, "a", (0,)), (BIND, 2, "a", (0,))]
    assert check_placements(NODE, pods, events) == []
