"""`shoal logs` and `shoal exec` end to end: the CLI, the server's NodeService, the agent's HTTP
endpoint and busybox containers run by runc."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from node_helpers import make_pod, needs_containers, wait_for

pytestmark = needs_containers

SLEEPER = ["sh", "-c", "echo hello from $(hostname); trap 'exit 0' TERM; while true; do sleep 1; done"]


def run_pod(cluster, pod, *, ready: bool = True, timeout: float = 30.0):
    """Creates ``pod`` on the cluster's node (spec.nodeName set: no scheduler involved)."""
    pod.spec.node_name = cluster.node
    with cluster.client() as api:
        api.create(pod)
        if not ready:
            return None
        return wait_for(lambda: _ready(api, pod.metadata.name), timeout, interval=0.05,
                        what=f"pod {pod.metadata.name} ready ({cluster.agent.log()[-1500:]})")


def _ready(api, name):
    pod = api.get("Pod", name, "default")
    statuses = pod.status.container_statuses
    return pod if statuses and all(s.ready for s in statuses) else None


def text(result: subprocess.CompletedProcess) -> str:
    return result.stdout.decode()


def test_logs_show_what_the_container_printed(runc_cluster):
    run_pod(runc_cluster, make_pod("greeter", command=SLEEPER))
    out = wait_for(lambda: (r := runc_cluster.shoal("logs", "greeter")).returncode == 0 and text(r), 10,
                   what="the greeting in the log")
    assert out == "hello from greeter\n"
    assert text(runc_cluster.shoal("logs", "pod/greeter", "-c", "main", "--tail", "1")) == "hello from greeter\n"
    assert text(runc_cluster.shoal("logs", "greeter", "--tail", "0")) == ""


def test_logs_follow_streams_new_lines_until_the_container_ends(runc_cluster):
    ticker = ["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.4; done"]
    run_pod(runc_cluster, make_pod("ticker", command=ticker, restart_policy="Never"))
    started = time.monotonic()
    follow = runc_cluster.shoal("logs", "-f", "ticker", timeout=30)
    assert follow.returncode == 0, follow.stderr
    assert text(follow).split() == [f"tick-{i}" for i in range(1, 7)]
    assert time.monotonic() - started > 0.8, "-f returned before the container wrote its last lines"


def test_logs_follow_prints_lines_as_they_come(runc_cluster):
    counter = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo count-$i; sleep 0.2; done"]
    run_pod(runc_cluster, make_pod("counter", command=counter))
    env = {**os.environ, "SHOAL_SERVER": runc_cluster.address}
    from server_process import shoal_command

    proc = subprocess.Popen([*shoal_command(), "logs", "counter", "-f", "--tail", "1"], stdout=subprocess.PIPE,
                            env=env)
    try:
        first = int(proc.stdout.readline().decode().strip().removeprefix("count-"))
        later = [proc.stdout.readline().decode().strip() for _ in range(4)]
        assert later == [f"count-{n}" for n in range(first + 1, first + 5)]
    finally:
        proc.terminate()
        proc.wait(10)


def test_logs_previous_shows_the_run_before_the_restart(runc_cluster):
    from shoal.v1.core_pb2 import Pod

    pod = Pod()
    pod.metadata.name, pod.metadata.namespace = "flaky", "default"
    pod.spec.volumes.add(name="data").empty_dir.SetInParent()
    c = pod.spec.containers.add(name="main", image="busybox")
    # The first run exits after a second; the second stays up. The run count survives in the emptyDir.
    script = ("n=$(($(cat /data/n 2>/dev/null || echo 0) + 1)); echo $n > /data/n; "
              "echo run-$n; [ $n -ge 2 ] && exec sleep 3600; sleep 1; exit 1")
    c.command.extend(["sh", "-c", script])
    c.volume_mounts.add(name="data", mount_path="/data")
    run_pod(runc_cluster, pod, ready=False)
    with runc_cluster.client() as api:
        wait_for(lambda: (s := api.get("Pod", "flaky", "default").status.container_statuses) and s[0].restart_count >= 1
                 and s[0].state.WhichOneof("state") == "running", 20, what="flaky restarted and running")
    assert wait_for(lambda: text(runc_cluster.shoal("logs", "flaky")), 5, what="run-2's output") == "run-2\n"
    assert text(runc_cluster.shoal("logs", "flaky", "--previous")) == "run-1\n"


def test_exec_runs_a_command_in_the_container(runc_cluster):
    run_pod(runc_cluster, make_pod("box", command=SLEEPER))
    result = runc_cluster.shoal("exec", "box", "--", "cat", "/etc/hostname")
    assert (result.returncode, text(result)) == (0, "box\n"), result.stderr
    both = runc_cluster.shoal("exec", "box", "--", "sh", "-c", "echo out; echo err >&2")
    assert (both.stdout, both.stderr) == (b"out\n", b"err\n")
    fed = runc_cluster.shoal("exec", "-i", "box", "--", "tr", "a-z", "A-Z", input=b"shout\n")
    assert fed.stdout == b"SHOUT\n"


def test_exec_exit_status_becomes_the_cli_status(runc_cluster):
    run_pod(runc_cluster, make_pod("quitter", command=SLEEPER))
    result = runc_cluster.shoal("exec", "quitter", "--", "sh", "-c", "exit 3")
    assert result.returncode == 3
    assert result.stderr.decode().strip() == "command terminated with exit code 3"


@pytest.mark.parametrize("args, code, message", [
    (("logs", "nobody"), 1, 'Error from server (NotFound): pods "nobody" not found'),
    (("exec", "nobody", "--", "true"), 1, 'Error from server (NotFound): pods "nobody" not found'),
    (("logs", "greeter", "-c", "nope"), 1,
     'Error from server (Invalid): container "nope" is not valid for pod "greeter": choose one of [main]'),
    (("exec", "greeter"), 1, "error: you must specify at least one command for the container, after --"),
], ids=["logs-missing-pod", "exec-missing-pod", "logs-unknown-container", "exec-no-command"])
def test_errors_are_one_line(runc_cluster, args, code, message):
    with runc_cluster.client() as api:
        if not any(p.metadata.name == "greeter" for p in api.list_items("Pod", "default")):
            run_pod(runc_cluster, make_pod("greeter", command=SLEEPER))
    result = runc_cluster.shoal(*args)
    assert (result.returncode, result.stderr.decode().strip()) == (code, message)


def test_top_reads_a_busy_containers_cgroup(runc_cluster):
    spinner = ["sh", "-c", "while true; do :; done"]
    run_pod(runc_cluster, make_pod("spinner", command=spinner, limits={"cpu": "200m", "memory": "32Mi"}))

    def spinner_row():
        result = runc_cluster.shoal("top", "pods", "spinner")
        lines = result.stdout.decode().split("\n")
        return result.returncode == 0 and int(lines[1].split()[1].removesuffix("m")) > 0 and lines[1].split()

    name, cpu, memory = wait_for(spinner_row, 10, interval=0.3, what="spinner's usage")
    assert name == "spinner" and 100 <= int(cpu.removesuffix("m")) <= 260  # held to its 200m quota
    assert memory.endswith("Mi")
    nodes = runc_cluster.shoal("top", "nodes").stdout.decode().splitlines()
    node_name, node_cpu, _pct, _memory, _mpct = nodes[1].split()
    assert node_name == runc_cluster.node and int(node_cpu.removesuffix("m")) >= 100
