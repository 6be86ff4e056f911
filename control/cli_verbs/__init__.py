"""The kubectl-like verbs of the `shoal` command: apply, create, replace, delete, get, describe,
scale, label, annotate, events, logs, exec, top, version and config.

One module per verb (or per small family of verbs), each offering ``register(subparsers)``
through the ``shoal.commands`` entry points; the shared pieces:

    base.py        parsers with the global flags, the error boundary (one line, exit 1),
                   resource arguments ("po,svc", "pod/web"), reading -f manifests
    connection.py  server / namespace / token: flag > environment > config context > default
    config.py      ~/.shoal/config and `shoal config`
    printers.py    tables and -o formats;  tables.py  kubectl's columns per kind
    jsonpath.py    kubectl's JSONPath templates (-o jsonpath=..., --sort-by, custom-columns)
    node_calls.py  logs, exec and top: shoal.v1.NodeService calls over the client's channel

    argv -> cli.py (argparse, entry points) -> verb -> connection.resolve -> ClusterClient (gRPC)
                                                    -> shoal.proto.manifests (files <-> messages)
                                                    -> printers (stdout);  errors -> stderr, exit 1
"""
