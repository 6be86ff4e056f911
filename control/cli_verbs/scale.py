"""`shoal scale`: set the replicas of Deployments and ReplicaSets."""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import (
    CLIError,
    add_filename_flags,
    add_verb,
    command,
    named_targets,
    print_item_error,
)
from shoal.control.cli_verbs.printers import kind_ref

SCALABLE = ("Deployment", "ReplicaSet")
_CONFLICT_RETRIES = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "scale", help="set the number of replicas of a Deployment or ReplicaSet",
        examples="""
            shoal scale deployment/web --replicas=3
            shoal scale deploy web api --replicas 0 -n staging
            shoal scale --current-replicas=2 --replicas=5 deployment/web
        """,
    )
    p.add_argument("resources", nargs="*", metavar="KIND NAME... | KIND/NAME...")
    add_filename_flags(p, what="to scale")
    p.add_argument("--replicas", type=int, required=True, help="the new number of replicas")
    p.add_argument("--current-replicas", type=int, default=-1,
                   help="only scale if the object has this many replicas now")
    p.add_argument("--resource-version", default="", help="only scale if the object is at this resourceVersion")
    p.add_argument("-l", "--selector", default="", help="scale the objects matching this label selector")
    p.add_argument("--all", action="store_true", help="scale every object of the kind in the namespace")
    p.set_defaults(func=run_scale)


@command
def run_scale(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection

    if args.replicas < 0:
        raise CLIError("--replicas must be 0 or more")
    conn = connection.resolve(args)
    with conn.client() as client:
        targets = _targets(client, conn, args)
        failed = sum(_scale_one(client, info, namespace, name, args) for info, namespace, name in targets)
    return 1 if failed else 0


def _targets(client, conn, args: argparse.Namespace) -> list[tuple[object, str, str]]:
    found = named_targets(client, conn, args, verb="scale", purpose="to scale")
    for info, _, name in found:
        if info.kind not in SCALABLE:
            raise CLIError(f'{info.plural} "{name}" cannot be scaled: only Deployments and ReplicaSets have replicas')
    return found


def _scale_one(client, info, namespace: str, name: str, args: argparse.Namespace) -> int:
    """Scales one object (retrying when another writer got there first, unless a precondition
    was asked for); returns 1 on failure (reported), else 0."""
    import grpc
    from shoal.proto.client import APIStatusError

    for _attempt in range(_CONFLICT_RETRIES):
        try:
            obj = client.get(info.kind, name, namespace)
            current = obj.spec.replicas if obj.spec.HasField("replicas") else 1
            if args.current_replicas >= 0 and current != args.current_replicas:
                print(f"error: expected {args.current_replicas} replicas of {info.plural} \"{name}\", "
                      f"found {current}: not scaled", file=sys.stderr)
                return 1
            if args.resource_version and obj.metadata.resource_version != args.resource_version:
                print(f'error: {info.plural} "{name}" is at resourceVersion {obj.metadata.resource_version}, '
                      f"not {args.resource_version}: not scaled", file=sys.stderr)
                return 1
            obj.spec.replicas = args.replicas
            client.update(obj)  # carries the resourceVersion read above: a lost race is a conflict
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.ABORTED and not args.resource_version:
                continue
            print_item_error(exc)
            return 1
        print(f"{kind_ref(info)}/{name} scaled")
        return 0
    print(f'error: {info.plural} "{name}" kept changing; not scaled', file=sys.stderr)
    return 1
