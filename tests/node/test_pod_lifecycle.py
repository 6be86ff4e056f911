"""The pod lifecycle state machine, driven with events alone: no processes, no sockets, no clock."""

from __future__ import annotations

import itertools

import pytest

from shoal.node.lifecycle import (
    BackoffPolicy,
    ContainerExited,
    ContainerStarted,
    ContainerStartFailed,
    CreateSandbox,
    DeletePodObject,
    ForgetPod,
    ImagePulled,
    ImagePullFailed,
    PodMachine,
    PodRemoved,
    PodSeen,
    PriorContainer,
    ProbeResult,
    PullImage,
    Recovered,
    RecoveredContainer,
    RemoveSandbox,
    ReportStatus,
    SandboxFailed,
    SandboxReady,
    SandboxRemoved,
    SetTimer,
    StartContainer,
    StartProbes,
    StopContainer,
    TimerFired,
)
from shoal.node.podview import ContainerView, PodView

_ids = itertools.count()


def sid() -> str:
    return f"test-{next(_ids)}"


def pod(*names: str, init: tuple[str, ...] = (), restart: str = "Always", grace: int = 30, **container_kw) -> PodView:
    return PodView(
        uid="uid-1",
        namespace="default",
        name="web",
        containers=tuple(ContainerView(n, f"img-{n}", **container_kw) for n in names),
        init_containers=tuple(ContainerView(n, f"img-{n}") for n in init),
        restart_policy=restart,
        termination_grace_seconds=grace,
    )


def kinds(instructions) -> list[type]:
    return [type(i) for i in instructions]


def only(instructions, cls):
    return [i for i in instructions if isinstance(i, cls)]


class Driver:
    """A machine plus a clock; each call feeds one event and returns the instructions."""

    def __init__(self, view: PodView, backoff: BackoffPolicy = BackoffPolicy()) -> None:
        self.view = view
        self.m = PodMachine(view, backoff, validate=True)
        self.now = 1000.0

    def feed(self, cls, *args, **kw):
        return self.m.handle(cls(*args, stimulus_id=sid(), at=self.now, **kw))

    def seen(self, view: PodView | None = None, prior=()):
        self.view = view or self.view
        return self.feed(PodSeen, self.view, prior=prior)

    def to_running(self):
        """Sandbox ready, every image pulled, every container started."""
        self.seen()
        self.feed(SandboxReady, "10.244.0.5")
        out = []
        for c in self.view.init_containers:
            out += self.feed(ImagePulled, c.name, f"sha256:{c.name}")
        for c in self.view.containers:
            out += self.feed(ImagePulled, c.name, f"sha256:{c.name}")
        for c in self.view.init_containers:
            self.feed(ContainerStarted, c.name, f"id-{c.name}")
            self.feed(ContainerExited, c.name, 0)
        for c in self.view.containers:
            self.feed(ContainerStarted, c.name, f"id-{c.name}")
        return out

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def deleted(self, grace: int = 30):
        view = PodView(**{**{f: getattr(self.view, f) for f in self.view.__dataclass_fields__},
                          "deletion_requested": True, "deletion_grace_seconds": grace})
        return self.seen(view)


# -- start ------------------------------------------------------------------------------------


def test_a_new_pod_asks_for_its_sandbox_and_images():
    d = Driver(pod("web", "sidecar"))
    out = d.seen()
    assert d.m.state == "creating"
    assert kinds(out) == [CreateSandbox, PullImage, PullImage, ReportStatus]
    assert [i.image for i in only(out, PullImage)] == ["img-web", "img-sidecar"]
    assert d.m.phase() == "Pending"


def test_containers_start_once_sandbox_and_image_are_ready():
    d = Driver(pod("web"))
    d.seen()
    assert only(d.feed(ImagePulled, "web", "sha256:a"), StartContainer) == []  # no sandbox yet
    out = d.feed(SandboxReady, "10.244.0.5")
    assert [(i.container, i.attempt) for i in only(out, StartContainer)] == [("web", 0)]
    d.feed(ContainerStarted, "web", "id-web")
    assert d.m.state == "running"
    assert d.m.phase() == "Running"
    assert d.m.condition_values() == {"PodReadyToStartContainers": "True", "Initialized": "True",
                                      "ContainersReady": "True", "Ready": "True"}
    assert d.m.pod_ip == "10.244.0.5"


def test_observing_the_same_pod_again_does_nothing():
    d = Driver(pod("web"))
    d.to_running()
    assert d.seen() == []


