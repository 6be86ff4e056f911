"""What `apply` stores: the manifest's fields laid over the stored object.

Where the manifest says something, it wins; where it is silent, the stored value stays (so what
the server or controllers filled in, like a Service's clusterIP, survives a re-apply). Maps merge
key by key (so removing a key from a manifest does not remove it: there is no record of the last
applied manifest, unlike kubectl's three-way merge). Lists of
objects that Kubernetes merges by a key (containers by name, Service ports by port and protocol,
...) are matched element by element, so an element keeps its server-filled fields (a port's
nodePort) while the list takes the manifest's order and members.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

# message type -> the fields that identify an element of a list of that type
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "Container": ("name",),
    "Volume": ("name",),
    "VolumeMount": ("mount_path",),
    "EnvVar": ("name",),
    "ContainerPort": ("container_port", "protocol"),
    "ServicePort": ("port", "protocol"),
    "LocalObjectReference": ("name",),
    "OwnerReference": ("uid",),
}


def overlay(target: Message, field: FieldDescriptor, value) -> None:
    """Sets ``field`` of ``target`` from an applied value."""
    name = field.name
    if field.is_repeated:
        _overlay_repeated(target, field, value)
        return
    if field.message_type is not None:
        sub = getattr(target, name)
        if _atomic(field):
            sub.CopyFrom(value)
            return
        overlay_message(sub, value)
        return
    setattr(target, name, value)


def overlay_message(target: Message, applied: Message) -> None:
    fields = applied.ListFields()
    for sub_field, sub_value in fields:
        overlay(target, sub_field, sub_value)
    if not fields:
        target.SetInParent()


def _atomic(field: FieldDescriptor) -> bool:
    """Messages replaced whole: well-known types, oneof members (a handler or a volume source
    is one choice), and int-or-string values."""
    message: Descriptor = field.message_type
    return (
        message.full_name.startswith("google.protobuf.")
        or field.containing_oneof is not None
        or message.name == "IntOrString"
    )


def _overlay_repeated(target: Message, field: FieldDescriptor, value) -> None:
    container = getattr(target, field.name)
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        # Maps merge key by key, as a strategic merge patch does: keys the server added (a
        # Job template's controller-uid label) stay.
        if message.fields_by_name["value"].message_type is not None:
            for k, v in value.items():
                container[k].CopyFrom(v)
        else:
            container.update(value)
        return
    keys = MERGE_KEYS.get(message.name) if message is not None else None
    if not keys:
        del container[:]
        container.extend(value)
        return
    stored = {_key(item, keys): item for item in container}
    merged = []
    for item in value:
        current = stored.get(_key(item, keys))
        if current is None:
            merged.append(item)
            continue
        element = type(item)()
        element.CopyFrom(current)
        overlay_message(element, item)
        merged.append(element)
    del container[:]
    container.extend(merged)


def _key(item: Message, keys: tuple[str, ...]) -> tuple:
    # An unset protocol means TCP once defaulted: compare as Kubernetes' defaulting would.
    return tuple((getattr(item, k) or ("TCP" if k == "protocol" else "")) for k in keys)
