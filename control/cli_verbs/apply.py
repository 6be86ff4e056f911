"""`shoal apply`, `shoal create` and `shoal replace`: send the objects of manifest files.

    $ shoal apply -f guestbook.yaml
    service/redis-master created
    deployment/redis-master unchanged

Every file is read and checked before the first object is sent. Large inputs go to the
server in BulkApply batches; a failing object is reported and the others still go.
"""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import (
    CLIError,
    add_filename_flags,
    add_verb,
    command,
    kind_info,
    raise_if_unreachable,
    read_manifests,
)

# Above this many objects, apply sends BulkApply batches instead of one Apply per object.
BULK_THRESHOLD = 32
BULK_BATCH_OBJECTS = 500
BULK_BATCH_BYTES = 16 * 1024 * 1024


def _add_output_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=("name", "yaml", "json"),
                        help="print the objects as stored (yaml, json) or only their names")


def register_apply(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "apply", help="create objects from manifests, or merge the manifests into existing objects",
        examples="""
            shoal apply -f web.yaml
            shoal apply -f k8s/ -R -n staging
            cat web.yaml | shoal apply -f -
        """,
    )
    add_filename_flags(p, what="to apply")
    _add_output_flag(p)
    p.set_defaults(func=run_apply)


def register_create(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "create", help="create objects from manifests (an existing object is an error), or a namespace",
        examples="""
            shoal create -f pod.yaml
            shoal create namespace staging
        """,
    )
    p.add_argument("what", nargs="*", metavar="namespace NAME", help="create a namespace by name")
    add_filename_flags(p, what="to create")
    _add_output_flag(p)
    p.set_defaults(func=run_create)


def register_replace(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "replace", help="replace objects by the manifests (metadata and spec; status is kept)",
        examples="""
            shoal get pod web -o yaml > web.yaml   # edit it, then:
            shoal replace -f web.yaml
            shoal replace --force -f web.yaml      # delete and re-create
        """,
    )
    add_filename_flags(p, what="to replace")
    p.add_argument("--force", action="store_true", help="delete the objects and create them again")
    _add_output_flag(p)
    p.set_defaults(func=run_replace)


# -- apply ------------------------------------------------------------------------------------------


