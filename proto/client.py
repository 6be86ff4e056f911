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

    def __init__(self, address: str = DEFAULT_LISTEN, *, timeout: float | None = 30.0) -> None:
        self.address = address
        self.timeout = timeout
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
            return method(request, timeout=self.timeout)
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

    def bulk_apply(self, objs, *, create_only: bool = False) -> svc.BulkApplyResponse:
        return self._call(
            self.stub.BulkApply,
            svc.BulkApplyRequest(objects=[kinds.wrap(o) for o in objs], create_only=create_only),
        )

    def delete(self, kind: str, name: str, namespace: str = "", *, grace_period_seconds: int | None = None,
               propagation: int = 0) -> svc.DeleteResponse:
        req = svc.DeleteRequest(kind=kind, namespace=namespace, name=name, propagation_policy=propagation)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return self._call(self.stub.Delete, req)

    def bind(self, name: str, node_name: str, namespace: str = "default", uid: str = ""):
        resp = self._call(self.stub.Bind, svc.BindRequest(namespace=namespace, name=name, node_name=node_name, uid=uid))
        return kinds.unwrap(resp.object)[1]

    def watch(self, kind: str, namespace: str = "", *, resource_version: str = "", label_selector: str = "",
              field_selector: str = "", allow_bookmarks: bool = False) -> Iterator[svc.WatchEvent]:
        """Yields events one by one (the server sends them in batches). Cancel with close()."""
        req = svc.WatchRequest(kind=kind, namespace=namespace, resource_version=resource_version,
                               label_selector=label_selector, field_selector=field_selector,
                               allow_bookmarks=allow_bookmarks)
        try:
            for resp in self.stub.Watch(req):
                yield from resp.events
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            _raise(exc)
