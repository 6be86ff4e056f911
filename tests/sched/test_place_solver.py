"""`shoal place --solver cpsat|greedy` and `--vbp`: the batch through CP-SAT, gangs whole or not
at all, never worse than kube-scheduler's one-at-a-time answer, every result checked by the
independent placement checker; vector bin packing instances with a known optimum."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys

import pytest
import yaml
from placement_checker import check_placement
from sched_builders import msgs, node, pod
from shared_data import SHARED_DATA
from shoal.sched import place

GROUP = "scheduling.x-k8s.io/pod-group"
# Sizes chosen so kube-scheduler (smallest created first, LeastAllocated spreading) strands a
# member, while 4 bins of 4 cpu hold them exactly: {3,1} {3,1} {2,2} {2,2}.
GANG_CPUS = [1, 1, 2, 2, 2, 2, 3, 3]


def gang_pods(cpus, group="train"):
    out = []
    for i, c in enumerate(cpus):
        p = pod(f"w{i}", str(c), "1Gi", labels={GROUP: group})
        p["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{i:02d}Z"
        out.append(p)
    return out


def pod_group(name, min_member):
    return {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"minMember": min_member}}


def shoal(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("shoal")
    cmd = [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]
    return subprocess.run([*cmd, "place", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def gang_files(tmp_path):
    nodes = [node(f"n{i}", "4", "8Gi") for i in range(4)]
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": nodes}))
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(gang_pods(GANG_CPUS) + [pod_group("train", 8)]))
    return str(tmp_path / "nodes.yaml"), str(tmp_path / "pods.yaml"), nodes


def test_greedy_strands_a_gang_member_that_cpsat_places_whole(gang_files):
    nodes, pods, node_docs = gang_files
    greedy = json.loads(shoal("--nodes", nodes, "--pods", pods, "--solver", "greedy", "-o", "json").stdout)
    assert len(greedy["assignments"]) < 8  # the premise: one at a time leaves members out
    assert greedy["stats"]["solver"] == "greedy"
    out = shoal("--nodes", nodes, "--pods", pods, "--solver", "cpsat", "--time-limit", "2", "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["assignments"]) == 8 and doc["unschedulable"] == []
    stats = doc["stats"]
    assert stats["solver"] == "cpsat" and stats["objective"] == "nodes"
    assert stats["status"] == "optimal" and stats["gap"] == 0.0 and stats["value"] == stats["bound"] == 4
    assert stats["nodes_in_use"] == 4 and stats["greedy_placed"] == 0  # greedy's gang is void (6 of 8)
    order = {a["pod"]: a["node"] for a in doc["assignments"]}
    assert check_placement(node_docs, gang_pods(GANG_CPUS), order) == []


def test_a_gang_that_cannot_fit_places_nothing_and_every_member_says_why(tmp_path):
    nodes = [node(f"n{i}", "4", "8Gi") for i in range(4)]
    cpus = GANG_CPUS[:-1] + [4]  # 17 cpu on 16
    (tmp_path / "n.yaml").write_text(yaml.safe_dump_all(nodes))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump_all(gang_pods(cpus) + [pod(f"solo{i}", "1") for i in range(2)]))
    doc = json.loads(shoal("--nodes", str(tmp_path / "n.yaml"), "--pods", str(tmp_path / "p.yaml"),
                           "--solver", "cpsat", "--time-limit", "2", "-o", "json").stdout)
    placed = {a["pod"] for a in doc["assignments"]}
    assert placed == {"default/solo0", "default/solo1"}
    messages = {u["pod"]: u["message"] for u in doc["unschedulable"]}
    assert set(messages) == {f"default/w{i}" for i in range(8)}
    for m in messages.values():
        assert m.startswith("gang not placed: gang default/train needs 8 of 8 members placed together"), m
        assert "cpu" in m and "none placed" in m


def test_table_output_shows_the_gap_and_bad_flags_are_one_line_errors(gang_files):
    nodes, pods, _ = gang_files
    out = shoal("--nodes", nodes, "--pods", pods, "--solver", "cpsat", "--objective", "balanced", "--time-limit", "1")
    assert out.returncode == 0, out.stderr
    assert "solver cpsat:" in out.stdout and "objective balanced" in out.stdout and "gap" in out.stdout
    bad = shoal("--vbp", "x.vbp", "--nodes", nodes)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --vbp takes no --nodes")
    bad = shoal("--pods", pods)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --nodes required (or --vbp FILE)"
    bad = shoal("--nodes", nodes, "--pods", pods, "--solver", "cpsat", "--time-limit", "0")
    assert bad.returncode == 1 and "--time-limit" in bad.stderr


def random_cluster(seed: int):
    rng = random.Random(seed)
    nodes = [node(f"n{i}", str(rng.choice([2, 4, 8])), f"{rng.choice([4, 8, 16])}Gi",
                  labels={"disk": rng.choice(["ssd", "hdd"])}) for i in range(8)]
    pods = []
    for i in range(40):
        kw = {"node_selector": {"disk": "ssd"}} if rng.random() < 0.2 else {}
        if rng.random() < 0.15:
            kw["priority"] = 100
        pods.append(pod(f"p{i:02d}", f"{rng.choice([250, 500, 1000, 1500, 2000])}m",
                        f"{rng.choice([256, 512, 1024, 2048])}Mi", **kw))
    return nodes, pods


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", ["nodes", "balanced"])
def test_cpsat_is_feasible_and_never_worse_than_greedy(seed, objective):
    nodes, pods = random_cluster(seed)
    greedy = place(msgs(nodes), msgs(pods), solver="greedy")
    solved = place(msgs(nodes), msgs(pods), solver="cpsat", objective=objective, time_limit=1.0)
    order = {a.pod: a.node for a in solved.assignments}
    assert check_placement(nodes, pods, order) == []
    prio = {f"default/{p['metadata']['name']}": p["spec"].get("priority", 0) for p in pods}

    def weight(result):
        return sorted((prio[a.pod] for a in result.assignments), reverse=True)

    assert len(solved.assignments) >= len(greedy.assignments)
    assert sum(prio[a.pod] for a in solved.assignments) >= sum(prio[a.pod] for a in greedy.assignments)
    if objective == "nodes" and weight(solved) == weight(greedy):
        assert solved.stats["nodes_in_use"] <= greedy.stats["nodes_in_use"]
    assert solved.stats["solver"] == "cpsat" and solved.stats["bound"] is not None
    assert len(solved.assignments) + len(solved.unschedulable) == len(pods)


def test_pods_with_inter_pod_terms_take_the_per_pod_path():
    nodes = [node(f"n{i}", "4", "8Gi") for i in range(3)]
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    pods = [pod(f"db{i}", "1", labels={"app": "db"}, affinity=anti) for i in range(4)] + [pod("plain", "1")]
    result = place(msgs(nodes), msgs(pods), solver="cpsat", time_limit=1.0)
    assert result.stats["per_pod_path"] == 4 and result.stats["solver_pods"] == 1
    order = {a.pod: a.node for a in result.assignments}
    assert check_placement(nodes, pods, order) == []
    assert len({order[f"default/db{i}"] for i in range(3)}) == 3 and len(result.unschedulable) == 1


def known_optima():
    with open(SHARED_DATA / "vbp" / "known_optima.csv") as f:
        return {row["instance"]: row for row in csv.DictReader(f)}


@pytest.mark.parametrize("instance", ["class1_20_3_0", "class6_20_3_0", "class9_20_3_0"])
def test_vbp_reports_bins_lower_bound_and_gap(instance):
    row = known_optima()[instance]
    out = shoal("--vbp", str(SHARED_DATA / "vbp" / row["file"]), "--time-limit", "10", "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["instance"] == instance and doc["items"] == int(row["n_items"])
    assert doc["lower_bound"] >= int(row["LB"]) and doc["bins"] >= doc["lower_bound"]
    assert doc["bins"] == int(row["OPT(-1=unknown)"])
    assert doc["gap"] == pytest.approx((doc["bins"] - doc["lower_bound"]) / doc["bins"])
    assert len(doc["assignment"]) == doc["items"] and max(doc["assignment"]) == doc["bins"] - 1