def test_init_containers_run_one_after_another_before_the_app():
    d = Driver(pod("app", init=("first", "second")))
    d.seen()
    d.feed(SandboxReady, "10.244.0.5")
    d.feed(ImagePulled, "app", "sha256:app")
    d.feed(ImagePulled, "second", "sha256:2")
    out = d.feed(ImagePulled, "first", "sha256:1")
    assert [i.container for i in only(out, StartContainer)] == ["first"]
    d.feed(ContainerStarted, "first", "id-1")
    out = d.feed(ContainerExited, "first", 0)
    assert [i.container for i in only(out, StartContainer)] == ["second"]
    assert d.m.phase() == "Pending"
    assert d.m.condition_values()["Initialized"] == "False"
    d.feed(ContainerStarted, "second", "id-2")
    out = d.feed(ContainerExited, "second", 0)
    assert [i.container for i in only(out, StartContainer)] == ["app"]
    assert d.m.state == "running"
    assert d.m.condition_values()["Initialized"] == "True"


def test_a_failed_init_container_fails_a_never_restart_pod():
    d = Driver(pod("app", init=("setup",), restart="Never"))
    d.seen()
    d.feed(SandboxReady, "10.244.0.5")
    d.feed(ImagePulled, "setup", "x")
    d.feed(ContainerStarted, "setup", "id")
    out = d.feed(ContainerExited, "setup", 2)
    assert d.m.state == "terminating"
    assert kinds(out)[:1] == [RemoveSandbox]
    assert d.m.phase() == "Failed"


# -- restarts and back-off --------------------------------------------------------------------


@pytest.mark.parametrize(
    "failures, delay",
    [(1, 0), (2, 10), (3, 20), (4, 40), (5, 80), (6, 160), (7, 300), (12, 300)],
    ids=lambda v: str(v),
)
def test_backoff_is_immediate_then_10s_doubling_to_300s(failures, delay):
    assert BackoffPolicy().delay(failures) == delay


def test_a_crashing_container_restarts_with_growing_backoff():
    d = Driver(pod("web"))
    d.to_running()
    out = d.feed(ContainerExited, "web", 1)
    starts = only(out, StartContainer)
    assert [(s.container, s.attempt) for s in starts] == [("web", 1)], "first restart is immediate"
    rec = d.m.containers["web"]
    assert rec.restart_count == 1
    assert rec.last_termination.exit_code == 1 and rec.last_termination.reason == "Error"
    delays = []
    for attempt in range(2, 6):
        d.feed(ContainerStarted, "web", f"id-{attempt}")
        d.advance(1)
        out = d.feed(ContainerExited, "web", 1)
        assert only(out, StartContainer) == []
        (timer,) = only(out, SetTimer)
        delays.append(timer.delay)
        assert rec.waiting_reason == "CrashLoopBackOff"
        assert d.m.phase() == "Running"
        d.advance(timer.delay)
        out = d.feed(TimerFired, timer.key)
        assert [(s.container, s.attempt) for s in only(out, StartContainer)] == [("web", attempt)]
    assert delays == [10, 20, 40, 80]


def test_backoff_is_configurable():
    d = Driver(pod("web"), BackoffPolicy(initial=1, maximum=2))
    d.to_running()
    d.feed(ContainerExited, "web", 1)
    d.feed(ContainerStarted, "web", "id")
    delays = []
    for _ in range(3):
        (timer,) = only(d.feed(ContainerExited, "web", 1), SetTimer)
        delays.append(timer.delay)
        d.feed(TimerFired, timer.key)
        d.feed(ContainerStarted, "web", "id")
    assert delays == [1, 2, 2]


def test_a_stale_timer_is_ignored():
    d = Driver(pod("web"))
    d.to_running()
    d.feed(ContainerExited, "web", 1)
    d.feed(ContainerStarted, "web", "id")
    (timer,) = only(d.feed(ContainerExited, "web", 1), SetTimer)
    d.feed(TimerFired, timer.key)
    d.feed(ContainerStarted, "web", "id")
    assert d.feed(TimerFired, timer.key) == []


@pytest.mark.parametrize(
    "exit_code, oom, reason",
    [(0, False, "Completed"), (1, False, "Error"), (137, False, "Error"), (137, True, "OOMKilled")],
    ids=["completed", "error", "killed", "oom"],
)
def test_the_termination_reason(exit_code, oom, reason):
    d = Driver(pod("web"))
    d.to_running()
    d.feed(ContainerExited, "web", exit_code, oom_killed=oom)
    last = d.m.containers["web"].last_termination
    assert (last.exit_code, last.reason) == (exit_code, reason)


