"""What the lifecycle state machine needs to know of a pod: small frozen views of the Pod message.

The machine never sees protobuf; the agent turns each Pod it observes into a ``PodView`` with
``pod_view(pod)``, and two views compare equal when nothing the machine cares about changed (a
status write of our own, a label change), so re-observing a pod is cheap and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_GRACE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    image: str
    # Always, IfNotPresent or Never (the API fills it in; "" is treated as IfNotPresent).
    pull_policy: str = "IfNotPresent"
    has_readiness_probe: bool = False
    has_startup_probe: bool = False
    has_liveness_probe: bool = False


@dataclass(frozen=True, slots=True)
class PodView:
    uid: str
    namespace: str
    name: str
    containers: tuple[ContainerView, ...]
    init_containers: tuple[ContainerView, ...] = ()
    # Always, OnFailure or Never.
    restart_policy: str = "Always"
    termination_grace_seconds: int = DEFAULT_GRACE_SECONDS
    # Set once the API has marked the pod Terminating (metadata.deletionTimestamp).
    deletion_requested: bool = False
    # metadata.deletionGracePeriodSeconds when deletion was requested.
    deletion_grace_seconds: int | None = None
    labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def stop_grace(self) -> int:
        """Seconds containers get between SIGTERM and SIGKILL when the pod stops."""
        if self.deletion_grace_seconds is not None:
            return max(0, self.deletion_grace_seconds)
        return max(0, self.termination_grace_seconds)


def _container_view(c) -> ContainerView:
    return ContainerView(
        name=c.name,
        image=c.image,
        pull_policy=c.image_pull_policy or "IfNotPresent",
        has_readiness_probe=c.HasField("readiness_probe"),
        has_startup_probe=c.HasField("startup_probe"),
        has_liveness_probe=c.HasField("liveness_probe"),
    )


def pod_view(pod) -> PodView:
    """The machine's view of a shoal.v1.Pod."""
    spec, meta = pod.spec, pod.metadata
    grace = spec.termination_grace_period_seconds if spec.HasField("termination_grace_period_seconds") else DEFAULT_GRACE_SECONDS
    deleting = meta.HasField("deletion_timestamp")
    return PodView(
        uid=meta.uid,
        namespace=meta.namespace or "default",
        name=meta.name,
        containers=tuple(_container_view(c) for c in spec.containers),
        init_containers=tuple(_container_view(c) for c in spec.init_containers),
        restart_policy=spec.restart_policy or "Always",
        termination_grace_seconds=int(grace),
        deletion_requested=deleting,
        deletion_grace_seconds=int(meta.deletion_grace_period_seconds)
        if deleting and meta.HasField("deletion_grace_period_seconds") else None,
        labels=tuple(sorted(meta.labels.items())),
    )
