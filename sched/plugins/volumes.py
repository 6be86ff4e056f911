"""The volume plugins of the default profile (VolumeRestrictions, NodeVolumeLimits,
VolumeBinding, VolumeZone): accepted so that profiles naming them load, and passing every node.

Shoal's scheduler does not yet model PersistentVolumes, CSI attach limits or volume topology;
pods with such volumes are placed as if their volumes imposed nothing.
"""

from __future__ import annotations

from ..framework.interface import (
    FILTER,
    PRE_FILTER,
    PRE_SCORE,
    RESERVE,
    SCORE,
    Cycle,
    Plugin,
)

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


class VolumeBindingPlaceholder(VolumePlaceholder):
    POINTS = frozenset({PRE_FILTER, FILTER, PRE_SCORE, SCORE, RESERVE})


def factory(name: str):
    cls = VolumeBindingPlaceholder if name == VOLUME_BINDING else VolumePlaceholder

    def new(args, profile) -> VolumePlaceholder:
        return cls(name, args, profile)

    return new
