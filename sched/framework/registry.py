"""The in-tree registry: plugin name -> factory(args, profile) -> plugin.

A factory validates its pluginConfig args and raises PluginArgsError naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..plugins import (
    balanced_allocation,
    default_binder,
    default_preemption,
    gpu_fragmentation,
    gpu_share,
    image_locality,
    inter_pod_affinity,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    priority_sort,
    scheduling_gates,
    taint_toleration,
    volumes,
)
from .interface import Plugin

Factory = Callable[[Mapping[str, Any] | None, Any], Plugin]

_MODULES = (
    scheduling_gates,
    priority_sort,
    node_unschedulable,
    node_name,
    taint_toleration,
    node_affinity,
    node_ports,
    node_resources_fit,
    pod_topology_spread,
    inter_pod_affinity,
    default_preemption,
    balanced_allocation,
    image_locality,
    default_binder,
    gpu_share,  # (sched/gpu) not in the default profile: enabled by name
    gpu_fragmentation,
)


def in_tree_registry() -> dict[str, Factory]:
    registry: dict[str, Factory] = {m.NAME: m.new for m in _MODULES}
    for name in volumes.NAMES:
        registry[name] = volumes.factory(name)
    return registry


REGISTRY: dict[str, Factory] = in_tree_registry()
