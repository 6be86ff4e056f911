"""The Invalid message: Kubernetes' format, every bad field named, bounded in size."""

from __future__ import annotations

import pytest
from shoal.control.api import defaulting, validation
from shoal.control.api.errors import Invalid
from shoal.proto import kinds
from shoal.v1 import core_pb2


def pod(name: str = "web") -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name = name
    p.metadata.namespace = "default"
    c = p.spec.containers.add(name="web", image="nginx:1.25")
    c.resources.requests["cpu"] = "100m"
    return p


def refusal(msg, kind: str = "Pod") -> str:
    info = kinds.by_kind(kind)
    defaulting.apply_defaults(info, msg)
    with pytest.raises(Invalid) as caught:
        validation.validate(info, msg, None)
    assert str(caught.value) == caught.value.message
    return caught.value.message


def test_one_error_is_the_whole_message():
    p = pod()
    p.spec.containers[0].resources.requests["cpu"] = "1.5.0"
    assert refusal(p) == (
        'Pod "web" is invalid: spec.containers[0].resources.requests.cpu: Invalid value: "1.5.0": '
        "must be a valid quantity (e.g. 500m, 1Gi)"
    )


def test_required_and_unsupported_read_as_in_kubernetes():
    p = pod()
    p.spec.containers[0].image = ""
    p.spec.restart_policy = "Sometimes"
    message = refusal(p)
    assert message == (
        'Pod "web" is invalid: [spec.containers[0].image: Required value, '
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"]'
    )


def test_every_bad_field_is_named():
    p = pod("Bad_Name")
    p.metadata.labels["bad key"] = "v"
    p.spec.containers[0].ports.add(container_port=0)
    p.spec.dns_policy = "Nowhere"
    message = refusal(p)
    for path in ("metadata.name", "metadata.labels", "spec.containers[0].ports[0].containerPort", "spec.dnsPolicy"):
        assert path + ":" in message


def test_the_list_is_capped_at_ten():
    p = pod()
    for i in range(15):
        p.metadata.labels[f"bad key {i}"] = "v"
    message = refusal(p)
    assert message.count("Invalid value") == 10
    assert message.endswith(", and 5 more errors]")


@pytest.mark.parametrize("size", [300, 100_000])
def test_long_values_are_cut_short(size):
    p = pod("x" * size)
    message = refusal(p)
    assert len(message) < 1000
    assert "..." in message


def test_names_and_values_are_quoted_and_escaped():
    p = pod('we"b')
    message = refusal(p)
    assert message.startswith('Pod "we\\"b" is invalid: metadata.name: Invalid value: "we\\"b": ')


def test_numbers_are_shown_bare():
    p = pod()
    p.spec.containers[0].ports.add(container_port=70000)
    assert "containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive" in refusal(p)


def test_invalid_is_an_api_error_with_invalid_argument_code():
    import grpc

    p = pod()
    p.spec.containers[0].image = ""
    info = kinds.by_kind("Pod")
    with pytest.raises(Invalid) as caught:
        validation.validate(info, p, None)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
