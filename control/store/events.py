"""Recent committed events kept in memory, and the watchers waiting on them.

Every backend publishes each committed batch here once; each watcher keeps a cursor (the next
revision it wants) and, when woken, takes everything from its cursor on in one slice. So a write
costs one append plus one wake-up per watcher, never one copy of the event per watcher.
"""

from __future__ import annotations

import asyncio
from typing import Sequence

from shoal.control.store.interface import StoreEvent


class EventHistory:
    """A window of the newest events, indexed by revision (revisions are consecutive)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._events: list[StoreEvent] = []
        self._waiters: set[asyncio.Event] = set()

    @property
    def first_revision(self) -> int:
        """Oldest revision held, or 0 when empty."""
        return self._events[0].revision if self._events else 0

    @property
    def last_revision(self) -> int:
        return self._events[-1].revision if self._events else 0

    def publish(self, events: Sequence[StoreEvent]) -> None:
        if not events:
            return
        if self._events and events[0].revision != self._events[-1].revision + 1:
            # A gap would break index arithmetic; it means a backend published out of order.
            self._events.clear()
        self._events.extend(events)
        if len(self._events) > self.capacity:
            # Trim in large steps so the cost of the copy is amortized over many writes.
            del self._events[: len(self._events) - self.capacity // 2]
        self.wake_all()

    def since(self, revision: int) -> list[StoreEvent] | None:
        """Events with revision >= ``revision`` held here; None when some are no longer held."""
        if not self._events:
            return None
        first = self._events[0].revision
        if revision < first:
            return None
        return self._events[revision - first :]

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.add(event)
        return event

    def wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    def forget(self, waiter: asyncio.Event) -> None:
        self._waiters.discard(waiter)
