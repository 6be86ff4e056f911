"""The current keys and values, in memory, with ordered prefix scans.

Every backend keeps the live state here (as kube-apiserver's watch cache does) so reads and
lists never wait on disk; the backend's log is what makes it durable.
"""

from __future__ import annotations

import bisect

from shoal.control.store.interface import KeyValue


class Keyspace:
    def __init__(self) -> None:
        self._items: dict[str, KeyValue] = {}
        self._sorted: list[str] = []
        self._sorted_valid = True

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> KeyValue | None:
        return self._items.get(key)

    def put(self, kv: KeyValue) -> None:
        if kv.key not in self._items:
            self._sorted_valid = False
        self._items[kv.key] = kv

    def remove(self, key: str) -> None:
        if self._items.pop(key, None) is not None:
            self._sorted_valid = False

    def _keys(self) -> list[str]:
        if not self._sorted_valid:
            self._sorted = sorted(self._items)
            self._sorted_valid = True
        return self._sorted

    def scan(self, prefix: str, limit: int = 0, start_after: str = "") -> tuple[list[KeyValue], bool]:
        """Values under ``prefix`` in key order, after ``start_after``; (items, more remain)."""
        keys = self._keys()
        start = max(prefix, start_after)
        index = bisect.bisect_right(keys, start) if start == start_after else bisect.bisect_left(keys, start)
        out: list[KeyValue] = []
        items = self._items
        n = len(keys)
        while index < n:
            key = keys[index]
            if not key.startswith(prefix):
                return out, False
            if limit and len(out) == limit:
                return out, True
            out.append(items[key])
            index += 1
        return out, False

    def count(self, prefix: str, start_after: str = "") -> int:
        keys = self._keys()
        lo = bisect.bisect_right(keys, start_after) if start_after >= prefix else bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, prefix + "\U0010ffff")
        return max(0, hi - lo)
