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
  shoal place --nodes nodes.yaml --pods pods.yaml --solver cpsat --objective nodes --time-limit 5
  shoal place --vbp class1_60_3_0.vbp --time-limit 10

Files hold Kubernetes manifests: several documents separated by '---', or a List (kind: List,
items: [...]). Namespaces, Services, ReplicaSets and PriorityClasses found in any of them are
used for namespaceSelector terms, default topology spreading and priorityClassName; PodGroups
give the gangs' minMember (pods join one with the label scheduling.x-k8s.io/pod-group).

--solver cpsat places the pods together with a constraint solver (CP-SAT), starting from the
greedy answer and never worse than it; stats then carry the objective's value, the solver's
bound and the optimality gap. --vbp solves a vector bin packing instance (VPSolver .vbp format)
and reports the bins used, the lower bound and the gap.
"""
PLACE_KINDS = CONTEXT_KINDS + ("PodGroup",)
OBJECTIVES = ("nodes", "priority", "balanced", "disruption")
PLACE_TIME_LIMIT = 5.0  # seconds, as the solver's default
VBP_TIME_LIMIT = 60.0  # seconds, as the benchmark gives each instance


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
    p.add_argument("--nodes", metavar="FILE", help="Node manifests (required unless --vbp)")
    p.add_argument("--pods", metavar="FILE", help="Pod manifests to place (required unless --vbp)")
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
    p.add_argument("--solver", choices=("greedy", "cpsat"),
                   help="greedy: kube-scheduler, one pod at a time (the default); cpsat: the batch together "
                        "by a constraint solver, with the gap in stats")
    p.add_argument("--objective", choices=OBJECTIVES, default="nodes",
                   help="what cpsat optimizes after placing the most (priority-weighted) pods: fewest nodes "
                        "in use, nothing more, lowest peak utilization, fewest moved pods (default: nodes)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="seconds the solver may take (default: 5; --vbp: 60)")
    p.add_argument("--vbp", metavar="FILE", help="solve a vector bin packing instance (VPSolver .vbp) instead")
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
        elif m.info.kind in context:
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

    if args.vbp:
        if args.nodes or args.pods:
            raise InputError("--vbp takes no --nodes / --pods: the instance holds the items and bins")
        return _run_vbp(args)
    missing = [flag for flag, value in (("--nodes", args.nodes), ("--pods", args.pods)) if not value]
    if missing:
        raise InputError(f"{' and '.join(missing)} required (or --vbp FILE)")
    time_limit = PLACE_TIME_LIMIT if args.time_limit is None else args.time_limit
    if time_limit <= 0:
        raise InputError(f"--time-limit: must be > 0, not {time_limit:g}")
    context: dict[str, list] = {k: [] for k in PLACE_KINDS}
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
            solver=args.solver,
            objective=args.objective,
            time_limit=time_limit,
            pod_groups=context["PodGroup"],
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


def _run_vbp(args: argparse.Namespace) -> int:
    """A .vbp instance through the staged bin packing solver: bins, lower bound, gap."""
    from .solver.vbp import read_vbp, solve_vbp

    time_limit = VBP_TIME_LIMIT if args.time_limit is None else args.time_limit
    if time_limit <= 0:
        raise InputError(f"--time-limit: must be > 0, not {time_limit:g}")
    try:
        instance = read_vbp(args.vbp)
    except OSError as exc:
        raise InputError(f"{args.vbp}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{args.vbp}: {exc}") from None
    solution = solve_vbp(instance, time_limit=time_limit)
    doc = {
        "instance": solution.instance,
        "items": instance.n_items,
        "dims": instance.dims,
        "bins": solution.bins,
        "lower_bound": solution.lower_bound,
        "gap": round(solution.gap, 6),
        "status": solution.status,
        "method": solution.method,
        "seconds": round(solution.seconds, 3),
        "bounds": dict(solution.bounds),
        "assignment": [int(b) for b in solution.assignment],
    }
    if args.output == "json":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output == "yaml":
        import yaml

        yaml.safe_dump(doc, sys.stdout, sort_keys=False, width=1 << 16)
    else:
        print(f"{doc['instance']}: {doc['items']} items in {doc['dims']} dimensions")
        print(f"bins {doc['bins']}, lower bound {doc['lower_bound']}, gap {doc['gap']:.1%} ({doc['status']}, "
              f"by {doc['method']}, {doc['seconds']:.2f}s)")
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
    if "nodes_in_use" in stats:
        line = f"solver {stats['solver']}: {stats['nodes_in_use']} nodes in use"
        if stats.get("status"):
            gap = "unknown" if stats.get("gap") is None else f"{stats['gap']:.1%}"
            line += (f"; objective {stats['objective']} = {stats['value']} (bound {stats['bound']}, gap {gap}, "
                     f"{stats['status']}); kube-scheduler's greedy: {stats.get('greedy_placed')} placed, "
                     f"{stats['objective']} = {stats.get('greedy_value')}")
        out.write(line + "\n")
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
    p.add_argument("--batch-window", type=int, default=0, metavar="MS",
                   help="batch mode: gather the pods arriving within MS milliseconds and place them together "
                        "with the solver when that packs better than one at a time (default: 0, off)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run_scheduler_command)


def run_scheduler_command(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from .framework.config import ConfigError, load_config

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.batch_window < 0:
        print(f"error: --batch-window: must be >= 0 milliseconds, not {args.batch_window}", file=sys.stderr)
        return 1
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
        await run_scheduler(args.server, stop, profiles=profiles, name=args.name, seed=args.seed,
                            batch_window=args.batch_window / 1000.0)

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
