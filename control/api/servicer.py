"""shoal.v1.ClusterService and shoal.v1.NodeService over gRPC: requests in, ObjectAPI / NodeProxy /
UtilizationWindow calls, status codes out.

Registered by hand rather than with the generated ``add_..._to_server`` for two reasons:
- requests that do not decode (wrong types, 10,000-deep nesting) become INVALID_ARGUMENT with a
  message, not gRPC's generic INTERNAL;
- Watch responses are assembled from pre-encoded events (see wire.py), so its serializer is the
  identity and an event is serialized once however many watchers receive it.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.control.api import wire
from shoal.control.api.errors import APIError, Invalid, Unavailable
from shoal.control.api.node_proxy import NodeProxy
from shoal.control.api.objects import ObjectAPI
from shoal.control.api.utilization import UtilizationWindow, node_sample_from_proto
from shoal.proto import kinds
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import node_service_pb2 as nsvc

log = logging.getLogger(__name__)

SERVICE_NAME = "shoal.v1.ClusterService"
NODE_SERVICE_NAME = "shoal.v1.NodeService"
# Exec output goes back in messages of at most this many bytes.
EXEC_CHUNK_BYTES = 1024 * 1024
# One BulkBind call carries at most this many bindings (a scheduler sends what it has ready).
MAX_BULK_BINDINGS = 10_000


class _Undecodable:
    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _lenient(message_cls) -> Callable[[bytes], Any]:
    def deserialize(data: bytes):
        try:
            return message_cls.FromString(data)
        except (DecodeError, RecursionError, ValueError) as exc:
            return _Undecodable(f"malformed {message_cls.__name__}: {exc}")

    return deserialize


async def _abort_for(context: grpc.aio.ServicerContext, exc: BaseException, method: str):
    if isinstance(exc, APIError):
        await context.abort(exc.code, exc.message)
    if isinstance(exc, KeyError) and "kind" in str(exc).lower():
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc.args[0]))
    log.exception("internal error in %s", method)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}: {type(exc).__name__}")


def _unary(method: str):
    def wrap(fn):
        @functools.wraps(fn)
        async def handler(self, request, context):
            if isinstance(request, _Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
            try:
                return await fn(self, request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # every error leaves as a status code, never a traceback
                await _abort_for(context, exc, method)

        return handler

    return wrap


class ClusterServicer:
    def __init__(self, api: ObjectAPI, *, bookmark_interval: float = 60.0) -> None:
        self.api = api
        self.bookmark_interval = bookmark_interval

    async def Create(self, request: svc.CreateRequest, context) -> bytes:
        # A CreateResponse holding the stored object, assembled from its stored bytes (wire.py).
        # What _unary does, written out: every single create passes here.
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        try:
            return wire.length_delimited(_CREATE_RESPONSE_OBJECT, await self.api.create_encoded(request.object))
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # every error leaves as a status code, never a traceback
            await _abort_for(context, exc, "Create")

    @_unary("Get")
    async def Get(self, request: svc.GetRequest, context) -> svc.GetResponse:
        obj = await self.api.get(request.kind, request.namespace, request.name)
        return svc.GetResponse(object=kinds.wrap(obj))

    @_unary("List")
    async def List(self, request: svc.ListRequest, context) -> svc.ListResponse:
        result = await self.api.list(
            request.kind,
            request.namespace,
            request.label_selector,
            request.field_selector,
            request.limit,
            request.continue_token,
        )
        return svc.ListResponse(
            items=[kinds.wrap(item) for item in result.items],
            resource_version=str(result.resource_version),
            continue_token=result.continue_token,
            remaining_item_count=result.remaining,
        )

    @_unary("Update")
    async def Update(self, request: svc.UpdateRequest, context) -> svc.UpdateResponse:
        return svc.UpdateResponse(object=kinds.wrap(await self.api.update(request.object)))

    @_unary("UpdateStatus")
    async def UpdateStatus(self, request: svc.UpdateStatusRequest, context) -> svc.UpdateStatusResponse:
        return svc.UpdateStatusResponse(object=kinds.wrap(await self.api.update_status(request.object)))

    @_unary("Apply")
    async def Apply(self, request: svc.ApplyRequest, context) -> svc.ApplyResponse:
        obj, result = await self.api.apply(request.object)
        return svc.ApplyResponse(object=kinds.wrap(obj), result=result)

    @_unary("BulkApply")
    async def BulkApply(self, request: svc.BulkApplyRequest, context) -> svc.BulkApplyResponse:
        results = await self.api.bulk_apply(
            request.objects, create_only=request.create_only, return_objects=request.return_objects
        )
        return svc.BulkApplyResponse(results=results)

    @_unary("Delete")
    async def Delete(self, request: svc.DeleteRequest, context) -> svc.DeleteResponse:
        obj, deleted = await self.api.delete(
            request.kind,
            request.namespace,
            request.name,
            grace_period_seconds=request.grace_period_seconds if request.HasField("grace_period_seconds") else None,
            propagation=request.propagation_policy,
            uid=request.uid,
            resource_version=request.resource_version,
        )
        return svc.DeleteResponse(object=kinds.wrap(obj), deleted=deleted)

    @_unary("Bind")
    async def Bind(self, request: svc.BindRequest, context) -> svc.BindResponse:
        pod = await self.api.bind(request.namespace, request.name, request.node_name, request.uid,
                                  request.annotations)
        return svc.BindResponse(object=kinds.wrap(pod))

    async def BulkBind(self, request: svc.BulkBindRequest, context) -> svc.BulkBindResponse:
        if len(request.bindings) > MAX_BULK_BINDINGS:
            raise Invalid(f"bindings: Too many: {len(request.bindings)}: must have at most {MAX_BULK_BINDINGS} items")
        return svc.BulkBindResponse(results=await self.api.bulk_bind(request.bindings))

    async def Watch(self, request, context):
        """Yields serialized WatchResponse bytes (the handler's serializer is the identity)."""
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        try:
            stream = self.api.watch(
                request.kind,
                request.namespace,
                request.label_selector,
                request.field_selector,
                request.resource_version,
                bookmark_interval=self.bookmark_interval if request.allow_bookmarks else None,
            )
            async for batch in stream:
                yield batch
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort_for(context, exc, "Watch")

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        unary = {
            "Create": svc.CreateRequest,
            "Get": svc.GetRequest,
            "List": svc.ListRequest,
            "Update": svc.UpdateRequest,
            "UpdateStatus": svc.UpdateStatusRequest,
            "Apply": svc.ApplyRequest,
            "BulkApply": svc.BulkApplyRequest,
            "Delete": svc.DeleteRequest,
            "Bind": svc.BindRequest,
            "BulkBind": svc.BulkBindRequest,
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                getattr(self, name),
                request_deserializer=_lenient(request_cls),
                response_serializer=_to_bytes,
            )
            for name, request_cls in unary.items()
        }
        handlers["Watch"] = grpc.unary_stream_rpc_method_handler(
            self.Watch,
            request_deserializer=_lenient(svc.WatchRequest),
            response_serializer=lambda data: data,
        )
        return handlers

    def register(self, server: grpc.aio.Server) -> None:
        """Registered methods: gRPC matches the path in its core, not by calling a Python
        generic handler per call (the generic one stays for clients that send an unregistered
        call, e.g. through a proxy)."""
        _register(server, SERVICE_NAME, self.method_handlers())


