"""Admission never fails on odd input with anything but Invalid: random objects of every kind,
filled field by field from the message descriptors, and a few extreme ones."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shoal.control.api import defaulting, validation
from shoal.control.api.errors import Invalid
from shoal.proto import kinds

# Values that steer random objects into the validators' branches (enum values, operators,
# quantities, ports, percentages) next to arbitrary text.
INTERESTING_TEXT = [
    "", "a", "web", "Web_1", "-a", "a" * 64, "a" * 300, "x/y/z", "example.com/a", "..", ".", "a=b", " pad ",
    "Always", "Never", "OnFailure", "IfNotPresent", "ClusterFirst", "None", "Default", "TCP", "UDP", "SCTP",
    "Exists", "Equal", "In", "NotIn", "DoesNotExist", "Gt", "Lt", "NoExecute", "NoSchedule", "PreferNoSchedule",
    "DoNotSchedule", "ScheduleAnyway", "Honor", "Ignore", "PreemptLowerPriority", "Localhost", "RuntimeDefault",
    "cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "nvidia.com/gpu", "storage", "pods",
    "100m", "0.5", "1.5.0", "-1", "1e3", "1E400", "1Gi", "0", "5", "25%", "101%", "-5%", "%", "9" * 70,
    "ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "ClientIP", "Cluster", "Local", "10.0.0.1", "::1",
    "10.0.0.0/8", "RollingUpdate", "Recreate", "Indexed", "NonIndexed", "Resource", "Pods", "Object", "External",
    "ContainerResource", "Utilization", "AverageValue", "Value", "Max", "Min", "Percent", "ReadWriteOnce",
    "Block", "Filesystem", "Retain", "Delete", "Recycle", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson",
    "kubernetes.io/service-account-token", ".dockerconfigjson", "[[[[[[[[[[", "status.podIP", "limits.cpu",
    "metadata.name", "metadata.labels['a']", "Normal", "Warning", "Memory", "HugePages-1Gi", "system-x",
]
_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
TEXT = st.one_of(st.sampled_from(INTERESTING_TEXT), _text)
INT32 = st.one_of(st.sampled_from([0, 1, 2, -1, 80, 600, 65535, 65536, 2**31 - 1, -(2**31)]),
                  st.integers(-(2**31), 2**31 - 1))
INT64 = st.one_of(INT32, st.integers(-(2**63), 2**63 - 1))
_INT32_TYPES = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_MAX_DEPTH = 6


def _scalar(field: FieldDescriptor):
    if field.type == FieldDescriptor.TYPE_STRING:
        return TEXT
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=20), st.sampled_from([b"{}", b"[[[", b"\xff\xfe"]))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in _INT32_TYPES:
        return INT32
    if field.type == FieldDescriptor.TYPE_UINT32:
        return st.integers(0, 2**32 - 1)
    if field.type == FieldDescriptor.TYPE_UINT64:
        return st.integers(0, 2**64 - 1)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=False, width=32)
    return INT64


def _fill(draw, msg, depth: int) -> None:
    """Sets a random subset of ``msg``'s fields (fewer the deeper), recursively."""
    odds = max(1, 5 - depth)  # out of 10
    for field in msg.DESCRIPTOR.fields:
        if draw(st.integers(0, 9)) >= odds:
            continue
        sub = field.message_type
        if sub is not None and sub.full_name.startswith("google.protobuf."):
            if sub.full_name == "google.protobuf.Timestamp":
                getattr(msg, field.name).seconds = draw(st.integers(0, 2**32))
            continue
        if sub is not None and sub.GetOptions().map_entry:
            value_field = sub.fields_by_name["value"]
            target = getattr(msg, field.name)
            for key in draw(st.lists(TEXT, max_size=3)):
                if value_field.message_type is None:
                    target[key] = draw(_scalar(value_field))
                elif depth < _MAX_DEPTH:
                    _fill(draw, target[key], depth + 1)
            continue
        if field.is_repeated:
            target = getattr(msg, field.name)
            count = draw(st.integers(0, 3 if depth < 3 else 1))
            for _ in range(count):
                if sub is None:
                    target.append(draw(_scalar(field)))
                elif depth < _MAX_DEPTH:
                    _fill(draw, target.add(), depth + 1)
            continue
        if sub is not None:
            if depth < _MAX_DEPTH:
                child = getattr(msg, field.name)
                child.SetInParent()
                _fill(draw, child, depth + 1)
            continue
        setattr(msg, field.name, draw(_scalar(field)))


