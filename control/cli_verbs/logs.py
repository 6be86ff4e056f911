"""`shoal logs`: a container's output, read from its node's agent through the server."""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import add_verb, command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "logs", help="print the logs of a container in a pod",
        description="Print the logs of a container in a pod, as the pod's node keeps them. With several "
                    "containers and no -c, the pod's default container (its kubectl.kubernetes.io/"
                    "default-container annotation, else the first).",
        examples="""
            shoal logs web
            shoal logs web -c sidecar --tail 20
            shoal logs -f pod/web
            shoal logs web --previous
        """,
    )
    p.add_argument("pod", metavar="POD", help="the pod: NAME or pod/NAME")
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's default container)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the container exits")
    p.add_argument("-p", "--previous", action="store_true",
                   help="the output of the container's previous run (before its last restart)")
    p.add_argument("--tail", type=int, default=-1, metavar="N", help="only the last N lines (default: all)")
    p.set_defaults(func=run_logs)


@command
def run_logs(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.node_calls import default_container_note, node_stub, pod_name, stream
    from shoal.v1 import node_service_pb2 as nsvc

    container = args.container
    name = pod_name(args.pod)
    conn = connection.resolve(args)
    request = nsvc.LogsRequest(namespace=conn.namespace, name=name, container=container, follow=args.follow,
                               previous=args.previous)
    if args.tail >= 0:
        request.tail_lines = args.tail
    out = sys.stdout.buffer
    with conn.client(timeout=None) as client:
        default_container_note(client, conn.namespace, name, container)
        for response in stream(node_stub(client).Logs(request, metadata=client.metadata)):
            out.write(response.data)
            out.flush()
    return 0
