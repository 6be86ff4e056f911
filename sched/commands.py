"""`shoal place`: the scheduler without a cluster, from Node and Pod manifests.

Registered through the `shoal.commands` entry point; importing this module loads nothing heavy
(the root command imports every part's register function on each run).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# Kinds a manifest file may carry besides the Nodes / Pods it is given for: they feed
# namespaceSelector, default topology spreading and priority class resolution.
CONTEXT_KINDS = ("Namespace", "Service", "ReplicaSet", "PriorityClass")

EXAMPLE = """\
example:
  shoal place --nodes nodes.yaml --pods pods.yaml -o table
  shoal place --nodes nodes.yaml --pods pods.yaml --existing bound.yaml \\
      --profile scheduler-config.yaml --seed 7 -o json

Files hold Kubernetes manifests: several documents separated by '---', or a List (kind: List,
items: [...]). Namespaces, Services, ReplicaSets and PriorityClasses found in any of them are
used for namespaceSelector terms, default topology spreading and priorityClassName.
"""


def register_place(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "place",
        help="place pods on nodes offline, as kube-scheduler would",
        description=(
            "Place pods on nodes without a cluster, with kube-scheduler's plugins, weights and "
            "messages, and print where each pod goes or why it cannot go anywhere."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--nodes", required=True, metavar="FILE", help="Node manifests")
    p.add_argument("--pods", required=True, metavar="FILE", help="Pod manifests to place")
    p.add_argument("--existing", metavar="FILE", help="pods already bound to nodes (spec.nodeName set)")
    p.add_argument("--profile", metavar="FILE", help="a KubeSchedulerConfiguration (default: kube-scheduler's defaults)")
    p.add_argument("--seed", type=int, default=0, help="tie-break seed; equal seeds replay equal placements (default: 0)")
    p.add_argument("-o", "--output", choices=("json", "yaml", "table"), default="table", help="output format (default: table)")
    p.add_argument("--explain", action="store_true", help="add, for each unschedulable pod, what would make it fit")
    p.add_argument(
        "--no-equivalence",
        action="store_true",
        help="score every node for every pod instead of sharing work between equal pods (same result)",
    )
    p.set_defaults(func=run_place)


class InputError(Exception):
    """A problem with the command's inputs, reported as one line."""


def _load(path: str, wanted: str, context: dict[str, list]) -> list:
    from shoal.proto import manifests

    try:
        objects = manifests.load([path])
    except manifests.ManifestError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    out = []
    for m in objects:
        if m.info.kind == wanted:
            out.append(m.message)
        elif m.info.kind in CONTEXT_KINDS:
            context[m.info.kind].append(m.message)
        else:
            raise InputError(f"{m.where}: expected {wanted} objects in this file, not {m.info.kind}")
    return out


