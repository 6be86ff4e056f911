"""Event retention: Events whose last occurrence is older than the TTL (default 24 h, not
Kubernetes' 1 h) are deleted. A periodic scan with a live, paged list: Events are many and
nothing else needs them cached."""

from __future__ import annotations

import asyncio
import logging

from shoal.control.controllers.actions import Delete, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.meta import seconds
from shoal.proto import kinds

log = logging.getLogger("shoal.controllers.event_ttl")

NAME = "eventttl"
PAGE = 500


def last_seen(event) -> float:
    """When an Event last happened: lastTimestamp, else eventTime, firstTimestamp, creation."""
    for ts in (event.last_timestamp, event.series.last_observed_time, event.event_time,
               event.first_timestamp, event.metadata.creation_timestamp):
        value = seconds(ts)
        if value > 0:
            return value
    return 0.0


def expired_events(events, now: float, ttl: float) -> list[Delete]:
    return [Delete.of(e, if_unchanged=True) for e in events if last_seen(e) + ttl < now]


class EventTTLController(Controller):
    name = NAME
    watches = ()

    def background(self) -> list:
        return [self._scan_forever()]

    async def _scan_forever(self) -> None:
        while True:
            try:
                await self.scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - try again next round
                log.info("event TTL scan failed: %s", exc)
            await asyncio.sleep(self.ctx.settings.event_ttl_interval)

    async def scan(self) -> int:
        """Deletes every expired Event; returns how many."""
        ttl = self.ctx.settings.event_ttl_seconds
        token, deleted = "", 0
        while True:
            resp = await self.client.list("Event", limit=PAGE, continue_token=token)
            events = [kinds.unwrap(o)[1] for o in resp.items]
            doomed = expired_events(events, self.now, ttl)
            outcomes = await self.run_actions(doomed, "events")
            deleted += sum(1 for o in outcomes if o.ok)
            error = first_error(outcomes, ignore=())
            if error is not None and error.code.name not in ("NOT_FOUND", "ABORTED"):
                raise error
            token = resp.continue_token
            if not token:
                return deleted

    async def sync(self, key: str) -> float | None:
        return None
