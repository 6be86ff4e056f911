"""The arithmetic of Deployments (Kubernetes' pkg/controller/deployment/util): template hashes,
surge and unavailability bounds, revision and replica annotations, conditions and status.
Pure functions over apps/v1 messages."""

from __future__ import annotations

import math
from typing import Iterable

from shoal.control.controllers.meta import clone, int_or_percent, seconds, timestamp
from shoal.v1 import apps_pb2, meta_pb2

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Deployment annotations that are not copied onto its ReplicaSets.
ANNOTATIONS_NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS})

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
# Progressing reasons.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
RS_UPDATED = "ReplicaSetUpdated"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
# Available reasons.
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_INT32_MAX = 2**31 - 1
_DEFAULT_BOUND = meta_pb2.IntOrString(str_val="25%")


# -- hashes and templates ------------------------------------------------------------------------


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_without_hash(template):
    t = clone(template)
    t.metadata.labels.pop(HASH_LABEL, None)
    return t


def template_hash(template, collision_count: int = 0) -> str:
    """A short stable name for a pod template (controller.ComputeHash): FNV-32a of the
    template's deterministic serialization and the collision count, its decimal digits spelled
    in Kubernetes' vowel-free alphabet (so it never spells a word, nor starts a number)."""
    data = template_without_hash(template).SerializeToString(deterministic=True)
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(_fnv32a(data)))


def equal_ignore_hash(a, b) -> bool:
    """Whether two pod templates are the same but for the pod-template-hash label."""
    return template_without_hash(a) == template_without_hash(b)


# -- sizes ---------------------------------------------------------------------------------------


def replicas_of(obj) -> int:
    return obj.spec.replicas if obj.spec.HasField("replicas") else 1


def is_rolling(d) -> bool:
    return d.spec.strategy.type == "RollingUpdate"


def resolve_fenceposts(d) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods: surge rounds up, unavailable rounds down, and if both
    come out 0, unavailable is 1 (so a rollout can always move)."""
    rolling = d.spec.strategy.rolling_update
    desired = replicas_of(d)
    surge_bound = rolling.max_surge if rolling.max_surge.WhichOneof("value") else _DEFAULT_BOUND
    unavailable_bound = rolling.max_unavailable if rolling.max_unavailable.WhichOneof("value") else _DEFAULT_BOUND
    surge = int_or_percent(surge_bound, desired, round_up=True)
    unavailable = int_or_percent(unavailable_bound, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas_of(d))


def spec_total(rses: Iterable) -> int:
    return sum(replicas_of(rs) for rs in rses if rs is not None)


def available(rs) -> int:
    """The ReplicaSet's available pods as far as a rollout may count on them: its status, but
    never more than it is asked to keep (a scale-down the ReplicaSet controller has not acted
    on yet must not be counted as still available)."""
    return min(rs.status.available_replicas, replicas_of(rs))


def active(rses: Iterable) -> list:
    return [rs for rs in rses if rs is not None and replicas_of(rs) > 0]


def new_rs_replicas(d, all_rses: list, new_rs) -> int:
    """How many replicas the new ReplicaSet should have now (NewRSNewReplicas)."""
    if not is_rolling(d):
        return replicas_of(d)
    current = spec_total(all_rses)
    max_total = replicas_of(d) + max_surge(d)
    if current >= max_total:
        return replicas_of(new_rs)
    scale_up = min(max_total - current, replicas_of(d) - replicas_of(new_rs))
    return replicas_of(new_rs) + scale_up


def revision(rs) -> int:
    raw = rs.metadata.annotations.get(REVISION, "")
    return int(raw) if raw.isdigit() else 0


def max_revision(rses: Iterable) -> int:
    return max((revision(rs) for rs in rses if rs is not None), default=0)


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def replica_set_fraction(rs, d) -> int:
    """getReplicaSetFraction: the replicas this ReplicaSet gains (or loses) when the deployment
    is resized, in proportion to its share of the size before."""
    if replicas_of(d) == 0:
        return -replicas_of(rs)
    max_now = replicas_of(d) + max_surge(d)
    raw = rs.metadata.annotations.get(MAX_REPLICAS, "")
    before = int(raw) if raw.isdigit() else 0
    if before == 0:
        before = d.status.replicas or max_now
    return _round_half_away(replicas_of(rs) * max_now / before) - replicas_of(rs)


def proportion(rs, d, to_add: int, added: int) -> int:
    """GetProportion: this ReplicaSet's share of ``to_add``, never overshooting what is left."""
    if rs is None or replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def replicas_annotations_need_update(rs, desired: int, max_replicas: int) -> bool:
    ann = rs.metadata.annotations
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_replicas_annotations(rs, desired: int, max_replicas: int) -> bool:
    changed = replicas_annotations_need_update(rs, desired, max_replicas)
    rs.metadata.annotations[DESIRED_REPLICAS] = str(desired)
    rs.metadata.annotations[MAX_REPLICAS] = str(max_replicas)
    return changed


