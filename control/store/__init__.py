"""The state store: a revisioned key-value log behind one async interface.

    API layer --create/update/delete--> Store --commit--> SQLite file (or etcd)
                <--watch(prefix, rev)--  Store.events  (in-process fan-out)

Keys are ``/registry/<kind>/<namespace>/<name>``; values are serialized protobuf messages; every
write gets the next revision of one global counter, which becomes the object's resourceVersion.
"""

from shoal.control.store.interface import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    Store,
    StoreError,
    StoreEvent,
    StoreEventType,
    WriteOp,
)

__all__ = [
    "CompactedError",
    "ConflictError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "Store",
    "StoreError",
    "StoreEvent",
    "StoreEventType",
    "WriteOp",
]
