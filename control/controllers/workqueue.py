"""A work queue of keys, as client-go's: each key is queued at most once, handed to at most one
worker at a time, and retried with exponential back-off when its sync fails.

    add(key)            queue now (a no-op if it is already waiting)
    add_after(key, s)   queue in s seconds (the earliest of several pending delays wins)
    add_rate_limited    queue after the key's back-off delay, which doubles on every call
    forget(key)         reset the back-off (after a successful sync)
    get() / done(key)   a worker's loop; a key added while it is being processed is queued
                        again when done() is called, so no change is ever lost
"""

from __future__ import annotations

import asyncio
from collections import deque


class QueueShutDown(Exception):
    """get() on a queue that was shut down."""


class RateLimiter:
    """Per-key exponential back-off: base * 2**(failures-1), at most ``max_delay``."""

    def __init__(self, base_delay: float = 0.05, max_delay: float = 60.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return min(self.max_delay, self.base_delay * (2 ** min(n, 30)))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)


class WorkQueue:
    def __init__(self, name: str = "", rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.rate_limiter = rate_limiter or RateLimiter()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._ready = asyncio.Event()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        handle = loop.call_at(due, self._fire, key)
        self._waiting[key] = (due, handle)

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def _notify(self) -> None:
        self._ready.set()

    async def get(self) -> str:
        while not self._queue:
            if self._shut_down:
                raise QueueShutDown(self.name)
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def pending_delays(self) -> int:
        return len(self._waiting)

    def shut_down(self) -> None:
        self._shut_down = True
        for _due, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        self._ready.set()
