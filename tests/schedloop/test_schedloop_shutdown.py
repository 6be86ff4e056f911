"""The loop stops when told, even when it is told as it wakes (Python 3.11's asyncio.wait_for
swallows a cancellation that comes as the awaited event fires; the loop must not use it)."""

from __future__ import annotations

import asyncio

from shoal.sched.loop.runner import _wait


def test_a_wait_cancelled_as_its_event_fires_stops():
    async def go() -> bool:
        wake = asyncio.Event()

        async def placing_loop():
            while True:
                wake.clear()
                await _wait(wake, 5.0)

        task = asyncio.create_task(placing_loop())
        await asyncio.sleep(0.01)
        wake.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        return task in done

    assert asyncio.run(go())
