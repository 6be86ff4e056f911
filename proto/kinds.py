"""The kinds Shoal serves, and the way from shoal.v1 messages back to Kubernetes' JSON.

One KindInfo per kind: its names (as kubectl knows them), apiVersion, scope, message class and
the field of the ``Object`` envelope that carries it.

    by_kind("po") -> KindInfo(kind="Pod", ...)      any name kubectl accepts, any case
    wrap(pod) -> Object                              unwrap(obj) -> (KindInfo, pod)

Manifests and protobuf's JSON mapping agree on every field name (the .proto files set
json_name where Kubernetes' spelling is not plain lowerCamelCase) but differ in value forms,
which ``from_proto_json`` / ``to_manifest`` convert, guided by the message descriptors:

    IntOrString    manifest 8080 / "http"     proto JSON {"intVal": 8080} / {"strVal": "http"}
    int64          manifest numbers           proto JSON prints strings ("3")

Reading a manifest into a message is shoal.proto.manifests.from_dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from shoal.v1 import (
    apps_pb2,
    autoscaling_pb2,
    batch_pb2,
    coordination_pb2,
    core_pb2,
    meta_pb2,
    scheduling_pb2,
)
from shoal.v1.object_pb2 import Object

__all__ = [
    "KindInfo",
    "UnknownKindError",
    "all_kinds",
    "by_kind",
    "from_proto_json",
    "to_manifest",
    "unwrap",
    "wrap",
]


@dataclass(frozen=True)
class KindInfo:
    """One kind: its names, apiVersion, scope, message class and Object envelope field."""

    kind: str
    api_version: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    message: type[Message]
    # The name of the Object oneof field that carries this kind.
    field: str
    # Whether status is written through the status subresource (UpdateStatus).
    has_status: bool

    @property
    def group(self) -> str:
        """The API group: "" for the core group ("v1"), else the part before the slash."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version within the group ("v1", "v2", "v1alpha1")."""
        return self.api_version.rpartition("/")[2]


class UnknownKindError(KeyError):
    """A kind name (or an Object envelope) that names no kind Shoal serves."""

    def __str__(self) -> str:
        # KeyError would print the repr of its argument, quotes and all.
        return str(self.args[0]) if self.args else "unknown kind"


_KINDS: tuple[KindInfo, ...] = (
    KindInfo("Namespace", "v1", "namespaces", "namespace", ("ns",), False,
             core_pb2.Namespace, "namespace", True),
    KindInfo("Node", "v1", "nodes", "node", ("no",), False,
             core_pb2.Node, "node", True),
    KindInfo("Pod", "v1", "pods", "pod", ("po",), True,
             core_pb2.Pod, "pod", True),
    KindInfo("ReplicaSet", "apps/v1", "replicasets", "replicaset", ("rs",), True,
             apps_pb2.ReplicaSet, "replica_set", True),
    KindInfo("Deployment", "apps/v1", "deployments", "deployment", ("deploy",), True,
             apps_pb2.Deployment, "deployment", True),
    KindInfo("Service", "v1", "services", "service", ("svc",), True,
             core_pb2.Service, "service", True),
    KindInfo("Endpoints", "v1", "endpoints", "endpoints", ("ep",), True,
             core_pb2.Endpoints, "endpoints", False),
    KindInfo("ConfigMap", "v1", "configmaps", "configmap", ("cm",), True,
             core_pb2.ConfigMap, "config_map", False),
    KindInfo("Secret", "v1", "secrets", "secret", (), True,
             core_pb2.Secret, "secret", False),
    KindInfo("PersistentVolume", "v1", "persistentvolumes", "persistentvolume", ("pv",), False,
             core_pb2.PersistentVolume, "persistent_volume", True),
    KindInfo("PersistentVolumeClaim", "v1", "persistentvolumeclaims", "persistentvolumeclaim",
             ("pvc",), True, core_pb2.PersistentVolumeClaim, "persistent_volume_claim", True),
    KindInfo("Job", "batch/v1", "jobs", "job", (), True,
             batch_pb2.Job, "job", True),
    KindInfo("PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", "priorityclass", ("pc",),
             False, scheduling_pb2.PriorityClass, "priority_class", False),
    KindInfo("PodGroup", "scheduling.x-k8s.io/v1alpha1", "podgroups", "podgroup", ("pg", "pgs"),
             True, scheduling_pb2.PodGroup, "pod_group", True),
    KindInfo("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers",
             "horizontalpodautoscaler", ("hpa",), True,
             autoscaling_pb2.HorizontalPodAutoscaler, "horizontal_pod_autoscaler", True),
    KindInfo("Lease", "coordination.k8s.io/v1", "leases", "lease", (), True,
             coordination_pb2.Lease, "lease", False),
    # core/v1 Event. events.k8s.io/v1 Event spells its fields differently (note, regarding,
    # deprecatedSource, ...), so its manifests do not map onto this message and are refused.
    KindInfo("Event", "v1", "events", "event", ("ev",), True,
             core_pb2.Event, "event", False),
)


