"""What the scheduling state asks the loop to do (it does no I/O itself).

    Bind          ClusterService.Bind(pod -> node), with the pod's uid
    SetScheduled  the pod's PodScheduled=False condition (reason Unschedulable, the FitError
                  message) and/or status.nominatedNodeName ("" clears it)
    RecordEvent   an Event about the pod (repeats folded into one Event's count)
    Evict         preemption: DisruptionTarget on the victim, Delete with its uid, a Preempted
                  event
"""

from __future__ import annotations

from dataclasses import dataclass

COMPONENT = "default-scheduler"  # Events' source.component, as kube-scheduler's
UNSCHEDULABLE = "Unschedulable"
POD_SCHEDULED = "PodScheduled"
DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"


@dataclass(frozen=True, slots=True)
class PodRef:
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Bind:
    pod: PodRef
    node: str
    annotations: tuple[tuple[str, str], ...] = ()  # set on the pod with the binding (GPU devices)


def bind_to(snapshot, pod_ref: PodRef, node: str) -> Bind:
    """The Bind of an assumed pod, with the GPU devices the snapshot chose for it, if any."""
    tracker = getattr(snapshot, "gpu_devices", None)
    held = tracker.annotation(f"{pod_ref.namespace}/{pod_ref.name}") if tracker is not None else {}
    return Bind(pod_ref, node, tuple(sorted(held.items())))


@dataclass(frozen=True, slots=True)
class SetScheduled:
    pod: PodRef
    message: str | None  # PodScheduled=False with this message (None: leave the condition)
    nominated: str | None = None  # status.nominatedNodeName ("" clears; None: leave it)


@dataclass(frozen=True, slots=True)
class RecordEvent:
    pod: PodRef
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Evict:
    victim: PodRef
    preemptor: PodRef
    node: str
    scheduler_name: str


Action = Bind | SetScheduled | RecordEvent | Evict


def scheduled_message(pod: PodRef, node: str) -> str:
    return f"Successfully assigned {pod.namespace}/{pod.name} to {node}"


def preempted_message(preemptor: PodRef, node: str) -> str:
    return f"Preempted by pod {preemptor.uid} on node {node}"


def disruption_message(scheduler_name: str) -> str:
    return f"{scheduler_name}: preempting to accommodate a higher priority pod"
