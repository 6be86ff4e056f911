"""wire.py's byte assembly parses to what protobuf itself would build."""

import pytest

from shoal.control.api import wire
from shoal.proto import kinds
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1.core_pb2 import Pod
from shoal.v1.object_pb2 import Object


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16_383, 16_384, 2**31, 2**63 - 1])
def test_varint_is_protobufs(n):
    encoded = svc.ListRequest(limit=n).SerializeToString()
    field_tag = wire.tag(svc.ListRequest.DESCRIPTOR.fields_by_name["limit"].number, 0)
    assert encoded == (field_tag + wire.varint(n) if n else b"")  # proto3 leaves a zero out


@pytest.mark.parametrize("revision", [1, 9, 10, 12345, 2**40, 2**63 - 1])
@pytest.mark.parametrize("payload", ["", "x" * 200])
def test_stored_bytes_with_revision_in_a_create_response(revision, payload):
    pod = Pod()
    pod.metadata.name = "web"
    pod.metadata.namespace = "default"
    pod.metadata.labels["app"] = payload or "a"
    pod.spec.containers.add(name="c", image="img")
    stored = pod.SerializeToString(deterministic=True)
    name = Pod.DESCRIPTOR.full_name
    data = wire.length_delimited(svc.CreateResponse.DESCRIPTOR.fields_by_name["object"].number,
                                 wire.object_at_revision(name, stored, revision))
    got = svc.CreateResponse.FromString(data)
    expected = Pod()
    expected.CopyFrom(pod)
    expected.metadata.resource_version = str(revision)
    assert kinds.unwrap(got.object)[1] == expected
    assert got == svc.CreateResponse(object=Object(pod=expected))


@pytest.mark.parametrize("revision", [1, 127, 128, 2**63 - 1])
@pytest.mark.parametrize("size", [0, 100, 200, 20_000])
def test_object_at_revision_parses_to_the_object_at_that_revision(revision, size):
    pod = Pod()
    pod.metadata.name = "web"
    pod.metadata.annotations["a"] = "x" * size
    stored = pod.SerializeToString(deterministic=True)
    name = Pod.DESCRIPTOR.full_name
    data = wire.object_at_revision(name, stored, revision)
    pod.metadata.resource_version = str(revision)
    assert Object.FromString(data) == Object(pod=pod)
