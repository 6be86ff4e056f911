"""The scheduling queue: active, backoff and unschedulable pods, as kube-scheduler keeps them.

    add ----> gated (schedulingGates)         update without gates --> active
      \\----> active  (heap: priority, then creation time, then arrival)
                 | pop
                 v
              in flight --assumed--> binding --bound--> (gone from the queue)
                 |                      \\--bind failed--> backoff
                 \\--fits nowhere--> unschedulable, or backoff when a move request came in
                                      while it was in flight (so no wake-up is lost)
    unschedulable --move (an event that may make it fit) / flush (30 s)--> backoff or active
    backoff --expired--> active

Backoff per pod: 1 s doubling to 10 s with each attempt, from its last failure. Pure state:
the caller passes the time in; nothing here does I/O, so tests drive it directly.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["active", "backoff", "unschedulable", "gated", "in_flight", "binding"]

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
UNSCHEDULABLE_TIMEOUT = 30.0  # kube-scheduler: podMaxInUnschedulablePodsDuration, flushed periodically


@dataclass(eq=False)
class QueuedPod:
    """One pending pod for its whole stay in the queue (including while it is bound)."""

    key: str
    uid: str
    info: Any  # shoal.sched.podinfo.PodInfo (its queue_key orders the active heap)
    pod: Any  # the latest core_pb2.Pod seen
    gated: bool = False
    phase: Phase = "active"
    attempts: int = 0
    cycle: int = -1  # the scheduling cycle it was last popped in
    backoff_until: float = 0.0
    unschedulable_since: float = 0.0
    last_status: tuple = ()  # (message, nominated node) last written, to write each outcome once
    _token: int = field(default=0, repr=False)  # the heap entry that is current


def backoff_duration(attempts: int, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> float:
    """kube-scheduler's calculateBackoffDuration: initial x 2^(attempts-1), at most maximum."""
    if attempts <= 0:
        return 0.0
    return min(maximum, initial * 2 ** min(attempts - 1, 62))


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = INITIAL_BACKOFF, max_backoff: float = MAX_BACKOFF,
                 unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.entries: dict[str, QueuedPod] = {}
        self._active: list[tuple[tuple, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._tokens = itertools.count(1)
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self.counts: dict[Phase, int] = {p: 0 for p in ("active", "backoff", "unschedulable", "gated", "in_flight", "binding")}
        self._unschedulable: dict[str, QueuedPod] = {}  # moves walk these only

    # -- views -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> QueuedPod | None:
        return self.entries.get(key)

    @property
    def active_count(self) -> int:
        return self.counts["active"]

    def pending_keys(self, phase: Phase) -> list[str]:
        return [k for k, e in self.entries.items() if e.phase == phase]

    # -- transitions -----------------------------------------------------------------------------

    def _set_phase(self, entry: QueuedPod, phase: Phase) -> None:
        if entry.phase == "unschedulable":
            self._unschedulable.pop(entry.key, None)
        self.counts[entry.phase] -= 1
        entry.phase = phase
        self.counts[phase] += 1
        if phase == "unschedulable":
            self._unschedulable[entry.key] = entry

    def _to_active(self, entry: QueuedPod) -> None:
        self._set_phase(entry, "active")
        entry._token = next(self._tokens)
        heapq.heappush(self._active, (entry.info.queue_key, entry._token, entry.key))

    def _to_backoff(self, entry: QueuedPod) -> None:
        self._set_phase(entry, "backoff")
        entry._token = next(self._tokens)
        heapq.heappush(self._backoff, (entry.backoff_until, entry._token, entry.key))

    def _active_or_backoff(self, entry: QueuedPod, now: float) -> None:
        if now < entry.backoff_until:
            self._to_backoff(entry)
        else:
            self._to_active(entry)

    def add(self, key: str, uid: str, info: Any, pod: Any, *, gated: bool = False) -> QueuedPod:
        """A new pending pod (replacing any entry of that key, e.g. a recreated pod)."""
        self.remove(key)
        entry = QueuedPod(key, uid, info, pod, gated=gated, phase="gated")
        self.entries[key] = entry
        self.counts["gated"] += 1
        if not gated:
            self._to_active(entry)
        return entry

    def update(self, key: str, info: Any, pod: Any, *, gated: bool, changed: bool, now: float) -> QueuedPod | None:
        """The pod changed. `changed`: in a way that may change where it fits (its class); a
        gated pod whose gates are gone, or an unschedulable pod that changed, is tried again."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        old_key = entry.info.queue_key
        entry.info, entry.pod, entry.gated = info, pod, gated
        if entry.phase == "gated":
            if not gated:
                self._active_or_backoff(entry, now)
        elif entry.phase == "unschedulable":
            if gated:
                self._set_phase(entry, "gated")
            elif changed:
                self._active_or_backoff(entry, now)
        elif entry.phase == "active" and info.queue_key != old_key:
            self._to_active(entry)  # re-sorted: the old heap entry's token is stale now
        return entry

    def remove(self, key: str) -> QueuedPod | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.counts[entry.phase] -= 1
            self._unschedulable.pop(key, None)
            entry._token = 0
        return entry

    def pop(self, limit: int) -> list[QueuedPod]:
        """Up to `limit` active pods in queue order, now in flight (one scheduling cycle each)."""
        out: list[QueuedPod] = []
        heap = self._active
        while heap and len(out) < limit:
            _, token, key = heapq.heappop(heap)
            entry = self.entries.get(key)
            if entry is None or entry._token != token or entry.phase != "active":
                continue
            self.scheduling_cycle += 1
            entry.cycle = self.scheduling_cycle
            entry.attempts += 1
            entry._token = 0
            self._set_phase(entry, "in_flight")
            out.append(entry)
        return out

    def binding(self, entry: QueuedPod) -> None:
        """Assumed on a node; its bind is in flight."""
        self._set_phase(entry, "binding")

    def done(self, key: str, uid: str | None = None) -> QueuedPod | None:
        """Bound (or gone): the pod leaves the queue."""
        entry = self.entries.get(key)
        if entry is None or (uid is not None and entry.uid != uid):
            return None
        return self.remove(key)

    def unschedulable(self, entry: QueuedPod, now: float) -> None:
        """Fits nowhere. If a move request came while it was in flight, the event that may make
        it fit is already past: back off instead of waiting for another."""
        if self.entries.get(entry.key) is not entry:
            return
        entry.backoff_until = now + backoff_duration(entry.attempts, self.initial_backoff, self.max_backoff)
        if entry.gated:
            self._set_phase(entry, "gated")
        elif self.move_request_cycle >= entry.cycle:
            self._to_backoff(entry)
        else:
            entry.unschedulable_since = now
            self._set_phase(entry, "unschedulable")

    def error(self, entry: QueuedPod, now: float) -> None:
        """A failed bind or another error: back off and try again."""
        if self.entries.get(entry.key) is not entry:
            return
        entry.backoff_until = now + backoff_duration(entry.attempts, self.initial_backoff, self.max_backoff)
        self._to_backoff(entry)

    def take(self, entry: QueuedPod) -> bool:
        """Pop a waiting pod out of turn (active, backoff or unschedulable): a gang member joins
        the cycle of the member that was popped. False if it is not waiting."""
        if self.entries.get(entry.key) is not entry or entry.phase not in ("active", "backoff", "unschedulable"):
            return False
        self.scheduling_cycle += 1
        entry.cycle = self.scheduling_cycle
        entry.attempts += 1
        entry._token = 0  # its heap entry (active or backoff) is stale now
        self._set_phase(entry, "in_flight")
        return True

    def retry_now(self, entry: QueuedPod) -> None:
        """Back to active as if it had not been popped (its attempt is not counted)."""
        if self.entries.get(entry.key) is not entry:
            return
        entry.attempts = max(0, entry.attempts - 1)
        self._to_active(entry)

    # -- events and time -------------------------------------------------------------------------

    def move(self, now: float, which: Callable[[QueuedPod], bool] | None = None) -> int:
        """An event that may make unschedulable pods fit: those `which` accepts (all by default)
        go to backoff, or to active when their backoff is over. Returns how many moved."""
        self.move_request_cycle = self.scheduling_cycle
        moved = 0
        for entry in list(self._unschedulable.values()):
            if which is None or which(entry):
                self._active_or_backoff(entry, now)
                moved += 1
        return moved

    def flush(self, now: float) -> None:
        """Backoffs that are over go to active; pods unschedulable for longer than the timeout
        are tried again."""
        heap = self._backoff
        while heap and heap[0][0] <= now:
            _, token, key = heapq.heappop(heap)
            entry = self.entries.get(key)
            if entry is not None and entry._token == token and entry.phase == "backoff":
                self._to_active(entry)
        limit = now - self.unschedulable_timeout
        # Entries join _unschedulable in time order (a dict keeps insertion order): oldest first.
        while self._unschedulable:
            entry = next(iter(self._unschedulable.values()))
            if entry.unschedulable_since > limit:
                break
            self._active_or_backoff(entry, now)

    def next_wakeup(self, now: float) -> float:
        """Seconds until flush() may have something to do (inf: nothing waits on time)."""
        if self.counts["active"]:
            return 0.0
        soonest = math.inf
        heap = self._backoff
        while heap:
            _, token, key = heap[0]
            entry = self.entries.get(key)
            if entry is not None and entry._token == token and entry.phase == "backoff":
                soonest = heap[0][0]
                break
            heapq.heappop(heap)
        if self._unschedulable:
            oldest = next(iter(self._unschedulable.values())).unschedulable_since
            soonest = min(soonest, oldest + self.unschedulable_timeout)
        return max(0.0, soonest - now)

    def phases(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v}

    def keys_in(self, phases: Iterable[Phase]) -> list[str]:
        wanted = set(phases)
        return [k for k, e in self.entries.items() if e.phase in wanted]
