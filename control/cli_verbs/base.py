"""What every kubectl-like verb shares: its parser (global flags, help with examples, usage
errors that exit 1), the error boundary that turns any failure into one line on stderr and exit
status 1, and the reading of resource arguments ("pods web", "po,svc", "pod/web").

Module imports stay light (argparse only): every `shoal` run registers every verb, so heavy
imports (grpc, protobuf, yaml) happen inside the verbs' functions.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import textwrap
from typing import Callable

_NS_HELP = "the namespace (default: SHOAL_NAMESPACE, the config context's, else 'default')"


class CLIError(Exception):
    """A user-facing error; printed as ``error: <message>``."""


def add_global_flags(container, *, hidden: bool = False) -> None:
    """kubectl's global flags. Given SUPPRESS defaults both on the root parser and on each verb,
    so they work before and after the verb (``shoal -n x get pods``, ``shoal get pods -n x``)
    and the one given last wins."""
    if "--namespace" in container._option_string_actions:  # noqa: SLF001 - already there
        return
    group = container if hidden else container.add_argument_group("global flags (before or after the verb)")

    def flag(*names: str, **kwargs) -> None:
        if hidden:
            kwargs["help"] = argparse.SUPPRESS
        group.add_argument(*names, default=argparse.SUPPRESS, **kwargs)

    flag("-s", "--server", metavar="HOST:PORT",
         help="the API server (default: SHOAL_SERVER, the config context's, else 127.0.0.1:7443)")
    flag("-n", "--namespace", metavar="NS", help=_NS_HELP)
    flag("--token", help="bearer token (default: SHOAL_TOKEN, the context's)")
    flag("--context", help="the config context to use (default: current-context)")


def add_verb(
    sub: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    examples: str,
    description: str = "",
) -> argparse.ArgumentParser:
    """A verb's parser with the global flags, an examples epilog, and usage errors (unknown
    flags included) that print one line and exit 1."""
    # argparse records on each action the container it was added to: for the subcommands
    # action that is the root parser's positionals group, whose options are the root parser's.
    root_group = getattr(sub, "container", None)
    if root_group is not None and hasattr(root_group, "_option_string_actions"):
        add_global_flags(root_group, hidden=True)
    parser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_flags(parser)
    _one_line_usage_errors(parser, f"shoal {name}")
    return parser


def _one_line_usage_errors(parser: argparse.ArgumentParser, command: str) -> None:
    def error(message: str):
        sys.stderr.write(f"error: {message} (see '{command} --help')\n")
        sys.exit(1)

    parse_known_args = parser.parse_known_args

    def strict_parse_known_args(args=None, namespace=None):
        parsed, extras = parse_known_args(args, namespace)
        # argparse fills a "*" positional at its first chance, so words after a flag
        # ("get pods -n x web") come back unparsed: they belong to that positional, as in kubectl.
        rest = [a for a in parser._actions if not a.option_strings and a.nargs == argparse.ZERO_OR_MORE]
        if len(rest) == 1 and extras and not any(e.startswith("-") and e != "-" for e in extras):
            getattr(parsed, rest[0].dest).extend(extras)
            extras = []
        if extras:  # the root parser would report them with its own usage and exit 2
            error(f"unknown arguments: {' '.join(extras)}")
        return parsed, extras

    parser.error = error  # type: ignore[method-assign]
    parser.parse_known_args = strict_parse_known_args  # type: ignore[method-assign]


def bool_flag(text: str) -> bool:
    """Values of kubectl's boolean flags given with '=' (--wait=false)."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "t"):
        return True
    if lowered in ("false", "0", "no", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r} (use true or false)")


def duration_flag(text: str) -> float:
    """A duration as kubectl writes them: "30s", "2m", "1h", or bare seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            break
    else:
        suffix, number = "s", text
    try:
        return float(number) * units[suffix]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 30s, 2m)") from None


def add_filename_flags(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument("-f", "--filename", action="append", default=[], metavar="FILE",
                        help=f"file, directory or '-' (stdin) with the manifests {what}; repeatable")
    parser.add_argument("-R", "--recursive", action="store_true", help="read directories given with -f recursively")


# -- the error boundary ----------------------------------------------------------------------------


def command(func: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    """Runs a verb: every failure becomes one line on stderr and exit status 1."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except BrokenPipeError:
            # `shoal get pods | head`: stop quietly; point stdout at /dev/null so that Python's
            # flush at exit does not complain about the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
            if os.environ.get("SHOAL_DEBUG"):
                raise
            print(error_line(exc, args), file=sys.stderr)
            return 1

    return run