@pytest.mark.parametrize(
    "policy, exit_code, restarts, phase",
    [
        ("Always", 0, True, "Running"),
        ("Always", 3, True, "Running"),
        ("OnFailure", 3, True, "Running"),
        ("OnFailure", 0, False, "Succeeded"),
        ("Never", 0, False, "Succeeded"),
        ("Never", 3, False, "Failed"),
    ],
    ids=lambda v: str(v),
)
def test_restart_policy(policy, exit_code, restarts, phase):
    d = Driver(pod("job", restart=policy))
    d.to_running()
    out = d.feed(ContainerExited, "job", exit_code)
    assert bool(only(out, StartContainer)) == restarts
    assert d.m.phase() == phase
    if not restarts:
        assert d.m.state == "terminating"
        assert kinds(out)[0] is RemoveSandbox
        out = d.feed(SandboxRemoved)
        assert d.m.state == "gone"
        assert only(out, DeletePodObject) == [], "a finished pod's object stays"
        assert d.m.phase() == phase


def test_a_start_failure_counts_as_a_failed_run():
    d = Driver(pod("web", restart="Never"))
    d.seen()
    d.feed(SandboxReady, "ip")
    d.feed(ImagePulled, "web", "x")
    d.feed(ContainerStartFailed, "web", "exec: no such file")
    t = d.m.containers["web"].termination
    assert (t.exit_code, t.reason, t.message) == (128, "StartError", "exec: no such file")
    assert d.m.phase() == "Failed"


# -- images -----------------------------------------------------------------------------------


def test_a_failed_pull_shows_errimagepull_then_imagepullbackoff_then_retries():
    d = Driver(pod("web"), BackoffPolicy(initial=10))
    d.seen()
    out = d.feed(ImagePullFailed, "web", "manifest unknown")
    rec = d.m.containers["web"]
    assert rec.waiting_reason == "ErrImagePull" and rec.waiting_message == "manifest unknown"
    (timer,) = only(out, SetTimer)
    assert timer.delay == 1.0
    out = d.feed(TimerFired, timer.key)
    assert rec.waiting_reason == "ImagePullBackOff"
    assert ReportStatus in kinds(out)
    (retry,) = only(out, SetTimer)
    assert retry.delay == 9.0
    out = d.feed(TimerFired, retry.key)
    assert [p.container for p in only(out, PullImage)] == ["web"]
    d.feed(SandboxReady, "ip")
    out = d.feed(ImagePulled, "web", "sha256:x")
    assert rec.waiting_reason == "ContainerCreating"
    assert only(out, StartContainer)


def test_pull_backoff_doubles():
    d = Driver(pod("web"), BackoffPolicy(initial=10, maximum=300))
    d.seen()
    waits = []
    for _ in range(3):
        (t1,) = only(d.feed(ImagePullFailed, "web", "nope"), SetTimer)
        (t2,) = only(d.feed(TimerFired, t1.key), SetTimer)
        waits.append(t1.delay + t2.delay)
        d.feed(TimerFired, t2.key)
    assert waits == [10, 20, 40]


# -- probes -----------------------------------------------------------------------------------


def test_readiness_gates_the_ready_condition():
    d = Driver(pod("web", has_readiness_probe=True))
    d.seen()
    d.feed(SandboxReady, "ip")
    d.feed(ImagePulled, "web", "x")
    out = d.feed(ContainerStarted, "web", "id")
    assert only(out, StartProbes)
    assert d.m.condition_values()["Ready"] == "False"
    d.feed(ProbeResult, "web", "readiness", True)
    assert d.m.condition_values()["Ready"] == "True"
    out = d.feed(ProbeResult, "web", "readiness", False)
    assert d.m.condition_values()["ContainersReady"] == "False"
    assert ReportStatus in kinds(out)


def test_a_failing_liveness_probe_restarts_the_container():
    d = Driver(pod("web", has_liveness_probe=True))
    d.to_running()
    out = d.feed(ProbeResult, "web", "liveness", False, message="HTTP 500")
    (stop,) = only(out, StopContainer)
    assert (stop.container, stop.reason, stop.grace_seconds) == ("web", "liveness", 30)
    out = d.feed(ContainerExited, "web", 0)
    assert [(s.container, s.attempt) for s in only(out, StartContainer)] == [("web", 1)]


