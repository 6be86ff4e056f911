"""`shoal drain`: cordon a node, then evict its pods and wait until they are gone, as kubectl does.

    cordon (spec.unschedulable) -> list the node's pods -> drain_verdicts (pure: kubectl's filters)
      any refusal  -> "error: unable to drain node ..." and nothing is evicted (the node stays cordoned)
      else         -> delete each pod with its grace period (or --grace-period) -> wait until gone

kubectl's filters, in its order: pods already being deleted are only waited for; DaemonSet pods
are refused (--ignore-daemonsets skips them); mirror pods are skipped; pods with emptyDir volumes
are refused (--delete-emptydir-data); pods no controller manages are refused (--force). Finished
pods go without question. Shoal has no Eviction subresource and no PodDisruptionBudgets, so an
eviction is a delete: the agent stops the pod within its grace period, its controller replaces it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from shoal.control.cli_verbs.base import CLIError, add_verb, command, duration_flag

_POLL_SECONDS = 0.2
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

# kubectl's messages for each kind of pod it will not evict without a flag, and its warnings.
DAEMONSET_ERROR = "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)"
DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods"
LOCAL_STORAGE_ERROR = "cannot delete Pods with local storage (use --delete-emptydir-data to override)"
LOCAL_STORAGE_WARNING = "deleting Pods with local storage"
UNMANAGED_ERROR = "cannot delete Pods that declare no controller (use --force to override)"
UNMANAGED_WARNING = "deleting Pods that declare no controller"


@dataclass(frozen=True)
class DrainOptions:
    ignore_daemonsets: bool = False
    delete_emptydir_data: bool = False
    force: bool = False


@dataclass
class DrainVerdicts:
    """The node's pods sorted by kubectl's filters: to evict, to wait for (already terminating),
    and the refusals and warnings, message -> ["namespace/name", ...]."""

    evict: list = field(default_factory=list)
    wait_only: list = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def error_text(self) -> str:
        return ", ".join(f"{message}: {', '.join(pods)}" for message, pods in self.errors.items())


def _controller_kind(pod) -> str | None:
    for ref in pod.metadata.owner_references:
        if ref.HasField("controller") and ref.controller:
            return ref.kind
    return None


def _flag_checks(pod, options: DrainOptions) -> list[tuple[bool, str, str]]:
    """The filters a flag can override that apply to ``pod``: (allowed, error, warning)."""
    checks = []
    if any(v.HasField("empty_dir") for v in pod.spec.volumes):
        checks.append((options.delete_emptydir_data, LOCAL_STORAGE_ERROR, LOCAL_STORAGE_WARNING))
    if _controller_kind(pod) is None:
        checks.append((options.force, UNMANAGED_ERROR, UNMANAGED_WARNING))
    return checks


def drain_verdicts(pods: list, options: DrainOptions) -> DrainVerdicts:
    """What drain does with each of a node's pods (kubectl's filter chain, no I/O)."""
    verdicts = DrainVerdicts()
    for pod in pods:
        name = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if pod.metadata.HasField("deletion_timestamp"):
            verdicts.wait_only.append(pod)
            continue
        if _controller_kind(pod) == "DaemonSet":
            # Ignored or refused, never evicted: its DaemonSet would put it straight back.
            checks = [(options.ignore_daemonsets, DAEMONSET_ERROR, DAEMONSET_WARNING)]
        elif MIRROR_ANNOTATION in pod.metadata.annotations:
            continue
        elif pod.status.phase in ("Succeeded", "Failed"):
            checks = []
        else:
            checks = _flag_checks(pod, options)
        refusal = next((error for allowed, error, _ in checks if not allowed), None)
        if refusal is not None:  # as kubectl, a pod is refused for the first reason found
            verdicts.errors.setdefault(refusal, []).append(name)
            continue
        for _, _, warning in checks:
            verdicts.warnings.setdefault(warning, []).append(name)
        if _controller_kind(pod) != "DaemonSet":
            verdicts.evict.append(pod)
    return verdicts


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "drain", help="cordon a node and evict its pods", examples="""
        shoal drain node-1
        shoal drain node-1 --ignore-daemonsets --delete-emptydir-data
        shoal drain node-1 --force --grace-period 5 --timeout 2m
    """)
    p.add_argument("nodes", nargs="*", metavar="NODE", help="node names (or node/NAME)")
    p.add_argument("-l", "--selector", default="", help="drain the nodes matching this label selector")
    p.add_argument("--ignore-daemonsets", action="store_true", help="leave DaemonSet-managed pods where they are")
    p.add_argument("--delete-emptydir-data", action="store_true",
                   help="evict pods with emptyDir volumes too (their data is lost)")
    p.add_argument("--force", action="store_true", help="evict pods that no controller manages too (they are gone)")
    p.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                   help="seconds each pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
    p.add_argument("--timeout", type=duration_flag, default=0.0, metavar="DURATION",
                   help="give up after this long, e.g. 30s, 2m (default: 0, wait forever)")
    p.set_defaults(func=run_drain)


@command
def run_drain(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection
    from shoal.control.cli_verbs.cordon import node_names

    if args.grace_period < -1:
        raise CLIError("--grace-period must be -1 (the pod's own) or 0 and more")
    options = DrainOptions(args.ignore_daemonsets, args.delete_emptydir_data, args.force)
    conn = connection.resolve(args)
    with conn.client() as client:
        names = node_names(client, args.nodes, args.selector)
        pending = [name for name in names if not drain_node(client, name, options, args)]
    if pending:
        print("There are pending nodes to be drained:", file=sys.stderr)
        for name in pending:
            print(f" {name}", file=sys.stderr)
        return 1
    return 0


def drain_node(client, name: str, options: DrainOptions, args: argparse.Namespace) -> bool:
    """Cordons and drains one node; prints kubectl's lines; False if it could not finish."""
    from shoal.control.cli_verbs.cordon import set_unschedulable

    started = time.monotonic()
    print(set_unschedulable(client, name, True), flush=True)
    pods, _ = client.list_all("Pod", "", field_selector=f"spec.nodeName={name}")
    verdicts = drain_verdicts(pods, options)
    if verdicts.errors:
        print(f'error: unable to drain node "{name}" due to error: {verdicts.error_text()}, continuing command...',
              file=sys.stderr)
        return False
    for message, pod_names in verdicts.warnings.items():
        print(f"Warning: {message}: {', '.join(pod_names)}", file=sys.stderr)
    for pod in verdicts.evict:
        _evict(client, pod, args.grace_period)
    leftover = _wait_gone(client, verdicts.evict + verdicts.wait_only, started, args.timeout)
    if leftover:
        listed = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in leftover)
        print(f'error: unable to drain node "{name}" due to error: global timeout reached: '
              f"{_seconds_text(args.timeout)}, pods still terminating: {listed}, continuing command...",
              file=sys.stderr)
        return False
    print(f"node/{name} drained", flush=True)
    return True


