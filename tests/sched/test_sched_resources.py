"""Pod requests (Kubernetes' PodRequests) and label / node selector matching."""

from __future__ import annotations

import pytest
from sched_builders import pod
from shoal.proto import manifests
from shoal.sched import labels as lbl
from shoal.sched.resources import is_scalar_resource, pod_request


def request_of(doc):
    return pod_request(manifests.from_dict(doc).spec)


@pytest.mark.parametrize(
    "doc, requests, nonzero",
    [
        pytest.param(pod("p", "500m", "1Gi"), {"cpu": 500, "memory": 2**30}, (500, 2**30), id="plain"),
        pytest.param(pod("p"), {}, (100, 200 * 2**20), id="best-effort-gets-defaults-for-scoring"),
        pytest.param(pod("p", "0"), {"cpu": 0}, (0, 200 * 2**20), id="explicit-zero-stays-zero"),
        pytest.param(pod("p", "1", init=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}]),
                     {"cpu": 2000, "memory": 2**30}, (2000, 2**30), id="init-max"),
        pytest.param(pod("p", "1", init=[
            {"name": "s", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
            {"name": "i", "image": "x", "resources": {"requests": {"cpu": "1500m"}}}]),
            {"cpu": 2500}, (2500, 2 * 200 * 2**20), id="init-after-sidecar-adds-the-sidecar"),
        pytest.param(pod("p", "1", overhead={"cpu": "100m", "memory": "10Mi"}), {"cpu": 1100, "memory": 10 * 2**20},
                     (1100, 210 * 2**20), id="overhead"),
        pytest.param(pod("p", extra={"nvidia.com/gpu": "2", "storage": "1Gi", "hugepages-2Mi": "4Mi"}),
                     {"nvidia.com/gpu": 2, "hugepages-2Mi": 4 * 2**20}, (100, 200 * 2**20), id="scalar-and-uncounted-resources"),
    ],
)
def test_pod_request(doc, requests, nonzero):
    r = request_of(doc)
    assert r.requests == requests
    assert (r.nonzero_cpu, r.nonzero_memory) == nonzero


def test_pod_level_requests_replace_the_container_sum():
    doc = pod("p", "1", "1Gi")
    doc["spec"]["resources"] = {"requests": {"cpu": "3"}}
    assert request_of(doc).requests == {"cpu": 3000, "memory": 2**30}


@pytest.mark.parametrize("name, scalar", [("nvidia.com/gpu", True), ("hugepages-1Gi", True), ("kubernetes.io/x", True),
                                          ("cpu", False), ("foo", False), ("requests.foo/bar", False)])
def test_scalar_resource_names(name, scalar):
    assert is_scalar_resource(name) is scalar


@pytest.mark.parametrize(
    "op, values, labels, expected",
    [
        ("In", ("a", "b"), {"k": "a"}, True),
        ("In", ("a",), {}, False),
        ("NotIn", ("a",), {}, True),
        ("NotIn", ("a",), {"k": "a"}, False),
        ("Exists", (), {"k": ""}, True),
        ("DoesNotExist", (), {"k": ""}, False),
        ("Gt", ("5",), {"k": "6"}, True),
        ("Gt", ("5",), {"k": "5"}, False),
        ("Gt", ("5",), {"k": "x"}, False),
        ("Lt", ("5",), {"k": "-3"}, True),
        ("Lt", ("5",), {"k": "1_0"}, False),
    ],
)
def test_requirement_matching(op, values, labels, expected):
    assert lbl.Requirement.build("k", op, values).matches(labels) is expected


@pytest.mark.parametrize("op, values", [("In", ()), ("Exists", ("a",)), ("Gt", ("a",)), ("Gt", ("1", "2")), ("Near", ("a",))])
def test_invalid_requirements(op, values):
    with pytest.raises(lbl.SelectorError):
        lbl.Requirement.build("k", op, values)


def test_selectors_nil_empty_and_set():
    assert not lbl.NOTHING.matches({}) and not lbl.NOTHING.empty
    assert lbl.EVERYTHING.matches({"a": "b"}) and lbl.EVERYTHING.empty
    assert lbl.Selector.from_set({"a": "b"}).matches({"a": "b", "c": "d"})
