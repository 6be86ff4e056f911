"""shoal.v1.ClusterService over gRPC: requests in, ObjectAPI calls, status codes out.

Registered by hand rather than with the generated ``add_..._to_server`` for two reasons:
- requests that do not decode (wrong types, 10,000-deep nesting) become INVALID_ARGUMENT with a
  message, not gRPC's generic INTERNAL;
- Watch responses are assembled from pre-encoded events (see wire.py), so its serializer is the
  identity and an event is serialized once however many watchers receive it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

import grpc
from google.protobuf.message import DecodeError

from shoal.control.api.errors import APIError
from shoal.control.api.objects import ObjectAPI
from shoal.proto import kinds
from shoal.v1 import cluster_service_pb2 as svc

log = logging.getLogger(__name__)

SERVICE_NAME = "shoal.v1.ClusterService"


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

    @_unary("Create")
    async def Create(self, request: svc.CreateRequest, context) -> svc.CreateResponse:
        return svc.CreateResponse(object=kinds.wrap(await self.api.create(request.object)))

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
        pod = await self.api.bind(request.namespace, request.name, request.node_name, request.uid)
        return svc.BindResponse(object=kinds.wrap(pod))

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

    def handler(self) -> grpc.GenericRpcHandler:
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
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                getattr(self, name),
                request_deserializer=_lenient(request_cls),
                response_serializer=lambda msg: msg.SerializeToString(),
            )
            for name, request_cls in unary.items()
        }
        handlers["Watch"] = grpc.unary_stream_rpc_method_handler(
            self.Watch,
            request_deserializer=_lenient(svc.WatchRequest),
            response_serializer=lambda data: data,
        )
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
