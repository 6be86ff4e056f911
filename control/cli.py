"""The `shoal` root command: subcommands come from each part through the `shoal.commands`
entry points (control registers the server and the kubectl-like verbs, node the agent, sched the
scheduler, benchmarks the bench), so no part imports another to offer a command."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoal",
        description="Shoal: a container orchestrator in the Kubernetes mould.",
        epilog="Run 'shoal COMMAND --help' for a command's flags and an example.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="shoal.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except Exception as exc:  # a broken part must not take the whole CLI down
            print(f"warning: command {ep.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