def _evict(client, pod, grace_period: int) -> None:
    import grpc
    from shoal.proto.client import APIStatusError

    meta = pod.metadata
    print(f"evicting pod {meta.namespace}/{meta.name}", flush=True)
    try:
        client.delete("Pod", meta.name, meta.namespace,
                      grace_period_seconds=grace_period if grace_period >= 0 else None)
    except APIStatusError as exc:
        if exc.code != grpc.StatusCode.NOT_FOUND:
            raise


def _gone(client, pod) -> bool:
    import grpc
    from shoal.proto.client import APIStatusError

    try:
        current = client.get("Pod", pod.metadata.name, pod.metadata.namespace)
    except APIStatusError as exc:
        if exc.code == grpc.StatusCode.NOT_FOUND:
            return True
        raise
    return current.metadata.uid != pod.metadata.uid


def _wait_gone(client, pods: list, started: float, timeout: float) -> list:
    """Waits until every pod is gone (a new pod of the same name counts as gone), printing
    each as it goes; returns the ones left when the timeout (0: none) ran out."""
    left = list(pods)
    while left:
        still = []
        for pod in left:
            if _gone(client, pod):
                print(f"pod/{pod.metadata.name} evicted", flush=True)
            else:
                still.append(pod)
        left = still
        if not left or (timeout > 0 and time.monotonic() - started >= timeout):
            break
        time.sleep(_POLL_SECONDS)
    return left


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s"
