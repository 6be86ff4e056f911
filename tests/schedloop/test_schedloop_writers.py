"""The loop's writers against a fake client: events folded by name and counted up, the status
written with preconditions and at most once per wish, binds reported back."""

from __future__ import annotations

import asyncio

import grpc
from loop_helpers import pod_msg
from shoal.proto.client import APIStatusError
from shoal.sched.loop import actions as act
from shoal.sched.loop.binder import Binder, StatusWriter, scheduled_status
from shoal.sched.loop.events import EventRecorder
from shoal.v1 import cluster_service_pb2 as svc

REF = act.PodRef("default", "web", "uid-web")


class FakeClient:
    timeout = 5.0

    def __init__(self) -> None:
        self.events: dict[str, object] = {}
        self.calls: list[tuple] = []
        self.pods: dict[str, object] = {}
        self.conflicts = 0

    async def bulk_apply(self, objs, create_only=False):
        resp = svc.BulkApplyResponse()
        for e in objs:
            r = resp.results.add()
            if e.metadata.name in self.events:
                r.code = grpc.StatusCode.ALREADY_EXISTS.value[0]
            else:
                self.events[e.metadata.name] = e
        self.calls.append(("bulk_apply", len(objs)))
        return resp

    async def get(self, kind, name, namespace=""):
        self.calls.append(("get", kind, name))
        return self.events[name] if kind == "Event" else self.pods[f"{namespace}/{name}"]

    async def update(self, obj):
        self.calls.append(("update", obj.metadata.name, obj.count))
        self.events[obj.metadata.name] = obj
        return obj

    async def update_status(self, pod):
        self.calls.append(("update_status", pod.metadata.uid, pod.metadata.resource_version))
        if self.conflicts:
            self.conflicts -= 1
            raise APIStatusError(grpc.StatusCode.ABORTED, "the object has been modified")
        return pod

    async def bind(self, name, node, namespace="default", uid="", annotations=None):
        self.calls.append(("bind", name, node, uid))
        if name == "taken":
            raise APIStatusError(grpc.StatusCode.FAILED_PRECONDITION, f'pod {name} is already assigned to node "x"')


class BulkFakeClient(FakeClient):
    """A server with BulkBind: one call answers many bindings, each on its own."""

    async def bulk_bind(self, bindings):
        self.calls.append(("bulk_bind", [(b.name, b.node_name, b.uid) for b in bindings]))
        results = []
        for b in bindings:
            r = svc.BulkBindItemResult()
            if b.name == "taken":
                r.code = grpc.StatusCode.FAILED_PRECONDITION.value[0]
                r.message = f'pod {b.name} is already assigned to node "x"'
            else:
                r.resource_version = "7"
            results.append(r)
        return results


class OldServerClient(FakeClient):
    async def bulk_bind(self, bindings):
        raise APIStatusError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


async def _drain(recorder: EventRecorder) -> None:
    task = asyncio.create_task(recorder.run())
    await asyncio.sleep(0)
    await recorder.flush(5)
    task.cancel()


