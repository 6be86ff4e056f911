"""`shoal top nodes|pods`: cpu and memory in use, from the utilization the agents report.

kubectl's columns: for nodes NAME CPU(cores) CPU% MEMORY(bytes) MEMORY% (percentages of the
node's allocatable; nodes that have not reported show <unknown>), for pods NAME CPU(cores)
MEMORY(bytes) (NAMESPACE first with -A; POD NAME ... per container with --containers).
"""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import CLIError, add_verb, command

NODE_WORDS = ("nodes", "node", "no")
POD_WORDS = ("pods", "pod", "po")
UNKNOWN = "<unknown>"
MI = 1024 * 1024
NOT_YET = ("metrics not available yet: no node has reported its utilization (agents report every "
           "--stats-interval seconds, 10 by default)")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "top", help="show the cpu and memory nodes or pods use",
        description="Show the cpu and memory in use by nodes or pods, as their agents last reported it.",
        examples="""
            shoal top nodes
            shoal top pods -n shop
            shoal top pods -A --sort-by=cpu
            shoal top pod web --containers
        """,
    )
    p.add_argument("targets", nargs="*", metavar="nodes|pods [NAME]", help="what to show; a NAME shows only that one")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("-l", "--selector", default="", help="only the nodes or pods matching this label selector")
    p.add_argument("--containers", action="store_true", help="pods: a row per container")
    p.add_argument("--sort-by", choices=("cpu", "memory"), help="largest first by cpu or memory")
    p.add_argument("--no-headers", action="store_true", help="leave out the header row")
    p.set_defaults(func=run_top)


def cpu_cell(millis: int) -> str:
    return f"{millis}m"


def memory_cell(nbytes: int) -> str:
    return f"{nbytes // MI}Mi"


def percent_cell(used: int, allocatable: int) -> str:
    return f"{int(used * 100 / allocatable)}%" if allocatable > 0 else UNKNOWN


def node_rows(items, nodes) -> list[list[str]]:
    """Rows for the nodes in ``nodes`` (Node objects): those with a sample first, in the order
    of ``items``, then those without one, as <unknown>."""
    from shoal.proto.quantity import milli_value, value

    by_name = {n.metadata.name: n for n in nodes}
    rows, seen = [], set()
    for item in items:
        node = by_name.get(item.name)
        if node is None:
            continue
        seen.add(item.name)
        alloc = node.status.allocatable or node.status.capacity
        cpu_alloc = milli_value(alloc.get("cpu", "0"))
        mem_alloc = value(alloc.get("memory", "0"))
        rows.append([item.name, cpu_cell(item.cpu_millis), percent_cell(item.cpu_millis, cpu_alloc),
                     memory_cell(item.memory_bytes), percent_cell(item.memory_bytes, mem_alloc)])
    for name in sorted(set(by_name) - seen):
        rows.append([name, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN])
    return rows


def pod_rows(items, *, namespace_column: bool, containers: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    if containers:
        headers = ["POD", *headers]
    if namespace_column:
        headers = ["NAMESPACE", *headers]
    rows = []
    for item in items:
        lead = [item.namespace] if namespace_column else []
        if containers:
            rows.extend([*lead, item.name, c.name, cpu_cell(c.cpu_millis), memory_cell(c.memory_bytes)]
                        for c in item.containers)
        else:
            rows.append([*lead, item.name, cpu_cell(item.cpu_millis), memory_cell(item.memory_bytes)])
    return headers, rows


def _sorted(items, sort_by: str | None):
    if sort_by == "cpu":
        return sorted(items, key=lambda i: -i.cpu_millis)
    if sort_by == "memory":
        return sorted(items, key=lambda i: -i.memory_bytes)
    return list(items)


@command
def run_top(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.node_calls import node_stub, unary
    from shoal.control.cli_verbs.printers import TableWriter
    from shoal.v1 import node_service_pb2 as nsvc

    if not args.targets or len(args.targets) > 2:
        raise CLIError("give what to show: nodes or pods, and at most one NAME")
    what = args.targets[0].lower()
    args.name = args.targets[1] if len(args.targets) == 2 else ""
    if what not in NODE_WORDS + POD_WORDS:
        raise CLIError(f'top shows "nodes" or "pods", not "{args.targets[0]}"')
    conn = connection.resolve(args)
    with conn.client() as client:
        stub = node_stub(client)
        if what in NODE_WORDS:
            items = unary(stub.GetUtilization, nsvc.GetUtilizationRequest(kind="Node"), client).items
            if not items:
                raise CLIError(NOT_YET)
            nodes, _ = client.list_all("Node", label_selector=args.selector)
            if args.name:
                nodes = [n for n in nodes if n.metadata.name == args.name]
                if not nodes:
                    raise CLIError(f'nodes "{args.name}" not found')
            headers = ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
            rows = node_rows(_sorted(items, args.sort_by), nodes)
        else:
            namespace = "" if args.all_namespaces else conn.namespace
            items = unary(stub.GetUtilization, nsvc.GetUtilizationRequest(kind="Pod", namespace=namespace),
                          client).items
            if args.selector:
                pods, _ = client.list_all("Pod", namespace, label_selector=args.selector)
                wanted = {(p.metadata.namespace, p.metadata.name) for p in pods}
                items = [i for i in items if (i.namespace, i.name) in wanted]
            if args.name:
                items = [i for i in items if i.name == args.name]
            if not items:
                if not unary(stub.GetUtilization, nsvc.GetUtilizationRequest(kind="Node"), client).items:
                    raise CLIError(NOT_YET)
                if args.name:
                    raise CLIError(f'metrics for pod "{namespace}/{args.name}" not available yet' if namespace
                                   else f'metrics for pod "{args.name}" not available yet')
                where = "" if args.all_namespaces else f" in {namespace} namespace"
                print(f"No resources found{where}.", file=sys.stderr)
                return 0
            headers, rows = pod_rows(_sorted(items, args.sort_by), namespace_column=args.all_namespaces,
                                     containers=args.containers)
    TableWriter(sys.stdout, headers, no_headers=args.no_headers).write(rows)
    return 0
