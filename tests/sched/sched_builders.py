"""Builders of Kubernetes-shaped Node and Pod manifests (dicts) for the scheduler's tests."""

from __future__ import annotations

from typing import Any

from shoal.proto import manifests


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    *,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    images: list[tuple[list[str], int]] | None = None,
    extra: dict[str, str] | None = None,
    hostname: bool = True,
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    all_labels = {"kubernetes.io/hostname": name} if hostname else {}
    all_labels.update(labels or {})
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {},
        "status": {"allocatable": allocatable},
    }
    if taints:
        doc["spec"]["taints"] = taints
    if unschedulable:
        doc["spec"]["unschedulable"] = True
    if images:
        doc["status"]["images"] = [{"names": names, "sizeBytes": size} for names, size in images]
    return doc


def pod(
    name: str,
    cpu: str | None = None,
    memory: str | None = None,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    priority: int | None = None,
    node_name: str | None = None,
    node_selector: dict[str, str] | None = None,
    affinity: dict[str, Any] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    spread: list[dict[str, Any]] | None = None,
    host_ports: list[int] | None = None,
    image: str = "registry.k8s.io/pause:3.10",
    extra: dict[str, str] | None = None,
    init: list[dict[str, Any]] | None = None,
    overhead: dict[str, str] | None = None,
    preemption_policy: str | None = None,
    gates: list[str] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    requests.update(extra or {})
    container: dict[str, Any] = {"name": "c", "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: dict[str, Any] = {"containers": [container]}
    if priority is not None:
        spec["priority"] = priority
    if node_name:
        spec["nodeName"] = node_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if tolerations:
        spec["tolerations"] = tolerations
    if spread:
        spec["topologySpreadConstraints"] = spread
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    if preemption_policy:
        spec["preemptionPolicy"] = preemption_policy
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def msgs(docs: list[dict[str, Any]]) -> list:
    return [manifests.from_dict(d) for d in docs]


def term(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": list(values)} if values else {"key": key, "operator": op}


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}
