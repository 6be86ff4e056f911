"""Reading a field of a message by its Kubernetes JSON path ("spec.nodeName", "status.phase")."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from google.protobuf import message as pb_message


@lru_cache(maxsize=4096)
def _resolve(descriptor, path: str) -> tuple[str, ...]:
    """The proto attribute names along a JSON path; KeyError(path) if a segment is unknown or
    not a singular field."""
    names = []
    for segment in path.split("."):
        field = next((f for f in descriptor.fields if f.json_name == segment or f.name == segment), None)
        if field is None or field.is_repeated:
            raise KeyError(path)
        names.append(field.name)
        descriptor = field.message_type
        if descriptor is None and segment != path.split(".")[-1]:
            raise KeyError(path)
    if descriptor is not None:
        raise KeyError(path)  # ends on a message, not a scalar
    return tuple(names)


def read_field(msg: pb_message.Message, path: str) -> str:
    """The value at ``path`` as a field selector compares it (booleans as 'true'/'false')."""
    value = msg
    for name in _resolve(msg.DESCRIPTOR, path):
        value = getattr(value, name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_getter(msg: pb_message.Message) -> Callable[[str], str]:
    return lambda path: read_field(msg, path)