# -- deletion ---------------------------------------------------------------------------------


def test_deleting_a_running_pod_stops_removes_then_deletes_the_object():
    d = Driver(pod("web", "log"))
    d.to_running()
    out = d.deleted(grace=5)
    assert d.m.state == "terminating"
    assert sorted((s.container, s.grace_seconds) for s in only(out, StopContainer)) == [("log", 5), ("web", 5)]
    assert d.m.condition_values()["Ready"] == "False"
    assert only(d.feed(ContainerExited, "web", 143), RemoveSandbox) == []
    out = d.feed(ContainerExited, "log", 137)
    assert kinds(out)[0] is RemoveSandbox
    out = d.feed(SandboxRemoved)
    assert d.m.state == "gone"
    assert [i.uid for i in only(out, DeletePodObject)] == ["uid-1"]
    assert kinds(d.feed(PodRemoved)) == [ForgetPod]
    assert d.feed(PodRemoved) == []


def test_a_pod_deleted_while_its_container_starts_stops_it_when_it_reports_in():
    d = Driver(pod("web"))
    d.seen()
    d.feed(SandboxReady, "ip")
    d.feed(ImagePulled, "web", "x")
    out = d.deleted(grace=3)
    assert only(out, StopContainer) == [] and only(out, RemoveSandbox) == []
    out = d.feed(ContainerStarted, "web", "id")
    assert [(s.container, s.grace_seconds) for s in only(out, StopContainer)] == [("web", 3)]


def test_a_pod_deleted_before_anything_ran_goes_at_once():
    d = Driver(pod("web"))
    d.view = PodView(**{**{f: getattr(d.view, f) for f in d.view.__dataclass_fields__}, "deletion_requested": True})
    out = d.seen()
    assert d.m.state == "gone"
    assert only(out, DeletePodObject) and only(out, CreateSandbox) == []


def test_deletion_waits_for_a_sandbox_being_created():
    d = Driver(pod("web"))
    d.seen()
    out = d.deleted()
    assert only(out, RemoveSandbox) == []
    out = d.feed(SandboxReady, "ip")
    assert kinds(out)[0] is RemoveSandbox


def test_a_force_delete_during_termination_kills_at_once():
    d = Driver(pod("web"))
    d.to_running()
    d.deleted(grace=30)
    out = d.feed(PodRemoved)
    assert [(s.container, s.grace_seconds) for s in only(out, StopContainer)] == [("web", 0)]


def test_a_failed_sandbox_is_retried():
    d = Driver(pod("web"))
    d.seen()
    (timer,) = only(d.feed(SandboxFailed, "cni: no address left"), SetTimer)
    assert kinds(d.feed(TimerFired, timer.key))[0] is CreateSandbox


# -- adoption after an agent restart ----------------------------------------------------------


def test_recovered_running_containers_are_adopted_not_recreated():
    d = Driver(pod("web", "log"))
    out = d.feed(Recovered, "10.244.0.9", (
        RecoveredContainer("web", "id-web", 900.0, running=True),
    ))
    out += d.seen(prior=(PriorContainer("web", restart_count=3),))
    assert only(out, CreateSandbox) == []
    assert [s.container for s in only(out, StartContainer)] == []
    assert [p.container for p in only(out, PullImage)] == ["log"]
    assert d.m.containers["web"].restart_count == 3
    assert d.m.containers["web"].phase == "running"
    assert d.m.pod_ip == "10.244.0.9"
    out = d.feed(ImagePulled, "log", "x")
    assert [s.container for s in only(out, StartContainer)] == ["log"]


def test_a_container_that_exited_while_the_agent_was_down_is_restarted():
    from shoal.node.lifecycle import Termination

    d = Driver(pod("web"))
    out = d.feed(Recovered, "ip", (RecoveredContainer("web", "id", 900.0, running=False,
                                                      exit=Termination(137, "OOMKilled", 900.0, 950.0)),))
    out += d.seen()
    assert [(s.container, s.attempt) for s in only(out, StartContainer)] == [("web", 1)]
    assert d.m.containers["web"].last_termination.reason == "OOMKilled"


def test_the_story_of_a_pod_is_kept_with_stimulus_ids():
    d = Driver(pod("web"))
    d.to_running()
    story = d.m.story()
    assert ("pending->creating", "observed") in [(what, detail) for _, what, detail, _ in story]
    assert all(s.startswith("test-") for s, *_ in story)
