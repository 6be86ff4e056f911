"""The volume plugins of the default profile: VolumeBinding is real (volume_binding.py: claims
bound, volumes' node affinity); VolumeRestrictions, NodeVolumeLimits and VolumeZone are accepted
so that profiles naming them load, and pass every node (Shoal does not model CSI attach limits
or zone-labelled volumes). The local-path provisioner makes a volume on the node its first pod
is bound to (control/controllers/local_path.py); VolumeBinding keeps later pods of the claim on
that node, and an agent refuses to mount a volume whose nodeAffinity excludes its node
(node/volumes.py).
"""

from __future__ import annotations

from ..framework.interface import FILTER, PRE_FILTER, Cycle, Plugin

VOLUME_RESTRICTIONS = "VolumeRestrictions"
NODE_VOLUME_LIMITS = "NodeVolumeLimits"
VOLUME_BINDING = "VolumeBinding"
VOLUME_ZONE = "VolumeZone"
NAMES = (VOLUME_RESTRICTIONS, NODE_VOLUME_LIMITS, VOLUME_BINDING, VOLUME_ZONE)


class VolumePlaceholder(Plugin):
    POINTS = frozenset({PRE_FILTER, FILTER})

    def __init__(self, name: str, args=None, profile=None) -> None:
        super().__init__(args, profile)
        self.NAME = name  # type: ignore[misc]

    def filter_static(self, cycle: Cycle) -> bool:
        return True

    def score_constant(self, cycle: Cycle, mask) -> bool:
        return True


def factory(name: str):
    if name == VOLUME_BINDING:
        from .volume_binding import new as new_volume_binding

        return new_volume_binding
    cls = VolumePlaceholder

    def new(args, profile) -> VolumePlaceholder:
        return cls(name, args, profile)

    return new
