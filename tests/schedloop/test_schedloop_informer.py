"""The informer: list then watch from the list's revision, drop replays of what the list
showed, list again when the revision is compacted."""

from __future__ import annotations

import asyncio

import grpc
from loop_helpers import pod_msg
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.sched.loop.informer import Informer
from shoal.v1 import cluster_service_pb2 as svc


def with_rv(msg, rv: int):
    out = type(msg)()
    out.CopyFrom(msg)
    out.metadata.resource_version = str(rv)
    return out


class FakeClient:
    def __init__(self, lists, watches) -> None:
        self.lists = list(lists)  # [(revision, [objects])]
        self.watches = list(watches)  # [[(type, object)] or an exception]
        self.watched_from: list[str] = []

    async def list(self, kind, namespace="", *, limit=0, continue_token=""):
        revision, objects = self.lists.pop(0)
        resp = svc.ListResponse(resource_version=str(revision))
        resp.items.extend(kinds.wrap(o) for o in objects)
        return resp

    async def watch(self, kind, namespace="", *, resource_version="", allow_bookmarks=False, **kw):
        self.watched_from.append(resource_version)
        if not self.watches:
            await asyncio.sleep(3600)
        batch = self.watches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        resp = svc.WatchResponse()
        for type_, obj in batch:
            resp.events.add(type=type_, object=kinds.wrap(obj), resource_version=obj.metadata.resource_version)
        yield resp


def run_informer(client, until) -> list:
    seen = []

    async def go():
        informer = Informer(client, "Pod", lambda changes: seen.extend((t, o.metadata.name) for t, o in changes))
        task = asyncio.create_task(informer.run())
        for _ in range(200):
            if until(seen):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    return seen


def test_replays_of_listed_objects_are_dropped_and_news_passes():
    a, b = pod_msg("a"), pod_msg("b")
    client = FakeClient(
        [(10, [with_rv(a, 8), with_rv(b, 12)])],  # page 2 read later: b at 12 > the list's 10
        [[(svc.EVENT_TYPE_ADDED, with_rv(b, 12)), (svc.EVENT_TYPE_MODIFIED, with_rv(a, 13)),
          (svc.EVENT_TYPE_DELETED, with_rv(b, 12))]],
    )
    seen = run_informer(client, lambda s: len(s) >= 4)
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert client.watched_from[0] == "10"


def test_a_compacted_revision_means_listing_again():
    a, b = pod_msg("a"), pod_msg("b")
    client = FakeClient(
        [(10, [with_rv(a, 8), with_rv(b, 9)]), (20, [with_rv(a, 15)])],
        [APIStatusError(grpc.StatusCode.OUT_OF_RANGE, "too old resource version")],
    )
    seen = run_informer(client, lambda s: len(s) >= 4)
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "b"), ("MODIFIED", "a")]
    assert client.watched_from == ["10", "20"]
