"""Job controller: runs pods until enough of them succeed, or the job fails.

plan_job(job, candidates, now, ...) -> JobPlan
    counts      succeeded / failed from the job's pods, never below what status already says
                (pods are kept after they finish; a pod removed by someone else does not take
                its completion with it); Indexed jobs track completedIndexes ("0-2,4")
    fails       failed > backoffLimit (restartPolicy Never), or container restarts reach
                backoffLimit (OnFailure): Failed, BackoffLimitExceeded; active longer than
                activeDeadlineSeconds: Failed, DeadlineExceeded. Active pods are deleted.
    completes   NonIndexed: succeeded >= completions (no completions: one success and no pod
                left active); Indexed: every index 0..completions-1 succeeded. Complete.
    manages     active = min(parallelism, completions - succeeded): creates or deletes pods,
                new pods after failures only after back-off (10 s doubling to 6 min, settable)
    suspends    spec.suspend: active pods deleted, Suspended condition

Pods get Kubernetes' job labels (batch.kubernetes.io/job-name, .../controller-uid and the legacy
job-name / controller-uid); Indexed pods also the completion index as annotation, label,
hostname "<job>-<index>" and the JOB_COMPLETION_INDEX environment variable (a literal value
where Kubernetes uses a downward-API reference to the annotation).

A job without spec.selector is selected by its uid (batch.kubernetes.io/controller-uid): in
Kubernetes the API server writes that selector into the job at create; Shoal's API leaves
spec.selector empty and refuses it on update (immutable), so the controller applies it itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import grpc

from shoal.control.controllers.actions import FOREGROUND, Action, Create, Delete, Emit, UpdateStatus, first_error
from shoal.control.controllers.controller import Controller
from shoal.control.controllers.informer import Change
from shoal.control.controllers.meta import (
    clone,
    controller_ref,
    is_terminating,
    object_key,
    seconds,
    selector_is_empty,
    selector_matches,
    timestamp,
)
from shoal.control.controllers.ownership import Expectations, claim
from shoal.control.controllers.pods import deletion_order, is_active, is_ready, pod_from_template
from shoal.control.controllers.replicaset import slow_start_batches
from shoal.v1 import batch_pb2, meta_pb2

log = logging.getLogger("shoal.controllers.job")

NAME = "job"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_CREATE_DELETE_PER_SYNC = 500
DEFAULT_BACKOFF_LIMIT = 6


@dataclass
class JobPlan:
    claims: list[Action] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    status: batch_pb2.JobStatus | None = None
    events: list[Emit] = field(default_factory=list)
    delete_job: Delete | None = None
    requeue_after: float | None = None


# -- small facts ---------------------------------------------------------------------------------


def job_selector(job) -> meta_pb2.LabelSelector:
    if not selector_is_empty(job.spec.selector):
        return job.spec.selector
    return meta_pb2.LabelSelector(match_labels={CONTROLLER_UID_LABEL: job.metadata.uid})


def pod_matches(job, pod) -> bool:
    return selector_matches(job_selector(job), pod.metadata.labels)


def is_indexed(job) -> bool:
    return job.spec.HasField("completion_mode") and job.spec.completion_mode == "Indexed"


def condition(status, ctype: str):
    return next((c for c in status.conditions if c.type == ctype), None)


def finished(job) -> str | None:
    """"Complete" or "Failed" when the job has finished."""
    for ctype in ("Complete", "Failed"):
        c = condition(job.status, ctype)
        if c is not None and c.status == "True":
            return ctype
    return None


def pod_index(pod) -> int | None:
    raw = pod.metadata.annotations.get(COMPLETION_INDEX, pod.metadata.labels.get(COMPLETION_INDEX, ""))
    return int(raw) if raw.isdigit() else None


def parse_indexes(text: str) -> set[int]:
    """"0-2,5" -> {0, 1, 2, 5}."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5"."""
    parts, run = [], []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def finished_at(pod) -> float:
    """When a finished pod finished (its containers' last termination), else when it was made."""
    times = [seconds(cs.state.terminated.finished_at) for cs in pod.status.container_statuses
             if cs.state.HasField("terminated")]
    times = [t for t in times if t > 0]
    return max(times) if times else seconds(pod.metadata.creation_timestamp)


def backoff_remaining(pods: list, base: float, cap: float, now: float) -> float:
    """Seconds before a new pod may start after failures (the job's pod failure back-off):
    base * 2**(failures since the last success - 1), counted from the last failure."""
    last_success = max((finished_at(p) for p in pods if p.status.phase == "Succeeded"), default=0.0)
    failures = [finished_at(p) for p in pods if p.status.phase == "Failed" and finished_at(p) >= last_success]
    if not failures:
        return 0.0
    delay = min(cap, base * 2 ** (len(failures) - 1))
    return max(0.0, max(failures) + delay - now)


def pod_for_job(job, index: int | None = None):
    name = job.metadata.name
    pod = pod_from_template(job.spec.template, job, generate_name=f"{name}-" if index is None else f"{name}-{index}-")
    labels = pod.metadata.labels
    labels[JOB_NAME_LABEL] = name
    labels[LEGACY_JOB_NAME_LABEL] = name
    labels[CONTROLLER_UID_LABEL] = job.metadata.uid
    labels[LEGACY_CONTROLLER_UID_LABEL] = job.metadata.uid
    if index is not None:
        pod.metadata.annotations[COMPLETION_INDEX] = str(index)
        labels[COMPLETION_INDEX] = str(index)
        if not pod.spec.hostname:
            pod.spec.hostname = f"{name}-{index}"
        for container in [*pod.spec.init_containers, *pod.spec.containers]:
            if not any(e.name == COMPLETION_INDEX_ENV for e in container.env):
                container.env.add(name=COMPLETION_INDEX_ENV, value=str(index))
    return pod


def _set_condition(status, ctype: str, reason: str, message: str, now: float) -> None:
    current = condition(status, ctype)
    if current is not None and current.status == "True" and current.reason == reason:
        return
    keep = [c for c in status.conditions if c.type != ctype]
    del status.conditions[:]
    status.conditions.extend(keep)
    ts = timestamp(now)
    status.conditions.add(type=ctype, status="True", reason=reason, message=message,
                          last_probe_time=ts, last_transition_time=ts)


def _clear_condition(status, ctype: str, reason: str, message: str, now: float) -> None:
    current = condition(status, ctype)
    if current is None or current.status != "True":
        return
    current.status = "False"
    current.reason = reason
    current.message = message
    current.last_transition_time.CopyFrom(timestamp(now))
    current.last_probe_time.CopyFrom(timestamp(now))


# -- the plan ------------------------------------------------------------------------------------


def plan_job(job, candidates: list, *, now: float, expectations_satisfied: bool = True,
             backoff_base: float = 10.0, backoff_cap: float = 360.0) -> JobPlan:
    plan = JobPlan()
    spec = job.spec
    claimed = claim(job, candidates, lambda p: pod_matches(job, p))
    plan.claims = claimed.actions
    pods = claimed.owned
    active = [p for p in pods if is_active(p)]
    status = clone(job.status)
    parallelism = spec.parallelism if spec.HasField("parallelism") else 1
    backoff_limit = spec.backoff_limit if spec.HasField("backoff_limit") else DEFAULT_BACKOFF_LIMIT
    indexed = is_indexed(job)
    completions = spec.completions if spec.HasField("completions") else None

    failed = max(job.status.failed, sum(1 for p in pods if p.status.phase == "Failed"))
    if indexed:
        done = parse_indexes(job.status.completed_indexes)
        done |= {i for p in pods if p.status.phase == "Succeeded"
                 for i in [pod_index(p)] if i is not None and i < (completions or 0)}
        succeeded = len(done)
        status.completed_indexes = format_indexes(done)
    else:
        done = set()
        succeeded = max(job.status.succeeded, sum(1 for p in pods if p.status.phase == "Succeeded"))

    outcome = finished(job)
    suspended = spec.HasField("suspend") and spec.suspend
    if outcome is None and not suspended and not status.HasField("start_time"):
        status.start_time.CopyFrom(timestamp(now))

    if outcome is None:
        restarts = sum(cs.restart_count for p in active
                       for cs in [*p.status.init_container_statuses, *p.status.container_statuses])
        on_failure = spec.template.spec.restart_policy == "OnFailure"
        over_backoff = failed > backoff_limit or (
            on_failure and (restarts > 0 if backoff_limit == 0 else restarts >= backoff_limit))
        deadline = spec.active_deadline_seconds if spec.HasField("active_deadline_seconds") else None
        started = seconds(status.start_time)
        if over_backoff:
            outcome = "Failed"
            _set_condition(status, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now)
            plan.events.append(Emit(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
        elif deadline is not None and started and not suspended and started + deadline <= now:
            outcome = "Failed"
            _set_condition(status, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline", now)
            plan.events.append(Emit(job, "Warning", "DeadlineExceeded", "Job was active longer than specified deadline"))
        elif deadline is not None and started and not suspended:
            plan.requeue_after = started + deadline - now + 0.05

    if outcome == "Failed" or suspended:
        # Nothing of a failed or suspended job keeps running.
        for pod in active:
            plan.deletes.append(Delete.of(pod, event=Emit(job, "Normal", "SuccessfulDelete",
                                                          f"Deleted pod: {pod.metadata.name}")))
        if suspended and outcome is None:
            _set_condition(status, "Suspended", "JobSuspended", "Job suspended", now)
        active_after = []
    elif outcome is None:
        _clear_condition(status, "Suspended", "JobResumed", "Job resumed", now)
        active_after = _manage(job, plan, active, pods, done, succeeded, parallelism, completions, indexed,
                               expectations_satisfied, backoff_base, backoff_cap, now)
        complete = (succeeded >= completions if completions is not None
                    else succeeded > 0 and not active_after)
        if indexed:
            complete = completions is not None and len(done) >= completions
        if complete:
            outcome = "Complete"
            plan.creates.clear()
            _set_condition(status, "Complete", "", "", now)
            status.completion_time.CopyFrom(timestamp(now))
            plan.events.append(Emit(job, "Normal", "Completed", "Job completed"))
    else:
        active_after = active

    # As Kubernetes: active counts the pods that stay plus the ones being created.
    status.active = 0 if outcome == "Failed" or suspended else len(active_after) + len(plan.creates)
    status.ready = sum(1 for p in active if is_ready(p))
    status.succeeded = succeeded
    status.failed = failed
    if status != job.status:
        plan.status = status
    _plan_ttl(job, status, plan, now)
    return plan


def _manage(job, plan: JobPlan, active: list, pods: list, done: set[int], succeeded: int, parallelism: int,
            completions: int | None, indexed: bool, expectations_satisfied: bool, backoff_base: float,
            backoff_cap: float, now: float) -> list:
    """manageJob: the creates and deletes toward the wanted number of active pods; returns the
    pods that stay active."""
    if not expectations_satisfied:
        return active
    if indexed:
        return _manage_indexed(job, plan, active, pods, done, parallelism, completions or 0, backoff_base,
                               backoff_cap, now)
    if completions is None:
        want = len(active) if succeeded > 0 else parallelism
    else:
        want = max(0, min(parallelism, completions - succeeded))
    extra = len(active) - want
    if extra > 0:
        doomed = deletion_order(active)[: min(extra, MAX_CREATE_DELETE_PER_SYNC)]
        for pod in doomed:
            plan.deletes.append(Delete.of(pod, event=Emit(job, "Normal", "SuccessfulDelete",
                                                          f"Deleted pod: {pod.metadata.name}")))
        gone = {p.metadata.uid for p in doomed}
        return [p for p in active if p.metadata.uid not in gone]
    if len(active) < want:
        wait = backoff_remaining(pods, backoff_base, backoff_cap, now)
        if wait > 0:
            plan.requeue_after = wait if plan.requeue_after is None else min(plan.requeue_after, wait)
            return active
        for _ in range(min(want - len(active), MAX_CREATE_DELETE_PER_SYNC)):
            plan.creates.append(Create(pod_for_job(job), event=Emit(job, "Normal", "SuccessfulCreate",
                                                                    "Created pod: {name}")))
    return active


def _manage_indexed(job, plan: JobPlan, active: list, pods: list, done: set[int], parallelism: int,
                    completions: int, backoff_base: float, backoff_cap: float, now: float) -> list:
    keep: dict[int, object] = {}
    for pod in sorted(active, key=lambda p: (seconds(p.metadata.creation_timestamp), p.metadata.name)):
        index = pod_index(pod)
        if index is None or index >= completions or index in done or index in keep:
            # Out of range, already completed, or a second pod for one index.
            plan.deletes.append(Delete.of(pod, event=Emit(job, "Normal", "SuccessfulDelete",
                                                          f"Deleted pod: {pod.metadata.name}")))
            continue
        keep[index] = pod
    if len(keep) > parallelism:
        for index in sorted(keep)[parallelism:]:
            pod = keep.pop(index)
            plan.deletes.append(Delete.of(pod, event=Emit(job, "Normal", "SuccessfulDelete",
                                                          f"Deleted pod: {pod.metadata.name}")))
    missing = [i for i in range(completions) if i not in done and i not in keep]
    room = parallelism - len(keep)
    if missing and room > 0:
        wait = backoff_remaining(pods, backoff_base, backoff_cap, now)
        if wait > 0:
            plan.requeue_after = wait if plan.requeue_after is None else min(plan.requeue_after, wait)
        else:
            for index in missing[: min(room, MAX_CREATE_DELETE_PER_SYNC)]:
                plan.creates.append(Create(pod_for_job(job, index), event=Emit(
                    job, "Normal", "SuccessfulCreate", "Created pod: {name}")))
    return list(keep.values())


def _plan_ttl(job, status, plan: JobPlan, now: float) -> None:
    """ttlSecondsAfterFinished: the job (and, in foreground, its pods) goes that long after it
    finished."""
    if not job.spec.HasField("ttl_seconds_after_finished") or is_terminating(job):
        return
    ended = [seconds(c.last_transition_time) for c in status.conditions
             if c.type in ("Complete", "Failed") and c.status == "True"]
    if not ended:
        return
    due = max(ended) + job.spec.ttl_seconds_after_finished
    if due <= now:
        plan.delete_job = Delete.of(job, propagation=FOREGROUND)
    else:
        wait = due - now + 0.05
        plan.requeue_after = wait if plan.requeue_after is None else min(plan.requeue_after, wait)


# -- the runner ----------------------------------------------------------------------------------


class JobController(Controller):
    name = NAME
    watches = ("Job", "Pod")
    workers = 2

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()

    def _owner_key(self, pod) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.kind != "Job":
            return None
        key = f"{pod.metadata.namespace}/{ref.name}"
        job = self.cache("Job").get(key)
        return key if job is not None and job.metadata.uid == ref.uid else None

    def on_change(self, kind: str, change: Change) -> None:
        if kind == "Job":
            key = object_key(change.new)
            if change.type == "delete":
                self.expectations.forget(key)
            self.queue.add(key)
            return
        pod, old = change.new, change.old
        key = self._owner_key(pod)
        if key is not None:
            if change.type == "add" and not is_terminating(pod):
                self.expectations.creation_observed(key)
            elif change.type == "delete" or (is_terminating(pod) and (old is None or not is_terminating(old))):
                self.expectations.deletion_observed(key, pod.metadata.uid)
            self.queue.add(key)
        elif controller_ref(pod) is None and change.type != "delete":
            for job in self.cache("Job").list(pod.metadata.namespace):
                if pod_matches(job, pod):
                    self.queue.add(object_key(job))

    def candidates(self, job) -> list:
        """Pods the job controls (owner index) and orphans its selector matches (label index)."""
        pods = self.cache("Pod")
        uid = job.metadata.uid
        owned = [p for p in pods.by_owner(uid) if (ref := controller_ref(p)) is not None and ref.uid == uid]
        orphans = [p for p in pods.select(job.metadata.namespace, job_selector(job)) if controller_ref(p) is None]
        return owned + orphans

    async def sync(self, key: str) -> float | None:
        job = self.cache("Job").get(key)
        if job is None:
            self.expectations.forget(key)
            return None
        settings = self.ctx.settings
        plan = plan_job(job, self.candidates(job), now=self.now,
                        expectations_satisfied=self.expectations.satisfied(key),
                        backoff_base=settings.job_backoff_seconds, backoff_cap=settings.job_backoff_max_seconds)
        error = first_error(await self.run_actions(plan.claims, key))
        if error is not None:
            raise error
        if plan.deletes:
            self.expectations.expect(key, deletes=[d.uid for d in plan.deletes])
            outcomes = await asyncio.gather(*(self.ctx.executor.run(d, controller=self.name, key=key)
                                              for d in plan.deletes))
            for delete, outcome in zip(plan.deletes, outcomes):
                if not outcome.ok:
                    self.expectations.deletion_observed(key, delete.uid)
            error = first_error(outcomes)
        if plan.creates:
            self.expectations.expect(key, adds=len(plan.creates))
            done = 0
            for size in slow_start_batches(len(plan.creates)):
                outcomes = await asyncio.gather(*(self.ctx.executor.run(c, controller=self.name, key=key)
                                                  for c in plan.creates[done: done + size]))
                done += size
                failed = [o for o in outcomes if not o.ok]
                if failed:
                    for _ in range(len(failed) + len(plan.creates) - done):
                        self.expectations.creation_observed(key)
                    error = error or failed[0].error
                    break
        if plan.status is not None:
            updated = clone(job)
            updated.status.CopyFrom(plan.status)
            updated.metadata.resource_version = ""
            await self.run_actions([UpdateStatus(updated)], key)
        await self.run_actions(plan.events, key)
        if plan.delete_job is not None:
            await self.run_actions([plan.delete_job], key)
            return None
        if error is not None and error.code != grpc.StatusCode.NOT_FOUND:
            raise error
        return plan.requeue_after
