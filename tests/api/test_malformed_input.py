"""Malformed input of every kind is refused with a status code; the server stays up and nothing
stored changes (property-based, with hypothesis)."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minimal_objects import MINIMAL
from shoal.proto import kinds
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1.object_pb2 import Object

REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}
METHODS = ["Create", "Update", "UpdateStatus", "Apply"]


@pytest.fixture(scope="module")
def raw(shared_server):
    channel = grpc.insecure_channel(shared_server.address, options=[("grpc.max_send_message_length", 64 << 20)])
    calls = {
        m: channel.unary_unary(f"/shoal.v1.ClusterService/{m}", request_serializer=None, response_deserializer=None)
        for m in METHODS + ["Get", "List", "BulkApply", "Delete", "Bind"]
    }
    yield calls
    channel.close()


@pytest.fixture(scope="module")
def sentinel(client):
    """An object that must come through every bad request untouched."""
    cm = MINIMAL["ConfigMap"]("sentinel")
    cm.metadata.namespace = "default"
    return client.create(cm)


def _send(raw, method: str, payload: bytes):
    try:
        raw[method](payload, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        assert exc.code() in REFUSALS, f"{method}: {exc.code()} {exc.details()}"
        assert "Traceback" not in (exc.details() or "")
        return exc.code()


def _still_healthy(client, sentinel):
    assert client.get("ConfigMap", "sentinel", "default") == sentinel


def _nested(depth: int) -> bytes:
    """A LabelSelector nested far beyond protobuf's recursion limit, as raw wire bytes."""
    inner = b""
    for _ in range(depth):
        inner = b"\x0a" + _varint(len(inner)) + inner
    return inner


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=2000))
def test_random_bytes_are_refused(raw, client, sentinel, method, payload):
    _send(raw, method, payload)
    _still_healthy(client, sentinel)


names = st.text(max_size=300)
labels = st.dictionaries(st.text(max_size=80), st.text(max_size=80), max_size=5)


@st.composite
def odd_objects(draw):
    info = draw(st.sampled_from(kinds.all_kinds()))
    msg = MINIMAL[info.kind](draw(names) or "x")
    msg.metadata.namespace = draw(st.sampled_from(["", "default", "no-such-ns", draw(names)]))
    msg.metadata.labels.update(draw(labels))
    msg.metadata.resource_version = draw(st.sampled_from(["", "1", "abc", "-5", "99999999999999999999"]))
    if info.kind == "Pod":
        c = msg.spec.containers[0]
        c.resources.requests["cpu"] = draw(st.sampled_from(["1.5.0", "", "-1", "1e999", "abc", "100m"]))
        c.name = draw(st.sampled_from([c.name, "", "UPPER", "a" * 70]))
        msg.spec.restart_policy = draw(st.sampled_from(["", "Always", "Sometimes"]))
        msg.spec.priority = draw(st.integers(-(2**31), 2**31 - 1))
    return kinds.wrap(msg)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), obj=odd_objects())
def test_odd_objects_get_status_codes(raw, client, sentinel, method, obj):
    request = {"Create": svc.CreateRequest, "Update": svc.UpdateRequest,
               "UpdateStatus": svc.UpdateStatusRequest, "Apply": svc.ApplyRequest}[method](object=obj)
    _send(raw, method, request.SerializeToString())
    _still_healthy(client, sentinel)


@pytest.mark.parametrize(
    "case",
    ["huge-string", "deep-nesting", "unknown-kind", "empty-object", "huge-annotation-map"],
)
def test_pathological_requests(raw, client, sentinel, case):
    if case == "huge-string":
        cm = MINIMAL["ConfigMap"]("huge")
        cm.data["blob"] = "x" * (5 * 1024 * 1024)
        code = _send(raw, "Create", svc.CreateRequest(object=Object(config_map=cm)).SerializeToString())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    elif case == "deep-nesting":
        # Object{pod{spec{affinity...}}} is hard to nest deeply by hand; any message field
        # repeated 10,000 levels deep in raw bytes hits the parser's recursion limit.
        payload = b"\x0a" + _varint(len(_nested(10_000))) + _nested(10_000)
        code = _send(raw, "Create", payload)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    elif case == "unknown-kind":
        code = _send(raw, "Get", svc.GetRequest(kind="Gadget", name="x").SerializeToString())
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code = _send(raw, "List", svc.ListRequest(kind="Gadget").SerializeToString())
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    elif case == "empty-object":
        code = _send(raw, "Create", svc.CreateRequest().SerializeToString())
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    elif case == "huge-annotation-map":
        cm = MINIMAL["ConfigMap"]("many-annotations")
        for i in range(10_000):
            cm.metadata.annotations[f"k{i}"] = "v" * 60  # 700 KB, over Kubernetes' 256 KiB
        code = _send(raw, "Create", svc.CreateRequest(object=Object(config_map=cm)).SerializeToString())
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    _still_healthy(client, sentinel)
