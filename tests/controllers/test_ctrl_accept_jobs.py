"""Acceptance: Jobs on a real runc agent, scheduled by the server's own scheduler. A Job of 5
completions, 2 at a time, completes; a Job whose pods fail stops at its backoffLimit."""

from __future__ import annotations

from accept_helpers import (
    apply_yaml,
    needs_containers,
    pods,
    wait_for,
)

pytestmark = needs_containers


def _job(name: str, command: str, *, completions: int, parallelism: int, backoff_limit: int = 6) -> str:
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  backoffLimit: {backoff_limit}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: [sh, -c, {command!r}]
"""


def _condition(job, kind: str):
    return next((c for c in job.status.conditions if c.type == kind and c.status == "True"), None)


def test_jobs_complete_and_fail_at_their_backoff_limit(cluster_factory, busybox_registry, monkeypatch):
    monkeypatch.setenv("SHOAL_JOB_BACKOFF_SECONDS", "0.2")
    cluster = cluster_factory()
    cluster.runc_agent(busybox_registry)
    client = cluster.client()
    apply_yaml(client, _job("five", "sleep 1; exit 0", completions=5, parallelism=2))
    apply_yaml(client, _job("doomed", "exit 3", completions=1, parallelism=1, backoff_limit=2))
    most_running = 0

    def finished(name: str, kind: str):
        nonlocal most_running
        running = [p for p in pods(client, selector="job-name=five") if p.status.phase == "Running"]
        most_running = max(most_running, len(running))
        job = client.get("Job", name, "default")
        return job if _condition(job, kind) else None

    five = wait_for(lambda: finished("five", "Complete"), 90, interval=0.2, what="Job five to complete")
    assert (five.status.succeeded, five.status.failed) == (5, 0)
    assert most_running <= 2, f"parallelism 2, yet {most_running} pods ran at once"
    done = pods(client, selector="job-name=five")
    assert len(done) == 5 and all(p.status.phase == "Succeeded" for p in done)
    assert all(p.status.container_statuses[0].state.terminated.exit_code == 0 for p in done)

    doomed = wait_for(lambda: finished("doomed", "Failed"), 60, interval=0.2, what="Job doomed to fail")
    assert _condition(doomed, "Failed").reason == "BackoffLimitExceeded"
    assert doomed.status.failed == 3 and not doomed.status.succeeded  # backoffLimit 2: the third failure ends it
    failed_pods = pods(client, selector="job-name=doomed")
    assert len(failed_pods) == 3
    assert all(p.status.container_statuses[0].state.terminated.exit_code == 3 for p in failed_pods)
