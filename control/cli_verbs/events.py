"""`shoal events`: the Events of a namespace (or of one object), oldest first, as `kubectl events`."""

from __future__ import annotations

import argparse
import sys
import time

from shoal.control.cli_verbs.base import CLIError, add_verb, command, kind_info

EVENT_TYPES = ("Normal", "Warning")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "events", help="list events, oldest first",
        examples="""
            shoal events
            shoal events --for pod/web -n shop
            shoal events -A --types=Warning
            shoal events -w
        """,
    )
    p.add_argument("-A", "--all-namespaces", action="store_true", help="events of every namespace")
    p.add_argument("--for", dest="for_object", metavar="KIND/NAME", help="only the events about this object")
    p.add_argument("--types", action="append", default=[], metavar="TYPE",
                   help="only these types: Normal, Warning (repeatable or comma-separated)")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, print new events as they come")
    p.add_argument("-o", "--output", choices=("yaml", "json"), help="print the Event objects")
    p.add_argument("--no-headers", action="store_true", help="leave out the header row")
    p.set_defaults(func=run_events)


def event_filter(args: argparse.Namespace):
    """(field selector for the server, the set of types to keep)."""
    selector = ""
    if args.for_object:
        kind, sep, name = args.for_object.partition("/")
        if not sep or not name:
            raise CLIError(f"--for needs KIND/NAME, e.g. pod/web, not {args.for_object!r}")
        selector = f"involvedObject.kind={kind_info(kind).kind},involvedObject.name={name}"
    types = set()
    for value in args.types:
        for part in value.split(","):
            match = next((t for t in EVENT_TYPES if t.lower() == part.strip().lower()), None)
            if match is None:
                raise CLIError(f"invalid event type {part!r}: use Normal or Warning")
            types.add(match)
    return selector, types


def sorted_events(events: list) -> list:
    from shoal.control.cli_verbs.tables import event_time

    def key(ev):
        ts = event_time(ev)
        return (ts.seconds, ts.nanos, ev.metadata.creation_timestamp.seconds, ev.metadata.name)

    return sorted(events, key=key)


@command
def run_events(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.printers import (
        TableOptions,
        TableWriter,
        json_text,
        list_document,
        table_headers,
        table_row,
        yaml_text,
    )
    from shoal.proto import kinds
    from shoal.proto.manifests import to_dict
    from shoal.v1 import cluster_service_pb2 as svc

    selector, types = event_filter(args)
    conn = connection.resolve(args)
    info = kinds.by_kind("Event")
    namespace = "" if args.all_namespaces else conn.namespace
    opts = TableOptions(namespace_column=args.all_namespaces, no_headers=args.no_headers)
    writer = TableWriter(sys.stdout, table_headers(info, opts), no_headers=args.no_headers)

    def keep(events):
        return [ev for ev in events if not types or (ev.type or "Normal") in types]

    def emit(events):
        if args.output:
            docs = [to_dict(ev) for ev in events]
            if args.watch:
                for doc in docs:
                    sys.stdout.write(yaml_text(doc) + "---\n" if args.output == "yaml" else json_text(doc))
            else:
                doc = list_document(docs)
                sys.stdout.write(yaml_text(doc) if args.output == "yaml" else json_text(doc))
            sys.stdout.flush()
            return
        now = time.time()
        writer.write(table_row(info, ev, opts, now) for ev in events)

    with conn.client(timeout=None if args.watch else 30.0) as client:
        events, revision = client.list_all("Event", namespace, field_selector=selector)
        events = sorted_events(keep(events))
        if events or args.output:
            emit(events)
        elif not args.watch:
            where = "" if args.all_namespaces else f" in {conn.namespace} namespace"
            print(f"No events found{where}.", file=sys.stderr)
        if not args.watch:
            return 0
        for event in client.watch("Event", namespace, resource_version=revision, field_selector=selector):
            if event.type in (svc.EVENT_TYPE_BOOKMARK, svc.EVENT_TYPE_DELETED) or not event.HasField("object"):
                continue
            emit(keep([kinds.unwrap(event.object)[1]]))
    return 0