def _register(server: grpc.aio.Server, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def _to_bytes(response) -> bytes:
    """Responses are messages, or (Create) already the serialized response."""
    return response if type(response) is bytes else response.SerializeToString()


_CREATE_RESPONSE_OBJECT = svc.CreateResponse.DESCRIPTOR.fields_by_name["object"].number


def _serialize(msg) -> bytes:
    return msg.SerializeToString()


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


# Marks an UNAVAILABLE that the server returns because a pod's node cannot be reached, so clients
# can tell it from failing to reach the server itself.
NODE_UNREACHABLE_METADATA = (("shoal-unavailable", "node"),)


async def _abort_for_node(context: grpc.aio.ServicerContext, exc: BaseException, method: str):
    if isinstance(exc, Unavailable):
        await context.abort(exc.code, exc.message, trailing_metadata=NODE_UNREACHABLE_METADATA)
    await _abort_for(context, exc, method)


class NodeServicer:
    """shoal.v1.NodeService: logs and exec proxied to the agents (node_proxy.py), and the
    utilization window the agents fill and `shoal top` reads (utilization.py)."""

    def __init__(self, api: ObjectAPI, *, window: UtilizationWindow | None = None, proxy: NodeProxy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.proxy = proxy or NodeProxy(api)
        self.window = window or UtilizationWindow()
        self.clock = clock

    async def Logs(self, request: nsvc.LogsRequest, context):
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        if request.since_seconds:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                "sinceSeconds is not supported yet: the agents keep no per-line timestamps")
        try:
            stream = self.proxy.logs(
                request.namespace or "default", request.name, request.container, follow=request.follow,
                previous=request.previous, tail_lines=request.tail_lines if request.HasField("tail_lines") else None,
            )
            async for chunk in stream:
                yield nsvc.LogsResponse(data=chunk)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort_for_node(context, exc, "Logs")

    async def Exec(self, request: nsvc.ExecRequest, context):
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
        try:
            result = await self.proxy.exec(request.namespace or "default", request.name, request.container,
                                           list(request.command), request.stdin)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort_for_node(context, exc, "Exec")
            return
        for field, data in (("stdout", result.stdout), ("stderr", result.stderr)):
            for start in range(0, len(data), EXEC_CHUNK_BYTES):
                yield nsvc.ExecResponse(**{field: data[start:start + EXEC_CHUNK_BYTES]})
        yield nsvc.ExecResponse(exit_code=result.exit_code)

    async def ReportUtilization(self, request_iterator, context) -> nsvc.ReportUtilizationResponse:
        received = 0
        try:
            async for request in request_iterator:
                if isinstance(request, _Undecodable):
                    raise Invalid(request.error)
                now = self.clock()
                for node in request.nodes:
                    self.window.record(node_sample_from_proto(node), now)
                    received += 1
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort_for(context, exc, "ReportUtilization")
        return nsvc.ReportUtilizationResponse(samples_received=received)

    @_unary("GetUtilization")
    async def GetUtilization(self, request: nsvc.GetUtilizationRequest, context) -> nsvc.GetUtilizationResponse:
        try:
            kind = kinds.by_kind(request.kind).kind
        except KeyError:
            kind = request.kind
        now = self.clock()
        resp = nsvc.GetUtilizationResponse()
        if kind == "Node":
            for node in self.window.nodes(now):
                resp.items.add(name=node.name, node_name=node.name, cpu_millis=node.cpu_millis,
                               memory_bytes=node.memory_bytes, timestamp=_timestamp(node.timestamp),
                               window=_duration(node.window))
        elif kind == "Pod":
            for pod in self.window.pods(now, request.namespace):
                item = resp.items.add(name=pod.name, namespace=pod.namespace, node_name=pod.node_name,
                                      cpu_millis=pod.cpu_millis, memory_bytes=pod.memory_bytes,
                                      timestamp=_timestamp(pod.timestamp), window=_duration(pod.window))
                for c in pod.containers:
                    item.containers.add(name=c.name, cpu_millis=c.cpu_millis, memory_bytes=c.memory_bytes)
        else:
            raise Invalid(f'utilization is kept for kind "Node" or "Pod", not "{request.kind}"')
        return resp

    def register(self, server: grpc.aio.Server) -> None:
        handlers = {
            "Logs": grpc.unary_stream_rpc_method_handler(
                self.Logs, request_deserializer=_lenient(nsvc.LogsRequest), response_serializer=_serialize),
            "Exec": grpc.unary_stream_rpc_method_handler(
                self.Exec, request_deserializer=_lenient(nsvc.ExecRequest), response_serializer=_serialize),
            "ReportUtilization": grpc.stream_unary_rpc_method_handler(
                self.ReportUtilization, request_deserializer=_lenient(nsvc.ReportUtilizationRequest),
                response_serializer=_serialize),
            "GetUtilization": grpc.unary_unary_rpc_method_handler(
                self.GetUtilization, request_deserializer=_lenient(nsvc.GetUtilizationRequest),
                response_serializer=_serialize),
        }
        _register(server, NODE_SERVICE_NAME, handlers)
