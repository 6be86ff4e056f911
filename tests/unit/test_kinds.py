"""The kind registry: names as kubectl resolves them, the Object envelope, manifest checks."""

import pytest

from shoal.proto.manifests import from_dict
from shoal.proto.kinds import (
    KindInfo,
    UnknownKindError,
    all_kinds,
    by_kind,
    to_manifest,
    unwrap,
    wrap,
)
from shoal.v1 import apps_pb2, core_pb2, meta_pb2
from shoal.v1.object_pb2 import Object

NAMES = [
    ("Pod", "Pod"), ("pod", "Pod"), ("pods", "Pod"), ("po", "Pod"), ("PODS", "Pod"),
    ("Deployment", "Deployment"), ("deploy", "Deployment"), ("deployments.apps", "Deployment"),
    ("deployment.apps", "Deployment"),
    ("rs", "ReplicaSet"), ("replicasets", "ReplicaSet"),
    ("svc", "Service"), ("ep", "Endpoints"), ("endpoints", "Endpoints"),
    ("no", "Node"), ("nodes", "Node"), ("ns", "Namespace"), ("cm", "ConfigMap"),
    ("secret", "Secret"), ("pv", "PersistentVolume"), ("pvc", "PersistentVolumeClaim"),
    ("persistentvolumeclaims", "PersistentVolumeClaim"),
    ("job", "Job"), ("jobs.batch", "Job"),
    ("pc", "PriorityClass"), ("priorityclasses.scheduling.k8s.io", "PriorityClass"),
    ("pg", "PodGroup"), ("podgroup", "PodGroup"), ("podgroups.scheduling.x-k8s.io", "PodGroup"),
    ("hpa", "HorizontalPodAutoscaler"), ("horizontalpodautoscalers.autoscaling", "HorizontalPodAutoscaler"),
    ("lease", "Lease"), ("leases.coordination.k8s.io", "Lease"),
    ("ev", "Event"), ("events", "Event"),
]


@pytest.mark.parametrize(("name", "kind"), NAMES, ids=[name for name, _ in NAMES])
def test_by_kind_resolves_every_kubectl_name(name: str, kind: str) -> None:
    assert by_kind(name).kind == kind


@pytest.mark.parametrize("name", ["DaemonSet", "", "pods.apps", "deployments.batch", "x" * 10_000])
def test_unknown_kind_raises_a_key_error_with_a_clear_message(name: str) -> None:
    with pytest.raises(UnknownKindError) as info:
        by_kind(name)
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith("unknown kind ")  # not wrapped in quotes as KeyError would be
    assert "Pod" in message
    assert len(message) < 400


SERVED = [
    ("Namespace", "v1", False), ("Node", "v1", False), ("Pod", "v1", True),
    ("ReplicaSet", "apps/v1", True), ("Deployment", "apps/v1", True), ("Service", "v1", True),
    ("Endpoints", "v1", True), ("ConfigMap", "v1", True), ("Secret", "v1", True),
    ("PersistentVolume", "v1", False), ("PersistentVolumeClaim", "v1", True),
    ("Job", "batch/v1", True), ("PriorityClass", "scheduling.k8s.io/v1", False),
    ("PodGroup", "scheduling.x-k8s.io/v1alpha1", True),
    ("HorizontalPodAutoscaler", "autoscaling/v2", True),
    ("Lease", "coordination.k8s.io/v1", True), ("Event", "v1", True),
]


@pytest.mark.parametrize(("kind", "api_version", "namespaced"), SERVED, ids=[k for k, _, _ in SERVED])
def test_kind_is_served_at_its_kubernetes_api_version_and_scope(
    kind: str, api_version: str, namespaced: bool
) -> None:
    info = by_kind(kind)
    assert (info.api_version, info.namespaced) == (api_version, namespaced)


def test_group_and_version_split_the_api_version() -> None:
    assert (by_kind("Pod").group, by_kind("Pod").version) == ("", "v1")
    assert (by_kind("pg").group, by_kind("pg").version) == ("scheduling.x-k8s.io", "v1alpha1")


def test_registry_covers_every_kind_of_the_object_envelope() -> None:
    envelope_fields = {f.name for f in Object.DESCRIPTOR.oneofs_by_name["kind"].fields}
    assert {info.field for info in all_kinds()} == envelope_fields
    assert [info.kind for info in all_kinds()] == [kind for kind, _, _ in SERVED]


