"""Every verb on every kind, through a real `shoal server` subprocess over gRPC."""

from __future__ import annotations

import grpc
import pytest

from minimal_objects import MINIMAL, change_spec, change_status, namespace
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc

KINDS = sorted(MINIMAL)
NS = "verbs"


@pytest.fixture(scope="module", autouse=True)
def verbs_namespace(client):
    client.create(namespace(NS))


def _new(kind: str, name: str):
    from shoal.proto import kinds

    obj = MINIMAL[kind](name)
    if kinds.by_kind(kind).namespaced:
        obj.metadata.namespace = NS
    if kind == "Event":
        obj.involved_object.namespace = NS  # an Event lives in its object's namespace
    return obj


def _ns(kind: str) -> str:
    from shoal.proto import kinds

    return NS if kinds.by_kind(kind).namespaced else ""


def _code(excinfo) -> grpc.StatusCode:
    return excinfo.value.code


@pytest.mark.parametrize("kind", KINDS)
def test_create_sets_server_fields_and_get_returns_it(client, kind):
    name = f"create-{kind.lower()}"
    created = client.create(_new(kind, name))
    assert created.metadata.uid
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.creation_timestamp.seconds > 0
    assert created.metadata.generation == 1
    got = client.get(kind, name, _ns(kind))
    assert got == created


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_create_is_already_exists(client, kind):
    name = f"dup-{kind.lower()}"
    client.create(_new(kind, name))
    with pytest.raises(APIStatusError) as exc:
        client.create(_new(kind, name))
    assert _code(exc) == grpc.StatusCode.ALREADY_EXISTS
    assert name in exc.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_get_missing_is_not_found(client, kind):
    with pytest.raises(APIStatusError) as exc:
        client.get(kind, "no-such-object", _ns(kind))
    assert _code(exc) == grpc.StatusCode.NOT_FOUND
    assert '"no-such-object" not found' in exc.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_update_needs_current_resource_version(client, kind):
    name = f"update-{kind.lower()}"
    created = client.create(_new(kind, name))
    change_spec(kind, created)
    updated = client.update(created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    if kind not in ("Namespace", "Node", "PersistentVolumeClaim"):  # label-only changes keep generation
        assert updated.metadata.generation == 2
    stale = _new(kind, name)
    stale.metadata.resource_version = created.metadata.resource_version
    with pytest.raises(APIStatusError) as exc:
        client.update(stale)
    assert _code(exc) == grpc.StatusCode.ABORTED
    assert client.get(kind, name, _ns(kind)) == updated


@pytest.mark.parametrize("kind", KINDS)
def test_update_of_missing_object_is_not_found(client, kind):
    with pytest.raises(APIStatusError) as exc:
        client.update(_new(kind, "never-created"))
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("kind", KINDS)
def test_apply_creates_then_reports_unchanged_then_configured(client, kind):
    name = f"apply-{kind.lower()}"
    obj, result = client.apply(_new(kind, name))
    assert result == svc.APPLY_RESULT_CREATED
    again, result = client.apply(_new(kind, name))
    assert result == svc.APPLY_RESULT_UNCHANGED
    assert again.metadata.resource_version == obj.metadata.resource_version
    changed = _new(kind, name)
    change_spec(kind, changed)
    after, result = client.apply(changed)
    assert result == svc.APPLY_RESULT_CONFIGURED
    assert int(after.metadata.resource_version) > int(obj.metadata.resource_version)


@pytest.mark.parametrize("kind", KINDS)
def test_list_by_namespace_label_and_field(client, kind):
    name = f"list-{kind.lower()}"
    obj = _new(kind, name)
    obj.metadata.labels["listed"] = "yes"
    client.create(obj)
    names = [o.metadata.name for o in client.list_items(kind, _ns(kind), label_selector="listed=yes")]
    assert names == [name]
    by_field = client.list_items(kind, _ns(kind), field_selector=f"metadata.name={name}")
    assert [o.metadata.name for o in by_field] == [name]
    everything = client.list(kind, "")
    assert name in [o.WhichOneof("kind") and getattr(o, o.WhichOneof("kind")).metadata.name for o in everything.items]
    assert int(everything.resource_version) > 0


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "Namespace"])  # see the namespace test
def test_delete_removes_and_second_delete_is_not_found(client, kind):
    name = f"delete-{kind.lower()}"
    client.create(_new(kind, name))
    resp = client.delete(kind, name, _ns(kind))
    assert resp.deleted
    with pytest.raises(APIStatusError) as exc:
        client.get(kind, name, _ns(kind))
    assert _code(exc) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(APIStatusError) as exc:
        client.delete(kind, name, _ns(kind))
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("ConfigMap", "Secret", "Endpoints", "Event", "PriorityClass", "Lease")])
def test_update_status_changes_only_status(client, kind):
    name = f"status-{kind.lower()}"
    created = client.create(_new(kind, name))
    with_status = type(created)()
    with_status.CopyFrom(created)
    change_status(kind, with_status.status)
    change_spec(kind, with_status)  # ignored by the status call
    updated = client.update_status(with_status)
    assert updated.status == with_status.status
    stored = client.get(kind, name, _ns(kind))
    assert stored.status == with_status.status
    assert stored.metadata.labels == created.metadata.labels
    assert stored.metadata.generation == created.metadata.generation


