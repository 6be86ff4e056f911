"""NodePorts: the pod's host ports must be free on the node (HostPortInfo.CheckConflict: a
wildcard 0.0.0.0 conflicts with the same protocol/port on any IP, a specific IP with itself and
with the wildcard)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..framework.interface import FILTER, PRE_FILTER, Cycle, FilterVerdict, Plugin
from ..framework.status import Status
from ..podinfo import BIND_ALL_IP, HostPort

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


def conflicts(wanted: Iterable[HostPort], used: Iterable[HostPort]) -> bool:
    used = list(used)
    for port in wanted:
        for u in used:
            if u.protocol != port.protocol or u.port != port.port:
                continue
            if port.ip == BIND_ALL_IP or u.ip in (BIND_ALL_IP, port.ip):
                return True
    return False


class NodePorts(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER})

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        wanted = cycle.cls.host_ports
        if not wanted:
            return None
        fail = np.zeros(cycle.n_nodes, dtype=bool)
        for node, used in cycle.snapshot.ports.items():
            if used and conflicts(wanted, used):
                fail[node] = True
        if not fail.any():
            return None
        return FilterVerdict.uniform(fail, Status.unschedulable(ERR_REASON, plugin=NAME))

    def filter_static(self, cycle: Cycle) -> bool:
        return not cycle.cls.host_ports


def new(args, profile) -> NodePorts:
    return NodePorts(args, profile)
