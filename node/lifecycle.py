"""The life of one pod on a node, as a state machine with the I/O kept out.

    pending -> creating -> running -> terminating -> gone
                  \\__________________/^
                   (deletion, or every container finished for good)

The agent feeds ``PodMachine.handle(event)`` what it observes (the pod as the API shows it, an
image pulled, a container started or exited, a probe result, a timer) and gets back the
instructions to carry out (pull this image, create the sandbox, start or stop a container, set a
timer, report status, delete the pod object). No sockets, no processes, no clock: every event
carries its time, so tests drive the machine with events and assert on what it returns.

Pod states (``PodState``):
- pending:     seen, nothing asked of the runtime yet.
- creating:    sandbox being made, images pulled, init containers run one after another.
- running:     sandbox up and init containers done; app containers started and restarted
               per restartPolicy with exponential back-off.
- terminating: containers being stopped (SIGTERM, grace, SIGKILL), then the sandbox removed.
- gone:        nothing of the pod is left on the node. If its deletion was asked for, the agent
               deletes the object (grace 0) as the kubelet does; a finished pod's object stays
               with its final phase.

Container states (``ContainerPhase``), per container:
    waiting -> starting -> running -> (stopping ->) exited -> waiting (restart, after back-off)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal

# Events and instructions live in events.py; they are imported here so that callers can take
# everything of the lifecycle from one module.
from shoal.node.events import (  # noqa: F401
    COMPLETED,
    ERROR,
    OOM_KILLED,
    ContainerExited,
    ContainerStarted,
    ContainerStartFailed,
    CreateSandbox,
    DeletePodObject,
    Event,
    ForgetPod,
    ImagePulled,
    ImagePullFailed,
    Instruction,
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
    Termination,
    TimerFired,
    termination_reason,
)
from shoal.node.podview import ContainerView, PodView

PodState = Literal["pending", "creating", "running", "terminating", "gone"]
ContainerPhase = Literal["waiting", "starting", "running", "stopping", "exited"]

# Waiting reasons, as Kubernetes spells them.
CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
CRASH_LOOP_BACKOFF = "CrashLoopBackOff"
CREATE_CONTAINER_ERROR = "CreateContainerError"
# Terminated reason of a container that could not be started (the others are in events.py).
START_ERROR = "StartError"

LOG_SIZE = 64


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Kubernetes' container restart back-off: the first restart is immediate, then 10 s doubling
    up to 300 s; a container that ran ``reset_after`` seconds starts over."""

    initial: float = 10.0
    maximum: float = 300.0
    reset_after: float = 600.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before restart number ``failures`` (1 = the first restart)."""
        if failures <= 1:
            return 0.0
        return min(self.maximum, self.initial * 2 ** (failures - 2))

    def pull_delay(self, failures: int) -> float:
        """Seconds before retrying a failed image pull (failures >= 1)."""
        return min(self.maximum, self.initial * 2 ** max(0, failures - 1))



class InvalidTransition(RuntimeError):
    pass


# -- per-container record ------------------------------------------------------------------------


@dataclass(slots=True)
class ContainerRecord:
    spec: ContainerView
    init: bool
    phase: ContainerPhase = "waiting"
    waiting_reason: str = CONTAINER_CREATING
    waiting_message: str = ""
    image_ready: bool = False
    image_id: str = ""
    pulling: bool = False
    pull_failures: int = 0
    container_id: str = ""
    started_at: float | None = None
    restart_count: int = 0
    # Consecutive failed runs, for the back-off; a long run resets it.
    crashes: int = 0
    backoff_until: float | None = None
    last_termination: Termination | None = None
    # Set when the container has ended and will not run again (or is waiting to).
    termination: Termination | None = None
    ready: bool = False
    started: bool = False
    # Why we are stopping it: "delete", "liveness", "completed", ...
    stop_reason: str = ""
    # Bumped whenever a timer for this container is set, so stale timers are ignored.
    timer_generation: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def active(self) -> bool:
        """A process may exist for it (starting, running or being stopped)."""
        return self.phase in ("starting", "running", "stopping")

    @property
    def succeeded(self) -> bool:
        return self.termination is not None and self.termination.exit_code == 0


# -- the machine -------------------------------------------------------------------------------


class PodMachine:
    """One pod's lifecycle on this node. ``handle(event)`` returns the instructions to carry out."""

    def __init__(self, pod: PodView, backoff: BackoffPolicy = BackoffPolicy(), *, validate: bool = False,
                 log_size: int = LOG_SIZE) -> None:
        self.pod = pod
        self.backoff = backoff
        self.validate = validate
        self.state: PodState = "pending"
        self.pod_ip = ""
        self.sandbox: Literal["none", "creating", "ready", "removing"] = "none"
        self.sandbox_message = ""
        self.first_seen: float | None = None
        self.object_exists = True
        self.object_delete_sent = False
        self.forgotten = False
        self.final_phase: str = ""  # Succeeded / Failed once every container finished for good
        self.containers: dict[str, ContainerRecord] = {}
        self.init_names: list[str] = [c.name for c in pod.init_containers]
        self.app_names: list[str] = [c.name for c in pod.containers]
        for c in pod.init_containers:
            self.containers[c.name] = ContainerRecord(c, init=True)
        for c in pod.containers:
            self.containers[c.name] = ContainerRecord(
                c, init=False, waiting_reason=POD_INITIALIZING if pod.init_containers else CONTAINER_CREATING)
        # Condition type -> (status, time it last changed); kept here so transition times are true.
        self.conditions: dict[str, tuple[str, float]] = {}
        self.log: deque[tuple[str, str, str, float]] = deque(maxlen=log_size)
        self._out: list[Instruction] = []
        self._changed = False
        self._stimulus = ""
        self._now = 0.0

    # -- entry point -------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Instruction]:
        self._out = []
        self._changed = False
        self._stimulus = event.stimulus_id
        self._now = event.at
        handler: Callable = self._HANDLERS[type(event)]
        handler(self, event)
        self._advance()
        if self._update_conditions():
            self._changed = True
        if self._changed:
            self._emit(ReportStatus(self._stimulus))
        if self.validate:
            self.check_invariants()
        return self._out

    def story(self) -> list[tuple[str, str, str, float]]:
        """The bounded log of (stimulus_id, what, detail, time): this pod's recent history."""
        return list(self.log)

    # -- helpers -----------------------------------------------------------------------------

    def _emit(self, instruction: Instruction) -> None:
        self._out.append(instruction)

    def _record(self, what: str, detail: str = "") -> None:
        self.log.append((self._stimulus, what, detail, self._now))

    def _container(self, name: str) -> ContainerRecord | None:
        return self.containers.get(name)

    def _set_timer(self, rec: ContainerRecord, kind: str, delay: float) -> None:
        rec.timer_generation += 1
        self._emit(SetTimer((kind, rec.name, rec.timer_generation), delay, self._stimulus))

    @property
    def initialized(self) -> bool:
        return all(self.containers[n].succeeded for n in self.init_names)

    @property
    def stopping(self) -> bool:
        return self.state in ("terminating", "gone")

    # -- transitions -------------------------------------------------------------------------

    def _transition(self, finish: PodState, why: str) -> None:
        start = self.state
        if start == finish:
            return
        fn = self._TRANSITIONS.get((start, finish))
        if fn is None:
            raise InvalidTransition(f"pod {self.pod.key}: {start} -> {finish} ({why})")
        self._record(f"{start}->{finish}", why)
        self.state = finish
        self._changed = True
        fn(self)

    def _transition_pending_creating(self) -> None:
        self.sandbox = "creating"
        self._emit(CreateSandbox(self._stimulus))
        for rec in self.containers.values():
            self._pull(rec)

    def _transition_creating_running(self) -> None:
        pass  # _advance starts the app containers

    def _to_terminating(self) -> None:
        # A pod whose object vanished (force-deleted) gets no grace.
        grace = self.pod.stop_grace() if self.object_exists else 0
        for rec in self.containers.values():
            if rec.phase == "running":
                self._stop(rec, grace, rec.stop_reason or "delete")
            elif rec.phase == "waiting":
                rec.backoff_until = None
                rec.timer_generation += 1
        # starting containers are stopped when they report in; stopping ones are on their way.

    _transition_pending_terminating = _to_terminating
    _transition_creating_terminating = _to_terminating
    _transition_running_terminating = _to_terminating

    def _transition_terminating_gone(self) -> None:
        self._finish_gone()

    def _transition_pending_gone(self) -> None:
        self._finish_gone()

    def _finish_gone(self) -> None:
        """Idempotent: delete the object if its deletion was asked for, forget the pod once the
        object is gone too."""
        if self.pod.deletion_requested and self.object_exists and not self.object_delete_sent:
            self.object_delete_sent = True
            self._emit(DeletePodObject(self.pod.uid, self._stimulus))
        if not self.object_exists and not self.forgotten:
            self.forgotten = True
            self._emit(ForgetPod(self._stimulus))

    _TRANSITIONS: dict[tuple[str, str], Callable] = {
        ("pending", "creating"): _transition_pending_creating,
        ("pending", "terminating"): _transition_pending_terminating,
        ("pending", "gone"): _transition_pending_gone,
        ("creating", "running"): _transition_creating_running,
        ("creating", "terminating"): _transition_creating_terminating,
        ("running", "terminating"): _transition_running_terminating,
        ("terminating", "gone"): _transition_terminating_gone,
    }

    # -- the step after every event: move forward as far as the facts allow ------------------

    def _advance(self) -> None:
        if self.state == "pending":
            if self.pod.deletion_requested or not self.object_exists:
                self._transition("gone", "deleted before it started")
            else:
                self._transition("creating", "observed")
        if self.state in ("creating", "running") and (self.pod.deletion_requested or not self.object_exists):
            self._transition("terminating", "deletion requested" if self.object_exists else "object removed")
        if self.state == "creating":
            self._advance_init()
        if self.state == "running":
            self._advance_app()
        if self.state == "terminating":
            self._advance_terminating()
        if self.state == "gone":
            self._finish_gone()

    def _advance_init(self) -> None:
        if self.sandbox != "ready":
            return
        for name in self.init_names:
            rec = self.containers[name]
            if rec.succeeded:
                continue
            if rec.termination is not None and self.pod.restart_policy == "Never":
                self.final_phase = "Failed"
                self._transition("terminating", f"init container {name} failed")
                return
            self._maybe_start(rec)
            return
        self._transition("running", "initialized")

    def _advance_app(self) -> None:
        for name in self.app_names:
            self._maybe_start(self.containers[name])
        recs = [self.containers[n] for n in self.app_names]
        if all(r.phase == "exited" and not self._will_restart(r) for r in recs):
            self.final_phase = "Succeeded" if all(r.succeeded for r in recs) else "Failed"
            self._transition("terminating", f"all containers finished ({self.final_phase})")

    def _advance_terminating(self) -> None:
        if any(r.active for r in self.containers.values()):
            return
        if self.sandbox in ("ready",):
            self.sandbox = "removing"
            self._emit(RemoveSandbox(self._stimulus))
            return
        if self.sandbox == "none":
            self._transition("gone", "sandbox removed")

    def _will_restart(self, rec: ContainerRecord) -> bool:
        if rec.termination is None:
            return True
        policy = self.pod.restart_policy
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return rec.termination.exit_code != 0
        return False

    def _maybe_start(self, rec: ContainerRecord) -> None:
        if rec.phase != "waiting" and not (rec.phase == "exited" and self._will_restart(rec)):
            return
        if not rec.image_ready:
            if not rec.pulling and rec.pull_failures == 0:
                self._pull(rec)
            return
        if rec.backoff_until is not None and self._now < rec.backoff_until:
            return
        if rec.phase == "exited":
            # A restart: the last run becomes lastState.
            rec.last_termination = rec.termination
            rec.termination = None
            rec.restart_count += 1
            rec.phase = "waiting"
        rec.backoff_until = None
        rec.phase = "starting"
        rec.waiting_reason = CONTAINER_CREATING
        rec.waiting_message = ""
        self._changed = True
        self._record("start", rec.name)
        self._emit(StartContainer(rec.name, rec.restart_count, rec.init, self._stimulus))

    def _pull(self, rec: ContainerRecord) -> None:
        if rec.image_ready or rec.pulling:
            return
        rec.pulling = True
        self._emit(PullImage(rec.name, rec.spec.image, rec.spec.pull_policy, self._stimulus))

    def _stop(self, rec: ContainerRecord, grace: int, reason: str) -> None:
        rec.phase = "stopping"
        rec.stop_reason = reason
        rec.ready = False
        self._changed = True
        self._record("stop", f"{rec.name}: {reason}")
        self._emit(StopContainer(rec.name, grace, reason, self._stimulus))

    # -- event handlers ----------------------------------------------------------------------

    def _handle_pod_seen(self, ev: PodSeen) -> None:
        if self.first_seen is None:
            self.first_seen = ev.at
            self._changed = True
            self._record("seen", ev.pod.key)
            for prior in ev.prior:
                rec = self._container(prior.name)
                if rec is not None and rec.restart_count == 0:
                    rec.restart_count = prior.restart_count
                    rec.last_termination = prior.last_termination
        if ev.pod == self.pod:
            return
        old = self.pod
        # The spec of a bound pod is immutable but for images (and deletion); images take
        # effect on the next start, as in Kubernetes.
        self.pod = ev.pod
        for c in ev.pod.containers + ev.pod.init_containers:
            rec = self._container(c.name)
            if rec is not None and rec.spec != c:
                if rec.spec.image != c.image:
                    rec.image_ready = False
                    rec.pull_failures = 0
                rec.spec = c
        if ev.pod.deletion_requested and not old.deletion_requested:
            self._record("deletion requested", f"grace {ev.pod.stop_grace()}s")
            self._changed = True

    def _handle_pod_removed(self, ev: PodRemoved) -> None:
        self.object_exists = False
        self._record("object removed")
        if self.state == "terminating":
            # A force delete: whatever grace remained is cut to nothing.
            for rec in self.containers.values():
                if rec.phase == "stopping" and rec.stop_reason != "force":
                    rec.stop_reason = "force"
                    self._emit(StopContainer(rec.name, 0, "force", self._stimulus))

    def _handle_recovered(self, ev: Recovered) -> None:
        self._record("recovered", f"ip {ev.pod_ip}, {len(ev.containers)} containers")
        if self.state == "pending":
            # Adopt instead of creating: the sandbox exists.
            self.state = "creating"
            self._record("pending->creating", "adopted")
        self.sandbox = "ready"
        self.pod_ip = ev.pod_ip
        self._changed = True
        for rc in ev.containers:
            rec = self._container(rc.name)
            if rec is None:
                continue
            rec.image_ready = True
            rec.image_id = rc.image_id
            rec.container_id = rc.container_id
            rec.started_at = rc.started_at
            if rc.running:
                rec.phase = "running"
                rec.started = True
                rec.ready = not rec.spec.has_readiness_probe
                self._emit(StartProbes(rec.name, self._stimulus))
            elif rc.exit is not None:
                rec.phase = "exited"
                rec.termination = rc.exit
        if any(rc.name in self.app_names for rc in ev.containers):
            # App containers ran, so the init containers had all succeeded.
            for name in self.init_names:
                rec = self.containers[name]
                if not rec.succeeded:
                    rec.phase = "exited"
                    rec.termination = Termination(0, COMPLETED, None, ev.at)
        for rec in self.containers.values():
            if not rec.image_ready and not (rec.init and rec.succeeded):
                self._pull(rec)

    def _handle_image_pulled(self, ev: ImagePulled) -> None:
        rec = self._container(ev.container)
        if rec is None:
            return
        rec.pulling = False
        rec.image_ready = True
        rec.image_id = ev.image_id
        rec.pull_failures = 0
        if rec.waiting_reason in (ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF):
            rec.waiting_reason = CONTAINER_CREATING
            rec.waiting_message = ""
            self._changed = True

    def _handle_image_pull_failed(self, ev: ImagePullFailed) -> None:
        rec = self._container(ev.container)
        if rec is None:
            return
        rec.pulling = False
        rec.pull_failures += 1
        rec.waiting_reason = ERR_IMAGE_NEVER_PULL if ev.never else ERR_IMAGE_PULL
        rec.waiting_message = ev.message
        self._changed = True
        self._record("pull failed", f"{rec.name}: {ev.message}")
        if not self.stopping:
            # ErrImagePull shows until the back-off is noticed, then ImagePullBackOff until the retry.
            self._set_timer(rec, "pull-backoff", min(1.0, self.backoff.pull_delay(rec.pull_failures)))

    def _handle_sandbox_ready(self, ev: SandboxReady) -> None:
        self.pod_ip = ev.pod_ip
        self.sandbox_message = ""
        self._changed = True
        self._record("sandbox ready", ev.pod_ip)
        if self.sandbox == "creating":
            self.sandbox = "ready"

    def _handle_sandbox_failed(self, ev: SandboxFailed) -> None:
        self._record("sandbox failed", ev.message)
        self.sandbox_message = ev.message
        self._changed = True
        if self.stopping:
            self.sandbox = "none"
            return
        self.sandbox = "none"
        # Retry with back-off, as the kubelet retries sandbox creation on its next sync.
        self._emit(SetTimer(("sandbox", "", 0), self.backoff.initial, self._stimulus))

    def _handle_sandbox_removed(self, ev: SandboxRemoved) -> None:
        self.sandbox = "none"
        self.pod_ip = self.pod_ip  # kept in status, as the kubelet keeps podIP of a finished pod
        self._record("sandbox removed")

    def _handle_container_started(self, ev: ContainerStarted) -> None:
        rec = self._container(ev.container)
        if rec is None or rec.phase != "starting":
            return
        rec.phase = "running"
        rec.container_id = ev.container_id
        rec.started_at = ev.at
        rec.started = not rec.spec.has_startup_probe
        rec.ready = not rec.spec.has_readiness_probe and not rec.init
        self._changed = True
        self._record("started", rec.name)
        if self.stopping:
            self._stop(rec, self.pod.stop_grace(), "delete")
            return
        if rec.spec.has_readiness_probe or rec.spec.has_liveness_probe or rec.spec.has_startup_probe:
            self._emit(StartProbes(rec.name, self._stimulus))

    def _handle_container_start_failed(self, ev: ContainerStartFailed) -> None:
        rec = self._container(ev.container)
        if rec is None or rec.phase != "starting":
            return
        self._record("start failed", f"{rec.name}: {ev.message}")
        self._ended(rec, Termination(128, START_ERROR, None, ev.at, ev.message))

    def _handle_container_exited(self, ev: ContainerExited) -> None:
        rec = self._container(ev.container)
        if rec is None or not rec.active:
            return
        reason = termination_reason(ev.exit_code, ev.oom_killed)
        self._record("exited", f"{rec.name}: {ev.exit_code} {reason}")
        self._ended(rec, Termination(ev.exit_code, reason, rec.started_at, ev.at, ev.message, ev.signal,
                                     rec.container_id))

    def _ended(self, rec: ContainerRecord, term: Termination) -> None:
        rec.phase = "exited"
        rec.termination = term
        rec.ready = False
        rec.started = False
        stop_reason, rec.stop_reason = rec.stop_reason, ""
        self._changed = True
        if self.stopping:
            return
        if rec.started_at is not None and term.finished_at - rec.started_at >= self.backoff.reset_after:
            rec.crashes = 0
        failed = term.exit_code != 0 or stop_reason == "liveness"
        if rec.init and not failed:
            return
        if not self._will_restart(rec) and not (stop_reason == "liveness" and self.pod.restart_policy != "Never"):
            return
        rec.crashes += 1
        delay = self.backoff.delay(rec.crashes)
        if delay > 0:
            rec.backoff_until = self._now + delay
            rec.waiting_reason = CRASH_LOOP_BACKOFF
            rec.waiting_message = f"back-off {delay:g}s restarting failed container={rec.name} pod={self.pod.name}"
            self._set_timer(rec, "restart", delay)

    def _handle_probe_result(self, ev: ProbeResult) -> None:
        rec = self._container(ev.container)
        if rec is None or rec.phase != "running":
            return
        if ev.probe == "readiness":
            if rec.ready != ev.success:
                rec.ready = ev.success
                self._changed = True
        elif ev.probe == "startup":
            if ev.success and not rec.started:
                rec.started = True
                self._changed = True
            elif not ev.success:
                self._stop(rec, self.pod.stop_grace(), "liveness")
        elif ev.probe == "liveness" and not ev.success and not self.stopping:
            self._record("liveness failed", f"{rec.name}: {ev.message}")
            self._stop(rec, self.pod.stop_grace(), "liveness")

    def _handle_timer_fired(self, ev: TimerFired) -> None:
        kind, name, generation = ev.key
        if kind == "sandbox":
            if self.sandbox == "none" and not self.stopping:
                self.sandbox = "creating"
                self._emit(CreateSandbox(self._stimulus))
            return
        rec = self._container(name)
        if rec is None or generation != rec.timer_generation or self.stopping:
            return
        if kind == "restart":
            rec.backoff_until = None
        elif kind == "pull-backoff":
            if rec.waiting_reason == ERR_IMAGE_PULL:
                rec.waiting_reason = IMAGE_PULL_BACKOFF
                self._changed = True
            remaining = self.backoff.pull_delay(rec.pull_failures) - min(1.0, self.backoff.pull_delay(rec.pull_failures))
            self._set_timer(rec, "pull-retry", max(0.0, remaining))
        elif kind == "pull-retry":
            self._pull(rec)

    _HANDLERS: dict[type, Callable] = {
        PodSeen: _handle_pod_seen,
        PodRemoved: _handle_pod_removed,
        Recovered: _handle_recovered,
        ImagePulled: _handle_image_pulled,
        ImagePullFailed: _handle_image_pull_failed,
        SandboxReady: _handle_sandbox_ready,
        SandboxFailed: _handle_sandbox_failed,
        SandboxRemoved: _handle_sandbox_removed,
        ContainerStarted: _handle_container_started,
        ContainerStartFailed: _handle_container_start_failed,
        ContainerExited: _handle_container_exited,
        ProbeResult: _handle_probe_result,
        TimerFired: _handle_timer_fired,
    }

    # -- what the status shows ---------------------------------------------------------------

    def phase(self) -> str:
        """The pod phase, by Kubernetes' rules (kubelet getPhase)."""
        if self.final_phase:
            return self.final_phase
        if not self.initialized:
            return "Pending"
        waiting = running = stopped = succeeded = 0
        for name in self.app_names:
            rec = self.containers[name]
            if rec.phase in ("running", "stopping"):
                running += 1
            elif rec.phase == "exited":
                stopped += 1
                succeeded += rec.succeeded
            elif rec.last_termination is not None:
                stopped += 1  # waiting to restart
            else:
                waiting += 1
        if waiting:
            return "Pending"
        if running:
            return "Running"
        policy = self.pod.restart_policy
        if policy == "Always":
            return "Running"
        if succeeded == len(self.app_names):
            return "Succeeded"
        return "Running" if policy == "OnFailure" else "Failed"

    def condition_values(self) -> dict[str, str]:
        apps = [self.containers[n] for n in self.app_names]
        containers_ready = bool(apps) and all(r.phase == "running" and r.ready for r in apps)
        return {
            "PodReadyToStartContainers": "True" if self.sandbox == "ready" else "False",
            "Initialized": "True" if self.initialized else "False",
            "ContainersReady": "True" if containers_ready else "False",
            "Ready": "True" if containers_ready and not self.stopping else "False",
        }

    def _update_conditions(self) -> bool:
        changed = False
        for ctype, value in self.condition_values().items():
            old = self.conditions.get(ctype)
            if old is None or old[0] != value:
                self.conditions[ctype] = (value, self._now)
                changed = True
        return changed

    def check_invariants(self) -> None:
        for rec in self.containers.values():
            assert rec.phase in ("waiting", "starting", "running", "stopping", "exited"), rec
            assert rec.restart_count >= 0, rec
            assert not (rec.ready and rec.phase != "running"), f"{rec.name} ready while {rec.phase}"
            if rec.phase == "exited":
                assert rec.termination is not None, rec
        if self.state == "gone":
            assert not any(r.active for r in self.containers.values()), "gone with live containers"
            assert self.sandbox == "none", "gone with a sandbox"
        if self.state == "running":
            assert self.initialized, "running before init containers finished"
        if self.state in ("creating", "running"):
            assert not self.pod.deletion_requested, "deletion requested but not terminating"

