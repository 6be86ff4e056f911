"""Choosing a runtime: what the flags ask for, or the best this machine can run.

auto: runc, then crun, then process (with its no-isolation warning); `shoal up` falls back to
sim when none works. crun on hybrid cgroups with controllers in v2 refuses to start containers:
asked for explicitly, the agent says how to fix it and uses runc if it can.
"""

from __future__ import annotations

import argparse
import logging
import os

from shoal.node.images.reference import Mirrors
from shoal.node.images.store import ImageStore
from shoal.node.machine import host_ip
from shoal.node.runtime.base import Runtime, RuntimeUnavailable
from shoal.node.runtime.oci import OCIRuntime
from shoal.node.runtime.process import ProcessRuntime

log = logging.getLogger("shoal.node")


def _oci(binary: str, args: argparse.Namespace, state_dir: str, images: ImageStore) -> OCIRuntime:
    return OCIRuntime(binary, state_dir=state_dir, node_name=args.name, images=images, host_ip=host_ip())


def make_runtime(kind: str, args: argparse.Namespace) -> Runtime:
    state_dir = os.path.abspath(args.state_dir)
    images = ImageStore(os.path.join(state_dir, "images"),
                        Mirrors.parse(args.registry_mirror, args.insecure_registry))
    if kind == "process":
        return ProcessRuntime(state_dir=state_dir, node_name=args.name, images=images, host_ip=host_ip())
    if kind in ("runc", "crun"):
        runtime = _oci(kind, args, state_dir, images)
        try:
            runtime.check()
            return runtime
        except RuntimeUnavailable as exc:
            if kind == "crun":
                fallback = _oci("runc", args, state_dir, images)
                try:
                    fallback.check()
                except RuntimeUnavailable:
                    raise exc from None
                log.warning("%s; using runc instead", exc)
                return fallback
            raise
    reasons = []
    for binary in ("runc", "crun"):
        runtime = _oci(binary, args, state_dir, images)
        try:
            runtime.check()
            return runtime
        except RuntimeUnavailable as exc:
            reasons.append(str(exc))
    log.warning("no OCI runtime works here (%s); using the process runtime", "; ".join(reasons))
    return ProcessRuntime(state_dir=state_dir, node_name=args.name, images=images, host_ip=host_ip())
