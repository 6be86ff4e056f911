"""`shoal cordon` / `shoal uncordon`: mark nodes unschedulable or schedulable again (spec.unschedulable).

A cordoned node keeps its pods; the scheduler's NodeUnschedulable filter keeps new ones off it
(unless they tolerate node.kubernetes.io/unschedulable:NoSchedule). `shoal drain` cordons first.
"""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import CLIError, add_verb, command, print_item_error

_CONFLICT_RETRIES = 5


def register_cordon(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "cordon", help="mark a node unschedulable", examples="""
        shoal cordon node-1
        shoal cordon -l pool=spot
    """)
    _add_node_arguments(p)
    p.set_defaults(func=run_cordon)


def register_uncordon(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "uncordon", help="mark a node schedulable", examples="""
        shoal uncordon node-1
        shoal uncordon -l pool=spot
    """)
    _add_node_arguments(p)
    p.set_defaults(func=run_uncordon)


def _add_node_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("nodes", nargs="*", metavar="NODE", help="node names (or node/NAME)")
    p.add_argument("-l", "--selector", default="", help="the nodes matching this label selector")


@command
def run_cordon(args: argparse.Namespace) -> int:
    return _run(args, unschedulable=True)


@command
def run_uncordon(args: argparse.Namespace) -> int:
    return _run(args, unschedulable=False)


def _run(args: argparse.Namespace, *, unschedulable: bool) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.proto.client import APIStatusError

    conn = connection.resolve(args)
    with conn.client() as client:
        names = node_names(client, args.nodes, args.selector)
        failed = 0
        for name in names:
            try:
                print(set_unschedulable(client, name, unschedulable))
            except CLIError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
            except APIStatusError as exc:
                print_item_error(exc)
                failed += 1
    return 1 if failed else 0


def node_names(client, words: list[str], selector: str) -> list[str]:
    """Node names from arguments ("n1", "node/n1", "nodes/n1") or a label selector."""
    if words and selector:
        raise CLIError("give node names or -l SELECTOR, not both")
    if selector:
        items, _ = client.list_all("Node", label_selector=selector)
        if not items:
            raise CLIError(f'no nodes match the selector "{selector}"')
        return [n.metadata.name for n in items]
    if not words:
        raise CLIError("give a node name (or -l SELECTOR)")
    names = []
    for word in words:
        kind, sep, name = word.partition("/")
        if sep:
            if kind not in ("node", "nodes", "no") or not name:
                raise CLIError(f'"{word}" is not a node: give NAME or node/NAME')
            word = name
        names.append(word)
    return names


def set_unschedulable(client, name: str, unschedulable: bool) -> str:
    """Sets spec.unschedulable of node ``name`` (retrying lost races with other writers, the
    agent's status writes for one); returns the line kubectl prints."""
    import grpc
    from shoal.proto.client import APIStatusError

    verb = "cordoned" if unschedulable else "uncordoned"
    for _attempt in range(_CONFLICT_RETRIES):
        node = client.get("Node", name)
        if node.spec.unschedulable == unschedulable:
            return f"node/{name} already {verb}"
        node.spec.unschedulable = unschedulable
        try:
            client.update(node)
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.ABORTED:
                continue
            raise
        return f"node/{name} {verb}"
    raise CLIError(f'node "{name}" kept changing; not {verb}')