@pytest.mark.parametrize("info", all_kinds(), ids=lambda info: info.kind)
def test_kind_message_matches_its_envelope_field_and_type_meta(info: KindInfo) -> None:
    envelope_field = Object.DESCRIPTOR.fields_by_name[info.field]
    assert envelope_field.message_type is info.message.DESCRIPTOR
    assert info.message.DESCRIPTOR.name == info.kind
    fields = info.message.DESCRIPTOR.fields_by_name
    assert [(fields[n].number, fields[n].json_name) for n in ("api_version", "kind", "metadata")] == [
        (1, "apiVersion"), (2, "kind"), (3, "metadata")
    ]
    assert fields["metadata"].message_type is meta_pb2.ObjectMeta.DESCRIPTOR
    assert info.has_status == ("status" in fields)


@pytest.mark.parametrize("info", all_kinds(), ids=lambda info: info.kind)
def test_wrap_then_unwrap_gives_back_the_message(info: KindInfo) -> None:
    msg = info.message(api_version=info.api_version, kind=info.kind)
    msg.metadata.name = "a"
    envelope = wrap(msg)
    assert envelope.WhichOneof("kind") == info.field
    got_info, got = unwrap(envelope)
    assert got_info is info
    assert got == msg


def test_wrap_copies_and_fills_in_nothing() -> None:
    pod = core_pb2.Pod()
    pod.metadata.name = "a"
    envelope = wrap(pod)
    pod.metadata.name = "b"
    assert envelope.pod.metadata.name == "a"
    assert envelope.pod.kind == ""


def test_wrap_of_an_empty_message_still_sets_the_kind() -> None:
    assert wrap(core_pb2.Pod()).WhichOneof("kind") == "pod"


def test_unwrap_returns_the_envelope_own_message() -> None:
    envelope = wrap(core_pb2.Pod())
    _, pod = unwrap(envelope)
    pod.metadata.name = "changed"
    assert envelope.pod.metadata.name == "changed"


def test_wrap_refuses_a_message_that_is_not_a_kind() -> None:
    with pytest.raises(UnknownKindError, match="PodSpec"):
        wrap(core_pb2.PodSpec())


def test_unwrap_refuses_an_empty_envelope() -> None:
    with pytest.raises(UnknownKindError, match="holds no kind"):
        unwrap(Object())


def _deployment(**overrides: object) -> dict:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    doc.update(overrides)
    return doc


def test_parse_manifest_gives_the_object_and_to_manifest_gives_it_back() -> None:
    doc = _deployment()
    envelope = _parse_manifest(doc)
    deployment = envelope.deployment
    assert deployment.spec.HasField("replicas") and deployment.spec.replicas == 0
    assert deployment.spec.strategy.rolling_update.max_surge.str_val == "25%"
    rolling = deployment.spec.strategy.rolling_update
    assert rolling.max_unavailable.WhichOneof("value") == "int_val"
    assert to_manifest(envelope) == doc
    assert to_manifest(deployment) == doc


def test_int64_fields_come_back_as_numbers() -> None:
    pod = core_pb2.Pod(api_version="v1", kind="Pod")
    pod.metadata.generation = 3
    pod.spec.termination_grace_period_seconds = 30
    pod.spec.security_context.supplemental_groups.extend([1000, 2000])
    manifest = to_manifest(wrap(pod))
    assert manifest["metadata"]["generation"] == 3
    assert manifest["spec"]["terminationGracePeriodSeconds"] == 30
    assert manifest["spec"]["securityContext"]["supplementalGroups"] == [1000, 2000]


def test_manifest_of_a_top_level_kind_maps_its_own_fields() -> None:
    envelope = _parse_manifest({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000000, "globalDefault": False,
        "preemptionPolicy": "Never", "description": "for batch",
    })
    assert envelope.priority_class.value == 1000000
    assert envelope.priority_class.preemption_policy == "Never"


def test_replicaset_template_is_a_full_pod_template() -> None:
    assert apps_pb2.ReplicaSetSpec.DESCRIPTOR.fields_by_name["template"].message_type is (
        core_pb2.PodTemplateSpec.DESCRIPTOR
    )


def _parse_manifest(doc):
    return wrap(from_dict(doc))
