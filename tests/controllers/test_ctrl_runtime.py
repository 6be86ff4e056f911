"""The controller runtime with fake clients: work queue, informer cache and List+Watch, event
recorder, settings and the choice of controllers; node lifecycle and event TTL decisions."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ctrl_helpers import NOW, pod, replica_set
from shoal.control.controllers.controller import ControllerSettings
from shoal.control.controllers.event_ttl import expired_events
from shoal.control.controllers.events import EventRecorder, event_name, involved_reference
from shoal.control.controllers.informer import Informer, ObjectCache
from shoal.control.controllers.manager import registry, resolve_enabled
from shoal.control.controllers.meta import clone, timestamp
from shoal.control.controllers.node_lifecycle import eviction_time, plan_evictions, plan_node
from shoal.control.controllers.workqueue import RateLimiter, WorkQueue
from shoal.proto import kinds
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import core_pb2


def run(coro):
    return asyncio.run(coro)


# -- work queue ---------------------------------------------------------------------------------


def test_queue_dedups_and_requeues_keys_added_while_processing():
    async def scenario():
        q = WorkQueue()
        q.add("a")
        q.add("a")
        q.add("b")
        assert len(q) == 2
        key = await q.get()
        q.add(key)  # changed while being synced: not handed to a second worker now...
        assert len(q) == 1
        q.done(key)  # ...but queued again once the first sync is done
        assert [await q.get(), await q.get()] == ["b", "a"]

    run(scenario())


def test_add_after_keeps_the_earliest_delay():
    async def scenario():
        q = WorkQueue()
        q.add_after("k", 10)
        q.add_after("k", 0.01)
        q.add_after("k", 5)
        return await asyncio.wait_for(q.get(), 1)

    assert run(scenario()) == "k"


def test_rate_limiter_doubles_and_forgets():
    rl = RateLimiter(base_delay=0.1, max_delay=1.0)
    assert [rl.when("k") for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rl.forget("k")
    assert rl.when("k") == 0.1


# -- cache and informer -------------------------------------------------------------------------


def _rv(obj, rv):
    obj = clone(obj)
    obj.metadata.resource_version = str(rv)
    return obj


def test_cache_never_goes_back_in_time():
    cache = ObjectCache()
    p = pod("a")
    assert cache.upsert(_rv(p, 10))[0]
    assert not cache.upsert(_rv(p, 9))[0]
    assert cache.remove(_rv(p, 8)) is None, "a delete older than the cached state is stale"
    assert cache.remove(_rv(p, 11)) is not None and "default/a" not in cache


def test_cache_indexes():
    cache = ObjectCache()
    rs = replica_set("web")
    owned = pod("a", owner=rs, labels={"app": "web", "tier": "x"})
    other = pod("b", labels={"app": "db"}, ns="other")
    for obj in (owned, other):
        cache.upsert(obj)
    assert [p.metadata.name for p in cache.by_owner(rs.metadata.uid)] == ["a"]
    assert [p.metadata.name for p in cache.select("default", rs.spec.selector)] == ["a"]
    assert [p.metadata.name for p in cache.list("other")] == ["b"]
    assert cache.get_by_uid(owned.metadata.uid) is owned
    relabeled = _rv(owned, 5)
    relabeled.metadata.labels["app"] = "api"
    cache.upsert(relabeled)
    assert cache.by_label("app", "web") == [] and cache.namespaces() == {"default", "other"}


class FakeClient:
    """List pages and scripted watch streams, as AsyncClusterClient yields them."""

    def __init__(self, lists, watches) -> None:
        self.lists = list(lists)
        self.watches = list(watches)
        self.watched_from: list[str] = []

    async def list(self, kind, namespace="", *, limit=0, continue_token="", **_):
        return self.lists.pop(0)

    async def watch(self, kind, namespace="", *, resource_version="", **_):
        self.watched_from.append(resource_version)
        script = self.watches.pop(0) if self.watches else None
        if script is None:
            await asyncio.sleep(3600)
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item


def _page(objs, rv, token=""):
    return svc.ListResponse(items=[kinds.wrap(o) for o in objs], resource_version=str(rv), continue_token=token)


def _event(type_, obj, rv):
    event = svc.WatchEvent(type=type_, object=kinds.wrap(_rv(obj, rv)), resource_version=str(rv))
    return svc.WatchResponse(events=[event])


def test_informer_lists_watches_and_relists_when_its_revision_is_gone():
    a, b, c = pod("a"), pod("b"), pod("c")
    client = FakeClient(
        lists=[_page([_rv(a, 3)], 5, token="t"), _page([_rv(b, 4)], 6), _page([_rv(c, 20)], 20)],
        watches=[
            [_event(svc.EVENT_TYPE_MODIFIED, a, 7), _event(svc.EVENT_TYPE_DELETED, b, 8),
             APIStatusError(grpc.StatusCode.OUT_OF_RANGE, "too old resource version")],
        ],
    )
    informer = Informer(client, "Pod")
    seen = []
    informer.add_handler(lambda ch: seen.append((ch.type, ch.new.metadata.name)))

    async def scenario():
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(informer.synced.wait(), 1)
        while informer.relists < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario())
    assert client.watched_from == ["5", "20"], "watch from the first page's revision, then the re-list's"
    assert seen == [("add", "a"), ("add", "b"), ("update", "a"), ("delete", "b"), ("delete", "a"), ("add", "c")]
    assert informer.cache.keys() == ["default/c"]


# -- events -------------------------------------------------------------------------------------


class EventClient:
    def __init__(self) -> None:
        self.stored: dict[str, core_pb2.Event] = {}
        self.calls: list[str] = []

    async def create(self, ev):
        self.calls.append("create")
        if ev.metadata.name in self.stored:
            raise APIStatusError(grpc.StatusCode.ALREADY_EXISTS, "exists")
        ev = clone(ev)
        ev.metadata.resource_version = "1"
        self.stored[ev.metadata.name] = ev
        return ev

    async def get(self, kind, name, namespace=""):
        self.calls.append("get")
        return clone(self.stored[name])

    async def update(self, ev):
        self.calls.append("update")
        self.stored[ev.metadata.name] = clone(ev)
        return ev


def test_recorder_folds_repeats_into_one_event_even_across_restarts():
    client = EventClient()
    rs = replica_set("web")

    async def scenario(recorder, times):
        task = asyncio.create_task(recorder.run())
        for _ in range(times):
            recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-1")
        await recorder.flush()
        recorder.record(rs, "Normal", "SuccessfulCreate", "Created pod: web-1")
        await recorder.flush()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(scenario(EventRecorder(client, clock=lambda: NOW), 3))
    (event,) = client.stored.values()
    assert event.count == 4 and event.involved_object.name == "web" and event.reason == "SuccessfulCreate"
    assert event.metadata.name == event_name(involved_reference(rs), "Normal", "SuccessfulCreate",
                                             "Created pod: web-1", "shoal-controller-manager")
    run(scenario(EventRecorder(client, clock=lambda: NOW + 5), 1))  # a new process, same event
    (event,) = client.stored.values()
    assert event.count == 6 and event.last_timestamp.seconds == int(NOW + 5)
    assert event.first_timestamp.seconds == int(NOW)


# -- settings and the manager's choice of controllers ---------------------------------------------


def test_settings_from_environment():
    s = ControllerSettings.from_env({"SHOAL_JOB_BACKOFF_SECONDS": "0.5", "SHOAL_SERVICE_CIDR": "10.96.0.0/12",
                                     "SHOAL_NODE_PORT_MIN": "x"})
    assert (s.job_backoff_seconds, s.service_cidr, s.node_port_min) == (0.5, "10.96.0.0/12", 30000)


@pytest.mark.parametrize(
    "spec,left_out",
    [
        pytest.param("*", set(), id="defaults-are-every-controller"),
        pytest.param("*,-job,-nodelifecycle", {"job", "nodelifecycle"}, id="minus"),
        pytest.param("*,-job,job", set(), id="minus-then-plus"),
    ],
)
def test_resolve_enabled(spec, left_out):
    known = set(registry())
    assert {"nodelifecycle", "horizontalpodautoscaling", "replicaset", "garbagecollector"} <= known
    assert set(resolve_enabled(spec, registry())) == known - left_out


def test_resolve_enabled_only_named():
    assert resolve_enabled("replicaset,deployment", registry()) == ["replicaset", "deployment"]


def test_resolve_enabled_refuses_unknown_names():
    with pytest.raises(ValueError, match="unknown controller 'nope'"):
        resolve_enabled("nope", registry())


# -- node lifecycle -------------------------------------------------------------------------------


def _node(ready="True"):
    n = core_pb2.Node()
    n.metadata.name = "n1"
    n.metadata.resource_version = "3"
    n.status.conditions.add(type="Ready", status=ready)
    return n


def test_silent_node_becomes_unknown_and_tainted():
    plan = plan_node(_node(), heartbeat=NOW - 41, now=NOW, grace=40)
    kinds_of = [type(a).__name__ for a in plan.actions]
    assert kinds_of == ["UpdateStatus", "Emit", "Update"]
    assert plan.actions[0].obj.status.conditions[0].status == "Unknown"
    taint = plan.actions[2].obj.spec.taints[0]
    assert (taint.key, taint.effect) == ("node.kubernetes.io/unreachable", "NoExecute")


def test_fresh_ready_node_loses_the_taint():
    node = _node()
    node.spec.taints.add(key="node.kubernetes.io/unreachable", effect="NoExecute")
    plan = plan_node(node, heartbeat=NOW - 1, now=NOW, grace=40)
    assert [type(a).__name__ for a in plan.actions] == ["Update"] and not plan.actions[0].obj.spec.taints
    assert plan.requeue_after == pytest.approx(39.5)


@pytest.mark.parametrize(
    "tolerations,expected",
    [
        pytest.param([], 0.0, id="untolerated-now"),
        pytest.param([dict(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute",
                           toleration_seconds=300)], NOW - 10 + 300, id="tolerated-for-a-while"),
        pytest.param([dict(operator="Exists")], None, id="tolerates-everything-forever"),
    ],
)
def test_eviction_time(tolerations, expected):
    p = pod("a", node="n1", phase="Running")
    for t in tolerations:
        p.spec.tolerations.add(**t)
    taint = core_pb2.Taint(key="node.kubernetes.io/unreachable", effect="NoExecute", time_added=timestamp(NOW - 10))
    assert eviction_time(p, [taint]) == expected


def test_untolerated_pods_are_evicted():
    node = _node()
    node.spec.taints.add(key="node.kubernetes.io/unreachable", effect="NoExecute", time_added=timestamp(NOW))
    plan = plan_evictions(node, [pod("a", node="n1", phase="Running"), pod("b", node="n1", phase="Succeeded")], NOW)
    assert [a.name for a in plan.actions] == ["a"]


# -- event TTL ------------------------------------------------------------------------------------


def test_events_past_their_ttl_expire():
    old, fresh = core_pb2.Event(), core_pb2.Event()
    old.metadata.name, fresh.metadata.name = "old", "fresh"
    old.last_timestamp.CopyFrom(timestamp(NOW - 90_000))
    fresh.first_timestamp.CopyFrom(timestamp(NOW - 90_000))
    fresh.last_timestamp.CopyFrom(timestamp(NOW - 10))
    assert [d.name for d in expired_events([old, fresh], NOW, 86_400)] == ["old"]
