"""NodeName: a pod that names a node (spec.nodeName) fits only that node."""

from __future__ import annotations

import numpy as np

from ..framework.interface import FILTER, Cycle, FilterVerdict, Plugin
from ..framework.status import Status

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(Plugin):
    NAME = NAME
    POINTS = frozenset({FILTER})

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        wanted = cycle.cls.node_name
        if not wanted:
            return None
        fail = np.ones(cycle.n_nodes, dtype=bool)
        n = cycle.snapshot.node_index.get(wanted)
        if n is not None:
            fail[n] = False
        return FilterVerdict.uniform(fail, Status.unresolvable(ERR_REASON, plugin=NAME))

    def filter_static(self, cycle: Cycle) -> bool:
        return True


def new(args, profile) -> NodeName:
    return NodeName(args, profile)