def test_repeats_fold_into_one_event_and_count_up_once_written():
    async def go():
        client = FakeClient()
        rec = EventRecorder(client, host="test", clock=lambda: 1000.0)
        for _ in range(3):
            rec.record(REF, "Warning", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
        rec.record(REF, "Normal", "Scheduled", "Successfully assigned default/web to n1")
        await _drain(rec)
        assert client.calls == [("bulk_apply", 2)]
        (failed,) = [e for e in client.events.values() if e.reason == "FailedScheduling"]
        assert failed.count == 3 and failed.type == "Warning"
        assert failed.involved_object.kind == "Pod" and failed.involved_object.uid == "uid-web"
        assert failed.source.component == "default-scheduler" and failed.reporting_component == "default-scheduler"
        rec.record(REF, "Warning", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
        await _drain(rec)
        assert client.calls[-1] == ("update", failed.metadata.name, 4)

    asyncio.run(go())


def test_an_event_written_by_an_earlier_run_counts_up():
    async def go():
        client = FakeClient()
        first = EventRecorder(client, host="test")
        first.record(REF, "Warning", "FailedScheduling", "m")
        await _drain(first)
        second = EventRecorder(client, host="test")  # a restarted scheduler: the same name
        second.record(REF, "Warning", "FailedScheduling", "m")
        await _drain(second)
        assert [e.count for e in client.events.values()] == [2]

    asyncio.run(go())


def test_the_status_says_unschedulable_and_keeps_the_rest():
    pod = pod_msg("web", "1")
    pod.status.phase = "Pending"
    status = scheduled_status(pod, "0/1 nodes are available: 1 Insufficient cpu.", "n1")
    assert status.phase == "Pending" and status.nominated_node_name == "n1"
    (cond,) = status.conditions
    assert (cond.type, cond.status, cond.reason) == ("PodScheduled", "False", "Unschedulable")
    pod.status.CopyFrom(status)
    assert scheduled_status(pod, cond.message, "n1") is None  # nothing to change
    pod.spec.node_name = "n1"
    assert scheduled_status(pod, "late", None) is None  # bound meanwhile


def test_status_writes_carry_preconditions_and_retry_a_conflict():
    async def go():
        client = FakeClient()
        pod = pod_msg("web", "1", uid="uid-web")
        client.pods["default/web"] = pod
        client.conflicts = 1
        writer = StatusWriter(client, lambda key: pod if key == "default/web" else None)
        await writer.write(act.SetScheduled(REF, "0/1 nodes are available: 1 Insufficient cpu."))
        writes = [c for c in client.calls if c[0] == "update_status"]
        assert writes == [("update_status", "uid-web", pod.metadata.resource_version)] * 2
        assert writer.written == 1

    asyncio.run(go())


def test_status_wishes_for_one_pod_merge():
    writer = StatusWriter(FakeClient(), lambda key: None)
    writer.submit(act.SetScheduled(REF, "first", "n1"))
    writer.submit(act.SetScheduled(REF, "second", None))
    assert writer.backlog == 1
    (wish,) = writer._pending.values()
    assert (wish.message, wish.nominated) == ("second", "n1")


async def _bind_all(client, names):
    answers = []
    binder = Binder(client, lambda b, code, msg: answers.append((b.pod.name, code)), workers=4)
    for i, name in enumerate(names):
        binder.submit(act.Bind(act.PodRef("default", name, f"u{i}"), "n1"))
    task = asyncio.create_task(binder.run())
    for _ in range(200):
        if len(answers) == len(names):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return sorted(answers), binder


def test_binds_queued_together_go_in_one_bulk_call_and_report_back_each():
    async def go():
        client = BulkFakeClient()
        answers, binder = await _bind_all(client, ["web", "taken", "api"])
        assert answers == [("api", None), ("taken", "FAILED_PRECONDITION"), ("web", None)]
        assert client.calls == [("bulk_bind", [("web", "n1", "u0"), ("taken", "n1", "u1"), ("api", "n1", "u2")])]
        assert binder.backlog == 0

    asyncio.run(go())


def test_binds_fall_back_to_one_call_per_pod_without_bulk_bind():
    async def go():
        client = OldServerClient()
        answers, _ = await _bind_all(client, ["web", "taken"])
        assert answers == [("taken", "FAILED_PRECONDITION"), ("web", None)]
        assert ("bind", "web", "n1", "u0") in client.calls

    asyncio.run(go())


def test_a_failed_bulk_call_fails_every_bind_in_it():
    class Down(FakeClient):
        async def bulk_bind(self, bindings):
            raise APIStatusError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    async def go():
        answers, _ = await _bind_all(Down(), ["web", "api"])
        assert answers == [("api", "UNAVAILABLE"), ("web", "UNAVAILABLE")]

    asyncio.run(go())
