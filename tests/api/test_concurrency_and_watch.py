"""Conflicts between writers, and watch fan-out, through a real server."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from minimal_objects import MINIMAL, namespace
from shoal.proto.client import APIStatusError, ClusterClient
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import cluster_service_pb2_grpc as svc_grpc
from shoal.v1.object_pb2 import Object


def test_two_updates_from_one_resource_version_exactly_one_wins(shared_server, client):
    client.create(MINIMAL["ConfigMap"]("contended"))
    base = client.get("ConfigMap", "contended", "default")
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        with ClusterClient(shared_server.address) as c:
            mine = type(base)()
            mine.CopyFrom(base)
            mine.data["writer"] = str(i)
            barrier.wait()
            try:
                c.update(mine)
                outcomes.append(f"won:{i}")
            except APIStatusError as exc:
                assert exc.code == grpc.StatusCode.ABORTED, exc
                outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("conflict") == 7
    stored = client.get("ConfigMap", "contended", "default")
    assert stored.data["writer"] == winners[0].split(":")[1]


async def _watch_all(address: str, watchers: int, writes: int, namespace_name: str) -> list[list[tuple[int, str]]]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = svc_grpc.ClusterServiceStub(channel)
        start = await stub.List(svc.ListRequest(kind="ConfigMap", namespace=namespace_name))
        seen: list[list[tuple[int, str]]] = [[] for _ in range(watchers)]
        streams = [
            stub.Watch(svc.WatchRequest(kind="ConfigMap", namespace=namespace_name, resource_version=start.resource_version))
            for _ in range(watchers)
        ]

        async def follow(i: int) -> None:
            async for resp in streams[i]:
                for ev in resp.events:
                    seen[i].append((int(ev.resource_version), ev.object.config_map.metadata.name))
                if len(seen[i]) >= writes:
                    streams[i].cancel()
                    return

        followers = [asyncio.create_task(follow(i)) for i in range(watchers)]
        await asyncio.sleep(0.5)  # every stream is open before the first write

        async def write_batch(offset: int, count: int) -> None:
            objects = []
            for n in range(offset, offset + count):
                cm = MINIMAL["ConfigMap"](f"cm-{n:05d}")
                cm.metadata.namespace = namespace_name
                objects.append(Object(config_map=cm))
            resp = await stub.BulkApply(svc.BulkApplyRequest(objects=objects, create_only=True))
            assert all(r.code == 0 for r in resp.results)

        # Writes arrive as single creates and as bulk batches, from several callers at once.
        async def single_creates(offset: int, count: int) -> None:
            for n in range(offset, offset + count):
                cm = MINIMAL["ConfigMap"](f"cm-{n:05d}")
                cm.metadata.namespace = namespace_name
                await stub.Create(svc.CreateRequest(object=Object(config_map=cm)))

        singles = min(1000, writes)
        await asyncio.gather(*(single_creates(i * singles // 4, singles // 4) for i in range(4)))
        for offset in range(singles, writes, 1000):
            await write_batch(offset, min(1000, writes - offset))
        await asyncio.wait_for(asyncio.gather(*followers), 120)
        return seen


def test_100_watchers_each_see_10000_writes_in_order_exactly_once(shared_server, client):
    client.create(namespace("watched"))
    seen = asyncio.run(_watch_all(shared_server.address, 100, 10_000, "watched"))
    expected_names = {f"cm-{n:05d}" for n in range(10_000)}
    for events in seen:
        revisions = [rev for rev, _ in events]
        assert len(events) == 10_000
        assert revisions == sorted(revisions) and len(set(revisions)) == 10_000
        assert {name for _, name in events} == expected_names


def test_watch_reports_added_modified_deleted_with_objects(client):
    client.create(namespace("lifecycle"))
    start = client.list("ConfigMap", "lifecycle").resource_version
    cm = MINIMAL["ConfigMap"]("life")
    cm.metadata.namespace = "lifecycle"
    created = client.create(cm)
    created.data["greeting"] = "changed"
    client.update(created)
    client.delete("ConfigMap", "life", "lifecycle")
    events = []
    for ev in client.watch("ConfigMap", "lifecycle", resource_version=start):
        events.append(ev)
        if len(events) == 3:
            break
    assert [e.type for e in events] == [svc.EVENT_TYPE_ADDED, svc.EVENT_TYPE_MODIFIED, svc.EVENT_TYPE_DELETED]
    assert [e.object.config_map.data["greeting"] for e in events] == ["hello", "changed", "changed"]
    assert [e.object.config_map.metadata.resource_version for e in events] == [e.resource_version for e in events]


def test_watch_with_label_selector_filters(client):
    client.create(namespace("filtered"))
    start = client.list("ConfigMap", "filtered").resource_version
    for name, tier in [("a", "web"), ("b", "db"), ("c", "web")]:
        cm = MINIMAL["ConfigMap"](name)
        cm.metadata.namespace = "filtered"
        cm.metadata.labels["tier"] = tier
        client.create(cm)
    names = []
    for ev in client.watch("ConfigMap", "filtered", resource_version=start, label_selector="tier=web"):
        names.append(ev.object.config_map.metadata.name)
        if len(names) == 2:
            break
    assert names == ["a", "c"]


def test_watch_sends_bookmarks_when_idle(server_factory):
    srv = server_factory("--bookmark-interval", "0.2")
    with ClusterClient(srv.address) as c:
        rv = c.list("ConfigMap").resource_version
        ev = next(c.watch("ConfigMap", resource_version=rv, allow_bookmarks=True))
        assert ev.type == svc.EVENT_TYPE_BOOKMARK and int(ev.resource_version) >= int(rv)


def test_watch_from_compacted_revision_is_out_of_range(server_factory):
    srv = server_factory("--history-revisions", "10", "--compact-interval", "0.1")
    with ClusterClient(srv.address) as c:
        first = c.create(MINIMAL["ConfigMap"]("v"))
        for i in range(50):
            first.data["n"] = str(i)
            first = c.update(first)
        import time

        deadline = time.monotonic() + 10
        while True:
            try:
                next(c.watch("ConfigMap", resource_version="2"))
            except APIStatusError as exc:
                assert exc.code == grpc.StatusCode.OUT_OF_RANGE
                assert "list again" in exc.message
                break
            assert time.monotonic() < deadline, "history was never compacted"
            time.sleep(0.1)
        # A watch from a recent revision still works.
        rv = c.get("ConfigMap", "v", "default").metadata.resource_version
        first.data["n"] = "last"
        c.update(first)
        ev = next(c.watch("ConfigMap", resource_version=rv))
        assert ev.object.config_map.data["n"] == "last"


def test_filtered_watch_sees_objects_enter_and_leave_the_selection(client):
    """As a kubelet's watch of spec.nodeName=N does: binding is ADDED, unbinding-by-delete is
    DELETED, and changes outside the selection are not sent."""
    client.create(namespace("selection"))
    start = client.list("Pod", "selection").resource_version
    pod = MINIMAL["Pod"]("mover")
    pod.metadata.namespace = "selection"
    client.create(pod)
    client.bind("mover", "node-x", namespace="selection")
    bound = client.get("Pod", "mover", "selection")
    bound.metadata.labels["touched"] = "yes"
    client.update(bound)
    client.delete("Pod", "mover", "selection", grace_period_seconds=0)
    seen = []
    for ev in client.watch("Pod", "selection", resource_version=start, field_selector="spec.nodeName=node-x"):
        seen.append(ev.type)
        if len(seen) == 3:
            break
    assert seen == [svc.EVENT_TYPE_ADDED, svc.EVENT_TYPE_MODIFIED, svc.EVENT_TYPE_DELETED]
    unbound = []
    for ev in client.watch("Pod", "selection", resource_version=start, field_selector="spec.nodeName="):
        unbound.append(ev.type)
        if len(unbound) == 2:
            break
    assert unbound == [svc.EVENT_TYPE_ADDED, svc.EVENT_TYPE_DELETED]  # created, then bound away


def test_update_with_another_uid_is_a_conflict(client):
    cm = client.create(MINIMAL["ConfigMap"]("recreated"))
    client.delete("ConfigMap", "recreated", "default")
    client.create(MINIMAL["ConfigMap"]("recreated"))
    cm.metadata.resource_version = ""
    with pytest.raises(APIStatusError) as exc:
        client.update(cm)
    assert exc.value.code == grpc.StatusCode.ABORTED and "UID" in exc.value.message
