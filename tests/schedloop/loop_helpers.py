"""Builders for the loop's unit tests: Node and Pod messages with uids, resourceVersions and
creation times, as the API would hand them to the informers."""

from __future__ import annotations

import itertools

from sched_builders import node, pod
from shoal.proto import manifests

_rv = itertools.count(100)


def node_msg(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", **kw):
    msg = manifests.from_dict(node(name, cpu, memory, pods, **kw))
    msg.metadata.resource_version = str(next(_rv))
    return msg


def pod_msg(name: str, cpu: str | None = None, memory: str | None = None, *, uid: str | None = None,
            created: int = 1_700_000_000, node_name: str | None = None, scheduler_name: str = "default-scheduler",
            **kw):
    msg = manifests.from_dict(pod(name, cpu, memory, **kw))
    msg.metadata.uid = uid or f"uid-{name}"
    msg.metadata.resource_version = str(next(_rv))
    msg.metadata.creation_timestamp.seconds = created
    msg.metadata.generation = 1
    msg.spec.scheduler_name = scheduler_name
    if node_name:
        msg.spec.node_name = node_name
    return msg


def bound(msg, node_name: str):
    """The pod as the watch shows it after a bind."""
    out = type(msg)()
    out.CopyFrom(msg)
    out.spec.node_name = node_name
    out.metadata.resource_version = str(next(_rv))
    return out


def deleting(msg):
    out = type(msg)()
    out.CopyFrom(msg)
    out.metadata.deletion_timestamp.seconds = 1_700_000_100
    out.metadata.resource_version = str(next(_rv))
    return out
