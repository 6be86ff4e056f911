"""Small facts about objects that every controller needs: keys, times, owner references and
label selectors. Pure functions over the kinds' messages; nothing here does I/O."""

from __future__ import annotations

from typing import Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.proto import kinds
from shoal.v1 import meta_pb2
from shoal.proto.labels import selector_matches  # noqa: F401 (re-exported for the controllers)

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"


# -- keys ----------------------------------------------------------------------------------------


def object_key(obj) -> str:
    """"namespace/name" for namespaced objects, "name" for cluster-scoped ones (client-go's
    MetaNamespaceKeyFunc)."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a key made by object_key."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


_KIND_BY_MESSAGE = {info.message.DESCRIPTOR.full_name: info for info in kinds.all_kinds()}


def kind_info_of(obj) -> kinds.KindInfo:
    """The KindInfo of a kind's message."""
    return _KIND_BY_MESSAGE[obj.DESCRIPTOR.full_name]


def kind_of(obj) -> str:
    """The kind name of a message ("Pod")."""
    return kind_info_of(obj).kind


def clone(obj):
    """A deep copy: cached objects are shared and must never be changed in place."""
    new = type(obj)()
    new.CopyFrom(obj)
    return new


# -- time ----------------------------------------------------------------------------------------


def seconds(ts: Timestamp) -> float:
    """A Timestamp as epoch seconds (0.0 when unset)."""
    return ts.seconds + ts.nanos / 1e9


def timestamp(now: float) -> Timestamp:
    """Epoch seconds as a Timestamp at whole-second precision, as Kubernetes' metav1.Time."""
    ts = Timestamp()
    ts.seconds = int(now)
    return ts


def is_terminating(obj) -> bool:
    return obj.metadata.HasField("deletion_timestamp")


# -- owner references ----------------------------------------------------------------------------


def controller_ref(obj) -> meta_pb2.OwnerReference | None:
    """The owner reference with controller=true, if any."""
    for ref in obj.metadata.owner_references:
        if ref.HasField("controller") and ref.controller:
            return ref
    return None


def new_controller_ref(owner) -> meta_pb2.OwnerReference:
    """A reference making ``owner`` the managing controller of a dependent, blocking the
    owner's foreground deletion until the dependent is gone."""
    info = kind_info_of(owner)
    return meta_pb2.OwnerReference(
        api_version=info.api_version,
        kind=info.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def is_controlled_by(obj, owner) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.uid == owner.metadata.uid


def object_reference(obj) -> meta_pb2.ObjectReference:
    info = kind_info_of(obj)
    meta = obj.metadata
    return meta_pb2.ObjectReference(
        kind=info.kind,
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        api_version=info.api_version,
        resource_version=meta.resource_version,
    )


# -- label selectors -----------------------------------------------------------------------------


def selector_is_empty(selector: meta_pb2.LabelSelector) -> bool:
    return not selector.match_labels and not selector.match_expressions


def map_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service-style selector (a plain map): every pair must be present."""
    return all(labels.get(k) == v for k, v in selector.items())


def int_or_percent(value: meta_pb2.IntOrString, total: int, round_up: bool, default: int = 0) -> int:
    """An IntOrString bound scaled against ``total`` (intstr.GetScaledValueFromIntOrPercent):
    ints as they are, "25%" of total rounded up or down. Unset gives ``default``."""
    which = value.WhichOneof("value")
    if which == "int_val":
        return value.int_val
    if which == "str_val":
        text = value.str_val.strip()
        if text.endswith("%") and text[:-1].isdigit():
            scaled = int(text[:-1]) * total
            return -(-scaled // 100) if round_up else scaled // 100
        if text.isdigit():
            return int(text)
    return default
