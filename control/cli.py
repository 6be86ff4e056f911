"""The `shoal` root command: subcommands come from each part through the `shoal.commands`
entry points (control registers the server and the kubectl-like verbs, node the agent, sched the
scheduler, benchmarks the bench), so no part imports another to offer a command."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


class _RootParser(argparse.ArgumentParser):
    """Usage errors print one line and exit 1, like every other error of the CLI."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(1, f"error: {message} (see 'shoal --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from shoal.control.cli_verbs.base import add_global_flags

    parser = _RootParser(
        prog="shoal",
        description="Shoal: a container orchestrator in the Kubernetes mould.",
        epilog="Run 'shoal COMMAND --help' for a command's flags and an example.",
    )
    add_global_flags(parser)
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
