"""The trace replay's CP-SAT batches (`shoal bench trace --policy cpsat-batch`): the per-device
batch model (sched/solver/gpu_batch.py) and the replay around it (benchmarks/bench/trace_cpsat.py).
Every replay here is checked by the independent placement checker (gpu_check)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from shoal.benchmarks.bench.alibaba_trace import default_trace_dir
from shoal.benchmarks.bench.trace import ReplayState, load_pods, replay
from shoal.benchmarks.bench.trace_cpsat import (
    BatchOptions,
    candidate_nodes,
    greedy_hint,
    replay_batches,
)
from shoal.sched.gpu.devices import DeviceError, GpuNodes, PodDemand, allocate, fit_mask
from shoal.sched.gpu.request import GpuRequest
from shoal.sched.solver.gpu_batch import batch_value, solve_gpu_batch

NODES_CSV = """sn,cpu_milli,memory_mib,gpu,model
n0,32000,131072,4,V100M16
n1,32000,131072,4,V100M32
n2,64000,262144,8,G2
n3,16000,65536,2,T4
n4,8000,32768,0,
"""


def pods_csv(n: int) -> str:
    """Arrivals every second, runs of 200-400 s: far more than 5 nodes hold, so a queue builds."""
    kinds = [(2000, 4096, 1, 500, ""), (4000, 8192, 1, 1000, ""), (8000, 16384, 2, 1000, ""), (1000, 2048, 0, 0, ""),
             (2000, 4096, 1, 250, "V100M16|V100M32"), (16000, 32768, 4, 1000, "G2"), (3000, 4096, 1, 700, ""),
             (2000, 4096, 1, 300, "T4")]
    rows = ["name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"]
    for i in range(n):
        cpu, mem, k, milli, spec = kinds[(i * 5) % len(kinds)]
        rows.append(f"p{i:03d},{cpu},{mem},{k},{milli},{spec},LS,Running,{i},{i + 200 + 37 * (i % 7)},{i}")
    return "\n".join(rows) + "\n"


@pytest.fixture
def busy_trace(tmp_path):
    d = tmp_path / "trace"
    d.mkdir()
    (d / "openb_node_list_gpu_node.csv").write_text(NODES_CSV)
    (d / "openb_pod_list_busy.csv").write_text(pods_csv(300))
    return d


def nodes_with(free: list[list[int]], cpu: int = 32000) -> GpuNodes:
    """Nodes of one model whose devices have `free` milli (a row per node)."""
    nodes = GpuNodes.build([f"n{i}" for i in range(len(free))], [cpu] * len(free), [1 << 20] * len(free),
                           [len(f) for f in free], ["V100M32"] * len(free))
    for n, row in enumerate(free):
        nodes.gpu_free[n, :len(row)] = row
    return nodes


def shared(milli: int, cpu: int = 1000) -> PodDemand:
    return PodDemand(cpu, 1024, GpuRequest(1, milli))


def whole(count: int, cpu: int = 1000) -> PodDemand:
    return PodDemand(cpu, 1024, GpuRequest(count, 1000))


def all_feasible(nodes: GpuNodes, pods: list[PodDemand]) -> list[np.ndarray]:
    return [np.flatnonzero(fit_mask(nodes, p)) for p in pods]


def allocate_all(nodes: GpuNodes, pods, placements) -> None:
    """Raises DeviceError if the answer cannot be allocated device by device (the replay's rule)."""
    trial = nodes.clone()
    for pod, where in zip(pods, placements):
        if where is not None:
            allocate(trial, where[0], pod, where[1])


# -- the batch model ---------------------------------------------------------------------------

CASES = [
    # id, free milli per device per node, pods, hint (node, devices) or None, expected (milli, pods, idle devices broken)
    ("whole GPU needs idle devices, not free share", [[1000, 400]], [whole(1), shared(500), shared(400)],
     [None, (0, [0]), (0, [1])], (1400, 2, 0)),
    ("a share on an idle device blocks a whole GPU", [[1000, 1000]], [shared(300), whole(2)],
     [(0, [0]), None], (2000, 1, 0)),
    ("shares packed onto the partly used device", [[1000, 1000, 500]], [shared(250), shared(250), whole(2)],
     [(0, [0]), (0, [0]), None], (2500, 3, 0)),
    ("cpu-heavy pods spread by the hint keep a 2-GPU pod out", [[1000, 1000], [1000, 1000]],
     [whole(1, cpu=30000), whole(1, cpu=30000), whole(2, cpu=2000)], [(0, [0]), (1, [0]), None], (3000, 2, 0)),
]


@pytest.mark.parametrize("free,pods,hint,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_batch_model_finds_the_optimum_device_by_device(free, pods, hint, expected):
    nodes = nodes_with(free)
    hint = [(h[0], np.array(h[1])) if h else None for h in hint]
    answer = solve_gpu_batch(nodes, pods, all_feasible(nodes, pods), hint, time_limit=5.0, workers=2)
    allocate_all(nodes, pods, answer.placements)
    assert (answer.value.milli, answer.value.pods, answer.value.broken) == expected
    assert answer.value == batch_value(nodes, pods, answer.placements)


def test_an_answer_that_breaks_the_device_rules_cannot_be_allocated():
    # The check allocate_all relies on is real: two shares over one device's 1000 milli.
    nodes = nodes_with([[1000]])
    with pytest.raises(DeviceError):
        allocate_all(nodes, [shared(600), shared(600)], [(0, np.array([0])), (0, np.array([0]))])


@pytest.mark.parametrize("policy", ["bestfit", "random", "shoal"])
def test_batches_never_place_fewer_pods_or_less_gpu_than_their_greedy_hint(busy_trace, policy):
    nodes_list, pods = load_pods(busy_trace, "busy", 120, 1.0)
    state = ReplayState(nodes_list, pods, policy, seed=3)
    rng = np.random.default_rng(0)
    for trial in range(4):
        order = sorted(rng.choice(len(pods), size=40, replace=False).tolist())
        before = state.nodes.gpu_free.copy(), state.nodes.cpu_free.copy()
        hint = greedy_hint(state, order)
        assert (state.nodes.gpu_free == before[0]).all() and (state.nodes.cpu_free == before[1]).all()  # rolled back
        demands = [state.demands[i] for i in order]
        candidates = [np.union1d(candidate_nodes(state.policy, state.nodes, d, 2), [h[0]] if h else []).astype(np.int64)
                      for d, h in zip(demands, hint)]
        answer = solve_gpu_batch(state.nodes, demands, candidates, hint, time_limit=1.0, workers=2, seed=trial)
        allocate_all(state.nodes, demands, answer.placements)
        assert answer.value.pods >= answer.hint_value.pods
        assert answer.value.key >= answer.hint_value.key
        for i, where in zip(order, answer.placements):  # leave the cluster busier for the next trial
            if where is not None and rng.random() < 0.3:
                state.bind(i, where[0], where[1], now=0)


@pytest.mark.parametrize("n_pods,n_nodes,k,limit,path", [
    (120, 30, 8, 1.0, "search"),  # built in time; the search is what the limit cuts (not optimal in 1 s)
    (240, 60, 16, 0.2, "build"),  # ~20,000 variables: the limit is spent before the model is built
], ids=["search", "build"])
def test_batch_respects_its_time_limit(n_pods, n_nodes, k, limit, path):
    rng = np.random.default_rng(1)
    nodes = nodes_with([[1000] * 8 for _ in range(n_nodes)], cpu=64000)
    pods = [shared(int(rng.choice([100, 250, 300, 500, 700]))) if rng.random() < 0.6 else whole(int(rng.choice([1, 2, 4])))
            for _ in range(n_pods)]
    candidates = [rng.permutation(n_nodes)[:k] for _ in pods]
    t0 = time.perf_counter()
    answer = solve_gpu_batch(nodes, pods, candidates, [None] * len(pods), time_limit=limit, workers=2)
    wall = time.perf_counter() - t0
    assert wall <= limit + 0.5 and answer.seconds <= limit + 0.5
    assert answer.status != "optimal"  # else the case does not test the limit
    assert (answer.variables == 0) == (path == "build")
    allocate_all(nodes, pods, answer.placements)


# -- the replay --------------------------------------------------------------------------------

def test_batch_replay_passes_the_checker_and_places_what_greedy_does(busy_trace):
    options = BatchOptions(window=5.0, max_batch=40, time_limit=0.5, workers=2, candidates=3, hint_policy="bestfit")
    row = replay_batches(busy_trace, "busy", options, limit=300)
    greedy = replay(busy_trace, "busy", "bestfit", limit=300)
    assert row["placements_valid"] is True and row["problem_count"] == 0
    assert row["placed"] + row["never_placed"] == 300
    assert row["batch"]["batches"] >= 300 // 40
    assert row["batch"]["solver_pods_over_hint"] >= 0 and row["batch"]["solver_milli_over_hint"] >= 0
    assert max(row["series"]["waiting"]) > 0  # the fixture is busy: the queue is exercised
    assert row["placed"] >= greedy["placed"] - 5  # batching delays pods; it does not lose them
    assert row["batch"]["solve_seconds_max"] <= 0.5 + 0.5


@pytest.mark.skipif(not (default_trace_dir() / "openb_pod_list_default.csv").exists(), reason="the Alibaba trace is not here")
def test_batch_replay_on_the_first_pods_of_the_real_trace():
    options = BatchOptions(window=5.0, max_batch=100, time_limit=0.5, workers=2, candidates=8)
    row = replay_batches(default_trace_dir(), "default", options, limit=300, speedup=30000)
    assert row["placements_valid"] is True and row["placed"] == 300


def test_cli_runs_greedy_and_cpsat_batch_side_by_side(busy_trace, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "shoal.benchmarks.bench", "trace", str(busy_trace), "--pods", "busy",
                           "--policy", "bestfit,cpsat-batch", "--limit", "120", "--batch-window", "5", "--time-limit", "0.3",
                           "--candidates", "3", "--batch-hint", "bestfit", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "CP-SAT batches" in proc.stdout and "| busy | cpsat-batch |" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    assert [c["policy"] for c in result["cases"]] == ["bestfit", "cpsat-batch"]
    assert result["cases"][1]["batch"]["hint_policy"] == "bestfit"
    assert "batch" in proc.stderr  # progress


@pytest.mark.parametrize("args", [["--policy", "nope"], ["--policy", "cpsat-batch", "--batch-hint", "cpsat-batch"],
                                  ["--policy", "cpsat-batch", "--time-limit", "0"]], ids=["policy", "hint", "time-limit"])
def test_cli_refuses_bad_batch_options(busy_trace, args):
    proc = subprocess.run([sys.executable, "-m", "shoal.benchmarks.bench", "trace", str(busy_trace), "--pods", "busy", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "error:" in proc.stderr
