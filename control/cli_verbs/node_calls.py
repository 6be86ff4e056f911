"""What `shoal logs`, `shoal exec` and `shoal top` share: calls to shoal.v1.NodeService over the
ClusterClient's channel, their errors as APIStatusError (so the error boundary prints them as
every other server error), and the POD argument as kubectl reads it ("web", "pod/web")."""

from __future__ import annotations

from collections.abc import Iterator

from shoal.control.cli_verbs.base import CLIError


def node_stub(client):
    from shoal.v1 import node_service_pb2_grpc as nsvc_grpc

    return nsvc_grpc.NodeServiceStub(client.channel)


def stream(call) -> Iterator:
    """The responses of a server-streaming call; its failure as APIStatusError, or as CLIError
    when the server says the pod's node cannot be reached (not to be reported as the server
    being unreachable)."""
    import grpc
    from shoal.proto.client import APIStatusError

    try:
        yield from call
    except grpc.RpcError as exc:
        if ("shoal-unavailable", "node") in tuple(exc.trailing_metadata() or ()):
            raise CLIError(exc.details()) from None
        raise APIStatusError(exc.code(), exc.details() or "") from None
    finally:
        call.cancel()


def unary(method, request, client, timeout: float | None = 30.0):
    import grpc
    from shoal.proto.client import APIStatusError

    try:
        return method(request, timeout=timeout, metadata=client.metadata)
    except grpc.RpcError as exc:
        raise APIStatusError(exc.code(), exc.details() or "") from None


def pod_name(word: str) -> str:
    """"web" or "pod/web" -> "web"."""
    kind, sep, name = word.partition("/")
    if not sep:
        return word
    if kind not in ("pod", "pods", "po") or not name:
        raise CLIError(f'"{word}" is not a pod: give POD or pod/POD')
    return name


def default_container_note(client, namespace: str, name: str, chosen: str) -> None:
    """kubectl's note on stderr when a pod of several containers is given without -c."""
    import sys

    from shoal.control.api.node_proxy import choose_container, container_names

    pod = client.get("Pod", name, namespace)
    names = container_names(pod)
    if not chosen and len(pod.spec.containers) + len(pod.spec.init_containers) > 1:
        print(f'Defaulted container "{choose_container(pod, "")}" out of: {", ".join(names)}', file=sys.stderr)
