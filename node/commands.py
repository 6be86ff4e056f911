"""Subcommands the node part offers: `shoal agent` and `shoal image`."""

from __future__ import annotations

import argparse
import sys

from shoal.proto.defaults import DEFAULT_LISTEN

DEFAULT_STATE_DIR = "/var/lib/shoal/agent"
RUNTIMES = ("auto", "runc", "crun", "process", "sim")


def register_agent(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "agent",
        help="run a node agent (or many hollow ones)",
        description="Run a node agent: register the Node, renew its Lease, run the pods bound to it. "
        "With --runtime sim and --count N, run N hollow nodes in one process.",
        epilog="examples:\n"
        "  shoal agent --server 127.0.0.1:7443 --name node-1 --runtime runc\n"
        "  shoal agent --server 127.0.0.1:7443 --runtime sim --count 1000 --name-prefix hollow-",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--server", default=DEFAULT_LISTEN, help="HOST:PORT of the API (default: %(default)s)")
    p.add_argument("--token", default="", help="bearer token to join with")
    p.add_argument("--name", default="", help="node name (default: the host name)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="container runtime; auto picks runc, then crun, then process (default: %(default)s)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help="where bundles, images, logs and network state live (default: %(default)s)")
    p.add_argument("--count", type=int, default=1, help="hollow nodes to run (--runtime sim only)")
    p.add_argument("--name-prefix", default="hollow-", help="name prefix of hollow nodes (default: %(default)s)")
    p.add_argument("--lease-interval", type=float, default=10.0, help="seconds between Lease renewals")
    p.add_argument("--lease-duration", type=int, default=40, help="leaseDurationSeconds of the node's Lease")
    p.add_argument("--node-status-interval", type=float, default=60.0, help="seconds between node status heartbeats")
    p.add_argument("--stats-interval", type=float, default=10.0,
                   help="seconds between utilization reports to the control plane (`shoal top`); 0 turns "
                   "them off (default: %(default)s)")
    p.add_argument("--backoff-initial", type=float, default=10.0, help="first crash back-off in seconds")
    p.add_argument("--backoff-max", type=float, default=300.0, help="longest crash back-off in seconds")
    p.add_argument("--cpu", default="", help="cpu capacity to report (default: the machine's; hollow: 4)")
    p.add_argument("--memory", default="", help="memory capacity to report (default: the machine's; hollow: 16Gi)")
    p.add_argument("--pods", type=int, default=110, help="most pods the node takes")
    p.add_argument("--pod-cidr", default="", help="the node's pod CIDR (default: its Node's, or a free /24 of 10.244.0.0/16)")
    p.add_argument("--node-labels", default="", help="extra node labels, k=v,k2=v2")
    p.add_argument("--sim-start-delay", type=float, default=0.5, help="seconds a hollow container takes to start")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="REGISTRY=HOST:PORT",
                   help="pull REGISTRY's images (docker.io for unqualified names) from HOST:PORT (repeatable)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST:PORT",
                   help="a registry reached over plain HTTP (loopback registries always are)")
    p.add_argument("--http-port", type=int, default=-1,
                   help="port of the agent's HTTP endpoint (logs, exec, stats; published in the Node's "
                   "daemonEndpoints): -1 picks a free one, 0 turns it off (default: %(default)s)")
    p.add_argument("--http-address", default="127.0.0.1",
                   help="address the HTTP endpoint listens on; it has no authentication (default: %(default)s)")
    p.add_argument("--clean-up", action="store_true",
                   help="kill every container and remove every sandbox the state dir holds, then exit")
    p.add_argument("--proxy-mode", choices=("auto", "nft", "iptables", "userspace", "off"), default="auto",
                   help="how Services are forwarded on this node (default: nft if it works, else iptables, "
                        "else the userspace proxy)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_run_agent)


def _run_agent(args: argparse.Namespace) -> int:
    from shoal.node.main import run_agent

    return run_agent(args)


def register_image(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image",
        help="build images and push them to the cluster's registry",
        description="Work with images in the cluster's OCI registry.",
        epilog="examples:\n"
        "  shoal image import ./rootfs myapp:1.0 --cmd /bin/myapp\n"
        "  shoal image import ./rootfs.tar.gz 127.0.0.1:5000/tools:latest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="image_command", metavar="COMMAND")
    imp = verbs.add_parser(
        "import",
        help="turn a root filesystem (directory or tarball) into an image and push it",
        description="Build a one-layer OCI image from a directory or a (gzipped) tarball and push it. "
        "A name without a registry goes to --registry under library/ (as docker.io names do).",
        epilog="example:\n  shoal image import /srv/rootfs busybox:1.35 --cmd sh",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("source", help="ROOTFS directory or TARBALL (.tar, .tar.gz)")
    imp.add_argument("name", help="NAME:TAG, or HOST:PORT/NAME:TAG")
    imp.add_argument("--registry", default="127.0.0.1:5000", help="registry for names without one (default: %(default)s)")
    imp.add_argument("--cmd", nargs="+", default=None, help="the image's default command (CMD)")
    imp.add_argument("--entrypoint", nargs="+", default=None, help="the image's ENTRYPOINT")
    imp.add_argument("--env", action="append", default=[], help="KEY=VALUE (repeatable)")
    imp.add_argument("--workdir", default="", help="the image's working directory")
    imp.add_argument("--tag", action="append", default=[], help="extra tags to push the same image under")
    imp.set_defaults(func=_run_image_import)
    seed = verbs.add_parser(
        "seed",
        help="push a busybox image built from busybox-static (what `shoal up` seeds its registry with)",
        description="Build busybox from the machine's busybox-static and push it as library/busybox with the "
        "tags latest, VERSION and MAJOR.MINOR.",
        epilog="example:\n  shoal image seed --registry 127.0.0.1:5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seed.add_argument("--registry", default="127.0.0.1:5000", help="(default: %(default)s)")
    seed.set_defaults(func=_run_image_seed)
    p.set_defaults(func=lambda a: p.print_help() or 1)


def _run_image_import(args: argparse.Namespace) -> int:
    from shoal.node.images.build import import_command

    return import_command(args)


def _run_image_seed(args: argparse.Namespace) -> int:
    import subprocess
    import tempfile

    from shoal.node.images.build import seed_busybox

    try:
        with tempfile.TemporaryDirectory(prefix="shoal-seed-") as work:
            for dest in seed_busybox(args.registry, work):
                print(f"pushed {dest}")
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"error: seeding busybox: {detail.strip()}", file=sys.stderr)
        return 1
    return 0
