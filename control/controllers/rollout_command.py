"""`shoal rollout status|history|undo|restart|pause|resume`, for Deployments (kubectl's).

A thin client over the Deployment controller's bookkeeping: revisions are the ReplicaSets'
deployment.kubernetes.io/revision annotations, undo writes an older ReplicaSet's pod template
back into the Deployment (deployment.rollback_template), restart stamps the template with
kubectl.kubernetes.io/restartedAt, pause and resume set spec.paused; status reads the
Deployment's status and conditions as `kubectl rollout status` does.

Module imports stay light (every `shoal` run registers every verb).
"""

from __future__ import annotations

import argparse
import sys
import time

from shoal.control.cli_verbs.base import CLIError, add_verb, command, resource_targets

CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_CONFLICT_RETRIES = 5


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "rollout", help="manage the rollout of a Deployment",
        examples="""
            shoal rollout status deployment/web
            shoal rollout history deployment/web
            shoal rollout undo deployment/web --to-revision=2
            shoal rollout restart deployment/web
            shoal rollout pause deployment/web && shoal rollout resume deployment/web
        """,
    )
    actions = p.add_subparsers(dest="rollout_action", metavar="ACTION", required=True)
    for name, help_text, func in (
        ("status", "show the status of the rollout (waits for it to finish)", run_status),
        ("history", "list the rollout's revisions", run_history),
        ("undo", "roll back to a previous revision", run_undo),
        ("restart", "restart every pod of the Deployment, by a rollout", run_restart),
        ("pause", "stop rolling out changes of the template", run_pause),
        ("resume", "roll out changes of the template again", run_resume),
    ):
        a = add_verb(actions, name, help=help_text, examples=f"shoal rollout {name} deployment/web")
        a.add_argument("resources", nargs="+", metavar="deployment/NAME | deployment NAME")
        if name == "status":
            a.add_argument("-w", "--watch", default="true", choices=("true", "false"),
                           help="wait for the rollout to finish (default: true)")
            a.add_argument("--timeout", type=float, default=0.0, help="seconds to wait (0: forever)")
        if name == "undo":
            a.add_argument("--to-revision", type=int, default=0, help="the revision (default: the previous one)")
        if name == "history":
            a.add_argument("--revision", type=int, default=0, help="show the pod template of this revision")
        a.set_defaults(func=func)


def _deployments(args: argparse.Namespace) -> list[str]:
    names: list[str] = []
    for info, found in resource_targets(args.resources, allow_all=False):
        if info.kind != "Deployment":
            raise CLIError(f'{info.plural} are not supported by "rollout": only deployments')
        if not found:
            raise CLIError("give the deployment to act on by name")
        names.extend(found)
    return names


def _session(args: argparse.Namespace):
    from shoal.control.cli_verbs import connection

    conn = connection.resolve(args)
    return conn, conn.client()


def _update(client, namespace: str, name: str, change) -> object:
    """Re-reads and rewrites the Deployment until no other writer gets in between."""
    from shoal.proto.client import APIStatusError

    for attempt in range(_CONFLICT_RETRIES):
        d = client.get("Deployment", name, namespace)
        if change(d) is False:
            return None
        try:
            return client.update(d)
        except APIStatusError as exc:
            if exc.reason != "Conflict" or attempt == _CONFLICT_RETRIES - 1:
                raise
    return None


def status_line(d) -> tuple[str, bool]:
    """(kubectl's rollout status message, done)."""
    from shoal.control.controllers import deployment_util as du

    name, s = d.metadata.name, d.status
    if d.metadata.generation > s.observed_generation:
        return "Waiting for deployment spec update to be observed...", False
    cond = du.get_condition(s, du.PROGRESSING)
    if cond is not None and cond.reason == du.TIMED_OUT:
        raise CLIError(f'deployment "{name}" exceeded its progress deadline')
    want = du.replicas_of(d)
    if s.updated_replicas < want:
        return (f'Waiting for deployment "{name}" rollout to finish: {s.updated_replicas} out of {want} new '
                f"replicas have been updated..."), False
    if s.replicas > s.updated_replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {s.replicas - s.updated_replicas} old '
                f"replicas are pending termination..."), False
    if s.available_replicas < s.updated_replicas:
        return (f'Waiting for deployment "{name}" rollout to finish: {s.available_replicas} of '
                f"{s.updated_replicas} updated replicas are available..."), False
    return f'deployment "{name}" successfully rolled out', True


