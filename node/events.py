"""What the pod lifecycle state machine (lifecycle.py) takes in and gives out.

Events carry what the agent observed, with the id of the stimulus and its time; instructions say
what the agent should do. Both are frozen dataclasses, so tests build and compare them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from shoal.node.podview import PodView

COMPLETED = "Completed"
ERROR = "Error"
OOM_KILLED = "OOMKilled"


@dataclass(frozen=True, slots=True)
class Termination:
    """How a container ended (ContainerStateTerminated)."""

    exit_code: int
    reason: str
    started_at: float | None
    finished_at: float
    message: str = ""
    signal: int = 0
    container_id: str = ""


def termination_reason(exit_code: int, oom_killed: bool) -> str:
    if oom_killed:
        return OOM_KILLED
    return COMPLETED if exit_code == 0 else ERROR


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriorContainer:
    """What the API last said of a container (used when the agent restarts and adopts pods)."""

    name: str
    restart_count: int = 0
    last_termination: Termination | None = None


@dataclass(frozen=True, slots=True)
class RecoveredContainer:
    """A container the runtime still has from a previous run of the agent."""

    name: str
    container_id: str
    started_at: float
    running: bool
    exit: Termination | None = None
    image_id: str = ""


@dataclass(frozen=True, slots=True)
class PodSeen:
    pod: PodView
    stimulus_id: str
    at: float
    # The API's containerStatuses/initContainerStatuses as last written, for adoption.
    prior: tuple[PriorContainer, ...] = ()


@dataclass(frozen=True, slots=True)
class PodRemoved:
    """The pod object is gone from the API (deleted with grace 0, by us or someone else)."""

    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Recovered:
    """The runtime still holds this pod's sandbox (and maybe containers) from before a restart."""

    pod_ip: str
    containers: tuple[RecoveredContainer, ...]
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ImagePulled:
    container: str
    image_id: str
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ImagePullFailed:
    container: str
    message: str
    stimulus_id: str
    at: float
    # imagePullPolicy Never and the image is absent: no retry will help.
    never: bool = False


@dataclass(frozen=True, slots=True)
class SandboxReady:
    pod_ip: str
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class SandboxFailed:
    message: str
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class SandboxRemoved:
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ContainerStarted:
    container: str
    container_id: str
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ContainerStartFailed:
    container: str
    message: str
    stimulus_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ContainerExited:
    container: str
    exit_code: int
    stimulus_id: str
    at: float
    oom_killed: bool = False
    signal: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    container: str
    # liveness, readiness or startup
    probe: str
    success: bool
    stimulus_id: str
    at: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: tuple
    stimulus_id: str
    at: float


Event = Union[PodSeen, PodRemoved, Recovered, ImagePulled, ImagePullFailed, SandboxReady, SandboxFailed,
              SandboxRemoved, ContainerStarted, ContainerStartFailed, ContainerExited, ProbeResult, TimerFired]

# -- instructions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullImage:
    container: str
    image: str
    policy: str
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class CreateSandbox:
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class StartContainer:
    container: str
    # The container's restartCount at this start: names its log file, so --previous works.
    attempt: int
    init: bool
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class StopContainer:
    container: str
    grace_seconds: int
    reason: str
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class StartProbes:
    """Begin probing a container that just started (liveness, readiness, startup)."""

    container: str
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class RemoveSandbox:
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    key: tuple
    delay: float
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class ReportStatus:
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class DeletePodObject:
    """Delete the pod object with grace 0 (its containers are gone)."""

    uid: str
    stimulus_id: str


@dataclass(frozen=True, slots=True)
class ForgetPod:
    """Nothing is left of the pod, on the node or in the API: drop the machine."""

    stimulus_id: str


Instruction = Union[PullImage, CreateSandbox, StartContainer, StopContainer, StartProbes, RemoveSandbox,
                    SetTimer, ReportStatus, DeletePodObject, ForgetPod]
