"""`shoal version`: the client's version and the server it talks to."""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import add_verb, command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "version", help="print the client version and the server's address and health",
        examples="""
            shoal version
            shoal version --client -o json
        """,
    )
    p.add_argument("--client", action="store_true", help="the client version only (no server needed)")
    p.add_argument("-o", "--output", choices=("yaml", "json"))
    p.set_defaults(func=run_version)


def client_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "v" + version("shoal")
    except PackageNotFoundError:
        return "unknown"


@command
def run_version(args: argparse.Namespace) -> int:
    doc: dict[str, object] = {"clientVersion": {"version": client_version(), "python": sys.version.split()[0]}}
    error = None
    if not args.client:
        from shoal.control.cli_verbs import connection
        from shoal.proto.client import APIStatusError

        conn = connection.resolve(args)
        try:
            with conn.client(timeout=5.0) as client:
                doc["server"] = {"address": conn.server, "health": client.health()}
        except APIStatusError as exc:
            error = exc
    if args.output:
        from shoal.control.cli_verbs.printers import json_text, yaml_text

        sys.stdout.write(json_text(doc) if args.output == "json" else yaml_text(doc))
    else:
        print(f"Client Version: {doc['clientVersion']['version']}")  # type: ignore[index]
        if "server" in doc:
            server = doc["server"]
            print(f"Server: {server['address']} ({server['health']})")  # type: ignore[index]
    if error is not None:
        raise error
    return 0