def test_object_in_missing_namespace_is_refused(client):
    obj = MINIMAL["ConfigMap"]("orphan")
    obj.metadata.namespace = "does-not-exist"
    with pytest.raises(APIStatusError) as exc:
        client.create(obj)
    assert _code(exc) == grpc.StatusCode.NOT_FOUND
    assert "does-not-exist" in exc.value.message


def test_system_namespaces_exist(client):
    names = {n.metadata.name for n in client.list_items("Namespace")}
    assert {"default", "shoal-system"} <= names


def test_namespace_defaults_to_default(client):
    cm = MINIMAL["ConfigMap"]("in-default")
    created = client.create(cm)
    assert created.metadata.namespace == "default"


def test_list_pagination_with_limit_and_continue(client):
    client.create(namespace("paged"))
    for i in range(25):
        cm = MINIMAL["ConfigMap"](f"cm-{i:02d}")
        cm.metadata.namespace = "paged"
        client.create(cm)
    seen, token = [], ""
    while True:
        page = client.list("ConfigMap", "paged", limit=10, continue_token=token)
        seen += [o.config_map.metadata.name for o in page.items]
        token = page.continue_token
        if not token:
            break
        assert page.remaining_item_count == 25 - len(seen)
    assert seen == [f"cm-{i:02d}" for i in range(25)]


def test_bind_assigns_once(client):
    pod = MINIMAL["Pod"]("bind-me")
    client.create(pod)
    bound = client.bind("bind-me", "node-a")
    assert bound.spec.node_name == "node-a"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in bound.status.conditions)
    with pytest.raises(APIStatusError) as exc:
        client.bind("bind-me", "node-b")
    assert _code(exc) == grpc.StatusCode.FAILED_PRECONDITION
    assert client.get("Pod", "bind-me", "default").spec.node_name == "node-a"
    with pytest.raises(APIStatusError) as exc:
        client.bind("no-such-pod", "node-a")
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


def test_bulk_bind_binds_each_pod_once_with_bind_outcomes(client):
    for name in ("bulk-a", "bulk-b", "bulk-taken"):
        client.create(MINIMAL["Pod"](name))
    client.bind("bulk-taken", "node-z")
    uid_b = client.get("Pod", "bulk-b", "default").metadata.uid
    results = client.bulk_bind([
        svc.BindRequest(namespace="default", name="bulk-a", node_name="node-a"),
        svc.BindRequest(namespace="default", name="bulk-b", node_name="node-b", uid=uid_b),
        svc.BindRequest(namespace="default", name="bulk-taken", node_name="node-a"),
        svc.BindRequest(namespace="default", name="bulk-missing", node_name="node-a"),
        svc.BindRequest(namespace="default", name="bulk-a", node_name="node-c"),  # twice in one call
        svc.BindRequest(namespace="default", name="bulk-b", node_name=""),
    ])
    codes = [grpc.StatusCode.OK if r.code == 0 else next(c for c in grpc.StatusCode if c.value[0] == r.code)
             for r in results]
    assert codes == [grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.INVALID_ARGUMENT]
    assert 'already assigned to node "node-z"' in results[2].message
    assert 'already assigned to node "node-a"' in results[4].message
    a = client.get("Pod", "bulk-a", "default")
    assert a.spec.node_name == "node-a" and a.metadata.resource_version == results[0].resource_version
    assert any(c.type == "PodScheduled" and c.status == "True" for c in a.status.conditions)
    assert client.get("Pod", "bulk-b", "default").spec.node_name == "node-b"
    assert client.get("Pod", "bulk-taken", "default").spec.node_name == "node-z"


def test_bindings_carry_annotations_onto_the_pod(client):
    for name in ("ann-one", "ann-bulk"):
        client.create(MINIMAL["Pod"](name))
    bound = client.bind("ann-one", "node-a", annotations={"alibabacloud.com/gpu-index": "0-1"})
    assert bound.metadata.annotations["alibabacloud.com/gpu-index"] == "0-1"
    (result,) = client.bulk_bind([svc.BindRequest(namespace="default", name="ann-bulk", node_name="node-b",
                                                  annotations={"example.com/devices": "3"})])
    assert result.code == 0
    stored = client.get("Pod", "ann-bulk", "default")
    assert stored.spec.node_name == "node-b" and stored.metadata.annotations["example.com/devices"] == "3"
    client.create(MINIMAL["Pod"]("ann-bad"))
    with pytest.raises(APIStatusError) as exc:
        client.bind("ann-bad", "node-a", annotations={"not a key!": "x"})
    assert _code(exc) == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata.annotations" in exc.value.message
    assert client.get("Pod", "ann-bad", "default").spec.node_name == ""


