"""Admission: defaulting and validation of objects on their way into the store.

Kind-specific rules live in defaulting.py and validation.py; this class is the one seam the
verbs call, so tests and other front ends can swap it.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.control.api import defaulting, validation
from shoal.control.api.validation.memo import SpecMemo
from shoal.proto.kinds import KindInfo

# Kinds whose defaults and validity do not depend on the object's name, uid or creation time, so
# that objects equal but for those are admitted alike (a Job's defaults read its name and uid).
_ADMITTED_ALIKE = frozenset(("Pod",))


class Admission:
    def __init__(self) -> None:
        # Created objects that were admitted, defaulted, by their content but name, uid and
        # creationTimestamp: the pods of one workload differ in nothing else.
        self._admitted: SpecMemo = SpecMemo()

    def admit_create(self, info: KindInfo, msg) -> None:
        """default then validate, for a create; an object equal to one admitted before but for
        its name, uid and creationTimestamp takes that one's defaulted form and has only its
        name checked. Raises errors.Invalid as validate does."""
        if info.kind not in _ADMITTED_ALIKE or type(self).default is not Admission.default \
                or type(self).validate is not Admission.validate:
            self.default(info, msg)
            self.validate(info, msg, None)
            return
        meta = msg.metadata
        name, uid, created = meta.name, meta.uid, meta.creation_timestamp.seconds
        meta.name = ""
        meta.uid = ""
        meta.ClearField("creation_timestamp")
        key = msg.SerializeToString(deterministic=True)
        known = self._admitted.get(key)
        if known is not None:
            msg.CopyFrom(known)
            meta = msg.metadata  # wrappers taken before CopyFrom no longer see the message
        meta.name = name
        meta.uid = uid
        meta.creation_timestamp.seconds = created
        if known is not None:
            validation.validate_name(info, name, meta.generate_name)
            return
        self.default(info, msg)
        self.validate(info, msg, None)
        if self._admitted.wants(key):
            admitted = type(msg)()
            admitted.CopyFrom(msg)
            admitted.metadata.name = ""
            admitted.metadata.uid = ""
            admitted.metadata.ClearField("creation_timestamp")
            self._admitted.put(key, admitted)

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
