"""`shoal cordon`, `shoal uncordon` and `shoal drain` against the session's server (no agents: the
tests bind pods to Node objects themselves), and drain's filters as a pure function."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_error_line
from shoal.control.cli_verbs.drain import (
    DAEMONSET_ERROR,
    DAEMONSET_WARNING,
    LOCAL_STORAGE_ERROR,
    UNMANAGED_ERROR,
    UNMANAGED_WARNING,
    DrainOptions,
    drain_verdicts,
)
from shoal.v1 import core_pb2, meta_pb2


def make_pod(name: str, namespace: str, *, owner: str | None = "ReplicaSet", empty_dir: bool = False,
             phase: str = "", terminating: bool = False, mirror: bool = False) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name = name
    p.metadata.namespace = namespace
    if owner:
        p.metadata.owner_references.append(meta_pb2.OwnerReference(
            api_version="apps/v1", kind=owner, name=f"{name}-owner", uid=f"uid-{name}-owner", controller=True))
    if mirror:
        p.metadata.annotations["kubernetes.io/config.mirror"] = "hash"
    p.spec.containers.add(name="main", image="busybox")
    if empty_dir:
        p.spec.volumes.add(name="scratch").empty_dir.SetInParent()
    if phase:
        p.status.phase = phase
    if terminating:
        p.metadata.deletion_timestamp.seconds = 1
    return p


# -- the filters ------------------------------------------------------------------------------------


def _names(pods) -> list[str]:
    return [p.metadata.name for p in pods]


@pytest.mark.parametrize("pod,options,evicted,errors,warnings", [
    pytest.param(make_pod("rs", "ns"), DrainOptions(), ["rs"], {}, {}, id="managed"),
    pytest.param(make_pod("bare", "ns", owner=None), DrainOptions(), [], {UNMANAGED_ERROR: ["ns/bare"]}, {},
                 id="unmanaged-refused"),
    pytest.param(make_pod("bare", "ns", owner=None), DrainOptions(force=True), ["bare"], {},
                 {UNMANAGED_WARNING: ["ns/bare"]}, id="unmanaged-forced"),
    pytest.param(make_pod("ds", "ns", owner="DaemonSet"), DrainOptions(force=True), [],
                 {DAEMONSET_ERROR: ["ns/ds"]}, {}, id="daemonset-refused"),
    pytest.param(make_pod("ds", "ns", owner="DaemonSet"), DrainOptions(ignore_daemonsets=True), [], {},
                 {DAEMONSET_WARNING: ["ns/ds"]}, id="daemonset-ignored"),
    pytest.param(make_pod("tmp", "ns", empty_dir=True), DrainOptions(force=True), [],
                 {LOCAL_STORAGE_ERROR: ["ns/tmp"]}, {}, id="emptydir-refused"),
    pytest.param(make_pod("done", "ns", owner=None, phase="Succeeded"), DrainOptions(), ["done"], {}, {},
                 id="finished-unmanaged-goes"),
    pytest.param(make_pod("static", "ns", owner=None, mirror=True), DrainOptions(), [], {}, {}, id="mirror-skipped"),
    pytest.param(make_pod("going", "ns", owner=None, terminating=True), DrainOptions(), [], {}, {},
                 id="terminating-only-waited-for"),
])
def test_drain_filters(pod, options, evicted, errors, warnings):
    verdicts = drain_verdicts([pod], options)
    assert _names(verdicts.evict) == evicted
    assert verdicts.errors == errors
    assert verdicts.warnings == warnings


def test_one_refused_pod_is_named_with_its_reason():
    pods = [make_pod("a", "ns", owner=None), make_pod("b", "ns", owner=None, empty_dir=True), make_pod("c", "ns")]
    verdicts = drain_verdicts(pods, DrainOptions())
    assert verdicts.error_text() == f"{UNMANAGED_ERROR}: ns/a, {LOCAL_STORAGE_ERROR}: ns/b"
    assert _names(verdicts.evict) == ["c"]


# -- against the server -------------------------------------------------------------------------------


@pytest.fixture
def node_name(client, namespace) -> str:
    node = core_pb2.Node()
    node.metadata.name = f"{namespace}-n1"
    node.status.capacity.update({"cpu": "4", "memory": "8Gi", "pods": "110"})
    client.create(node)
    return node.metadata.name


def _bind(client, pod, node: str):
    client.create(pod)
    client.bind(pod.metadata.name, node, pod.metadata.namespace)


def _pod_names(client, namespace: str) -> set[str]:
    return {p.metadata.name for p in client.list_items("Pod", namespace)}


def test_cordon_and_uncordon(shoal, client, node_name):
    result = shoal("cordon", node_name)
    assert (result.rc, result.lines) == (0, [f"node/{node_name} cordoned"]), result
    assert client.get("Node", node_name).spec.unschedulable
    assert shoal("cordon", f"node/{node_name}").lines == [f"node/{node_name} already cordoned"]
    result = shoal("uncordon", node_name)
    assert (result.rc, result.lines) == (0, [f"node/{node_name} uncordoned"]), result
    assert not client.get("Node", node_name).spec.unschedulable
    assert shoal("uncordon", node_name).lines == [f"node/{node_name} already uncordoned"]


def test_cordon_by_label_selector(shoal, client, namespace, node_name):
    node = client.get("Node", node_name)
    node.metadata.labels["pool"] = namespace
    client.update(node)
    result = shoal("cordon", "-l", f"pool={namespace}")
    assert (result.rc, result.lines) == (0, [f"node/{node_name} cordoned"]), result


def test_cordon_of_a_missing_node_is_one_error_line(shoal, namespace):
    line = assert_one_error_line(shoal("cordon", f"{namespace}-nowhere"))
    assert line.startswith("Error from server (NotFound):") and f"{namespace}-nowhere" in line
    assert assert_one_error_line(shoal("cordon")) == "error: give a node name (or -l SELECTOR)"


def test_drain_refuses_unmanaged_pods_without_force(shoal, client, namespace, node_name):
    _bind(client, make_pod("bare", namespace, owner=None), node_name)
    _bind(client, make_pod("web", namespace), node_name)
    result = shoal("drain", node_name)
    assert result.rc == 1
    assert result.lines == [f"node/{node_name} cordoned"]
    assert result.err_lines == [
        (f'error: unable to drain node "{node_name}" due to error: {UNMANAGED_ERROR}: {namespace}/bare, '
         "continuing command..."),
        "There are pending nodes to be drained:",
        f" {node_name}",
    ]
    assert client.get("Node", node_name).spec.unschedulable
    # Nothing was evicted.
    assert not any(p.metadata.HasField("deletion_timestamp") for p in client.list_items("Pod", namespace))


def test_drain_with_force_evicts_and_waits(shoal, client, namespace, node_name):
    _bind(client, make_pod("bare", namespace, owner=None), node_name)
    _bind(client, make_pod("web", namespace), node_name)
    _bind(client, make_pod("tmp", namespace, empty_dir=True), node_name)
    _bind(client, make_pod("ds", namespace, owner="DaemonSet"), node_name)
    _bind(client, make_pod("elsewhere", namespace), f"{node_name}-other")
    result = shoal("drain", node_name, "--force", "--ignore-daemonsets", "--delete-emptydir-data",
                   "--grace-period", "0")
    assert result.rc == 0, result
    assert result.lines[0] == f"node/{node_name} cordoned"
    assert result.lines[-1] == f"node/{node_name} drained"
    evicting = sorted(line for line in result.lines if line.startswith("evicting pod "))
    assert evicting == [f"evicting pod {namespace}/{n}" for n in ("bare", "tmp", "web")]
    assert sorted(line for line in result.lines if line.endswith(" evicted")) == [
        "pod/bare evicted", "pod/tmp evicted", "pod/web evicted"]
    assert sorted(result.err_lines) == sorted([
        f"Warning: {DAEMONSET_WARNING}: {namespace}/ds",
        f"Warning: deleting Pods with local storage: {namespace}/tmp",
        f"Warning: {UNMANAGED_WARNING}: {namespace}/bare",
    ])
    assert _pod_names(client, namespace) == {"ds", "elsewhere"}


def test_drain_gives_up_after_its_timeout(shoal, client, namespace, node_name):
    # No agent runs here: a pod evicted with its grace period stays Terminating.
    _bind(client, make_pod("web", namespace), node_name)
    result = shoal("drain", node_name, "--timeout", "1s")
    assert result.rc == 1
    assert f"evicting pod {namespace}/web" in result.lines
    assert result.err_lines[0] == (
        f'error: unable to drain node "{node_name}" due to error: global timeout reached: 1s, pods still '
        f"terminating: {namespace}/web, continuing command...")
    assert client.get("Pod", "web", namespace).metadata.HasField("deletion_timestamp")
