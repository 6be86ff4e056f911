"""The agent's asyncio client of shoal.v1.ClusterService: one gRPC channel, shared by every node
an agent process runs (one, or a thousand hollow ones).

Errors come out as ``shoal.proto.client.APIStatusError`` (the gRPC code and the server's message),
the same as the blocking client raises.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc

from shoal.proto import kinds
from shoal.proto.client import CHANNEL_OPTIONS, APIStatusError
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import cluster_service_pb2_grpc as svc_grpc
from shoal.v1 import node_service_pb2 as nsvc
from shoal.v1 import node_service_pb2_grpc as nsvc_grpc

NotFound = grpc.StatusCode.NOT_FOUND
AlreadyExists = grpc.StatusCode.ALREADY_EXISTS
Conflict = grpc.StatusCode.ABORTED
Gone = grpc.StatusCode.OUT_OF_RANGE

# Codes worth retrying after a pause: the server is restarting or overloaded.
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL,
                       grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED})


def _error(exc: grpc.RpcError) -> APIStatusError:
    return APIStatusError(exc.code(), exc.details() or "")


class NodeAPI:
    """Async verbs over the cluster API. ``NodeAPI("127.0.0.1:7443")``; ``await api.close()``."""

    def __init__(self, address: str, *, token: str = "", timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = svc_grpc.ClusterServiceStub(self.channel)
        self.node_stub = nsvc_grpc.NodeServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def _call(self, method, request):
        try:
            return await method(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None

    async def create(self, obj):
        resp = await self._call(self.stub.Create, svc.CreateRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def get(self, kind: str, name: str, namespace: str = ""):
        resp = await self._call(self.stub.Get, svc.GetRequest(kind=kind, namespace=namespace, name=name))
        return kinds.unwrap(resp.object)[1]

    async def update(self, obj):
        resp = await self._call(self.stub.Update, svc.UpdateRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def update_status(self, obj):
        resp = await self._call(self.stub.UpdateStatus, svc.UpdateStatusRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def delete(self, kind: str, name: str, namespace: str = "", *, grace_period_seconds: int | None = None,
                     uid: str = "") -> svc.DeleteResponse:
        req = svc.DeleteRequest(kind=kind, namespace=namespace, name=name, uid=uid)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return await self._call(self.stub.Delete, req)

    async def bulk_apply(self, objs, *, create_only: bool = False, return_objects: bool = False):
        req = svc.BulkApplyRequest(objects=[kinds.wrap(o) for o in objs], create_only=create_only,
                                   return_objects=return_objects)
        return await self._call(self.stub.BulkApply, req)

    async def list_all(self, kind: str, namespace: str = "", *, field_selector: str = "", label_selector: str = "",
                       chunk_size: int = 500) -> tuple[list, str]:
        """Every matching object, in pages; returns (items, resourceVersion of the first page)."""
        items: list = []
        token, revision = "", ""
        while True:
            resp = await self._call(self.stub.List, svc.ListRequest(
                kind=kind, namespace=namespace, field_selector=field_selector, label_selector=label_selector,
                limit=chunk_size, continue_token=token))
            revision = revision or resp.resource_version
            items.extend(kinds.unwrap(o)[1] for o in resp.items)
            token = resp.continue_token
            if not token:
                return items, revision

    async def watch(self, kind: str, namespace: str = "", *, resource_version: str = "", field_selector: str = "",
                    allow_bookmarks: bool = True) -> AsyncIterator[svc.WatchResponse]:
        """Yields the server's batches. Raises APIStatusError when the stream ends in error."""
        req = svc.WatchRequest(kind=kind, namespace=namespace, resource_version=resource_version,
                               field_selector=field_selector, allow_bookmarks=allow_bookmarks)
        call = self.stub.Watch(req, metadata=self.metadata)
        try:
            async for resp in call:
                yield resp
        except grpc.RpcError as exc:
            raise _error(exc) from None
        finally:
            call.cancel()

    async def report_utilization(self, requests: AsyncIterator[nsvc.ReportUtilizationRequest]
                                 ) -> nsvc.ReportUtilizationResponse:
        """Sends ``requests`` on one ReportUtilization stream; returns when they end, raises
        APIStatusError when the stream breaks."""
        try:
            return await self.node_stub.ReportUtilization(requests, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None
