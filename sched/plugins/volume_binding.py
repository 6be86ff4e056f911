"""VolumeBinding: a pod goes where its PersistentVolumeClaims' volumes can be used.

PreFilter, per claim the pod names:
- missing: `persistentvolumeclaim "NAME" not found` (unresolvable);
- being deleted: `persistentvolumeclaim "NAME" is being deleted` (unresolvable);
- unbound, of a class that binds at once (an explicit class other than the local-path
  provisioner's, or "" for no class): "pod has unbound immediate PersistentVolumeClaims"
  (unresolvable until a volume is bound: the claim's change re-queues the pod);
- unbound, of a WaitForFirstConsumer class (`local-path`, the default when a claim names no
  class): nothing here; the provisioner makes the volume on the node the pod is bound to.
Filter: a bound claim's volume with spec.nodeAffinity.required admits only the nodes its terms
match ("node(s) had volume node affinity conflict", unresolvable). A bound claim whose volume
is not known yet: "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)".

The verdict depends on the nodes, the claims and the volumes, never on the bound pods: it is
static for preemption's dry runs.
"""

from __future__ import annotations

import numpy as np

from .. import labels as lbl
from ..framework.interface import FILTER, PRE_FILTER, PRE_SCORE, RESERVE, SCORE, Cycle, FilterVerdict, Plugin
from ..framework.status import Status

NAME = "VolumeBinding"
ERR_REASON_CLAIM_NOT_FOUND = 'persistentvolumeclaim "{name}" not found'
ERR_REASON_CLAIM_DELETING = 'persistentvolumeclaim "{name}" is being deleted'
ERR_REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
ERR_REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
# The local-path provisioner's class (control/controllers/local_path.py): binds on first use.
WAIT_FOR_FIRST_CONSUMER_CLASSES = frozenset({"local-path"})


def waits_for_first_consumer(claim) -> bool:
    if not claim.spec.HasField("storage_class_name"):
        return True  # the default class is local-path's
    return claim.spec.storage_class_name in WAIT_FOR_FIRST_CONSUMER_CLASSES


def volume_affinity(volume) -> lbl.RequiredNodeAffinity | None:
    """The volume's required node terms (None: usable from every node)."""
    if not volume.spec.HasField("node_affinity") or not volume.spec.node_affinity.HasField("required"):
        return None
    parsed = (lbl.node_selector_term(t) for t in volume.spec.node_affinity.required.node_selector_terms)
    return lbl.RequiredNodeAffinity(None, tuple(t for t in parsed if t is not None))


class VolumeBinding(Plugin):
    NAME = NAME
    # Score and Reserve as kube-scheduler's (profiles name them); its score is constant here.
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE, RESERVE})

    def pre_filter(self, cycle: Cycle) -> Status:
        claims = cycle.cls.claims
        if not claims:
            return Status.skip()
        snapshot = cycle.snapshot
        for name in claims:
            claim = snapshot.claims.get(f"{cycle.cls.namespace}/{name}")
            if claim is None:
                return Status.unresolvable(ERR_REASON_CLAIM_NOT_FOUND.format(name=name), plugin=NAME)
            if claim.metadata.HasField("deletion_timestamp"):
                return Status.unresolvable(ERR_REASON_CLAIM_DELETING.format(name=name), plugin=NAME)
            if not claim.spec.volume_name and not waits_for_first_consumer(claim):
                return Status.unresolvable(ERR_REASON_UNBOUND_IMMEDIATE, plugin=NAME)
        return Status()

    def filter(self, cycle: Cycle) -> FilterVerdict | None:
        snapshot = cycle.snapshot
        version = (snapshot.node_version, snapshot.holders_version)
        return cycle.cached(f"{NAME}/filter", version, lambda: self._verdict(cycle))

    def _verdict(self, cycle: Cycle) -> FilterVerdict | None:
        snapshot = cycle.snapshot
        allowed = np.ones(snapshot.n_nodes, dtype=bool)
        for name in cycle.cls.claims:
            claim = snapshot.claims.get(f"{cycle.cls.namespace}/{name}")
            if claim is None or not claim.spec.volume_name:
                continue  # PreFilter has judged it
            volume = snapshot.volumes.get(claim.spec.volume_name)
            if volume is None:
                return FilterVerdict.uniform(np.ones(snapshot.n_nodes, dtype=bool),
                                             Status.unresolvable(ERR_REASON_PV_NOT_EXIST, plugin=NAME))
            affinity = volume_affinity(volume)
            if affinity is not None:
                allowed &= snapshot.match_required_affinity(affinity)
        if allowed.all():
            return None
        return FilterVerdict.uniform(~allowed, Status.unresolvable(ERR_REASON_NODE_CONFLICT, plugin=NAME))

    def filter_static(self, cycle: Cycle) -> bool:
        return True

    def score_constant(self, cycle: Cycle, mask) -> bool:
        return True


def new(args, profile) -> VolumeBinding:
    return VolumeBinding(args, profile)
