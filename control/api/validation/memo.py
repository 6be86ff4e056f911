"""Remembering what a pure function of a pod spec computed, keyed by the spec's bytes.

The pods of one workload share their spec, and a spec's defaults and validity depend on the
spec alone, so admission computes them once per distinct spec. Serialized bytes identify the
content exactly; two equal specs that serialize differently (map order) only miss.
"""

from __future__ import annotations

from typing import Generic, TypeVar

Value = TypeVar("Value")

_SAMPLE_AFTER_MISSES = 1024
_SAMPLE_EVERY = 16


class SpecMemo(Generic[Value]):
    """A bounded map from serialized specs to values. Emptied when full; after a long run of
    misses (every pod different) only a sample of new specs is kept, since remembering then
    costs more than it saves."""

    __slots__ = ("_entries", "_max_entries", "_max_key_bytes", "_misses")

    def __init__(self, max_entries: int = 1024, max_key_bytes: int = 4096) -> None:
        self._entries: dict[bytes, Value] = {}
        self._max_entries = max_entries
        self._max_key_bytes = max_key_bytes
        self._misses = 0

    def get(self, key: bytes) -> Value | None:
        value = self._entries.get(key)
        if value is None:
            self._misses += 1
        else:
            self._misses = 0
        return value

    def wants(self, key: bytes) -> bool:
        """Whether put(key, ...) would keep the value (so callers can skip building it)."""
        if len(key) > self._max_key_bytes:
            return False
        return self._misses < _SAMPLE_AFTER_MISSES or self._misses % _SAMPLE_EVERY == 0

    def put(self, key: bytes, value: Value) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()
        self._misses = 0

    def __len__(self) -> int:
        return len(self._entries)
