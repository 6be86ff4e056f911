"""persistentVolumeClaim volumes end to end: a real server (binder and local-path provisioner)
and a real runc agent. A pod writes a file to its claim, is deleted and recreated, and finds the
file again; deleting the claim deletes the provisioned volume and its directory."""

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


@pytest.fixture
def storage(tmp_path, monkeypatch):
    """The provisioner's base directory, inherited by the server the runc_node fixture starts."""
    path = tmp_path / "storage"
    monkeypatch.setenv("SHOAL_LOCAL_PATH_DIR", str(path))
    return path


def in_container(node, uid: str, *command: str) -> subprocess.CompletedProcess:
    cid = container_state(node.state_dir, uid, "main")["id"]
    return subprocess.run(["runc", "--root", os.path.join(node.state_dir, "runc"), "exec", cid, *command],
                          capture_output=True, text=True, timeout=20, check=False)


def claim(name: str, size: str = "64Mi"):
    from shoal.v1.core_pb2 import PersistentVolumeClaim

    c = PersistentVolumeClaim()
    c.metadata.name, c.metadata.namespace = name, "default"
    c.spec.access_modes.append("ReadWriteOnce")
    c.spec.resources.requests["storage"] = size
    return c


def pod_with_claim(name: str, claim_name: str, command: list[str]):
    pod = make_pod(name, command=command, grace=1)
    pod.spec.containers[0].volume_mounts.add(name="data", mount_path="/data")
    pod.spec.volumes.add(name="data").persistent_volume_claim.claim_name = claim_name
    return pod


def run(node, pod, timeout: float = 40.0):
    api = node.api
    api.create(pod)
    api.bind(pod.metadata.name, node.name, "default")

    def ready():
        p = api.get("Pod", pod.metadata.name, "default")
        return p if p.status.container_statuses and all(s.ready for s in p.status.container_statuses) else None

    return wait_for(ready, timeout, interval=0.1, what=f"pod {pod.metadata.name} ready ({node.agent.log()[-1500:]})")


def delete_pod(node, name: str) -> None:
    node.api.delete("Pod", name, "default")
    wait_for(lambda: name not in {p.metadata.name for p in node.api.list_items("Pod", "default")}, 20,
             what=f"pod {name} deleted")


def test_a_file_written_to_a_claim_outlives_the_pod(storage, runc_node):
    api = runc_node.api
    api.create(claim("data"))
    writer = run(runc_node, pod_with_claim("writer", "data", ["sh", "-c", "echo kept > /data/file; exec sleep 3600"]))

    pvc = api.get("PersistentVolumeClaim", "data", "default")
    assert pvc.status.phase == "Bound" and pvc.spec.volume_name == f"pvc-{pvc.metadata.uid}"
    pv = api.get("PersistentVolume", pvc.spec.volume_name)
    assert (pv.status.phase, pv.spec.storage_class_name) == ("Bound", "local-path")
    assert pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == [runc_node.name]
    host_dir = pv.spec.host_path.path
    assert host_dir.startswith(str(storage) + "/")
    wait_for(lambda: os.path.exists(os.path.join(host_dir, "file")), 10, what="the file on the node")
    assert stat.S_IMODE(os.stat(host_dir).st_mode) == 0o777, "writable by any container user, as k3s makes it"

    delete_pod(runc_node, "writer")
    assert leftovers(runc_node.state_dir, runc_node.name, writer.metadata.uid) == []
    reader = run(runc_node, pod_with_claim("reader", "data", SLEEPER))
    out = in_container(runc_node, reader.metadata.uid, "cat", "/data/file")
    assert (out.returncode, out.stdout) == (0, "kept\n")

    # Reclaim policy Delete: the claim's deletion takes the volume and its directory with it.
    delete_pod(runc_node, "reader")
    api.delete("PersistentVolumeClaim", "data", "default")
    wait_for(lambda: pv.metadata.name not in {v.metadata.name for v in api.list_items("PersistentVolume")}, 20,
             what="the provisioned volume to be deleted")
    wait_for(lambda: not os.path.exists(host_dir), 10, what="the volume's directory to be removed")