def run_place(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from .api import PlacementInputError, place
    from .framework.config import ConfigError, load_config
    from .podinfo import PodSpecError

    context: dict[str, list] = {k: [] for k in CONTEXT_KINDS}
    nodes = _load(args.nodes, "Node", context)
    pods = _load(args.pods, "Pod", context)
    existing = _load(args.existing, "Pod", context) if args.existing else []
    try:
        profiles = load_config(args.profile) if args.profile else None
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    try:
        result = place(
            nodes,
            pods,
            existing,
            profiles,
            args.seed,
            namespaces=context["Namespace"],
            services=context["Service"],
            replica_sets=context["ReplicaSet"],
            priority_classes=context["PriorityClass"],
            equivalence=not args.no_equivalence,
            explain=args.explain,
        )
    except (PlacementInputError, PodSpecError, ValueError) as exc:
        raise InputError(str(exc)) from None
    doc = result.to_dict()
    if args.explain:
        doc["explanations"] = [result.explanations[u.pod] for u in result.unschedulable if u.pod in result.explanations]
    if args.output == "json":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "yaml":
        import yaml

        yaml.safe_dump(doc, sys.stdout, sort_keys=False, width=1 << 16)
    else:
        _table(doc, result)
    return 0


def _table(doc: dict[str, Any], result) -> None:
    rows = [(a["pod"], a["node"], "") for a in doc["assignments"]]
    for u in result.unschedulable:
        note = u.message
        if u.nominated_node:
            note += f" (preemption would evict {len(u.victims)} pod(s) on {u.nominated_node})"
        rows.append((u.pod, "<none>", note))
    width_pod = max([len("POD")] + [len(r[0]) for r in rows])
    width_node = max([len("NODE")] + [len(r[1]) for r in rows])
    out = sys.stdout
    out.write(f"{'POD':<{width_pod}}  {'NODE':<{width_node}}  REASON\n")
    for pod, node, note in rows:
        out.write(f"{pod:<{width_pod}}  {node:<{width_node}}  {note}".rstrip() + "\n")
    stats = doc["stats"]
    out.write(
        f"\n{len(doc['assignments'])} placed, {len(doc['unschedulable'])} unschedulable; "
        f"{stats['pods']} pods in {stats['seconds']:.3f}s ({stats['pods_per_second']:.0f} pods/s)\n"
    )
    for e in doc.get("explanations", []):
        out.write(f"\n{e['pod']}:\n")
        for r in e["reasons"]:
            out.write(f"  {r['nodes']} {r['reason']}" + (f": {r['hint']}" if r.get("hint") else "") + "\n")
        if e.get("preemption"):
            p = e["preemption"]
            out.write(f"  preemption: would evict {', '.join(p['victims'])} on {p['node']}\n")


# -- `shoal scheduler`: the in-cluster scheduler as its own process (sched/loop) -----------------

SCHEDULER_EXAMPLE = """\
example:
  shoal scheduler --server 127.0.0.1:7443
  shoal scheduler --server 127.0.0.1:7443 --profile scheduler-config.yaml

It places the pods whose spec.schedulerName is one of its profiles' names (default:
default-scheduler) and binds them through the API. `shoal server` runs one in-process unless
started with --no-scheduler; run this one against such a server (two schedulers of one name
would race each other's binds).
"""


def register_scheduler(sub: argparse._SubParsersAction) -> None:
    from shoal.proto.defaults import DEFAULT_LISTEN

    p = sub.add_parser(
        "scheduler",
        help="run the scheduler against a server",
        description=(
            "Run the scheduler as its own process: watch nodes and pods through the API, place "
            "pending pods with kube-scheduler's plugins and bind them."
        ),
        epilog=SCHEDULER_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--server", default=DEFAULT_LISTEN, metavar="HOST:PORT", help="the API (default: %(default)s)")
    p.add_argument("--name", default="default-scheduler",
                   help="the schedulerName of the pods to place, when no --profile is given (default: %(default)s)")
    p.add_argument("--profile", metavar="FILE", help="a KubeSchedulerConfiguration; its profiles' schedulerNames are served")
    p.add_argument("--seed", type=int, default=0, help="tie-break seed (default: 0)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run_scheduler_command)


def run_scheduler_command(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from .framework.config import ConfigError, load_config

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        profiles = load_config(args.profile) if args.profile else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    async def main() -> None:
        from .loop import run_scheduler

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        print(f"shoal scheduler: serving {args.server}", flush=True)
        await run_scheduler(args.server, stop, profiles=profiles, name=args.name, seed=args.seed)

    asyncio.run(main())
    print("shoal scheduler stopped", flush=True)
    return 0


EXPLAIN_EXAMPLE = """\
examples:
  shoal explain pod web
  shoal explain pod web -n prod -o json

Reads the pod, the nodes and the bound pods from the server and runs the scheduler's filters
against them: the kube-scheduler message, then per reason what would make the pod fit (the
largest request that fits somewhere, the toleration that would open nodes, the node selector
terms that match nothing, the pods preemption would evict).
"""


def register_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="say why a pod is not scheduled and what would make it fit",
        description="Explain a pod's placement: where it would go, or why it cannot go anywhere.",
        epilog=EXPLAIN_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=("pod", "pods", "po"), help="only pods are explained")
    p.add_argument("name")
    # Global flags (also accepted before the verb); SUPPRESS so a value given there is kept.
    p.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="the pod's namespace (default: default)")
    p.add_argument("-s", "--server", default=argparse.SUPPRESS, metavar="HOST:PORT",
                   help="the API (default: SHOAL_SERVER, else 127.0.0.1:7443)")
    p.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text")
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    import os

    from shoal.proto.client import APIStatusError, ClusterClient
    from shoal.proto.defaults import DEFAULT_LISTEN, SERVER_ENV

    from .api import explain

    server = getattr(args, "server", None) or os.environ.get(SERVER_ENV) or DEFAULT_LISTEN
    namespace = getattr(args, "namespace", None) or os.environ.get("SHOAL_NAMESPACE") or "default"
    try:
        with ClusterClient(server, timeout=30) as client:
            pod = client.get("Pod", args.name, namespace)
            nodes = client.list_items("Node")
            bound = [
                p for p in client.list_items("Pod")
                if p.spec.node_name and p.metadata.uid != pod.metadata.uid
                and p.status.phase not in ("Succeeded", "Failed")
            ]
            context = {kind: client.list_items(kind) for kind in CONTEXT_KINDS}
    except APIStatusError as exc:
        print(str(exc) if exc.reason != "ServiceUnavailable" else f"error: cannot reach the Shoal server at {server}",
              file=sys.stderr)
        return 1
    if pod.spec.node_name:
        print(f"pod {namespace}/{args.name} is bound to node {pod.spec.node_name}")
        return 0
    doc = explain(nodes, pod, bound, namespaces=context["Namespace"], services=context["Service"],
                  replica_sets=context["ReplicaSet"], priority_classes=context["PriorityClass"])
    if args.output == "json":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "yaml":
        import yaml

        yaml.safe_dump(doc, sys.stdout, sort_keys=False, width=1 << 16)
    else:
        _explain_text(doc)
    return 0


def _explain_text(doc: dict[str, Any]) -> None:
    if doc.get("node"):
        print(f"pod {doc['pod']} fits: it would go to node {doc['node']}")
        return
    print(f"pod {doc['pod']}: {doc['message']}")
    for entry in doc.get("reasons", []):
        print(f"- {entry['nodes']} {entry['reason']}")
        for key, value in entry.items():
            if key not in ("reason", "nodes"):
                print(f"    {key}: {json.dumps(value) if not isinstance(value, str) else value}")
    if doc.get("preemption"):
        pre = doc["preemption"]
        print(f"preemption would place it on {pre['node']}, evicting {', '.join(pre['victims']) or 'nothing'}")
