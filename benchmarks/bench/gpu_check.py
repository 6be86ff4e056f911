"""An independent check of GPU placements: plain Python, sharing no code with shoal.sched.gpu.

Replays (event, pod, node, devices) in order over per-node dicts and reports every broken rule:
a device over 1000 milli, cpu or memory over the node's capacity, the wrong number of devices
or a device the node does not have, a whole-GPU pod on a device someone else uses, a GPU model
the pod did not allow, a pod leaving that was never placed.
"""

from __future__ import annotations

from collections.abc import Iterable

from .alibaba_trace import TraceNode, TracePod

BIND = "bind"
LEAVE = "leave"


def check_placements(nodes: Iterable[TraceNode], pods: list[TracePod],
                     events: Iterable[tuple[str, int, str, tuple[int, ...]]]) -> list[str]:
    """events: (BIND | LEAVE, index into pods, node name, devices). Returns problems (empty: valid)."""
    by_name = {n.name: n for n in nodes}
    cpu = {name: 0 for name in by_name}
    mem = {name: 0 for name in by_name}
    used: dict[str, list[int]] = {name: [0] * n.gpus for name, n in by_name.items()}
    where: dict[int, tuple[str, tuple[int, ...]]] = {}
    problems: list[str] = []
    for kind, i, node_name, devices in events:
        pod = pods[i]
        if kind == LEAVE:
            if i not in where:
                problems.append(f"pod {pod.name}: left without being placed")
                continue
            node_name, devices = where.pop(i)
            sign = -1
        else:
            node = by_name.get(node_name)
            if node is None:
                problems.append(f"pod {pod.name}: unknown node {node_name!r}")
                continue
            if i in where:
                problems.append(f"pod {pod.name}: placed twice")
            where[i] = (node_name, tuple(devices))
            sign = 1
            share = pod.gpu.milli if pod.gpu.count else 0
            if len(devices) != pod.gpu.count or len(set(devices)) != len(devices):
                problems.append(f"pod {pod.name} on {node_name}: {pod.gpu.count} devices asked, got {list(devices)}")
            if pod.gpu.count and pod.gpu.models and node.model not in pod.gpu.models:
                problems.append(f"pod {pod.name} on {node_name}: model {node.model} not in {list(pod.gpu.models)}")
            for d in devices:
                if not 0 <= d < node.gpus:
                    problems.append(f"pod {pod.name} on {node_name}: no device {d} (node has {node.gpus})")
                elif share >= 1000 and used[node_name][d]:
                    problems.append(f"pod {pod.name} on {node_name}: whole device {d} already in use")
        share = pod.gpu.milli if pod.gpu.count else 0
        cpu[node_name] += sign * pod.cpu_milli
        mem[node_name] += sign * pod.memory_mib
        for d in devices:
            if 0 <= d < len(used[node_name]):
                used[node_name][d] += sign * share
                if used[node_name][d] > 1000:
                    problems.append(f"node {node_name}: device {d} at {used[node_name][d]} milli after pod {pod.name}")
        node = by_name[node_name]
        if cpu[node_name] > node.cpu_milli:
            problems.append(f"node {node_name}: cpu {cpu[node_name]} > {node.cpu_milli} after pod {pod.name}")
        if mem[node_name] > node.memory_mib:
            problems.append(f"node {node_name}: memory {mem[node_name]} > {node.memory_mib} after pod {pod.name}")
    return problems
