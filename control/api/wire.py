"""Byte-level protobuf assembly for the hot paths: no parse, no re-serialize.

Stored values are a kind's message (Pod, Node, ...) serialized *without* its resourceVersion;
the revision lives in the store. Protobuf merges repeated occurrences of an embedded message
field, so appending ``metadata { resource_version: "N" }`` to the stored bytes yields exactly the
object at revision N. Wrapping in the Object envelope or a WatchEvent is a tag and a length.
"""

from __future__ import annotations

from functools import lru_cache

from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import meta_pb2, object_pb2

_LEN = 2  # wire type of length-delimited fields


_SMALL = [bytes((n,)) for n in range(128)]


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@lru_cache(maxsize=256)
def tag(field_number: int, wire_type: int = _LEN) -> bytes:
    return varint((field_number << 3) | wire_type)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return b"".join((tag(field_number), varint(len(payload)), payload))


_RV_FIELD = meta_pb2.ObjectMeta.DESCRIPTOR.fields_by_name["resource_version"].number
_RV_TAG = bytes(((_RV_FIELD << 3) | _LEN,))  # a field number under 16 makes a one-byte tag
assert _RV_FIELD < 16


@lru_cache(maxsize=64)
def _metadata_field_number(message_full_name: str) -> int:
    for info_field in object_pb2.Object.DESCRIPTOR.fields:
        if info_field.message_type.full_name == message_full_name:
            return info_field.message_type.fields_by_name["metadata"].number
    raise KeyError(message_full_name)


@lru_cache(maxsize=64)
def _object_field_number(message_full_name: str) -> int:
    for info_field in object_pb2.Object.DESCRIPTOR.fields:
        if info_field.message_type.full_name == message_full_name:
            return info_field.number
    raise KeyError(message_full_name)


def object_at_revision(message_full_name: str, stored: bytes, revision: int) -> bytes:
    """An ``Object`` envelope around the kind's stored bytes at ``revision``: the bytes, then
    ``metadata { resource_version: "N" }`` (merged into the metadata by any parser), in one join."""
    rv = str(revision).encode()
    # metadata { resource_version: rv }: both lengths are under 128, so one byte each.
    meta = b"".join((_RV_TAG, _SMALL[len(rv)], rv))
    tail = b"".join((tag(_metadata_field_number(message_full_name)), _SMALL[len(meta)], meta))
    return b"".join((tag(_object_field_number(message_full_name)), varint(len(stored) + len(tail)), stored, tail))


_EV_TYPE = svc.WatchEvent.DESCRIPTOR.fields_by_name["type"].number
_EV_OBJECT = svc.WatchEvent.DESCRIPTOR.fields_by_name["object"].number
_EV_RV = svc.WatchEvent.DESCRIPTOR.fields_by_name["resource_version"].number
_RESP_EVENTS = svc.WatchResponse.DESCRIPTOR.fields_by_name["events"].number


def watch_event_entry(event_type: int, obj: bytes | None, revision: int) -> bytes:
    """One event, encoded as an element of ``WatchResponse.events``: concatenating entries
    gives a serialized WatchResponse carrying them all."""
    body = tag(_EV_TYPE, 0) + varint(event_type)
    if obj is not None:
        body += length_delimited(_EV_OBJECT, obj)
    body += length_delimited(_EV_RV, str(revision).encode())
    return length_delimited(_RESP_EVENTS, body)
