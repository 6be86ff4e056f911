"""PodGroups (gangs): which group a pod belongs to, and what the group asks for.

A pod joins a group with the label `scheduling.x-k8s.io/pod-group: <name>` (the label of the
Kubernetes scheduler-plugins coscheduling plugin; Volcano uses an annotation instead). A label,
not an annotation or a spec field, so a selector finds a gang's pods (`shoal get pods -l
scheduling.x-k8s.io/pod-group=train`) and the scheduler's pod classes, which carry labels, say it
without parsing anything more. The group is the PodGroup of that name in the pod's namespace;
a pod naming a group that does not exist (yet) waits, as in coscheduling.
"""

from __future__ import annotations

from collections.abc import Mapping

POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"
DEFAULT_SCHEDULE_TIMEOUT = 60.0  # seconds, when the PodGroup sets none (coscheduling's default)


def group_of(namespace: str, labels: Mapping[str, str]) -> str | None:
    """"namespace/name" of the pod's group, or None for a pod in no group."""
    name = labels.get(POD_GROUP_LABEL)
    return f"{namespace or 'default'}/{name}" if name else None


def group_key(pg) -> str:
    return f"{pg.metadata.namespace or 'default'}/{pg.metadata.name}"


def min_member(pg) -> int:
    return max(1, int(pg.spec.min_member))


def schedule_timeout(pg) -> float:
    spec = pg.spec
    return float(spec.schedule_timeout_seconds) if spec.HasField("schedule_timeout_seconds") else DEFAULT_SCHEDULE_TIMEOUT