def test_bulk_bind_refuses_a_recreated_pod(client):
    client.create(MINIMAL["Pod"]("bulk-recreated"))
    (result,) = client.bulk_bind([svc.BindRequest(namespace="default", name="bulk-recreated",
                                                  node_name="node-a", uid="not-its-uid")])
    assert result.code == grpc.StatusCode.ABORTED.value[0]
    assert client.get("Pod", "bulk-recreated", "default").spec.node_name == ""


def test_finalizers_hold_deletion_until_removed(client):
    cm = MINIMAL["ConfigMap"]("finalized")
    cm.metadata.finalizers.append("example.com/hold")
    client.create(cm)
    resp = client.delete("ConfigMap", "finalized", "default")
    assert not resp.deleted
    held = client.get("ConfigMap", "finalized", "default")
    assert held.metadata.HasField("deletion_timestamp")
    del held.metadata.finalizers[:]
    client.update(held)
    with pytest.raises(APIStatusError) as exc:
        client.get("ConfigMap", "finalized", "default")
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


def test_bound_pod_deletion_is_graceful_and_force_delete_removes_it(client):
    client.create(MINIMAL["Pod"]("graceful"))
    client.bind("graceful", "node-a")
    resp = client.delete("Pod", "graceful", "default")
    assert not resp.deleted
    pod = client.get("Pod", "graceful", "default")
    assert pod.metadata.deletion_grace_period_seconds == 30
    resp = client.delete("Pod", "graceful", "default", grace_period_seconds=0)
    assert resp.deleted


@pytest.mark.parametrize(
    "policy, finalizer",
    [
        pytest.param(svc.PROPAGATION_POLICY_FOREGROUND, "foregroundDeletion", id="foreground"),
        pytest.param(svc.PROPAGATION_POLICY_ORPHAN, "orphan", id="orphan"),
    ],
)
def test_propagation_policy_marks_the_owner(client, policy, finalizer):
    name = f"owner-{finalizer.lower()}"
    client.create(_new("ReplicaSet", name))
    resp = client.delete("ReplicaSet", name, NS, propagation=policy)
    assert not resp.deleted
    rs = client.get("ReplicaSet", name, NS)
    assert finalizer in rs.metadata.finalizers and rs.metadata.HasField("deletion_timestamp")


def test_namespace_deletion_waits_for_its_spec_finalizers(client):
    client.create(namespace("doomed"))
    resp = client.delete("Namespace", "doomed")
    assert not resp.deleted
    ns = client.get("Namespace", "doomed")
    assert ns.status.phase == "Terminating" and list(ns.spec.finalizers) == ["kubernetes"]
    cm = MINIMAL["ConfigMap"]("late")
    cm.metadata.namespace = "doomed"
    with pytest.raises(APIStatusError) as exc:
        client.create(cm)
    assert "being terminated" in exc.value.message
    # What the namespace controller does once the namespace is empty: clear spec.finalizers.
    del ns.spec.finalizers[:]
    client.update(ns)
    with pytest.raises(APIStatusError) as exc:
        client.get("Namespace", "doomed")
    assert _code(exc) == grpc.StatusCode.NOT_FOUND


def test_status_update_of_a_terminating_pod_keeps_it(client):
    client.create(MINIMAL["Pod"]("terminating"))
    client.bind("terminating", "node-a")
    client.delete("Pod", "terminating", "default")
    pod = client.get("Pod", "terminating", "default")
    pod.status.phase = "Running"
    client.update_status(pod)
    assert client.get("Pod", "terminating", "default").status.phase == "Running"


def test_reapply_keeps_server_filled_fields_in_keyed_lists(client):
    """A port's nodePort (filled in after create) survives re-applying the manifest without it."""
    svc_obj = MINIMAL["Service"]("keyed")
    svc_obj.spec.type = "NodePort"
    client.apply(svc_obj)
    stored = client.get("Service", "keyed", "default")
    stored.spec.ports[0].node_port = 30080  # what the allocator writes
    client.update(stored)
    again = MINIMAL["Service"]("keyed")
    again.spec.type = "NodePort"
    _, result = client.apply(again)
    assert result == svc.APPLY_RESULT_UNCHANGED
    assert client.get("Service", "keyed", "default").spec.ports[0].node_port == 30080
    changed = MINIMAL["Service"]("keyed")
    changed.spec.type = "NodePort"
    changed.spec.ports[0].name = "http"
    _, result = client.apply(changed)
    assert result == svc.APPLY_RESULT_CONFIGURED
    port = client.get("Service", "keyed", "default").spec.ports[0]
    assert (port.name, port.node_port) == ("http", 30080)
