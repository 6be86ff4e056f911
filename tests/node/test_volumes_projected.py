"""configMap and secret volumes on a real runc agent: files in the container, updated when the
object changes, a pod that waits for a missing ConfigMap and starts once it exists."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from node_helpers import (
    container_state,
    leftovers,
    make_pod,
    needs_containers,
    wait_for,
)

pytestmark = needs_containers

SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


@pytest.fixture(autouse=True)
def fast_volume_refresh(monkeypatch):
    """The agent started by runc_node inherits this: refresh projected volumes every 0.5 s."""
    monkeypatch.setenv("SHOAL_AGENT_VOLUME_REFRESH_SECONDS", "0.5")


def in_container(node, uid: str, *command: str) -> str:
    cid = container_state(node.state_dir, uid, "main")["id"]
    out = subprocess.run(["runc", "--root", os.path.join(node.state_dir, "runc"), "exec", cid, *command],
                         capture_output=True, text=True, timeout=20, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def config_map(name: str, data: dict[str, str]):
    from shoal.v1.core_pb2 import ConfigMap

    cm = ConfigMap()
    cm.metadata.name, cm.metadata.namespace = name, "default"
    cm.data.update(data)
    return cm


def pod_with_volume(name: str, volume_name: str, mount_path: str):
    pod = make_pod(name, command=SLEEPER, grace=1)
    pod.spec.containers[0].volume_mounts.add(name=volume_name, mount_path=mount_path)
    return pod.spec.volumes.add(name=volume_name), pod


def ready(api, name):
    pod = api.get("Pod", name, "default")
    statuses = pod.status.container_statuses
    return pod if statuses and all(s.ready for s in statuses) else None


def start(node, pod, timeout: float = 30.0):
    node.api.create(pod)
    node.api.bind(pod.metadata.name, node.name, "default")
    return wait_for(lambda: ready(node.api, pod.metadata.name), timeout, interval=0.1,
                    what=f"pod {pod.metadata.name} ready ({node.agent.log()[-1500:]})")


def test_config_map_files_appear_and_follow_updates(runc_node):
    api = runc_node.api
    api.create(config_map("app-config", {"greeting": "hello", "level": "debug"}))
    vol, pod = pod_with_volume("cm-reader", "cfg", "/etc/app")
    vol.config_map.name = "app-config"
    item = vol.config_map.items.add(key="greeting", path="conf/greeting.txt")
    item.mode = 0o600
    pod = start(runc_node, pod)
    uid = pod.metadata.uid
    assert in_container(runc_node, uid, "cat", "/etc/app/conf/greeting.txt") == "hello"
    # Only the listed key is projected.
    assert "level" not in in_container(runc_node, uid, "ls", "/etc/app")
    mode = in_container(runc_node, uid, "stat", "-L", "-c", "%a", "/etc/app/conf/greeting.txt").strip()
    assert mode == "600"
    # The mount is read-only, as the kubelet makes it.
    probe = subprocess.run(["runc", "--root", os.path.join(runc_node.state_dir, "runc"), "exec",
                            container_state(runc_node.state_dir, uid, "main")["id"], "touch", "/etc/app/x"],
                           capture_output=True, text=True, timeout=20, check=False)
    assert probe.returncode != 0

    cm = api.get("ConfigMap", "app-config", "default")
    cm.data["greeting"] = "bonjour"
    api.update(cm)
    wait_for(lambda: in_container(runc_node, uid, "cat", "/etc/app/conf/greeting.txt") == "bonjour", 15,
             interval=0.3, what="the updated ConfigMap in the container")


def test_secret_files_on_a_tmpfs_with_their_mode(runc_node):
    from shoal.v1.core_pb2 import Secret

    api = runc_node.api
    secret = Secret()
    secret.metadata.name, secret.metadata.namespace = "db-credentials", "default"
    secret.data["password"] = b"s3cr3t\x00bytes"
    api.create(secret)
    vol, pod = pod_with_volume("secret-reader", "creds", "/var/run/creds")
    vol.secret.secret_name = "db-credentials"
    vol.secret.default_mode = 0o400
    pod = start(runc_node, pod)
    uid = pod.metadata.uid
    assert in_container(runc_node, uid, "cat", "/var/run/creds/password") == "s3cr3t\x00bytes"
    host_dir = os.path.join(runc_node.state_dir, "pods", uid, "volumes", "creds")
    assert os.path.ismount(host_dir), "secret volumes live on a tmpfs"
    assert stat.S_IMODE(os.stat(os.path.dirname(host_dir)).st_mode) == 0o750, "private to root on the host"
    assert stat.S_IMODE(os.stat(os.path.join(host_dir, "password")).st_mode) == 0o400

    api.delete("Pod", "secret-reader", "default")
    wait_for(lambda: "secret-reader" not in {p.metadata.name for p in api.list_items("Pod", "default")}, 20,
             what="the pod to be deleted")
    assert leftovers(runc_node.state_dir, runc_node.name, uid) == []


def test_a_pod_waits_for_its_missing_config_map_and_then_starts(runc_node):
    api = runc_node.api
    vol, pod = pod_with_volume("cm-waiter", "cfg", "/etc/app")
    vol.config_map.name = "late-config"
    api.create(pod)
    api.bind("cm-waiter", runc_node.name, "default")
    waiting = wait_for(lambda: (p := api.get("Pod", "cm-waiter", "default")).status.message and p, 15,
                       what="the pod to say why it waits")
    assert waiting.status.phase == "Pending"
    assert 'configmap "late-config" not found' in waiting.status.message
    assert waiting.status.container_statuses[0].state.waiting.reason == "ContainerCreating"

    api.create(config_map("late-config", {"k": "v"}))
    pod = wait_for(lambda: ready(api, "cm-waiter"), 20, what="the pod to start once its ConfigMap exists")
    assert in_container(runc_node, pod.metadata.uid, "cat", "/etc/app/k") == "v"


def test_an_adopted_pod_keeps_following_its_config_map(runc_node):
    api = runc_node.api
    api.create(config_map("adopted-config", {"k": "before"}))
    vol, pod = pod_with_volume("adopted", "cfg", "/etc/app")
    vol.config_map.name = "adopted-config"
    pod = start(runc_node, pod)
    uid = pod.metadata.uid
    pid = container_state(runc_node.state_dir, uid, "main")["pid"]
    runc_node.restart_agent()
    cm = api.get("ConfigMap", "adopted-config", "default")
    cm.data["k"] = "after"
    api.update(cm)
    wait_for(lambda: in_container(runc_node, uid, "cat", "/etc/app/k") == "after", 15, interval=0.3,
             what="the restarted agent to update the adopted pod's volume")
    assert container_state(runc_node.state_dir, uid, "main")["pid"] == pid, "adopted, not recreated"
