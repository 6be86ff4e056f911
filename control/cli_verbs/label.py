"""`shoal label` and `shoal annotate`: set (KEY=VALUE) or remove (KEY-) labels or annotations."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from shoal.control.cli_verbs.base import (
    CLIError,
    add_filename_flags,
    add_verb,
    command,
    namespace_for,
    print_item_error,
    read_manifests,
    resource_targets,
)
from shoal.control.cli_verbs.printers import kind_ref

_CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class _Verb:
    name: str  # "label"
    field: str  # the metadata map: "labels"
    past: str  # "labeled"


LABEL = _Verb("label", "labels", "labeled")
ANNOTATE = _Verb("annotate", "annotations", "annotated")


def register_label(sub: argparse._SubParsersAction) -> None:
    _register(sub, LABEL, """
        shoal label pods web env=prod
        shoal label pod/web tier=front --overwrite
        shoal label pods -l app=web canary-
        shoal label pod web --list
    """)


def register_annotate(sub: argparse._SubParsersAction) -> None:
    _register(sub, ANNOTATE, """
        shoal annotate deploy web owner=team-a
        shoal annotate pod/web description='the front end' --overwrite
        shoal annotate pods --all owner-
    """)


def _register(sub: argparse._SubParsersAction, verb: _Verb, examples: str) -> None:
    p = add_verb(sub, verb.name, help=f"set or remove {verb.field} of objects (KEY=VALUE sets, KEY- removes)",
                 examples=examples)
    p.add_argument("args", nargs="*", metavar="KIND NAME... | KIND/NAME... KEY=VALUE... KEY-...")
    add_filename_flags(p, what=f"whose objects to {verb.name}")
    p.add_argument("--overwrite", action="store_true", help=f"allow changing {verb.field} that are already set")
    p.add_argument("-l", "--selector", default="", help="the objects matching this label selector")
    p.add_argument("--all", action="store_true", help="every object of the kind in the namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="with -l or --all: in every namespace")
    p.add_argument("--list", action="store_true", help=f"print the {verb.field} instead of changing them")
    p.add_argument("--resource-version", default="", help="only change the object at this resourceVersion")
    p.set_defaults(func=command(lambda args: _run(args, verb)))


def parse_changes(words: list[str], verb: _Verb) -> tuple[list[str], dict[str, str], list[str]]:
    """Splits the arguments into resources, KEY=VALUE sets and KEY- removals."""
    resources, sets, removals = [], {}, []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise CLIError(f"invalid {verb.name} {word!r}: the key is empty")
            if key in sets or key in removals:
                raise CLIError(f"{verb.name} {key!r} is given more than once")
            sets[key] = value
        elif word.endswith("-"):  # object names never end in "-", so this is a removal
            removals.append(word[:-1])
        else:
            if sets or removals:
                raise CLIError(f"give the objects first, then the {verb.field}: {word!r} comes after a change")
            resources.append(word)
    return resources, sets, removals


def _run(args: argparse.Namespace, verb: _Verb) -> int:
    from shoal.control.cli_verbs import connection

    resources, sets, removals = parse_changes(args.args, verb)
    if not (sets or removals or args.list):
        raise CLIError(f"at least one {verb.name} update is required (KEY=VALUE or KEY-)")
    conn = connection.resolve(args)
    with conn.client() as client:
        targets = _targets(client, conn, args, resources)
        failed = 0
        for info, namespace, name in targets:
            failed += _change_one(client, info, namespace, name, sets, removals, args, verb)
    return 1 if failed else 0


def _targets(client, conn, args: argparse.Namespace, resources: list[str]):
    if args.filename:
        if resources:
            raise CLIError("give objects either with -f or as arguments, not both")
        return [(m.info, m.message.metadata.namespace, m.name) for m in read_manifests(args, conn, verb="change")]
    found = []
    for info, names in resource_targets(resources, allow_all=False):
        namespace = namespace_for(info, conn, args.all_namespaces)
        if names:
            found.extend((info, namespace, name) for name in names)
        elif args.selector or args.all:
            items, _ = client.list_all(info.kind, namespace, label_selector=args.selector)
            found.extend((info, m.metadata.namespace, m.metadata.name) for m in items)
        else:
            raise CLIError(f"give the {info.plural} by name, -l SELECTOR or --all")
    if not found:
        raise CLIError("no objects given (KIND NAME, KIND/NAME, -l, --all or -f)")
    return found


def _change_one(client, info, namespace, name, sets, removals, args, verb: _Verb) -> int:
    import grpc
    from shoal.proto.client import APIStatusError

    for _attempt in range(_CONFLICT_RETRIES):
        try:
            obj = client.get(info.kind, name, namespace)
            current = getattr(obj.metadata, verb.field)
            if args.list:
                for key, value in sorted(current.items()):
                    print(f"{key}={value}")
                return 0
            if args.resource_version and obj.metadata.resource_version != args.resource_version:
                raise CLIError(f'{info.plural} "{name}" is at resourceVersion {obj.metadata.resource_version}, '
                               f"not {args.resource_version}")
            for key, value in sets.items():
                if key in current and current[key] != value and not args.overwrite:
                    raise CLIError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
            changed = any(current.get(k) != v for k, v in sets.items()) or any(k in current for k in removals)
            for key in removals:
                if key not in current:
                    print(f'{verb.name} "{key}" not found.', file=sys.stderr)
            if not changed:
                print(f"{kind_ref(info)}/{name} not {verb.past}")
                return 0
            current.update(sets)
            for key in removals:
                current.pop(key, None)
            client.update(obj)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.ABORTED and not args.resource_version:
                continue
            print_item_error(exc)
            return 1
        except CLIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{kind_ref(info)}/{name} {verb.past}")
        return 0
    print(f'error: {info.plural} "{name}" kept changing; not {verb.past}', file=sys.stderr)
    return 1
