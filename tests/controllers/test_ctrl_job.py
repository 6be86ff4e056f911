"""The Job controller's decisions, with no server."""

from __future__ import annotations

import pytest

from ctrl_helpers import NOW, job, pod
from shoal.control.controllers.job import (
    COMPLETION_INDEX,
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    backoff_remaining,
    format_indexes,
    parse_indexes,
    plan_job,
)
from shoal.control.controllers.meta import timestamp


def _pods(j, phases, finished: float = NOW - 1000, **kw):
    out = []
    for i, phase in enumerate(phases):
        p = pod(f"{j.metadata.name}-{i}", owner=j, node="n1", phase=phase,
                labels={CONTROLLER_UID_LABEL: j.metadata.uid}, **kw)
        if phase in ("Succeeded", "Failed"):
            cs = p.status.container_statuses.add(name="work")
            cs.state.terminated.exit_code = 0 if phase == "Succeeded" else 1
            cs.state.terminated.finished_at.CopyFrom(timestamp(finished))
        out.append(p)
    return out


def _conditions(plan):
    return {c.type: (c.status, c.reason) for c in plan.status.conditions} if plan.status else {}


@pytest.mark.parametrize(
    "completions,parallelism,phases,creates,deletes",
    [
        pytest.param(5, 2, [], 2, 0, id="starts-parallelism"),
        pytest.param(5, 2, ["Succeeded"] * 4, 1, 0, id="never-more-than-remaining"),
        pytest.param(5, 2, ["Succeeded", "Running"], 1, 0, id="tops-up"),
        pytest.param(2, 3, ["Running"] * 3, 0, 1, id="too-many-active"),
        pytest.param(None, 2, [], 2, 0, id="work-queue-starts-parallelism"),
        pytest.param(None, 2, ["Succeeded", "Running"], 0, 0, id="work-queue-no-new-after-a-success"),
    ],
)
def test_manage_active_pods(completions, parallelism, phases, creates, deletes):
    j = job(completions=completions, parallelism=parallelism)
    plan = plan_job(j, _pods(j, phases), now=NOW)
    assert (len(plan.creates), len(plan.deletes)) == (creates, deletes)
    for c in plan.creates:
        labels = c.obj.metadata.labels
        assert labels[JOB_NAME_LABEL] == "batch" and labels[CONTROLLER_UID_LABEL] == j.metadata.uid
        assert c.obj.metadata.generate_name == "batch-"


def test_completes_when_enough_pods_succeed():
    j = job(completions=3, parallelism=2)
    plan = plan_job(j, _pods(j, ["Succeeded"] * 3), now=NOW)
    assert _conditions(plan)["Complete"][0] == "True"
    assert (plan.status.succeeded, plan.status.active) == (3, 0)
    assert plan.status.completion_time.seconds == int(NOW)
    assert any(e.reason == "Completed" for e in plan.events)


def test_work_queue_completes_after_one_success_and_no_active_pod():
    j = job(completions=None, parallelism=2)
    assert "Complete" in _conditions(plan_job(j, _pods(j, ["Succeeded", "Failed"]), now=NOW))
    assert "Complete" not in _conditions(plan_job(j, _pods(j, ["Succeeded", "Running"]), now=NOW))


def test_fails_past_the_backoff_limit_and_stops_its_pods():
    j = job(completions=5, parallelism=2, backoff_limit=2)
    plan = plan_job(j, _pods(j, ["Failed", "Failed", "Failed", "Running"]), now=NOW)
    assert _conditions(plan)["Failed"] == ("True", "BackoffLimitExceeded")
    assert plan.creates == [] and [d.name for d in plan.deletes] == ["batch-3"]
    assert (plan.status.failed, plan.status.active) == (3, 0)


def test_on_failure_counts_container_restarts():
    j = job(completions=1, parallelism=1, backoff_limit=3, restart_policy="OnFailure")
    assert "Failed" not in _conditions(plan_job(j, _pods(j, ["Running"], restarts=2), now=NOW))
    assert _conditions(plan_job(j, _pods(j, ["Running"], restarts=3), now=NOW))["Failed"][1] == "BackoffLimitExceeded"


