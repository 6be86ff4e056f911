"""What every store backend promises (SQLite now, etcd later), in etcd's vocabulary."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol, Sequence


class StoreError(Exception):
    """Base of the store's errors; each carries the key it is about."""

    def __init__(self, key: str, message: str = "") -> None:
        super().__init__(message or key)
        self.key = key


class KeyExistsError(StoreError):
    """create() of a key that is present."""


class KeyNotFoundError(StoreError):
    """update()/delete() of a key that is absent."""


class ConflictError(StoreError):
    """The expected revision does not match the key's current mod revision."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(key, f"{key}: expected revision {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class CompactedError(StoreError):
    """watch() from a revision whose history was compacted away: the caller must re-list."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__("", f"revision {requested} has been compacted (oldest kept: {compacted + 1})")
        self.requested = requested
        self.compacted = compacted


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class StoreEventType(enum.IntEnum):
    PUT = 1
    DELETE = 2


@dataclass(slots=True)
class StoreEvent:
    """One committed change. For DELETE, ``value`` is the key's last value.

    ``cache`` lets consumers attach derived forms (a parsed message, encoded bytes) once per
    event, so fan-out to many watchers does the work once.
    """

    type: StoreEventType
    key: str
    value: bytes
    revision: int
    create_revision: int
    created: bool = False
    # The value before a PUT that changed an existing key, when known (events read back from
    # disk do not carry it): lets a filtered watch turn "starts matching" into ADDED.
    prev_value: bytes | None = field(default=None, repr=False, compare=False)
    cache: dict | None = field(default=None, repr=False, compare=False)  # made by the first user
    # The event as an unfiltered watcher receives it, encoded by the first one to need it: the
    # hot path of watch fan-out reads one attribute per event and watcher.
    wire: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One write of a batch: create (expected_revision=-1 means must be absent), update or delete.

    expected_revision None = unconditional; 0 = must be absent (create); N = mod revision must be N.
    """

    key: str
    value: bytes | None  # None = delete
    expected_revision: int | None


class Store(Protocol):
    """An async, revisioned key-value store. All writes are durable when their await returns."""

    @property
    def revision(self) -> int: ...

    @property
    def compacted_revision(self) -> int: ...

    async def get(self, key: str) -> KeyValue | None: ...

    async def list(
        self, prefix: str, limit: int = 0, start_after: str = ""
    ) -> tuple[list[KeyValue], int, bool]:
        """Items under prefix in key order after ``start_after``; (items, revision, more)."""
        ...

    async def create(self, key: str, value: bytes) -> KeyValue: ...

    async def update(self, key: str, value: bytes, expected_revision: int | None = None) -> KeyValue: ...

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Removes the key; returns its last value with the deletion's revision as mod_revision."""
        ...

    async def write_many(self, ops: Sequence[WriteOp]) -> list[KeyValue | StoreError]:
        """Each op on its own (not a transaction), committed together; results in order."""
        ...

    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[list[StoreEvent]]:
        """Batches of events under prefix with revision > from_revision, in revision order."""
        ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...