@command
def run_status(args: argparse.Namespace) -> int:
    conn, client = _session(args)
    with client:
        for name in _deployments(args):
            deadline = time.monotonic() + args.timeout if args.timeout else None
            last = ""
            while True:
                line, done = status_line(client.get("Deployment", name, conn.namespace))
                if line != last:
                    print(line, flush=True)
                    last = line
                if done:
                    break
                if args.watch == "false":
                    return 1
                if deadline is not None and time.monotonic() > deadline:
                    raise CLIError("timed out waiting for the condition")
                time.sleep(0.5)
    return 0


def _owned_replica_sets(client, d) -> list:
    from shoal.control.controllers.meta import controller_ref

    return [rs for rs in client.list_items("ReplicaSet", d.metadata.namespace)
            if (ref := controller_ref(rs)) is not None and ref.uid == d.metadata.uid]


@command
def run_history(args: argparse.Namespace) -> int:
    from shoal.control.controllers import deployment_util as du
    from shoal.proto import kinds

    conn, client = _session(args)
    with client:
        for name in _deployments(args):
            d = client.get("Deployment", name, conn.namespace)
            rses = sorted(_owned_replica_sets(client, d), key=du.revision)
            if args.revision:
                rs = next((r for r in rses if du.revision(r) == args.revision), None)
                if rs is None:
                    raise CLIError(f"unable to find the specified revision {args.revision}")
                import yaml

                print(f'deployment.apps/{name} with revision #{args.revision}')
                print(yaml.safe_dump({"Pod Template": kinds.to_manifest(rs)["spec"]["template"]}, sort_keys=False))
                continue
            print(f"deployment.apps/{name}")
            print(f"{'REVISION':<10}CHANGE-CAUSE")
            for rs in rses:
                if du.revision(rs):
                    print(f"{du.revision(rs):<10}{rs.metadata.annotations.get(CHANGE_CAUSE, '<none>')}")
            print()
    return 0


@command
def run_undo(args: argparse.Namespace) -> int:
    from shoal.control.controllers import deployment_util as du
    from shoal.control.controllers.deployment import rollback_template

    conn, client = _session(args)
    with client:
        for name in _deployments(args):
            outcome = {}

            def change(d):
                try:
                    target = rollback_template(d, _owned_replica_sets(client, d), args.to_revision)
                except LookupError as exc:
                    raise CLIError(str(exc)) from None
                if du.equal_ignore_hash(target, d.spec.template):
                    outcome["skipped"] = True
                    return False
                d.spec.template.CopyFrom(target)
                return True

            _update(client, conn.namespace, name, change)
            if outcome.get("skipped"):
                print(f"deployment.apps/{name} skipped rollback (current template already matches revision "
                      f"{args.to_revision or 'previous'})")
            else:
                print(f"deployment.apps/{name} rolled back")
    return 0


@command
def run_restart(args: argparse.Namespace) -> int:
    conn, client = _session(args)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with client:
        for name in _deployments(args):
            def change(d):
                if d.spec.paused:
                    raise CLIError("can't restart paused deployment (run rollout resume first)")
                d.spec.template.metadata.annotations[RESTARTED_AT] = stamp
            _update(client, conn.namespace, name, change)
            print(f"deployment.apps/{name} restarted")
    return 0


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    conn, client = _session(args)
    word = "paused" if paused else "resumed"
    failed = 0
    with client:
        for name in _deployments(args):
            def change(d):
                if d.spec.paused == paused:
                    return False
                d.spec.paused = paused
            if _update(client, conn.namespace, name, change) is None:
                print(f"error: deployments.apps \"{name}\" is {'already' if paused else 'not'} paused", file=sys.stderr)
                failed = 1
            else:
                print(f"deployment.apps/{name} {word}")
    return failed


@command
def run_pause(args: argparse.Namespace) -> int:
    return _set_paused(args, True)


@command
def run_resume(args: argparse.Namespace) -> int:
    return _set_paused(args, False)