@st.composite
def objects(draw, kind: str):
    """A random object of ``kind``: either filled from scratch or a valid object with random
    fields merged over it (so the deeper validators see mostly sensible input)."""
    info = kinds.by_kind(kind)
    msg = info.message()
    if draw(st.booleans()) and kind in VALID_BASES:
        msg.CopyFrom(kinds.unwrap(_envelope(VALID_BASES[kind]))[1])
        overlay = info.message()
        _fill(draw, overlay, 1)
        msg.MergeFrom(overlay)
    else:
        _fill(draw, msg, 0)
    if info.namespaced and draw(st.booleans()):
        msg.metadata.namespace = "default"
    return msg


VALID_BASES = {
    "Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}}]}},
    "Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                       "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}},
}

_SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def admit(info, msg, old=None) -> None:
    """Defaulting then validation; only Invalid may come out."""
    try:
        defaulting.apply_defaults(info, msg)
        validation.validate(info, msg, old)
    except Invalid:
        pass


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "Service"])
@_SETTINGS
@given(data=st.data())
def test_random_workloads_yield_success_or_invalid(kind, data):
    admit(kinds.by_kind(kind), data.draw(objects(kind)))


@pytest.mark.parametrize("kind", [info.kind for info in kinds.all_kinds() if info.kind not in ("Pod", "Deployment", "Service")])
@settings(_SETTINGS, max_examples=40)
@given(data=st.data())
def test_random_objects_of_every_kind_yield_success_or_invalid(kind, data):
    admit(kinds.by_kind(kind), data.draw(objects(kind)))


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "Service", "Job", "PersistentVolumeClaim", "PriorityClass", "ConfigMap"])
@settings(_SETTINGS, max_examples=40)
@given(data=st.data())
def test_random_updates_yield_success_or_invalid(kind, data):
    info = kinds.by_kind(kind)
    old = data.draw(objects(kind))
    defaulting.apply_defaults(info, old)
    admit(info, data.draw(objects(kind)), old)


def _pod():
    info, msg = kinds.unwrap(_envelope(VALID_BASES["Pod"]))
    msg.metadata.namespace = "default"
    return info, msg


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_ten_thousand_labels(valid):
    info, pod = _pod()
    for i in range(10_000):
        pod.metadata.labels[f"k{i}" if valid else f"bad key {i}"] = "v"
    if valid:
        defaulting.apply_defaults(info, pod)
        validation.validate(info, pod, None)
    else:
        with pytest.raises(Invalid, match="and 9990 more errors"):
            admit_strict(info, pod)


def admit_strict(info, msg) -> None:
    defaulting.apply_defaults(info, msg)
    validation.validate(info, msg, None)


def _set_every_string(msg, value: str, depth: int = 0) -> None:
    for field in msg.DESCRIPTOR.fields:
        sub = field.message_type
        if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
            setattr(msg, field.name, value)
        elif sub is not None and not field.is_repeated and not sub.full_name.startswith("google.") and depth < 4:
            _set_every_string(getattr(msg, field.name), value, depth + 1)


@pytest.mark.parametrize("kind", [info.kind for info in kinds.all_kinds()])
def test_megabyte_strings_everywhere(kind):
    info = kinds.by_kind(kind)
    msg = info.message()
    _set_every_string(msg, "x" * 1_000_000)
    admit(info, msg)


@pytest.mark.parametrize("number", [-(2**31), -1, 0, 2**31 - 1])
def test_extreme_numbers_in_every_int_field_of_a_pod(number):
    info, pod = _pod()

    def fill(msg, depth=0):
        for field in msg.DESCRIPTOR.fields:
            sub = field.message_type
            if field.type in _INT32_TYPES and not field.is_repeated:
                setattr(msg, field.name, number)
            elif sub is not None and not field.is_repeated and not sub.full_name.startswith("google.") and depth < 5:
                fill(getattr(msg, field.name), depth + 1)
        if msg.DESCRIPTOR.name == "PodSpec":
            for c in msg.containers:
                fill(c, depth + 1)

    fill(pod)
    admit(info, pod)


def _envelope(doc):
    """The Object for a manifest (as the CLI reads it)."""
    from shoal.proto.manifests import from_dict

    return kinds.wrap(from_dict(doc))