@command
def run_apply(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection

    conn = connection.resolve(args)
    items = read_manifests(args, conn, verb="apply")
    for item in items:
        if not item.name:
            raise CLIError(f"{item.where}: metadata.name is required by apply (generateName needs 'shoal create')")
    with conn.client() as client:
        if len(items) > BULK_THRESHOLD:
            outcomes = _apply_bulk(client, items, want_objects=args.output in ("yaml", "json"))
        else:
            outcomes = [_apply_one(client, item) for item in items]
    return _report(items, outcomes, args.output, verb="applying")


def _apply_one(client, item):
    from shoal.proto.client import APIStatusError

    try:
        stored, result = client.apply(item.message)
    except APIStatusError as exc:
        raise_if_unreachable(exc)
        return exc
    return _result_word(result), stored


def _apply_bulk(client, items, *, want_objects: bool):
    """BulkApply in batches; Namespaces go first so that objects inside them can be created in
    the same run (each batch is admitted against the store as it was before the batch)."""
    import grpc
    from shoal.proto import kinds
    from shoal.proto.client import APIStatusError

    codes = {code.value[0]: code for code in grpc.StatusCode}
    namespaces = [i for i, item in enumerate(items) if item.info.kind == "Namespace"]
    others = [i for i, item in enumerate(items) if item.info.kind != "Namespace"]
    outcomes: list = [None] * len(items)
    for batch in [*_batches(namespaces, items), *_batches(others, items)]:
        resp = client.bulk_apply([items[i].message for i in batch], return_objects=want_objects)
        for index, result in zip(batch, resp.results):
            if result.code:
                outcomes[index] = APIStatusError(codes.get(result.code, grpc.StatusCode.UNKNOWN), result.message)
            else:
                stored = kinds.unwrap(result.object)[1] if result.HasField("object") else None
                outcomes[index] = (_result_word(result.result), stored)
    return outcomes


def _batches(indexes: list[int], items):
    """``indexes`` cut into batches of at most BULK_BATCH_OBJECTS objects and BULK_BATCH_BYTES."""
    batch: list[int] = []
    size = 0
    for index in indexes:
        item_size = items[index].message.ByteSize()
        if batch and (len(batch) >= BULK_BATCH_OBJECTS or size + item_size > BULK_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += item_size
    if batch:
        yield batch


def _result_word(result: int) -> str:
    from shoal.v1 import cluster_service_pb2 as svc

    return {
        svc.APPLY_RESULT_CREATED: "created",
        svc.APPLY_RESULT_CONFIGURED: "configured",
        svc.APPLY_RESULT_UNCHANGED: "unchanged",
    }.get(result, "applied")


def _report(items, outcomes, output: str | None, *, verb: str) -> int:
    """Prints ``pod/web created`` per object (or the -o form) and the errors; 1 if any failed."""
    from shoal.control.cli_verbs.printers import json_text, list_document, object_name, yaml_text
    from shoal.proto.client import APIStatusError
    from shoal.proto.manifests import to_dict

    failed = 0
    stored_docs = []
    for item, outcome in zip(items, outcomes):
        if isinstance(outcome, APIStatusError):
            failed += 1
            print(f"Error from server ({outcome.reason}): error when {verb} {item.where}: {outcome.message}",
                  file=sys.stderr)
            continue
        word, stored = outcome
        if output == "name":
            print(object_name(item.info, stored if stored is not None else item.message))
        elif output in ("yaml", "json"):
            stored_docs.append(to_dict(stored if stored is not None else item.message))
        else:
            print(f"{object_name(item.info, stored if stored is not None else item.message)} {word}")
        sys.stdout.flush()
    if stored_docs:
        doc = stored_docs[0] if len(stored_docs) == 1 else list_document(stored_docs)
        sys.stdout.write(yaml_text(doc) if output == "yaml" else json_text(doc))
    return 1 if failed else 0


# -- create -----------------------------------------------------------------------------------------


@command
def run_create(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.proto.client import APIStatusError

    conn = connection.resolve(args)
    if args.what:
        return _create_named(conn, args)
    items = read_manifests(args, conn, verb="create")
    outcomes = []
    with conn.client() as client:
        for item in items:
            try:
                outcomes.append(("created", client.create(item.message)))
            except APIStatusError as exc:
                raise_if_unreachable(exc)
                outcomes.append(exc)
    return _report(items, outcomes, args.output, verb="creating")


def _create_named(conn, args: argparse.Namespace) -> int:
    if args.filename:
        raise CLIError("give either -f FILE or 'namespace NAME', not both")
    if len(args.what) != 2 or kind_info(args.what[0]).kind != "Namespace":
        raise CLIError("'shoal create' makes objects from -f FILE, or a namespace: shoal create namespace NAME")
    from shoal.control.cli_verbs.printers import object_name
    from shoal.proto import kinds

    info = kinds.by_kind("Namespace")
    ns = info.message(api_version=info.api_version, kind=info.kind)
    ns.metadata.name = args.what[1]
    with conn.client() as client:
        stored = client.create(ns)
    print(object_name(info, stored) if args.output == "name" else f"{object_name(info, stored)} created")
    return 0


# -- replace ----------------------------------------------------------------------------------------


@command
def run_replace(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.proto.client import APIStatusError

    conn = connection.resolve(args)
    items = read_manifests(args, conn, verb="replace")
    outcomes = []
    with conn.client() as client:
        for item in items:
            try:
                if args.force:
                    _delete_and_wait(client, item)
                    outcomes.append(("replaced", client.create(item.message)))
                else:
                    outcomes.append(("replaced", client.update(item.message)))
            except APIStatusError as exc:
                raise_if_unreachable(exc)
                outcomes.append(exc)
    return _report(items, outcomes, args.output, verb="replacing")


def _delete_and_wait(client, item, timeout: float = 60.0) -> None:
    import time

    import grpc
    from shoal.proto.client import APIStatusError

    meta = item.message.metadata
    try:
        client.delete(item.info.kind, meta.name, meta.namespace)
    except APIStatusError as exc:
        if exc.code != grpc.StatusCode.NOT_FOUND:
            raise
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get(item.info.kind, meta.name, meta.namespace)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                meta.resource_version = ""
                return
            raise
        time.sleep(0.1)
    raise CLIError(f"timed out waiting for {item.info.plural} \"{meta.name}\" to be deleted")
