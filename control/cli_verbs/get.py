"""`shoal get`: list objects or show some by name, as tables or in an -o format; with -w,
keep the stream open and print a row for every change."""

from __future__ import annotations

import argparse
import sys
import time

from shoal.control.cli_verbs.base import (
    CLIError,
    add_filename_flags,
    add_verb,
    command,
    namespace_for,
    print_item_error,
    resource_targets,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "get", help="list objects of one or more kinds, or show some by name",
        description="List objects as kubectl does. Kinds take kubectl's names and short names: po, deploy, "
                    "rs, svc, ep, no, ns, cm, secret, pv, pvc, job, pc, pg, hpa, lease, ev; 'all' is pods, "
                    "services, deployments, replicasets, jobs and autoscalers.",
        examples="""
            shoal get pods
            shoal get deploy,svc -n web -o wide
            shoal get pod/web -o yaml
            shoal get pods -A -l app=web --sort-by=.metadata.creationTimestamp
            shoal get pods -o jsonpath='{range .items[*]}{.metadata.name}{"\\n"}{end}'
            shoal get pods -w
        """,
    )
    p.add_argument("resources", nargs="*", metavar="KIND [NAME...] | KIND/NAME...")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    p.add_argument("-l", "--selector", default="", help="label selector: app=web,tier!=cache,env in (a,b)")
    p.add_argument("--field-selector", default="", help="field selector: status.phase=Running,spec.nodeName=n1")
    p.add_argument("-o", "--output", metavar="FORMAT",
                   help="wide, yaml, json, name, jsonpath=TEMPLATE or custom-columns=HEADER:PATH,...")
    p.add_argument("--sort-by", metavar="JSONPATH", help="sort by a field, e.g. .metadata.name")
    p.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    p.add_argument("-L", "--label-columns", action="append", default=[], metavar="KEY",
                   help="add a column with the value of this label; repeatable or comma-separated")
    p.add_argument("--no-headers", action="store_true", help="leave out the header row")
    p.add_argument("-w", "--watch", action="store_true", help="after listing, print each change as it happens")
    p.add_argument("--watch-only", action="store_true", help="print changes only, without listing first")
    p.add_argument("--chunk-size", type=int, default=500, metavar="N", help="list in pages of N objects")
    p.add_argument("--ignore-not-found", action="store_true", help="a named object that is absent is no error")
    add_filename_flags(p, what="whose objects to show")
    p.set_defaults(func=run_get)


def table_options(args: argparse.Namespace, fmt, *, kind_prefix: bool):
    from shoal.control.cli_verbs.printers import TableOptions

    labels = [key.strip() for value in args.label_columns for key in value.split(",") if key.strip()]
    return TableOptions(
        wide=fmt.name == "wide",
        namespace_column=args.all_namespaces,
        kind_prefix=kind_prefix,
        show_labels=args.show_labels,
        label_columns=labels,
        no_headers=args.no_headers,
        custom=fmt.template if fmt.name == "custom-columns" else None,
    )