def set_new_rs_annotations(d, rs, new_revision: int, exists: bool) -> bool:
    """Copies the deployment's annotations, raises the revision (keeping the old one in the
    revision history, as a rollback does), and for a new ReplicaSet sets the replica
    annotations. Returns whether anything changed."""
    changed = False
    ann = rs.metadata.annotations
    for key, value in d.metadata.annotations.items():
        if key not in ANNOTATIONS_NOT_COPIED and ann.get(key) != value:
            ann[key] = value
            changed = True
    old_raw = ann.get(REVISION, "")
    if old_raw and not old_raw.isdigit():
        return changed
    old = int(old_raw) if old_raw else 0
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_raw:
            history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
            ann[REVISION_HISTORY] = ",".join([*history, old_raw])
    if not exists and set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)):
        changed = True
    return changed


def is_saturated(d, rs) -> bool:
    if rs is None:
        return False
    desired = rs.metadata.annotations.get(DESIRED_REPLICAS, "")
    return (replicas_of(rs) == replicas_of(d) and desired == str(replicas_of(d))
            and rs.status.available_replicas == replicas_of(d))


def find_active_or_latest(new_rs, old_rses: list):
    if new_rs is None and not old_rses:
        return None
    newest_first = sorted(old_rses, key=lambda rs: (seconds(rs.metadata.creation_timestamp), rs.metadata.name),
                          reverse=True)
    actives = active([*newest_first, new_rs])
    if not actives:
        return new_rs if new_rs is not None else newest_first[0]
    if len(actives) == 1:
        return actives[0]
    return None


# -- conditions ----------------------------------------------------------------------------------


def get_condition(status, ctype: str):
    for cond in status.conditions:
        if cond.type == ctype:
            return cond
    return None


def new_condition(ctype: str, status: str, reason: str, message: str, now: float) -> apps_pb2.DeploymentCondition:
    ts = timestamp(now)
    return apps_pb2.DeploymentCondition(type=ctype, status=status, reason=reason, message=message,
                                        last_update_time=ts, last_transition_time=ts)


def remove_condition(status, ctype: str) -> None:
    keep = [c for c in status.conditions if c.type != ctype]
    del status.conditions[:]
    status.conditions.extend(keep)


def set_condition(status, cond: apps_pb2.DeploymentCondition) -> None:
    """SetDeploymentCondition: no change if status and reason are the same; the transition
    time kept while the status does not change; the condition moved to the end."""
    current = get_condition(status, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    cond = clone(cond)
    if current is not None and current.status == cond.status:
        cond.last_transition_time.CopyFrom(current.last_transition_time)
    remove_condition(status, cond.type)
    status.conditions.append(cond)


def has_progress_deadline(d) -> bool:
    return d.spec.HasField("progress_deadline_seconds") and d.spec.progress_deadline_seconds != _INT32_MAX


def calculate_status(all_rses: list, new_rs, d, now: float, prior=None) -> apps_pb2.DeploymentStatus:
    """calculateStatus; conditions and collisionCount carried over from ``prior`` (default the
    deployment's status)."""
    prior = d.status if prior is None else prior
    rses = [rs for rs in all_rses if rs is not None]
    available_replicas = sum(rs.status.available_replicas for rs in rses)
    total = spec_total(rses)
    status = apps_pb2.DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=sum(rs.status.replicas for rs in rses),
        updated_replicas=new_rs.status.replicas if new_rs is not None else 0,
        ready_replicas=sum(rs.status.ready_replicas for rs in rses),
        available_replicas=available_replicas,
        unavailable_replicas=max(0, total - available_replicas),
    )
    if prior.HasField("collision_count"):
        status.collision_count = prior.collision_count
    status.conditions.extend(prior.conditions)
    if available_replicas >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def deployment_complete(d, status) -> bool:
    n = replicas_of(d)
    return (status.updated_replicas == n and status.replicas == n and status.available_replicas == n
            and status.observed_generation >= d.metadata.generation)


def deployment_progressing(d, status) -> bool:
    old = d.status
    return (status.updated_replicas > old.updated_replicas
            or (status.replicas - status.updated_replicas) < (old.replicas - old.updated_replicas)
            or status.ready_replicas > old.ready_replicas
            or status.available_replicas > old.available_replicas)


def deployment_timed_out(d, status, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    return seconds(cond.last_update_time) + d.spec.progress_deadline_seconds < now


def replica_failures(all_rses: list, new_rs) -> list[apps_pb2.DeploymentCondition]:
    def convert(c):
        return apps_pb2.DeploymentCondition(type=c.type, status=c.status, reason=c.reason, message=c.message,
                                            last_update_time=c.last_transition_time,
                                            last_transition_time=c.last_transition_time)

    if new_rs is not None:
        found = [convert(c) for c in new_rs.status.conditions if c.type == REPLICA_FAILURE]
        if found:
            return found
    return [convert(c) for rs in all_rses if rs is not None for c in rs.status.conditions if c.type == REPLICA_FAILURE]
