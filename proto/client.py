"""A thin client of shoal.v1.ClusterService, taking and returning the kinds' messages.

Used by the CLI, the agents and the scheduler (which reach the control plane only as API
clients). Errors are raised as ``APIStatusError`` carrying the gRPC code and the server's message.
"""

from __future__ import annotations

from typing import Iterator

import grpc

from shoal.proto import kinds
from shoal.proto.defaults import DEFAULT_LISTEN
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1 import cluster_service_pb2_grpc as svc_grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]

# How kubectl names gRPC codes in "Error from server (NotFound): ..."
REASONS = {
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.ABORTED: "Conflict",
    grpc.StatusCode.INVALID_ARGUMENT: "Invalid",
    grpc.StatusCode.FAILED_PRECONDITION: "BadRequest",
    grpc.StatusCode.OUT_OF_RANGE: "Expired",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RequestEntityTooLarge",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthorized",
    grpc.StatusCode.PERMISSION_DENIED: "Forbidden",
    grpc.StatusCode.UNAVAILABLE: "ServiceUnavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "Timeout",
}


class APIStatusError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        return REASONS.get(self.code, self.code.name.title().replace("_", ""))

    def __str__(self) -> str:
        return f"Error from server ({self.reason}): {self.message}"


def _raise(exc: grpc.RpcError):
    raise APIStatusError(exc.code(), exc.details() or "") from None


