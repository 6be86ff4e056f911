"""`shoal delete`: delete objects named in files, by name, by label selector, or all of a kind;
by default waits until they are gone (pods on a node first get their grace period)."""

from __future__ import annotations

import argparse
import sys
import time

from shoal.control.cli_verbs.base import (
    CLIError,
    add_filename_flags,
    add_verb,
    bool_flag,
    command,
    duration_flag,
    namespace_for,
    print_item_error,
    read_manifests,
    resource_targets,
)
from shoal.control.cli_verbs.printers import kind_ref

_POLL_SECONDS = 0.1


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "delete", help="delete objects by file, by name, by label selector, or all of a kind",
        examples="""
            shoal delete -f web.yaml
            shoal delete pod web api
            shoal delete deploy/web svc/web
            shoal delete pods -l app=web
            shoal delete pods --all -n scratch
            shoal delete pod web --grace-period=0 --force --wait=false
        """,
    )
    p.add_argument("resources", nargs="*", metavar="KIND [NAME...] | KIND/NAME...")
    add_filename_flags(p, what="to delete")
    p.add_argument("-l", "--selector", default="", help="delete the objects matching this label selector")
    p.add_argument("--field-selector", default="", help="delete the objects matching this field selector")
    p.add_argument("--all", action="store_true", help="delete every object of the kind in the namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="with -l or --all: in every namespace")
    p.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                   help="seconds a pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
    p.add_argument("--now", action="store_true", help="same as --grace-period=1")
    p.add_argument("--force", action="store_true", help="with --grace-period=0: remove at once")
    p.add_argument("--cascade", choices=("background", "foreground", "orphan"), default="background",
                   help="what happens to the objects this one owns (default: %(default)s)")
    p.add_argument("--wait", type=bool_flag, nargs="?", const=True, default=True, metavar="BOOL",
                   help="wait until the objects are gone (default: true; --wait=false returns at once)")
    p.add_argument("--timeout", type=duration_flag, default=60.0, metavar="DURATION",
                   help="how long --wait waits, e.g. 30s, 2m (default: 60s)")
    p.add_argument("--ignore-not-found", action="store_true", help="an absent object is no error")
    p.add_argument("-o", "--output", choices=("name",), help="print only kind/name of each deleted object")
    p.set_defaults(func=run_delete)


@command
def run_delete(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection

    conn = connection.resolve(args)
    grace = 1 if args.now else args.grace_period
    if grace == 0 and not args.force:
        raise CLIError("--grace-period=0 removes pods without waiting for them to stop: add --force to confirm")
    with conn.client() as client:
        victims, failed = _victims(client, conn, args)
        deleted, errors = _delete_all(client, victims, grace, args)
        failed += errors
        if args.wait and deleted:
            failed += _wait_gone(client, deleted, args.timeout)
    return 1 if failed else 0


def _victims(client, conn, args: argparse.Namespace):
    """[(KindInfo, namespace, name, uid)] to delete, and how many lookups failed."""
    if args.filename:
        if args.resources or args.selector or args.all:
            raise CLIError("give objects either with -f or as arguments (names, -l, --all), not both")
        return [(m.info, m.message.metadata.namespace if m.info.namespaced else "", m.name, "")
                for m in read_manifests(args, conn, verb="delete")], 0
    targets = resource_targets(args.resources, allow_all=False)
    if not targets:
        raise CLIError("you must give a kind and names, -l SELECTOR or --all (or -f FILE) to delete")
    victims = []
    for info, names in targets:
        selecting = bool(args.selector or args.field_selector or args.all)
        if names and selecting:
            raise CLIError("names cannot be given together with -l, --field-selector or --all")
        if not names and not selecting:
            raise CLIError(f'resource(s) were provided, but no name was given: use "shoal delete {info.plural} NAME", '
                           f"-l SELECTOR or --all")
        namespace = namespace_for(info, conn, args.all_namespaces)
        if names:
            victims.extend((info, namespace, name, "") for name in names)
            continue
        items, _ = client.list_all(info.kind, namespace, label_selector=args.selector,
                                   field_selector=args.field_selector)
        victims.extend((info, m.metadata.namespace, m.metadata.name, m.metadata.uid) for m in items)
    if not victims:
        print("No resources found", file=sys.stderr)
    return victims, 0


def _delete_all(client, victims, grace: int, args: argparse.Namespace):
    import grpc
    from shoal.proto.client import APIStatusError
    from shoal.v1 import cluster_service_pb2 as svc

    propagation = {
        "background": svc.PROPAGATION_POLICY_BACKGROUND,
        "foreground": svc.PROPAGATION_POLICY_FOREGROUND,
        "orphan": svc.PROPAGATION_POLICY_ORPHAN,
    }[args.cascade]
    pending, failed = [], 0
    for info, namespace, name, _uid in victims:
        try:
            resp = client.delete(info.kind, name, namespace, grace_period_seconds=grace if grace >= 0 else None,
                                 propagation=propagation)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND and args.ignore_not_found:
                continue
            print_item_error(exc)
            failed += 1
            continue
        print(f"{kind_ref(info)}/{name}" if args.output == "name" else f'{kind_ref(info)} "{name}" deleted')
        sys.stdout.flush()
        if not resp.deleted:
            from shoal.proto import kinds

            uid = kinds.unwrap(resp.object)[1].metadata.uid if resp.HasField("object") else ""
            pending.append((info, namespace, name, uid))
    return pending, failed


def _wait_gone(client, pending, timeout: float) -> int:
    """Waits until each object is gone (or replaced by a new one of the same name); returns
    how many were still there at the timeout."""
    import grpc
    from shoal.proto.client import APIStatusError

    deadline = time.monotonic() + timeout
    remaining = list(pending)
    while remaining and time.monotonic() < deadline:
        still = []
        for info, namespace, name, uid in remaining:
            try:
                obj = client.get(info.kind, name, namespace)
            except APIStatusError as exc:
                if exc.code == grpc.StatusCode.NOT_FOUND:
                    continue
                raise
            if not uid or obj.metadata.uid == uid:
                still.append((info, namespace, name, uid))
        remaining = still
        if remaining:
            time.sleep(_POLL_SECONDS)
    for info, _namespace, name, _uid in remaining:
        print(f'error: timed out waiting for {info.plural} "{name}" to be deleted (its finalizers or grace '
              f"period hold it; --wait=false does not wait)", file=sys.stderr)
    return len(remaining)
