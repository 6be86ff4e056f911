"""UtilizationWindow: the latest cpu and memory sample of every node and pod, in memory.

Agents report on ReportUtilization streams (a node's report lists all its pods); `shoal top` and
the HorizontalPodAutoscaler read through GetUtilization. Nothing is stored: after a server restart
the window fills again with the agents' next reports. A node that stops reporting (agent gone,
stream broken) drops out once its newest sample arrived more than ``max_age`` seconds (or three of
its reporting intervals) ago, as a node without fresh metrics drops out of metrics-server.

    ReportUtilization --record(NodeUtilization)--> UtilizationWindow --nodes() / pods(ns)--> GetUtilization
                                                     node name -> NodeSample (with its PodSamples)
                                                     (ns, pod) -> node name (the pod's newest report)

Plain data in, plain data out: no I/O and no clock of its own (``now`` is passed in), so tests drive
it with samples and times.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.control.api.errors import Invalid

DEFAULT_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ContainerSample:
    name: str
    cpu_millis: int
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class PodSample:
    namespace: str
    name: str
    uid: str
    node_name: str
    containers: tuple[ContainerSample, ...]
    timestamp: float
    window: float

    @property
    def cpu_millis(self) -> int:
        return sum(c.cpu_millis for c in self.containers)

    @property
    def memory_bytes(self) -> int:
        return sum(c.memory_bytes for c in self.containers)


@dataclass(frozen=True, slots=True)
class NodeSample:
    name: str
    cpu_millis: int
    memory_bytes: int
    timestamp: float
    window: float
    pods: tuple[PodSample, ...]


def node_sample_from_proto(msg) -> NodeSample:
    """A NodeSample from a shoal.v1.NodeUtilization; Invalid if it names no node."""
    if not msg.node_name:
        raise Invalid("utilization report: nodes[].nodeName is required")
    timestamp = msg.timestamp.ToNanoseconds() / 1e9
    window = msg.window.ToNanoseconds() / 1e9
    pods = tuple(
        PodSample(p.namespace, p.name, p.uid, msg.node_name,
                  tuple(ContainerSample(c.name, max(0, c.cpu_millis), max(0, c.memory_bytes)) for c in p.containers),
                  timestamp, window)
        for p in msg.pods
        if p.name
    )
    return NodeSample(msg.node_name, max(0, msg.cpu_millis), max(0, msg.memory_bytes), timestamp, window, pods)


class UtilizationWindow:
    """The newest sample per node and per pod. ``record`` replaces a node's sample whole, so a
    pod the node no longer reports is gone from ``pods()`` at once."""

    def __init__(self, *, max_age: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.max_age = max_age
        self._nodes: dict[str, NodeSample] = {}
        # (namespace, name) -> the node whose newest report lists the pod (a pod recreated on
        # another node moves with the newer report).
        self._pod_nodes: dict[tuple[str, str], str] = {}
        # When each node's newest sample arrived, by the server's clock: expiry must not depend
        # on the agents' clocks being right.
        self._received: dict[str, float] = {}
        self.samples_recorded = 0

    def record(self, sample: NodeSample, now: float) -> None:
        """Takes ``sample`` as its node's newest, received at ``now``."""
        previous = self._nodes.get(sample.name)
        if previous is not None and sample.timestamp < previous.timestamp:
            return  # an older sample arriving late (a reconnected stream) changes nothing
        if previous is not None:
            for pod in previous.pods:
                key = (pod.namespace, pod.name)
                if self._pod_nodes.get(key) == sample.name:
                    del self._pod_nodes[key]
        self._nodes[sample.name] = sample
        self._received[sample.name] = now
        for pod in sample.pods:
            self._pod_nodes[(pod.namespace, pod.name)] = sample.name
        self.samples_recorded += 1

    def expire(self, now: float) -> None:
        """Drops the nodes (and their pods) whose newest sample arrived more than max_age ago (or
        three of the node's reporting intervals, if longer)."""
        for name, received in list(self._received.items()):
            if now - received > max(self.max_age, 3 * self._nodes[name].window):
                sample = self._nodes.pop(name)
                del self._received[name]
                for pod in sample.pods:
                    key = (pod.namespace, pod.name)
                    if self._pod_nodes.get(key) == name:
                        del self._pod_nodes[key]

    def nodes(self, now: float) -> list[NodeSample]:
        self.expire(now)
        return sorted(self._nodes.values(), key=lambda s: s.name)

    def pods(self, now: float, namespace: str = "") -> list[PodSample]:
        """Every pod's newest sample, of one namespace or ("") all, by namespace then name."""
        self.expire(now)
        out = []
        for (ns, name), node in self._pod_nodes.items():
            if namespace and ns != namespace:
                continue
            out.append(next(p for p in self._nodes[node].pods if p.namespace == ns and p.name == name))
        return sorted(out, key=lambda p: (p.namespace, p.name))