def test_active_deadline_fails_the_job():
    j = job(completions=2, parallelism=1)
    j.spec.active_deadline_seconds = 60
    j.status.start_time.CopyFrom(timestamp(NOW - 30))
    plan = plan_job(j, _pods(j, ["Running"]), now=NOW)
    assert "Failed" not in _conditions(plan) and plan.requeue_after == pytest.approx(30.05)
    plan = plan_job(j, _pods(j, ["Running"]), now=NOW + 31)
    assert _conditions(plan)["Failed"] == ("True", "DeadlineExceeded")


def test_new_pods_wait_out_the_failure_backoff():
    j = job(completions=3, parallelism=1, backoff_limit=6)
    pods = _pods(j, ["Failed", "Failed"], finished=NOW - 5)
    plan = plan_job(j, pods, now=NOW, backoff_base=10.0)
    assert plan.creates == [] and plan.requeue_after == pytest.approx(15.0)  # 10 * 2**1 - 5
    assert len(plan_job(j, pods, now=NOW + 16, backoff_base=10.0).creates) == 1


@pytest.mark.parametrize(
    "failures,last,expected",
    [(0, 0, 0.0), (1, NOW, 10.0), (2, NOW, 20.0), (3, NOW - 15, 25.0), (20, NOW, 360.0)],
    ids=["none", "one", "two", "three-some-time-ago", "capped"],
)
def test_backoff_remaining(failures, last, expected):
    j = job()
    pods = _pods(j, ["Failed"] * failures, finished=last)
    assert backoff_remaining(pods, 10.0, 360.0, NOW) == pytest.approx(expected)


def test_counts_never_go_below_the_recorded_status():
    j = job(completions=5, parallelism=1)
    j.status.succeeded = 3
    j.status.failed = 1
    plan = plan_job(j, _pods(j, ["Succeeded"]), now=NOW)
    assert (plan.status.succeeded, plan.status.failed) == (3, 1)


def test_indexed_job_creates_missing_indexes_with_their_index():
    j = job(completions=4, parallelism=2, indexed=True)
    done = _pods(j, ["Succeeded"])
    done[0].metadata.annotations[COMPLETION_INDEX] = "0"
    plan = plan_job(j, done, now=NOW)
    indexes = [c.obj.metadata.annotations[COMPLETION_INDEX] for c in plan.creates]
    assert indexes == ["1", "2"]
    created = plan.creates[0].obj
    assert created.metadata.generate_name == "batch-1-"
    assert created.spec.hostname == "batch-1"
    assert [(e.name, e.value) for e in created.spec.containers[0].env] == [("JOB_COMPLETION_INDEX", "1")]
    assert plan.status.completed_indexes == "0"


def test_indexed_job_completes_when_every_index_succeeded():
    j = job(completions=3, parallelism=3, indexed=True)
    pods = _pods(j, ["Succeeded"] * 3)
    for i, p in enumerate(pods):
        p.metadata.annotations[COMPLETION_INDEX] = str(i)
    plan = plan_job(j, pods, now=NOW)
    assert plan.status.completed_indexes == "0-2" and "Complete" in _conditions(plan)


def test_suspended_job_stops_its_pods():
    j = job(completions=3, parallelism=2)
    j.spec.suspend = True
    plan = plan_job(j, _pods(j, ["Running", "Running"]), now=NOW)
    assert len(plan.deletes) == 2 and plan.creates == []
    assert _conditions(plan)["Suspended"] == ("True", "JobSuspended")


def test_ttl_after_finished_deletes_the_job():
    j = job(completions=1, parallelism=1)
    j.spec.ttl_seconds_after_finished = 10
    j.status.conditions.add(type="Complete", status="True", last_transition_time=timestamp(NOW - 20))
    assert plan_job(j, [], now=NOW).delete_job is not None
    assert plan_job(j, [], now=NOW - 15).delete_job is None


@pytest.mark.parametrize("text,indexes", [("", set()), ("0", {0}), ("0-2,5", {0, 1, 2, 5}), ("1,3-4,7", {1, 3, 4, 7})])
def test_index_ranges_round_trip(text, indexes):
    assert parse_indexes(text) == indexes
    assert format_indexes(indexes) == text