class ClusterClient:
    """Blocking client. ``ClusterClient("127.0.0.1:7443")``; use as a context manager."""

    def __init__(self, address: str = DEFAULT_LISTEN, *, timeout: float | None = 30.0, token: str = "") -> None:
        self.address = address
        self.timeout = timeout
        # A bearer token travels as gRPC metadata on every call, as HTTP's Authorization header.
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = svc_grpc.ClusterServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "ClusterClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            _raise(exc)

    def create(self, obj):
        return kinds.unwrap(self._call(self.stub.Create, svc.CreateRequest(object=kinds.wrap(obj))).object)[1]

    def get(self, kind: str, name: str, namespace: str = ""):
        resp = self._call(self.stub.Get, svc.GetRequest(kind=kind, namespace=namespace, name=name))
        return kinds.unwrap(resp.object)[1]

    def list(self, kind: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
             limit: int = 0, continue_token: str = "") -> svc.ListResponse:
        return self._call(
            self.stub.List,
            svc.ListRequest(kind=kind, namespace=namespace, label_selector=label_selector,
                            field_selector=field_selector, limit=limit, continue_token=continue_token),
        )

    def list_items(self, kind: str, namespace: str = "", **kwargs) -> list:
        return [kinds.unwrap(o)[1] for o in self.list(kind, namespace, **kwargs).items]

    def update(self, obj):
        return kinds.unwrap(self._call(self.stub.Update, svc.UpdateRequest(object=kinds.wrap(obj))).object)[1]

    def update_status(self, obj):
        resp = self._call(self.stub.UpdateStatus, svc.UpdateStatusRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    def apply(self, obj) -> tuple[object, int]:
        resp = self._call(self.stub.Apply, svc.ApplyRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1], resp.result

    def bulk_apply(self, objs, *, create_only: bool = False, return_objects: bool = False) -> svc.BulkApplyResponse:
        return self._call(
            self.stub.BulkApply,
            svc.BulkApplyRequest(objects=[kinds.wrap(o) for o in objs], create_only=create_only,
                                 return_objects=return_objects),
        )

    def delete(self, kind: str, name: str, namespace: str = "", *, grace_period_seconds: int | None = None,
               propagation: int = 0) -> svc.DeleteResponse:
        req = svc.DeleteRequest(kind=kind, namespace=namespace, name=name, propagation_policy=propagation)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return self._call(self.stub.Delete, req)

    def list_all(self, kind: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
                 chunk_size: int = 500) -> tuple[list, str]:
        """Every matching object, read in pages of ``chunk_size``; returns (items, the
        resourceVersion of the first page, to start a watch from)."""
        items: list = []
        token, revision = "", ""
        while True:
            resp = self.list(kind, namespace, label_selector=label_selector, field_selector=field_selector,
                             limit=chunk_size, continue_token=token)
            revision = revision or resp.resource_version
            items.extend(kinds.unwrap(o)[1] for o in resp.items)
            token = resp.continue_token
            if not token:
                return items, revision

    def health(self) -> str:
        """The server's overall gRPC health status ("SERVING", ...)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        resp = self._call(stub.Check, health_pb2.HealthCheckRequest(service=""))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    def bind(self, name: str, node_name: str, namespace: str = "default", uid: str = "",
             annotations: dict[str, str] | None = None):
        resp = self._call(self.stub.Bind, svc.BindRequest(namespace=namespace, name=name, node_name=node_name, uid=uid,
                                                          annotations=annotations or {}))
        return kinds.unwrap(resp.object)[1]

    def bulk_bind(self, bindings: list[svc.BindRequest]) -> list[svc.BulkBindItemResult]:
        """One result per binding, in order (code 0 = bound); see ClusterService.BulkBind."""
        return list(self._call(self.stub.BulkBind, svc.BulkBindRequest(bindings=bindings)).results)

    def watch(self, kind: str, namespace: str = "", *, resource_version: str = "", label_selector: str = "",
              field_selector: str = "", allow_bookmarks: bool = False) -> Iterator[svc.WatchEvent]:
        """Yields events one by one (the server sends them in batches). Cancel with close()."""
        req = svc.WatchRequest(kind=kind, namespace=namespace, resource_version=resource_version,
                               label_selector=label_selector, field_selector=field_selector,
                               allow_bookmarks=allow_bookmarks)
        try:
            for resp in self.stub.Watch(req, metadata=self.metadata):
                yield from resp.events
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            _raise(exc)


class AsyncClusterClient:
    """The asyncio twin of ClusterClient (same methods, awaitable; watch is an async iterator)."""

    def __init__(self, address: str = DEFAULT_LISTEN, *, timeout: float | None = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = svc_grpc.ClusterServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "AsyncClusterClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _call(self, method, request):
        try:
            return await method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            _raise(exc)

    async def create(self, obj):
        resp = await self._call(self.stub.Create, svc.CreateRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def get(self, kind: str, name: str, namespace: str = ""):
        resp = await self._call(self.stub.Get, svc.GetRequest(kind=kind, namespace=namespace, name=name))
        return kinds.unwrap(resp.object)[1]

    async def list(self, kind: str, namespace: str = "", *, label_selector: str = "", field_selector: str = "",
                   limit: int = 0, continue_token: str = "") -> svc.ListResponse:
        return await self._call(
            self.stub.List,
            svc.ListRequest(kind=kind, namespace=namespace, label_selector=label_selector,
                            field_selector=field_selector, limit=limit, continue_token=continue_token),
        )

    async def list_items(self, kind: str, namespace: str = "", **kwargs) -> list:
        return [kinds.unwrap(o)[1] for o in (await self.list(kind, namespace, **kwargs)).items]

    async def update(self, obj):
        resp = await self._call(self.stub.Update, svc.UpdateRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def update_status(self, obj):
        resp = await self._call(self.stub.UpdateStatus, svc.UpdateStatusRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1]

    async def apply(self, obj) -> tuple[object, int]:
        resp = await self._call(self.stub.Apply, svc.ApplyRequest(object=kinds.wrap(obj)))
        return kinds.unwrap(resp.object)[1], resp.result

    async def bulk_apply(self, objs, *, create_only: bool = False) -> svc.BulkApplyResponse:
        return await self._call(
            self.stub.BulkApply,
            svc.BulkApplyRequest(objects=[kinds.wrap(o) for o in objs], create_only=create_only),
        )

    async def delete(self, kind: str, name: str, namespace: str = "", *, grace_period_seconds: int | None = None,
                     propagation: int = 0, uid: str = "") -> svc.DeleteResponse:
        req = svc.DeleteRequest(kind=kind, namespace=namespace, name=name, propagation_policy=propagation, uid=uid)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return await self._call(self.stub.Delete, req)

    async def bind(self, name: str, node_name: str, namespace: str = "default", uid: str = "",
                   annotations: dict[str, str] | None = None):
        resp = await self._call(
            self.stub.Bind, svc.BindRequest(namespace=namespace, name=name, node_name=node_name, uid=uid,
                                            annotations=annotations or {})
        )
        return kinds.unwrap(resp.object)[1]

    async def bulk_bind(self, bindings: list[svc.BindRequest]) -> list[svc.BulkBindItemResult]:
        """One result per binding, in order (code 0 = bound); see ClusterService.BulkBind."""
        resp = await self._call(self.stub.BulkBind, svc.BulkBindRequest(bindings=bindings))
        return list(resp.results)

    async def watch(self, kind: str, namespace: str = "", *, resource_version: str = "", label_selector: str = "",
                    field_selector: str = "", allow_bookmarks: bool = False):
        """Yields WatchResponse batches (each with .events) until cancelled; APIStatusError on
        OUT_OF_RANGE and other failures."""
        req = svc.WatchRequest(kind=kind, namespace=namespace, resource_version=resource_version,
                               label_selector=label_selector, field_selector=field_selector,
                               allow_bookmarks=allow_bookmarks)
        call = self.stub.Watch(req)
        try:
            async for resp in call:
                yield resp
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            _raise(exc)
        finally:
            call.cancel()
