"""`shoal exec`: run a command in a container, through the server and the pod's node's agent.

Non-interactive: with -i the whole of stdin is read first and handed to the command; there is no
TTY. The command's exit status becomes the CLI's, as with kubectl.
"""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import CLIError, add_verb, command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "exec", help="run a command in a container",
        description="Run a command in a running container and print what it writes. The command's exit "
                    "status is this command's. With several containers and no -c, the pod's default "
                    "container.",
        examples="""
            shoal exec web -- cat /etc/hostname
            shoal exec web -c sidecar -- sh -c 'echo $HOSTNAME'
            echo hello | shoal exec -i web -- cat
        """,
    )
    p.add_argument("pod", metavar="POD", help="the pod: NAME or pod/NAME")
    p.add_argument("words", nargs="*", metavar="-- COMMAND [ARG...]", help="the command, after --")
    p.add_argument("-c", "--container", default="", help="the container (default: the pod's default container)")
    p.add_argument("-i", "--stdin", action="store_true", help="pass this command's stdin (read whole) to the command")
    p.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run_exec)
    _command_after_double_dash(p)


def _command_after_double_dash(parser: argparse.ArgumentParser) -> None:
    """Everything after the first "--" is the command, flags included, wherever the verb's own
    flags stand (argparse alone would take "web -n x -- cat" for an unknown "-- cat")."""
    parse_known_args = parser.parse_known_args

    def split_parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        words: list[str] = []
        if "--" in args:
            at = args.index("--")
            args, words = args[:at], args[at + 1:]
        parsed, extras = parse_known_args(args, namespace)
        parsed.words = [*parsed.words, *words]
        return parsed, extras

    parser.parse_known_args = split_parse_known_args  # type: ignore[method-assign]


@command
def run_exec(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.node_calls import default_container_note, node_stub, pod_name, stream
    from shoal.v1 import node_service_pb2 as nsvc

    if args.tty:
        raise CLIError("a TTY (-t) is not supported yet: exec is non-interactive")
    if not args.words:
        raise CLIError("you must specify at least one command for the container, after --")
    name = pod_name(args.pod)
    stdin = sys.stdin.buffer.read() if args.stdin else b""
    conn = connection.resolve(args)
    request = nsvc.ExecRequest(namespace=conn.namespace, name=name, container=args.container,
                               command=args.words, stdin=stdin)
    exit_code = 0
    with conn.client(timeout=None) as client:
        default_container_note(client, conn.namespace, name, args.container)
        for response in stream(node_stub(client).Exec(request, metadata=client.metadata)):
            if response.stdout:
                sys.stdout.buffer.write(response.stdout)
                sys.stdout.buffer.flush()
            if response.stderr:
                sys.stderr.buffer.write(response.stderr)
                sys.stderr.buffer.flush()
            if response.HasField("exit_code"):
                exit_code = response.exit_code
    if exit_code:
        print(f"command terminated with exit code {exit_code}", file=sys.stderr)
    return exit_code