def test_a_pod_waits_for_its_claim_to_be_bound(storage, runc_node):
    from shoal.v1.core_pb2 import PersistentVolume

    api = runc_node.api
    manual = claim("manual-data")
    manual.spec.storage_class_name = "manual"
    api.create(manual)
    api.create(pod_with_claim("patient", "manual-data", SLEEPER))
    api.bind("patient", runc_node.name, "default")
    waiting = wait_for(lambda: (p := api.get("Pod", "patient", "default")).status.message and p, 15,
                       what="the pod to say why it waits")
    assert 'persistentvolumeclaim "manual-data" is not bound' in waiting.status.message
    assert waiting.status.phase == "Pending"

    pv = PersistentVolume()
    pv.metadata.name = "hand-made"
    pv.spec.capacity["storage"] = "1Gi"
    pv.spec.access_modes.append("ReadWriteOnce")
    pv.spec.storage_class_name = "manual"
    pv.spec.host_path.path = str(storage / "hand-made")
    pv.spec.host_path.type = "DirectoryOrCreate"
    api.create(pv)

    def ready():
        p = api.get("Pod", "patient", "default")
        return p if p.status.container_statuses and p.status.container_statuses[0].ready else None

    pod = wait_for(ready, 30, what="the pod to start once its claim is bound")
    assert in_container(runc_node, pod.metadata.uid, "sh", "-c", "echo hi > /data/x").returncode == 0
    assert (storage / "hand-made" / "x").read_text() == "hi\n"


@pytest.fixture
def scheduled_runc_node(storage, server_factory, agent_factory, registry):
    """Like runc_node, but the server runs its scheduler: pods are placed, not bound by the test."""
    import uuid

    from node_helpers import force_clean
    from shoal.proto.client import ClusterClient

    srv = server_factory("--sync", "NORMAL", scheduler=True)
    name = f"runc-{uuid.uuid4().hex[:6]}"
    state_dir = f"/var/lib/shoal-test/{name}"
    try:
        with ClusterClient(srv.address, timeout=30) as api:
            agent = agent_factory(srv.address, "--runtime", "runc", "--name", name, "--state-dir", state_dir,
                                  "--registry-mirror", f"docker.io={registry.address}", "--backoff-initial", "1",
                                  "--backoff-max", "4", "--lease-interval", "2")
            yield api, name, state_dir, agent
            agent.stop()
    finally:
        force_clean(state_dir, name)


def test_with_the_scheduler_the_claim_is_provisioned_where_the_pod_lands(scheduled_runc_node):
    api, name, state_dir, agent = scheduled_runc_node
    api.create(claim("web-data"))
    api.create(pod_with_claim("web", "web-data", ["sh", "-c", "echo $HOSTNAME > /data/first; exec sleep 3600"]))

    def running(pod_name):
        p = api.get("Pod", pod_name, "default")
        return p if p.status.container_statuses and p.status.container_statuses[0].ready else None

    first = wait_for(lambda: running("web"), 40, what=f"the scheduled pod running ({agent.log()[-1500:]})")
    assert first.spec.node_name == name
    pvc = api.get("PersistentVolumeClaim", "web-data", "default")
    pv = api.get("PersistentVolume", pvc.spec.volume_name)
    assert pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0].values == [name]
    api.delete("Pod", "web", "default")
    wait_for(lambda: "web" not in {p.metadata.name for p in api.list_items("Pod", "default")}, 20,
             what="the first pod gone")
    api.create(pod_with_claim("web", "web-data", SLEEPER))
    second = wait_for(lambda: running("web"), 40, what="the recreated pod running")
    assert second.metadata.uid != first.metadata.uid
    from types import SimpleNamespace

    out = in_container(SimpleNamespace(state_dir=state_dir), second.metadata.uid, "cat", "/data/first")
    assert (out.returncode, out.stdout) == (0, "web\n")
