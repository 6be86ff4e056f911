"""End to end with runc: a real server, a real agent, busybox from a real registry (as root)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import pytest

from node_helpers import container_state, leftovers, make_pod, needs_containers, wait_for

pytestmark = needs_containers

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def run_pod(node, pod, timeout: float = 30.0):
    api = node.api
    api.create(pod)
    api.bind(pod.metadata.name, node.name, pod.metadata.namespace)
    return wait_for(lambda: _ready(api, pod.metadata.name), timeout, interval=0.05,
                    what=f"pod {pod.metadata.name} ready ({node.agent.log()[-1500:]})")


def _ready(api, name):
    pod = api.get("Pod", name, "default")
    statuses = pod.status.container_statuses
    return pod if statuses and all(s.ready for s in statuses) else None


def status_of(api, name):
    return api.get("Pod", name, "default").status


def test_busybox_httpd_runs_and_answers_on_its_pod_ip(runc_node):
    pod = run_pod(runc_node, make_pod("web", command=HTTPD))
    st = pod.status
    assert st.phase == "Running"
    assert st.pod_ip.startswith("10.244.")
    (cs,) = st.container_statuses
    assert cs.container_id.startswith("runc://") and cs.image_id.startswith("docker.io/library/busybox@sha256:")
    body = urllib.request.urlopen(f"http://{st.pod_ip}/", timeout=5).read()
    assert body == b"hello from shoal\n"
    node = runc_node.api.get("Node", runc_node.name)
    assert node.status.node_info.container_runtime_version.startswith("runc://1.")
    assert node.spec.pod_cidr and st.pod_ip.startswith(node.spec.pod_cidr.rsplit(".", 2)[0])
    wait_for(lambda: any("docker.io/library/busybox:latest" in i.names
                         for i in runc_node.api.get("Node", runc_node.name).status.images), 5,
             what="the node status to list busybox")


def test_a_killed_container_is_restarted_and_counted(runc_node):
    pod = run_pod(runc_node, make_pod("sleeper", command=SLEEPER))
    uid = pod.metadata.uid
    for expected in (1, 2):
        pid = container_state(runc_node.state_dir, uid, "main")["pid"]
        os.kill(pid, signal.SIGKILL)
        st = wait_for(lambda: (s := status_of(runc_node.api, "sleeper")).container_statuses[0].restart_count == expected
                      and s.container_statuses[0].state.WhichOneof("state") == "running" and s, 15,
                      what=f"restart {expected}")
        last = st.container_statuses[0].last_state.terminated
        assert (last.exit_code, last.reason) == (137, "Error")
        assert container_state(runc_node.state_dir, uid, "main")["pid"] != pid


def test_exit_codes_and_restart_policy_never(runc_node):
    api = runc_node.api
    for name, command, phase, code, reason in (
        ("ok", ["true"], "Succeeded", 0, "Completed"),
        ("bad", ["sh", "-c", "exit 3"], "Failed", 3, "Error"),
    ):
        api.create(make_pod(name, command=command, restart_policy="Never"))
        api.bind(name, runc_node.name, "default")
        st = wait_for(lambda: (s := status_of(api, name)).phase == phase and s, 20, what=f"{name} {phase}")
        term = st.container_statuses[0].state.terminated
        assert (term.exit_code, term.reason) == (code, reason)


def test_a_memory_hog_over_its_limit_is_oom_killed(runc_node):
    hog = make_pod("hog", command=["sh", "-c", "x=a; while true; do x=$x$x; done"], restart_policy="Never",
                   limits={"memory": "32Mi", "cpu": "500m"})
    runc_node.api.create(hog)
    runc_node.api.bind("hog", runc_node.name, "default")
    st = wait_for(lambda: (s := status_of(runc_node.api, "hog")).phase == "Failed" and s, 30, what="hog Failed")
    term = st.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (137, "OOMKilled")


def test_limits_reach_the_cgroup(runc_node):
    pod = run_pod(runc_node, make_pod("limited", command=SLEEPER, limits={"memory": "64Mi", "cpu": "250m"}))
    cg = f"/shoal/{runc_node.name}/pod{pod.metadata.uid}/main"

    def read(controller, name):
        with open(f"/sys/fs/cgroup/{controller}{cg}/{name}") as f:
            return f.read().strip()

    assert read("memory", "memory.limit_in_bytes") == str(64 * 1024 * 1024)
    assert read("cpu", "cpu.cfs_quota_us") == "25000" and read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("cpu", "cpu.shares") == "256"
    assert int(read("pids", "pids.max")) > 0


def test_deleting_a_pod_leaves_nothing_behind(runc_node):
    pod = run_pod(runc_node, make_pod("gone", command=HTTPD, grace=1))
    uid = pod.metadata.uid
    assert leftovers(runc_node.state_dir, runc_node.name, uid), "the running pod should hold things"
    runc_node.api.delete("Pod", "gone", "default")
    wait_for(lambda: "gone" not in {p.metadata.name for p in runc_node.api.list_items("Pod", "default")}, 20,
             what="the agent to delete the pod object")
    assert leftovers(runc_node.state_dir, runc_node.name, uid) == []


def test_grace_period_then_kill_for_a_shell_that_ignores_sigterm(runc_node):
    pod = make_pod("stubborn", command=["sh", "-c", "trap '' TERM; while true; do sleep 1; done"], grace=2)
    run_pod(runc_node, pod)
    started = time.monotonic()
    runc_node.api.delete("Pod", "stubborn", "default")
    wait_for(lambda: "stubborn" not in {p.metadata.name for p in runc_node.api.list_items("Pod", "default")}, 20,
             what="stubborn deleted")
    assert 1.5 < time.monotonic() - started < 10


def test_restarting_the_agent_adopts_running_containers(runc_node):
    pod = run_pod(runc_node, make_pod("kept", command=HTTPD))
    uid = pod.metadata.uid
    before = container_state(runc_node.state_dir, uid, "main")
    runc_node.restart_agent(signal.SIGKILL)
    time.sleep(1.0)
    after = container_state(runc_node.state_dir, uid, "main")
    assert after["pid"] == before["pid"], "the container was recreated instead of adopted"
    os.kill(before["pid"], 0)
    runc_root = os.path.join(runc_node.state_dir, "runc")
    listed = subprocess.run(["runc", "--root", runc_root, "list", "-q"], capture_output=True, text=True).stdout.split()
    assert listed == [before["id"]], "a duplicate container appeared"
    st = status_of(runc_node.api, "kept")
    assert st.phase == "Running" and st.container_statuses[0].restart_count == 0
    assert urllib.request.urlopen(f"http://{st.pod_ip}/", timeout=5).read() == b"hello from shoal\n"
    # The new agent watches the adopted container: its death is noticed and it is restarted.
    os.kill(before["pid"], signal.SIGKILL)
    wait_for(lambda: status_of(runc_node.api, "kept").container_statuses[0].restart_count == 1, 15,
             what="the adopted container's restart")


def test_a_missing_image_is_errimagepull_then_imagepullbackoff(runc_node):
    api = runc_node.api
    api.create(make_pod("missing", image="busybox:no-such-tag"))
    api.bind("missing", runc_node.name, "default")
    seen = set()

    def both():
        st = status_of(api, "missing")
        if st.container_statuses:
            seen.add(st.container_statuses[0].state.waiting.reason)
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    wait_for(both, 15, interval=0.05, what="ErrImagePull then ImagePullBackOff")


def test_readiness_gates_ready_and_a_failing_liveness_probe_restarts(runc_node):
    pod = make_pod("probed", command=["sh", "-c", "touch /tmp/alive; httpd -f -p 80 -h /var/www"])
    c = pod.spec.containers[0]
    c.readiness_probe.http_get.path = "/index.html"
    c.readiness_probe.http_get.port.int_val = 80
    c.readiness_probe.period_seconds = 1
    c.liveness_probe.exec.command.extend(["cat", "/tmp/alive"])
    c.liveness_probe.period_seconds = 1
    c.liveness_probe.failure_threshold = 2
    pod.spec.termination_grace_period_seconds = 1
    run_pod(runc_node, pod)
    conditions = {c.type: c.status for c in status_of(runc_node.api, "probed").conditions}
    assert conditions["Ready"] == "True"
    # Break readiness: the page goes away, Ready turns False while the container keeps running.
    uid = runc_node.api.get("Pod", "probed", "default").metadata.uid
    rootfs = os.path.join(runc_node.state_dir, "pods", uid, "containers", "main", "rootfs")
    os.rename(os.path.join(rootfs, "var/www/index.html"), os.path.join(rootfs, "var/www/gone.html"))
    wait_for(lambda: {c.type: c.status for c in status_of(runc_node.api, "probed").conditions}["Ready"] == "False",
             10, what="Ready False")
    assert status_of(runc_node.api, "probed").container_statuses[0].state.WhichOneof("state") == "running"
    # Break liveness: the container is killed and started again (a fresh writable layer: ready again).
    os.unlink(os.path.join(rootfs, "tmp/alive"))
    st = wait_for(lambda: (s := status_of(runc_node.api, "probed")).container_statuses[0].restart_count == 1
                  and s.container_statuses[0].ready and s, 20, what="liveness restart, ready again")
    assert st.container_statuses[0].last_state.terminated.exit_code in (137, 143)


def agent_http(node, path: str, method: str = "GET") -> bytes:
    port = node.api.get("Node", node.name).status.daemon_endpoints.kubelet_endpoint.port
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    return urllib.request.urlopen(req, timeout=10).read()


def test_logs_previous_logs_and_exec_through_the_agent_endpoint(runc_node):
    import json

    # stdout and stderr are separate pipes: the pause orders the two lines in the log.
    cmd = ["sh", "-c", "echo run-$(cat /proc/uptime | cut -d. -f1); sleep 0.3; echo to-stderr >&2; "
                       "trap 'exit 0' TERM; while true; do sleep 1; done"]
    pod = run_pod(runc_node, make_pod("chatty", command=cmd))
    logs = wait_for(lambda: (b := agent_http(runc_node, "/containerLogs/default/chatty/main")).count(b"\n") >= 2 and b,
                    5, what="two log lines")
    assert b"to-stderr" in logs and logs.startswith(b"run-")
    assert agent_http(runc_node, "/containerLogs/default/chatty/main?tailLines=1") == b"to-stderr\n"
    out = json.loads(agent_http(runc_node, "/exec/default/chatty/main?command=cat&command=/etc/hostname", "POST"))
    assert out == {"exitCode": 0, "output": "chatty\n"}
    os.kill(container_state(runc_node.state_dir, pod.metadata.uid, "main")["pid"], signal.SIGKILL)
    wait_for(lambda: status_of(runc_node.api, "chatty").container_statuses[0].restart_count == 1, 10, what="restart")
    assert agent_http(runc_node, "/containerLogs/default/chatty/main?previous=true") == logs
    story = json.loads(agent_http(runc_node, "/pods"))
    (mine,) = [p for p in story if p["name"] == "chatty"]
    assert mine["containers"]["main"]["restartCount"] == 1
    assert any(entry["what"] == "exited" for entry in mine["story"])


@pytest.mark.slow
def test_pod_start_latency_with_a_cached_image(runc_node):
    """apply -> Running with the image already on the node, 20 pods one after another."""
    run_pod(runc_node, make_pod("warmup", command=HTTPD))
    latencies = []
    for i in range(20):
        pod = make_pod(f"lat{i}", command=HTTPD)
        pod.spec.containers[0].image_pull_policy = "IfNotPresent"
        started = time.monotonic()
        run_pod(runc_node, pod)
        latencies.append(time.monotonic() - started)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[-1]
    print(f"\npod start latency (runc, cached image): p50 {p50 * 1000:.0f} ms, max {p99 * 1000:.0f} ms")
    assert p50 < 1.0
