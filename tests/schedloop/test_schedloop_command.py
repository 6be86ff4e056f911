"""`shoal scheduler`: its flags, a profile file naming the schedulers it serves, bad input."""

from __future__ import annotations

import subprocess

from loop_helpers import node_msg, pod_msg
from server_process import shoal_command
from shoal.sched.framework.config import load_config
from shoal.sched.loop import actions as act
from shoal.sched.loop.state import ADDED, SchedulerState

PROFILE = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: batch-scheduler
    pluginConfig:
      - name: NodeResourcesFit
        args:
          scoringStrategy:
            type: MostAllocated
"""


def test_a_profile_file_names_the_pods_served(tmp_path):
    path = tmp_path / "sched.yaml"
    path.write_text(PROFILE)
    state = SchedulerState(load_config(str(path)))
    assert state.names == {"batch-scheduler"}
    state.on_node(ADDED, node_msg("n1"), 0.0)
    state.on_pod(ADDED, pod_msg("mine", "100m", scheduler_name="batch-scheduler"), 0.0)
    state.on_pod(ADDED, pod_msg("theirs", "100m"), 0.0)
    assert [a.pod.name for a in state.schedule(0.0, 10) if isinstance(a, act.Bind)] == ["mine"]


def test_name_renames_the_default_profile():
    state = SchedulerState(name="second-scheduler")
    state.on_node(ADDED, node_msg("n1"), 0.0)
    state.on_pod(ADDED, pod_msg("a", "100m", scheduler_name="second-scheduler"), 0.0)
    assert [a.node for a in state.schedule(0.0, 10) if isinstance(a, act.Bind)] == ["n1"]


def test_a_bad_profile_is_one_line_and_exit_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: KubeSchedulerConfiguration\nprofiles: 5\n")
    proc = subprocess.run([*shoal_command(), "scheduler", "--profile", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "profiles" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_the_server_offers_no_scheduler():
    proc = subprocess.run([*shoal_command(), "server", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert "--no-scheduler" in proc.stdout
