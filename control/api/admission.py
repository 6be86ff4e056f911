"""Admission: defaulting and validation of objects on their way into the store.

Kind-specific rules live in defaulting.py and validation.py; this class is the one seam the
verbs call, so tests and other front ends can swap it.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.control.api import defaulting, validation
from shoal.proto.kinds import KindInfo


class Admission:
    def default(self, info: KindInfo, msg) -> None:
        """Fills in Kubernetes' defaults in place (never overwrites what the user set)."""
        defaulting.apply_defaults(info, msg)

    def validate(self, info: KindInfo, msg, old) -> None:
        """Raises errors.Invalid naming the kind, the object and the field path."""
        validation.validate(info, msg, old)

    @staticmethod
    def mark_scheduled(pod, now: Timestamp) -> None:
        """What a binding does to the pod's status: PodScheduled=True."""
        for cond in pod.status.conditions:
            if cond.type == "PodScheduled":
                if cond.status != "True":
                    cond.status = "True"
                    cond.reason = ""
                    cond.message = ""
                    cond.last_transition_time.CopyFrom(now)
                return
        cond = pod.status.conditions.add()
        cond.type = "PodScheduled"
        cond.status = "True"
        cond.last_transition_time.CopyFrom(now)
