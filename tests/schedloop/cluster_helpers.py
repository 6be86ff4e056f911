"""Helpers for the loop's tests through a real server: create manifests, wait for binds, read
the bind order back (the revision of each pod's bind)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shoal.proto import manifests


def create_all(client, docs: list[dict[str, Any]], chunk: int = 250) -> None:
    for i in range(0, len(docs), chunk):
        resp = client.bulk_apply([manifests.from_dict(d) for d in docs[i:i + chunk]], create_only=True)
        bad = [r.message for r in resp.results if r.code]
        assert not bad, bad[:3]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def pods_in(client, namespace: str) -> dict[str, Any]:
    return {p.metadata.name: p for p in client.list_items("Pod", namespace)}


def all_bound(client, namespace: str) -> dict[str, Any] | None:
    """The namespace's pods once every one of them is bound (None before)."""
    pods = pods_in(client, namespace)
    return pods if pods and all(p.spec.node_name for p in pods.values()) else None


def bound_pod(client, namespace: str, name: str):
    """The pod once it is bound (None before)."""
    pod = client.get("Pod", name, namespace)
    return pod if pod.spec.node_name else None


def condition(pod, type_: str):
    return next((c for c in pod.status.conditions if c.type == type_), None)


def events_for(client, namespace: str, name: str) -> list:
    return [e for e in client.list_items("Event", namespace) if e.involved_object.name == name]


def bind_order(pods: dict[str, Any], namespace: str) -> dict[str, str]:
    """{"ns/name": node} in the order the binds were committed (nothing writes a pod after its
    bind in these tests, so its resourceVersion is its bind's revision)."""
    bound = sorted((int(p.metadata.resource_version), name, p.spec.node_name) for name, p in pods.items() if p.spec.node_name)
    return {f"{namespace}/{name}": node for _rv, name, node in bound}
