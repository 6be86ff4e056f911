"""The in-cluster scheduler: the offline engine (Scheduler over a ClusterSnapshot) fed by watches,
with kube-scheduler's queues, assume-then-bind, status, events and preemption.

    queue.py    active / backoff / unschedulable queues (pure state)
    cache.py    the snapshot kept equal to the API; assumed pods; nominated pods' reservations
    state.py    informer changes in, actions out (the state machine; no I/O)
    actions.py  what the state asks for: Bind, SetScheduled, RecordEvent, Evict
    gang.py     PodGroups: members placed in one cycle, all or none (gang_status.py writes status)
    batch.py    batch mode: a window of pods through the solver when it places more
    informer.py List + Watch per kind
    binder.py   Binder, StatusWriter, Evictor (the writers)
    events.py   the event recorder
    runner.py   SchedulerLoop: wires them on one asyncio loop

    run_scheduler(address, stop)    what `shoal scheduler` and `shoal server` run

Importing this package is cheap; run_scheduler imports the engine off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def run_scheduler(address: str, stop: asyncio.Event | None = None, **kwargs: Any) -> None:
    """Runs the scheduler against the API at `address` until `stop` is set (or the task is
    cancelled). kwargs: profiles, name, seed, and SchedulerLoop's tuning (see runner.py)."""
    import importlib
    import logging

    try:
        # NumPy, Numba and the plugins take a moment to import: not on the (server's) event loop.
        runner = await asyncio.to_thread(importlib.import_module, "shoal.sched.loop.runner")
        await runner.run_scheduler(address, stop, **kwargs)
    except asyncio.CancelledError:
        raise
    except Exception:
        logging.getLogger("shoal.sched.loop").exception("the scheduler stopped")
        raise
