"""Helpers shared by the node agent tests (imported by name; tests/node is on sys.path)."""

from __future__ import annotations

import os
import shutil
import time

import pytest


def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


needs_containers = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools("runc", "skopeo", "umoci", "docker-registry", "ip")),
    reason=f"needs root and runc, skopeo, umoci, docker-registry, iproute2 (missing: "
           f"{missing_tools('runc', 'skopeo', 'umoci', 'docker-registry', 'ip')})",
)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def make_pod(name: str, *, image: str = "busybox", command: list[str] | None = None, namespace: str = "default",
             restart_policy: str = "", **container):
    from shoal.v1.core_pb2 import Pod

    pod = Pod()
    pod.metadata.name = name
    pod.metadata.namespace = namespace
    c = pod.spec.containers.add(name=container.pop("container_name", "main"), image=image)
    if command:
        c.command.extend(command)
    if restart_policy:
        pod.spec.restart_policy = restart_policy
    for key, value in container.items():
        if key == "limits":
            c.resources.limits.update(value)
        elif key == "requests":
            c.resources.requests.update(value)
        elif key == "grace":
            pod.spec.termination_grace_period_seconds = value
    return pod


def state_root() -> str:
    return os.environ.get("SHOAL_TEST_STATE_ROOT", "/var/lib/shoal-test")


def pods_running(api, namespace: str) -> int:
    return sum(1 for p in api.list_items("Pod", namespace) if p.status.phase == "Running")


def lease_ages(api, prefix: str) -> list[float]:
    now = time.time()
    leases = api.list_items("Lease", "shoal-node-lease")
    return [now - l.spec.renew_time.ToNanoseconds() / 1e9 for l in leases if l.metadata.name.startswith(prefix)]


# -- real containers: what a pod leaves on the machine ---------------------------------------


def leftovers(state_dir: str, node: str, uid: str, runtime: str = "runc") -> list[str]:
    """Everything of pod ``uid`` still on the machine: bundle, mounts, network namespace, veth,
    address lease, cgroups, runtime state. Empty when the pod is cleanly gone."""
    import glob
    import hashlib
    import subprocess

    found = []
    pod_dir = os.path.join(state_dir, "pods", uid)
    if os.path.exists(pod_dir):
        found.append(f"bundle dir {pod_dir}")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if uid in point:
                found.append(f"mount {point}")
    if os.path.exists(f"/run/netns/shoal-{uid}"):
        found.append(f"netns shoal-{uid}")
    for lease in glob.glob(os.path.join(state_dir, "cni", "networks", "*", "*")):
        try:
            with open(lease) as f:
                if f.readline().strip() == uid:
                    found.append(f"address lease {os.path.basename(lease)}")
        except OSError:
            pass
    bridge = "shoal-" + hashlib.sha256(node.encode()).hexdigest()[:8]
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True).stdout
    for line in out.splitlines():
        found.append(f"veth {line.split(':')[1].strip()}")
    for path in glob.glob(f"/sys/fs/cgroup/*/shoal/{node}/pod{uid}") + glob.glob(f"/sys/fs/cgroup/shoal/{node}/pod{uid}"):
        found.append(f"cgroup {path}")
    root = os.path.join(state_dir, runtime)
    if os.path.isdir(root):
        for cid in os.listdir(root):
            if cid.endswith(uid[:8]):
                found.append(f"{runtime} container {cid}")
    return found


def force_clean(state_dir: str, node: str, runtime: str = "runc") -> None:
    """Removes whatever an agent left running or mounted (test teardown)."""
    import glob
    import hashlib
    import shutil
    import subprocess

    root = os.path.join(state_dir, runtime)
    if os.path.isdir(root):
        for cid in os.listdir(root):
            subprocess.run([runtime, "--root", root, "delete", "-f", cid], capture_output=True)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if state_dir in line.split()[4]]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    for uid in os.listdir(os.path.join(state_dir, "pods")) if os.path.isdir(os.path.join(state_dir, "pods")) else ():
        subprocess.run(["ip", "netns", "del", f"shoal-{uid}"], capture_output=True)
    bridge = "shoal-" + hashlib.sha256(node.encode()).hexdigest()[:8]
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    for top in glob.glob(f"/sys/fs/cgroup/*/shoal/{node}") + glob.glob(f"/sys/fs/cgroup/shoal/{node}"):
        for dirpath, _d, _f in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
    for top in glob.glob("/sys/fs/cgroup/*/shoal") + glob.glob("/sys/fs/cgroup/shoal"):
        try:
            os.rmdir(top)  # only if no other node uses it
        except OSError:
            pass
    shutil.rmtree(state_dir, ignore_errors=True)


def container_state(state_dir: str, uid: str, name: str) -> dict:
    import json

    with open(os.path.join(state_dir, "pods", uid, "containers", name, "state.json")) as f:
        return json.load(f)