def _index_names(kinds: Iterable[KindInfo]) -> dict[str, KindInfo]:
    """Every name kubectl accepts for a kind, lower-cased: Kind, plural, singular, short names,
    and for grouped kinds "<plural>.<group>" and "<singular>.<group>"."""
    index: dict[str, KindInfo] = {}
    for info in kinds:
        names = {info.kind, info.plural, info.singular, *info.short_names}
        if info.group:
            names |= {f"{info.plural}.{info.group}", f"{info.singular}.{info.group}"}
        for name in names:
            key = name.lower()
            other = index.setdefault(key, info)
            if other is not info:
                raise AssertionError(f"kind name {key!r} names both {other.kind} and {info.kind}")
    return index


_BY_NAME = _index_names(_KINDS)
_BY_FIELD = {info.field: info for info in _KINDS}
_BY_MESSAGE = {info.message.DESCRIPTOR.full_name: info for info in _KINDS}
_MAX_NAME_SHOWN = 64


def all_kinds() -> tuple[KindInfo, ...]:
    """Every kind, in the order of the Object envelope's field numbers."""
    return _KINDS


def by_kind(name: str) -> KindInfo:
    """The kind that ``name`` names, as kubectl resolves it: the kind ("Pod"), plural ("pods"),
    singular ("pod") or short name ("po"), any case, optionally qualified by its API group
    ("deployments.apps"). Raises UnknownKindError otherwise."""
    info = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    if info is None:
        shown = name[:_MAX_NAME_SHOWN] if isinstance(name, str) else type(name).__name__
        known = ", ".join(k.kind for k in _KINDS)
        raise UnknownKindError(f"unknown kind {shown!r}: the kinds served are {known}")
    return info


def wrap(msg: Message) -> Object:
    """An Object envelope holding a copy of ``msg`` (a message of one of the kinds). The
    message is copied as it is: apiVersion and kind are not filled in."""
    info = _BY_MESSAGE.get(msg.DESCRIPTOR.full_name)
    if info is None:
        raise UnknownKindError(f"{msg.DESCRIPTOR.full_name} is not a kind an Object can carry")
    envelope = Object()
    getattr(envelope, info.field).CopyFrom(msg)
    return envelope


def unwrap(obj: Object) -> tuple[KindInfo, Message]:
    """The kind an Object envelope carries and the message itself (not a copy: changing it
    changes the envelope). Raises UnknownKindError if the envelope is empty, or holds a kind
    this version does not know (a newer client's)."""
    which = obj.WhichOneof("kind")
    if which is None:
        raise UnknownKindError(
            "the Object holds no kind (empty, or a kind this server does not know)"
        )
    return _BY_FIELD[which], getattr(obj, which)


def to_manifest(obj: Object | Message) -> dict[str, Any]:
    """The Kubernetes JSON form of an object (an Object envelope or a kind's message): proto
    JSON with IntOrString values as bare numbers or strings and int64 values as numbers."""
    msg = unwrap(obj)[1] if isinstance(obj, Object) else obj
    return from_proto_json(json_format.MessageToDict(msg), msg.DESCRIPTOR)


def from_proto_json(data: Mapping[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    """Kubernetes' JSON from MessageToDict output: IntOrString values collapse to a bare number
    or string, int64 values (strings in proto JSON) become numbers. (The other direction, a
    manifest into a message, is shoal.proto.manifests.from_dict.)"""
    return _convert_message(data, descriptor)


_INT_OR_STRING = meta_pb2.IntOrString.DESCRIPTOR.full_name
_INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64,
})
_FIELDS_BY_JSON_NAME: dict[str, dict[str, FieldDescriptor]] = {}


def _fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """The fields of a message by JSON name and by proto name (ParseDict accepts both)."""
    fields = _FIELDS_BY_JSON_NAME.get(descriptor.full_name)
    if fields is None:
        fields = {f.name: f for f in descriptor.fields}
        fields.update({f.json_name: f for f in descriptor.fields})
        _FIELDS_BY_JSON_NAME[descriptor.full_name] = fields
    return fields


def _convert_message(doc: Mapping[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    fields = _fields(descriptor)
    out: dict[str, Any] = {}
    for key, item in doc.items():
        fd = fields.get(key)
        out[key] = item if fd is None else _convert_field(item, fd)
    return out


def _convert_field(item: Any, fd: FieldDescriptor) -> Any:
    entry = fd.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(item, Mapping):
            return item
        value_fd = entry.fields_by_name["value"]
        return {k: _convert_value(v, value_fd) for k, v in item.items()}
    if fd.is_repeated and isinstance(item, list):
        return [_convert_value(v, fd) for v in item]
    return _convert_value(item, fd)


def _convert_value(item: Any, fd: FieldDescriptor) -> Any:
    message_type = fd.message_type
    if message_type is not None:
        if message_type.full_name == _INT_OR_STRING:
            return _int_or_string_from_proto(item)
        if message_type.full_name.startswith("shoal.") and isinstance(item, Mapping):
            return _convert_message(item, message_type)
        return item
    if fd.type in _INT64_TYPES and isinstance(item, str):
        return int(item)
    return item


def _int_or_string_from_proto(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    if "strVal" in item:
        return item["strVal"]
    return item.get("intVal", 0)
