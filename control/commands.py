"""Subcommands the control plane offers: `shoal server`."""

from __future__ import annotations

import argparse

from shoal.proto.defaults import DEFAULT_LISTEN, default_data_dir


def register_server(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "server",
        help="run the control plane (API, store, controllers)",
        description="Run the Shoal control plane: the gRPC API over the embedded SQLite store.",
        epilog="example:\n  shoal server --data-dir /var/lib/shoal --listen 127.0.0.1:7443",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", default=default_data_dir(), help="where the store lives (default: %(default)s)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT for the gRPC API (default: %(default)s)")
    p.add_argument(
        "--history-revisions",
        type=int,
        default=100_000,
        help="revisions of history kept for watchers to resume from (default: %(default)s)",
    )
    p.add_argument("--compact-interval", type=float, default=60.0, help="seconds between compactions")
    p.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between watch BOOKMARKs")
    p.add_argument(
        "--watch-batch-window",
        type=float,
        default=0.05,
        help="a busy watch stream sends at most one response per this many seconds, gathering "
        "every event of the window into it; an idle one sends at once (default: %(default)s)",
    )
    p.add_argument(
        "--sync",
        choices=("FULL", "NORMAL"),
        default="NORMAL",
        type=str.upper,
        help="SQLite durability: NORMAL (default, as k3s) keeps every acknowledged write through a "
             "crash or kill -9 of the server; FULL also through power loss or an OS crash, at an fsync "
             "per group commit (slower creates: see benchmarks/RESULTS.md)",
    )
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--no-controllers", dest="controllers", action="store_false",
                   help="do not run the controllers (replicaset, deployment, gc, ...) in this process")
    p.add_argument("--no-scheduler", dest="scheduler", action="store_false",
                   help="do not run the scheduler in this process (run 'shoal scheduler' instead)")
    p.add_argument("--batch-window", type=int, default=0, metavar="MS",
                   help="scheduler batch mode: pods arriving within MS milliseconds are placed together by "
                        "the solver when that packs better than one at a time (default: 0, off)")
    p.add_argument("--controllers", dest="controller_names", default=None, metavar="LIST",
                   help='controllers to run, as kube-controller-manager: "*" every one, "-name" leaves one '
                        'out, e.g. "*,-nodelifecycle" (default: SHOAL_CONTROLLERS, else "*")')
    p.add_argument("--node-monitor-grace-period", type=float, default=None, metavar="SECONDS",
                   help="how long a node's Lease may go unrenewed before the node is Ready=Unknown and its "
                        "pods are evicted after their tolerationSeconds (default: 40)")
    p.set_defaults(func=_run_server)


def _run_server(args: argparse.Namespace) -> int:
    from shoal.control.server import ServerConfig, run

    return run(
        ServerConfig(
            data_dir=args.data_dir,
            listen=args.listen,
            history_revisions=args.history_revisions,
            compact_interval=args.compact_interval,
            bookmark_interval=args.bookmark_interval,
            watch_batch_window=args.watch_batch_window,
            synchronous=args.sync,
            log_level=args.log_level,
            controllers=args.controllers,
            scheduler=args.scheduler,
            batch_window_ms=args.batch_window,
            controller_names=args.controller_names,
            node_monitor_grace_period=args.node_monitor_grace_period,
        )
    )


def register_up(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up",
        help="start a local cluster in the background",
        description="Start a local Shoal cluster in the background and wait until it is ready.",
        epilog="examples:\n  shoal up\n  shoal up --agents 2 --sim-nodes 100\n  shoal down",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", default=default_data_dir(), help="(default: %(default)s)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="(default: %(default)s)")
    p.add_argument("--agents", type=int, default=None, help="node agents with a real runtime (default: 1)")
    p.add_argument("--sim-nodes", type=int, default=None, help="hollow (sim) nodes besides them (default: 0)")
    p.add_argument("--runtime", default=None, help="runtime of the agents: auto, runc, crun, process, sim")
    p.add_argument("--registry", default=None, help='HOST:PORT of the local registry, or "none"')
    p.set_defaults(func=_run_up)


def register_down(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "down",
        help="stop the local cluster started by 'shoal up'",
        description="Stop the local cluster started by 'shoal up' (its data stays).",
        epilog="example:\n  shoal down",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", default=default_data_dir(), help="(default: %(default)s)")
    p.set_defaults(func=lambda a: __import__("shoal.control.local_cluster", fromlist=["down"]).down(a.data_dir))


def _run_up(args: argparse.Namespace) -> int:
    from shoal.control.local_cluster import up

    return up(args.data_dir, args.listen, agents=args.agents, sim_nodes=args.sim_nodes,
              runtime=args.runtime, registry=args.registry)
