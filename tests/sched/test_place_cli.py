"""`shoal place` end to end, through a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from sched_builders import node, pod

NODES = [node("n1", "2", "4Gi"), node("n2", "2", "4Gi", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])]
PODS = [pod("small", "500m", "1Gi"), pod("huge", "3", "1Gi")]


def shoal(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("shoal")
    cmd = [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]
    return subprocess.run([*cmd, "place", *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def files(tmp_path):
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": NODES}))
    pods = tmp_path / "pods.yaml"
    pods.write_text(yaml.safe_dump_all(PODS))
    return str(nodes), str(pods), tmp_path


def test_json_output(files):
    nodes, pods, _ = files
    out = shoal("--nodes", nodes, "--pods", pods, "-o", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert list(doc) == ["assignments", "unschedulable", "stats"]
    assert doc["assignments"] == [{"pod": "default/small", "node": "n1"}]
    assert doc["unschedulable"] == [{
        "pod": "default/huge",
        "message": "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: gpu}. "
                   "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    }]
    assert doc["stats"]["pods"] == 2 and set(doc["stats"]) == {"pods", "seconds", "pods_per_second"}


def test_yaml_and_table_output(files):
    nodes, pods, _ = files
    out = shoal("--nodes", nodes, "--pods", pods, "-o", "yaml")
    assert yaml.safe_load(out.stdout)["assignments"] == [{"pod": "default/small", "node": "n1"}]
    out = shoal("--nodes", nodes, "--pods", pods, "-o", "table", "--explain")
    assert out.returncode == 0
    assert out.stdout.splitlines()[0].split() == ["POD", "NODE", "REASON"]
    assert "default/huge" in out.stdout and "tolerating dedicated=gpu:NoSchedule would open" in out.stdout


def test_existing_profile_and_seed(files):
    nodes, pods, tmp = files
    existing = tmp / "existing.yaml"
    existing.write_text(yaml.safe_dump(pod("e", "1800m", node_name="n1")))
    profile = tmp / "profile.yaml"
    profile.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n")
    out = shoal("--nodes", nodes, "--pods", pods, "--existing", str(existing), "--profile", str(profile), "--seed", "5", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["assignments"] == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("apiVersion: v1\nkind: Node\nmetadata: {name: x}\nspec: {unschedulabel: true}\n", "unknown field"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "expected Node objects"),
        ("a: [\n", "YAML"),
    ],
)
def test_bad_files_give_one_line_errors(files, content, message):
    _, pods, tmp = files
    bad = tmp / "bad.yaml"
    bad.write_text(content)
    out = shoal("--nodes", str(bad), "--pods", pods)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in out.stderr


def test_missing_file_and_bad_profile(files):
    nodes, pods, tmp = files
    out = shoal("--nodes", str(tmp / "nope.yaml"), "--pods", pods)
    assert out.returncode == 1 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    profile = tmp / "p.yaml"
    profile.write_text("profiles: [{plugins: {score: {enabled: [{name: Nope}]}}}]\n")
    out = shoal("--nodes", nodes, "--pods", pods, "--profile", str(profile))
    assert out.returncode == 1 and "unknown plugin 'Nope'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_help_has_an_example():
    out = shoal("--help")
    assert out.returncode == 0 and "example:" in out.stdout


def test_placements_replay_across_processes(files):
    """The tie-break hashes a stable digest of the pod class, not Python's salted hash()."""
    _, _, tmp = files
    nodes = tmp / "equal-nodes.yaml"
    nodes.write_text(yaml.safe_dump_all([node(f"n{i}", "64", "256Gi") for i in range(8)]))
    nodes = str(nodes)
    many = tmp / "many.yaml"
    names = [f"n{i}" for i in range(7)]
    # One term per name: a matchFields requirement takes exactly one value, as in Kubernetes.
    terms = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [n]}]} for n in names]
    docs = [pod(f"p{i}", "100m", "100Mi", labels={"i": str(i)}, affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}) for i in range(3)]
    many.write_text(yaml.safe_dump_all(docs))
    exe = shutil.which("shoal")
    cmd = [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]
    outs = []
    for hash_seed in ("1", "2"):
        env = {**__import__("os").environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([*cmd, "place", "--nodes", nodes, "--pods", str(many), "--seed", "3", "-o", "json"],
                             capture_output=True, text=True, timeout=120, check=False, env=env)
        outs.append(json.loads(out.stdout)["assignments"])
    assert outs[0] == outs[1] and len(outs[0]) == 3  # every node ties; both processes break ties alike