def error_line(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """The one line a failure prints."""
    from shoal.proto.client import APIStatusError
    from shoal.proto.manifests import ManifestError

    if isinstance(exc, APIStatusError):
        import grpc

        if exc.code == grpc.StatusCode.UNAVAILABLE:
            return unreachable_line(exc, args)
        return str(exc)
    if isinstance(exc, (CLIError, ManifestError)):
        return f"error: {exc}"
    if isinstance(exc, OSError):
        return f"error: {exc.strerror or exc}: {exc.filename}" if exc.filename else f"error: {exc}"
    return f"error: {type(exc).__name__}: {exc}"


def unreachable_line(exc, args: argparse.Namespace | None) -> str:
    address = getattr(args, "_server_address", "") or "the server"
    detail = exc.message
    if "refused" in detail.lower():
        detail = "connection refused"
    return (f"error: cannot reach the Shoal server at {address}: {detail} "
            f"(is 'shoal server' running? set --server or SHOAL_SERVER)")


# -- resource arguments ----------------------------------------------------------------------------


# What `get all` lists, as kubectl's "all" category (the kinds Shoal has of it).
ALL_KINDS = ("Pod", "Service", "Deployment", "ReplicaSet", "Job", "HorizontalPodAutoscaler")


def kind_info(name: str):
    """The KindInfo for a kind name as kubectl accepts it; CLIError if there is none."""
    from shoal.proto import kinds

    try:
        return kinds.by_kind(name)
    except KeyError:
        raise CLIError(f'the server doesn\'t have a resource type "{name}"') from None


def resource_targets(words: list[str], *, allow_all: bool = True) -> list[tuple[object, list[str]]]:
    """[(KindInfo, names)] from kubectl's resource arguments: "pods", "pods web api",
    "po,svc", "pod/web svc/web", "all". An empty names list means every object of the kind."""
    if not words:
        return []
    if any("/" in w for w in words):
        targets: list[tuple[object, list[str]]] = []
        for word in words:
            kind, sep, name = word.partition("/")
            if not sep or not kind or not name:
                raise CLIError(f'invalid resource "{word}": give KIND/NAME (e.g. pod/web) for every object, or '
                               f"KIND followed by names")
            info = kind_info(kind)
            for existing_info, names in targets:
                if existing_info is info:
                    names.append(name)
                    break
            else:
                targets.append((info, [name]))
        return targets
    kinds_word, names = words[0], list(words[1:])
    infos = []
    for part in kinds_word.split(","):
        if not part:
            continue
        if part == "all" and allow_all:
            infos.extend(kind_info(k) for k in ALL_KINDS)
        else:
            infos.append(kind_info(part))
    seen = []
    for info in infos:
        if info not in seen:
            seen.append(info)
    return [(info, list(names)) for info in seen]


def namespace_for(info, conn, all_namespaces: bool = False) -> str:
    """The namespace a request about ``info`` names: "" for cluster-scoped kinds and -A."""
    if not info.namespaced or all_namespaces:
        return ""
    return conn.namespace


def read_manifests(args: argparse.Namespace, conn, *, verb: str) -> list:
    """The objects of the -f files, each given the namespace the command runs in unless it names
    one; all read (and checked) before anything is sent, so a bad file changes nothing."""
    from shoal.proto import manifests

    if not args.filename:
        raise CLIError(f"must specify -f FILE (a file, a directory or '-' for stdin) to {verb}")
    found = manifests.load(args.filename, recursive=args.recursive)
    for item in found:
        meta = item.message.metadata
        if not item.info.namespaced:
            continue
        if not meta.namespace:
            meta.namespace = conn.namespace
        elif conn.namespace_from_flag and meta.namespace != conn.namespace:
            raise CLIError(
                f'{item.where}: the namespace from the provided object "{meta.namespace}" does not match the '
                f'namespace "{conn.namespace}"; you must pass --namespace={meta.namespace} to perform this operation'
            )
    if not found:
        raise CLIError(f"no objects passed to {verb}")
    return found


def named_targets(client, conn, args: argparse.Namespace, *, verb: str, purpose: str) -> list[tuple[object, str, str]]:
    """(kind info, namespace, name) of the objects a verb acts on: from -f files, from
    KIND NAME... / KIND/NAME words, or a kind's objects matched by -l SELECTOR or --all.
    `purpose` completes "give the <plural> <purpose> by name, ..." when only a kind is named."""
    if args.filename:
        found = [(m.info, m.message.metadata.namespace, m.name) for m in read_manifests(args, conn, verb=verb)]
    else:
        found = []
        for info, names in resource_targets(args.resources, allow_all=False):
            namespace = namespace_for(info, conn)
            if names:
                found.extend((info, namespace, name) for name in names)
            elif args.selector or args.all:
                items, _ = client.list_all(info.kind, namespace, label_selector=args.selector)
                found.extend((info, namespace, m.metadata.name) for m in items)
            else:
                raise CLIError(f"give the {info.plural} {purpose} by name, -l SELECTOR or --all")
    if not found:
        raise CLIError(f"no objects passed to {verb}")
    return found


def raise_if_unreachable(exc) -> None:
    """Ends the command on a failure every other object would share (no server, no access)."""
    import grpc

    if exc.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED):
        raise exc


def print_item_error(exc) -> None:
    """Reports the failure of one object of several, and lets the command go on."""
    raise_if_unreachable(exc)
    print(str(exc), file=sys.stderr)
