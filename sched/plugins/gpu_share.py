"""GpuShare: a pod asking for GPUs (alibabacloud.com/gpu-milli, see shoal.sched.gpu.request)
fits a node only if `count` of its devices each have `milli` free, and they are of a model the
pod allows. NodeResourcesFit only sees the node's total, which a share spread over two half-used
GPUs would pass; this filter looks at every device (the snapshot's GPU tracker).

Not in the default profile (kube-scheduler has no such plugin): enable it by name, e.g.
profiles[0].plugins.multiPoint.enabled: [{name: GpuShare}, {name: GpuFragmentation, weight: 5}].
"""

from __future__ import annotations

import numpy as np

from ..framework.interface import FILTER, PRE_FILTER, Cycle, FilterVerdict, Plugin
from ..framework.status import Status
from ..gpu.devices import PodDemand, model_allowed
from ..gpu.request import GpuRequest, GpuRequestError
from ..gpu.tracker import devices_of, gpu_request_of

NAME = "GpuShare"
ERR_REASON_DEVICES = "Insufficient GPU devices"  # the node has fewer GPUs than the pod asks
ERR_REASON_SHARE = "Insufficient GPU share"  # it has them, but not enough with the share free
ERR_REASON_MODEL = "node(s) didn't have the requested GPU model"
_REQUEST = "GpuShare/request"


def request_of(cycle: Cycle) -> GpuRequest:
    return cycle.cached(_REQUEST, 0, lambda: gpu_request_of(cycle.cls))


class GpuShare(Plugin):
    NAME = NAME
    POINTS = frozenset({PRE_FILTER, FILTER})

    def pre_filter(self, cycle: Cycle) -> Status:
        try:
            req = request_of(cycle)
        except GpuRequestError as exc:
            return Status.unresolvable(str(exc), plugin=NAME)
        return Status() if req.count else Status.skip()

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        try:
            req = request_of(cycle)
        except GpuRequestError:
            return None  # PreFilter already rejected the pod
        if not req.count:
            return None
        nodes = devices_of(cycle.snapshot).state()
        no_model = ~model_allowed(nodes.model, nodes.model_mask(req.models)) if req.models else np.zeros(nodes.n_nodes, bool)
        few = nodes.gpu_count < req.count
        short = (nodes.gpu_free >= req.milli).sum(axis=1) < req.count
        fail = no_model | few | short
        if not fail.any():
            return None
        statuses = [
            Status.unschedulable(ERR_REASON_SHARE, plugin=NAME),
            Status.unresolvable(ERR_REASON_DEVICES, plugin=NAME),
            Status.unresolvable(ERR_REASON_MODEL, plugin=NAME),
        ]
        reason = np.where(no_model, 2, np.where(few, 1, 0))
        return FilterVerdict(fail, statuses, reason)

    def filter_static(self, cycle: Cycle) -> bool:
        try:
            return not request_of(cycle).count
        except GpuRequestError:
            return True


def demand_of(cycle: Cycle, req: GpuRequest, nodes) -> PodDemand:
    """The pod as the device model sees it (cpu and memory from the class's requests)."""
    state = cycle.state
    return PodDemand(int(state.req[0]), int(state.req[1]), req, nodes.model_mask(req.models) if req.count else 0)


def new(args, profile) -> GpuShare:
    return GpuShare(args, profile)