@command
def run_get(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.printers import parse_output

    fmt = parse_output(args.output)
    conn = connection.resolve(args)
    if args.filename:
        if args.resources:
            raise CLIError("give objects either with -f or as arguments, not both")
        return _get_from_files(args, conn, fmt)
    targets = resource_targets(args.resources)
    if not targets:
        raise CLIError('you must specify the type of resource to get, e.g. "shoal get pods" '
                       '(kinds: run "shoal get --help")')
    named = any(names for _, names in targets)
    if named and args.selector:
        raise CLIError("a name cannot be given together with a label selector (-l)")
    if args.watch or args.watch_only:
        return _watch(args, conn, fmt, targets)
    groups, failed = [], 0
    with conn.client() as client:
        for info, names in targets:
            items, misses = _fetch(client, info, names, namespace_for(info, conn, args.all_namespaces), args)
            groups.append((info, items))
            failed += misses
    single = len(targets) == 1 and len(targets[0][1]) == 1
    shown = _print_groups(groups, args, fmt, single=single, kind_prefix=len(targets) > 1)
    if not shown and not failed and not named:
        _no_resources(conn, args, targets)
    return 1 if failed else 0


def _fetch(client, info, names: list[str], namespace: str, args: argparse.Namespace) -> tuple[list, int]:
    """The objects of one kind (those named, else all matching the selectors) and how many
    named ones failed (reported on stderr)."""
    import grpc
    from shoal.proto.client import APIStatusError

    if not names:
        items, _ = client.list_all(info.kind, namespace, label_selector=args.selector,
                                   field_selector=args.field_selector, chunk_size=max(args.chunk_size, 0))
        return _sorted(items, args.sort_by), 0
    items, failed = [], 0
    for name in names:
        try:
            items.append(client.get(info.kind, name, namespace))
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND and args.ignore_not_found:
                continue
            print_item_error(exc)
            failed += 1
    return _sorted(items, args.sort_by), failed


def _get_from_files(args: argparse.Namespace, conn, fmt) -> int:
    from shoal.control.cli_verbs.base import read_manifests
    from shoal.proto.client import APIStatusError

    manifests = read_manifests(args, conn, verb="get")
    groups: list[tuple[object, list]] = []
    failed = 0
    with conn.client() as client:
        for item in manifests:
            meta = item.message.metadata
            try:
                obj = client.get(item.info.kind, meta.name, meta.namespace)
            except APIStatusError as exc:
                print_item_error(exc)
                failed += 1
                continue
            if groups and groups[-1][0] is item.info:
                groups[-1][1].append(obj)
            else:
                groups.append((item.info, [obj]))
    kinds_seen = {info.kind for info, _ in groups}
    _print_groups(groups, args, fmt, single=len(manifests) == 1, kind_prefix=len(kinds_seen) > 1)
    return 1 if failed else 0


def _sorted(items: list, sort_by: str | None) -> list:
    if not sort_by:
        return items
    from shoal.control.cli_verbs import jsonpath
    from shoal.proto.manifests import to_dict

    try:
        path = jsonpath.sort_key_path(sort_by)
    except jsonpath.JSONPathError as exc:
        raise CLIError(f"invalid --sort-by {sort_by!r}: {exc}") from None

    def key(msg):
        values = jsonpath.evaluate(path, to_dict(msg))
        if not values:
            return (0, 0, "")
        value = values[0]
        if isinstance(value, bool):
            return (1, int(value), "")
        if isinstance(value, (int, float)):
            return (1, value, "")
        return (2, 0, jsonpath.format_value(value))

    return sorted(items, key=key)


def _print_groups(groups, args: argparse.Namespace, fmt, *, single: bool, kind_prefix: bool) -> int:
    """Prints the objects in the chosen format; returns how many were printed."""
    from shoal.control.cli_verbs.printers import object_name, print_documents, print_table
    from shoal.proto.manifests import to_dict

    total = sum(len(items) for _, items in groups)
    if fmt.is_table:
        print_table(groups, table_options(args, fmt, kind_prefix=kind_prefix), sys.stdout, to_dict=to_dict)
    elif fmt.name == "name":
        for info, items in groups:
            for msg in items:
                print(object_name(info, msg))
    elif total or not single:
        docs = [to_dict(msg) for _, items in groups for msg in items]
        print_documents(docs, fmt, sys.stdout, single=single)
    return total


def _no_resources(conn, args: argparse.Namespace, targets) -> None:
    if args.all_namespaces or not any(info.namespaced for info, _ in targets):
        print("No resources found", file=sys.stderr)
    else:
        print(f"No resources found in {conn.namespace} namespace.", file=sys.stderr)


# -- watch ------------------------------------------------------------------------------------------


def _watch(args: argparse.Namespace, conn, fmt, targets) -> int:
    from shoal.control.cli_verbs.printers import (
        TableWriter,
        json_text,
        object_name,
        table_headers,
        table_row,
        yaml_text,
    )
    from shoal.proto import kinds
    from shoal.proto.manifests import to_dict
    from shoal.v1 import cluster_service_pb2 as svc

    if len(targets) != 1:
        raise CLIError(f"watch is only supported on one kind at a time, but {len(targets)} kinds were given")
    info, names = targets[0]
    namespace = namespace_for(info, conn, args.all_namespaces)
    field_selector = args.field_selector
    if len(names) == 1:
        field_selector = ",".join(filter(None, [field_selector, f"metadata.name={names[0]}"]))
    opts = table_options(args, fmt, kind_prefix=False)
    writer = TableWriter(sys.stdout, table_headers(info, opts), no_headers=opts.no_headers) if fmt.is_table else None
    printed = 0

    def emit(msgs: list) -> None:
        nonlocal printed
        msgs = [m for m in msgs if not names or m.metadata.name in names]
        if not msgs:
            return
        if writer is not None:
            now = time.time()
            writer.write(table_row(info, m, opts, now, to_dict) for m in msgs)
        else:
            for m in msgs:
                if fmt.name == "name":
                    sys.stdout.write(object_name(info, m) + "\n")
                elif fmt.name == "json":
                    sys.stdout.write(json_text(to_dict(m)))
                elif fmt.name == "jsonpath":
                    from shoal.control.cli_verbs import jsonpath

                    sys.stdout.write(jsonpath.render(fmt.template, to_dict(m)) + "\n")
                else:
                    sys.stdout.write(("---\n" if printed else "") + yaml_text(to_dict(m)))
                printed += 1
            sys.stdout.flush()

    with conn.client(timeout=None) as client:
        items, revision = client.list_all(info.kind, namespace, label_selector=args.selector,
                                          field_selector=field_selector, chunk_size=max(args.chunk_size, 0))
        if not args.watch_only:
            emit(_sorted(items, args.sort_by))
        for event in client.watch(info.kind, namespace, resource_version=revision,
                                  label_selector=args.selector, field_selector=field_selector):
            if event.type == svc.EVENT_TYPE_BOOKMARK or not event.HasField("object"):
                continue
            emit([kinds.unwrap(event.object)[1]])
    return 0
