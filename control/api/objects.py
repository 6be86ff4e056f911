"""The verbs over every kind: create, get, list, update, update-status, apply, delete, watch, bind.

Works on the kinds' protobuf messages; the Store sees only keys and bytes. Every path that
writes re-reads the current value and writes with its revision as precondition, so two writers
racing on one object never silently overwrite each other.
"""

from __future__ import annotations

import base64
import binascii
import random
import secrets
import string
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Iterable

from google.protobuf import message as pb_message
from google.protobuf.timestamp_pb2 import Timestamp

from shoal.control.api import wire
from shoal.control.api.admission import Admission
from shoal.control.api.errors import (
    AlreadyExists,
    APIError,
    Conflict,
    FailedPrecondition,
    Gone,
    Invalid,
    NotFound,
    TooLarge,
)
from shoal.control.api.fieldpath import field_getter
from shoal.control.api.merge import overlay
from shoal.control.api.selectors import SelectorError, parse_field_selector, parse_label_selector
from shoal.control.api.validation.meta import validate_annotations
from shoal.control.store import (
    CompactedError,
    ConflictError,
    KeyExistsError,
    KeyValue,
    StoreError,
    StoreEvent,
    StoreEventType,
    WriteOp,
)
from shoal.proto import kinds
from shoal.proto.kinds import KindInfo
from shoal.v1 import cluster_service_pb2 as svc
from shoal.v1.object_pb2 import Object

MAX_OBJECT_BYTES = 1_572_864  # etcd's default request limit, which Kubernetes inherits
SYSTEM_NAMESPACES = ("default", "shoal-system")
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_CONFLICT_RETRIES = 16
_NAME_SUFFIX = string.ascii_lowercase + string.digits
# How many namespaces' terminating states are remembered between creates (cleared when full).
_NAMESPACE_STATES_KEPT = 4096
# UIDs must be unique, not secret: a generator seeded once from the OS avoids a getrandom()
# syscall per object on the create path.
_uid_source = random.Random(secrets.randbits(128))
_NAMESPACE_INFO = kinds.by_kind("Namespace")


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version nibble, variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_uid() -> str:
    """A random (version 4) UUID, as str(uuid.UUID(int=..., version=4)) spells it, in half
    the time (every create makes one)."""
    h = "%032x" % ((_uid_source.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def object_key(info: KindInfo, namespace: str, name: str) -> str:
    if info.namespaced:
        return f"/registry/{info.plural}/{namespace}/{name}"
    return f"/registry/{info.plural}/{name}"


def key_prefix(info: KindInfo, namespace: str = "") -> str:
    if info.namespaced and namespace:
        return f"/registry/{info.plural}/{namespace}/"
    return f"/registry/{info.plural}/"


def _event_cache(event: StoreEvent) -> dict:
    """The event's cache of derived forms, made by the first watcher that needs one."""
    if event.cache is None:
        event.cache = {}
    return event.cache


def describe(info: KindInfo, namespace: str, name: str) -> str:
    """How messages name an object: 'pods "web"' as kubectl prints it."""
    return f'{info.plural} "{name}"'


@dataclass(slots=True)
class ListResult:
    items: list[pb_message.Message]
    resource_version: int
    continue_token: str
    remaining: int


class ObjectAPI:
    """The cluster's objects over a Store, with admission (defaulting, validation) on writes."""

    def __init__(
        self,
        store,
        *,
        clock: Callable[[], float] = time.time,
        admission: Admission | None = None,
        watch_coalesce: float = 0.05,
    ) -> None:
        self.store = store
        self.watch_coalesce = watch_coalesce
        self.clock = clock
        self.admission = admission or Admission()
        # namespace -> (its key, the revision last seen, whether it was terminating)
        self._namespace_states: dict[str, tuple[str, int, bool]] = {}

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def kind(name: str) -> KindInfo:
        try:
            return kinds.by_kind(name)
        except KeyError as exc:
            raise Invalid(f'the server doesn\'t have a resource type "{name}"') from exc

    def _decode(self, info: KindInfo, kv: KeyValue) -> pb_message.Message:
        msg = info.message()
        msg.ParseFromString(kv.value)
        msg.metadata.resource_version = str(kv.mod_revision)
        return msg

    @staticmethod
    def _encode(info: KindInfo, msg: pb_message.Message) -> bytes:
        """Serialized for storage, without resourceVersion (the store's revision carries it)."""
        rv = msg.metadata.resource_version
        msg.metadata.resource_version = ""
        data = msg.SerializeToString(deterministic=True)
        msg.metadata.resource_version = rv
        ObjectAPI._check_size(info, msg, len(data))
        return data

    @staticmethod
    def _check_size(info: KindInfo, msg, size: int) -> None:
        if size > MAX_OBJECT_BYTES:
            raise TooLarge(
                f"{describe(info, msg.metadata.namespace, msg.metadata.name)} is too large: "
                f"{size} bytes, the limit is {MAX_OBJECT_BYTES}"
            )

    @staticmethod
    def _already_exists(info: KindInfo, msg) -> AlreadyExists:
        return AlreadyExists(f"{describe(info, msg.metadata.namespace, msg.metadata.name)} already exists")

    def _now(self) -> Timestamp:
        """Now, in whole seconds as Kubernetes' metadata timestamps are."""
        return Timestamp(seconds=int(self.clock()))

    def _namespace_of(self, info: KindInfo, msg) -> str:
        if not info.namespaced:
            msg.metadata.namespace = ""
            return ""
        if not msg.metadata.namespace:
            msg.metadata.namespace = "default"
        return msg.metadata.namespace

    def _require_namespace(self, info: KindInfo, namespace: str, name: str) -> None:
        """Refuses a create into a namespace that is absent or being deleted."""
        if not info.namespaced:
            return
        # Whether the namespace is terminating, decoded once per revision of it (every create
        # asks; a namespace changes rarely).
        seen = self._namespace_states.get(namespace)
        kv = self.store.get_now(seen[0] if seen is not None else object_key(_NAMESPACE_INFO, "", namespace))
        if kv is None:
            raise NotFound(f'namespaces "{namespace}" not found')
        if seen is None or seen[1] != kv.mod_revision:
            terminating = self._decode(_NAMESPACE_INFO, kv).metadata.HasField("deletion_timestamp")
            if len(self._namespace_states) >= _NAMESPACE_STATES_KEPT:
                self._namespace_states.clear()
            seen = self._namespace_states[namespace] = (kv.key, kv.mod_revision, terminating)
        if seen[2]:
            raise FailedPrecondition(
                f'{info.plural} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated"
            )

    # -- create ------------------------------------------------------------------------------

    def _prepare_create(self, info: KindInfo, msg) -> tuple[str, bytes]:
        meta = msg.metadata
        if not meta.name and meta.generate_name:
            meta.name = meta.generate_name + "".join(secrets.choice(_NAME_SUFFIX) for _ in range(5))
        namespace = self._namespace_of(info, msg)
        self._require_namespace(info, namespace, meta.name)
        meta.uid = new_uid()
        meta.creation_timestamp.seconds = int(self.clock())
        meta.creation_timestamp.nanos = 0
        meta.resource_version = ""
        meta.generation = 1
        meta.ClearField("deletion_timestamp")
        meta.ClearField("deletion_grace_period_seconds")
        self.admission.admit_create(info, msg)  # may replace msg's contents: read them afresh
        # Serialized for storage as _encode does; resourceVersion was cleared above.
        data = msg.SerializeToString(deterministic=True)
        self._check_size(info, msg, len(data))
        return object_key(info, namespace, msg.metadata.name), data

    async def create(self, obj: Object) -> pb_message.Message:
        info, msg = self._unwrap(obj)
        kv = await self._create(info, msg)
        msg.metadata.resource_version = str(kv.mod_revision)
        return msg

    async def create_encoded(self, obj: Object) -> bytes:
        """As create, answered as the serialized Object envelope of the stored object: the
        stored bytes with their revision appended (wire.py), not a copy re-serialized. (The
        path every single create takes: kept flat.)"""
        info, msg = self._unwrap(obj)
        key, data = self._prepare_create(info, msg)
        try:
            kv = await self.store.create(key, data)
        except KeyExistsError:
            raise self._already_exists(info, msg)
        return wire.object_at_revision(info.message.DESCRIPTOR.full_name, kv.value, kv.mod_revision)

    async def _create(self, info: KindInfo, msg) -> KeyValue:
        key, data = self._prepare_create(info, msg)
        try:
            return await self.store.create(key, data)
        except KeyExistsError:
            raise self._already_exists(info, msg)

    def _unwrap(self, obj: Object):
        if not isinstance(obj, Object):
            raise Invalid("object: required (an Object with one kind set)")
        try:
            info, msg = kinds.unwrap(obj)
        except kinds.UnknownKindError:
            raise Invalid("object: required (an Object with one kind set)") from None
        self._check_size(info, msg, msg.ByteSize())
        return info, msg

    # -- reads -------------------------------------------------------------------------------

    async def get(self, kind: str, namespace: str, name: str) -> pb_message.Message:
        info = self.kind(kind)
        if info.namespaced and not namespace:
            namespace = "default"
        kv = await self.store.get(object_key(info, namespace, name))
        if kv is None:
            raise NotFound(f"{describe(info, namespace, name)} not found")
        return self._decode(info, kv)

    async def list(
        self,
        kind: str,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        info = self.kind(kind)
        labels, fields = self._selectors(label_selector, field_selector)
        prefix = key_prefix(info, namespace)
        start_after = self._decode_continue(continue_token, prefix)
        filtering = not labels.empty or not fields.empty
        items: list = []
        more = False
        last_key = start_after
        revision = self.store.revision
        while True:
            want = 0 if not limit else (limit - len(items) if not filtering else max(64, limit))
            chunk, revision, more = await self.store.list(prefix, want, last_key)
            for kv in chunk:
                msg = self._decode(info, kv)
                last_key = kv.key
                if filtering and not self._matches(msg, labels, fields):
                    continue
                items.append(msg)
                if limit and len(items) == limit:
                    remaining = self.store.count(prefix, last_key)
                    more = remaining > 0
                    token = self._encode_continue(last_key) if more else ""
                    return ListResult(items, revision, token, remaining if not filtering else 0)
            if not more:
                return ListResult(items, revision, "", 0)

    @staticmethod
    def _encode_continue(key: str) -> str:
        return base64.urlsafe_b64encode(key.encode()).decode()

    @staticmethod
    def _decode_continue(token: str, prefix: str) -> str:
        if not token:
            return ""
        try:
            key = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise Invalid(f'continue: invalid token "{token[:64]}"')
        if not key.startswith(prefix):
            raise Invalid("continue: the token belongs to another list")
        return key

    @staticmethod
    def _selectors(label_selector: str, field_selector: str):
        try:
            return parse_label_selector(label_selector), parse_field_selector(field_selector)
        except SelectorError as exc:
            raise Invalid(str(exc)) from exc

    @staticmethod
    def _matches(msg, labels, fields) -> bool:
        if not labels.empty and not labels.matches(msg.metadata.labels):
            return False
        if not fields.empty:
            try:
                return fields.matches(field_getter(msg))
            except KeyError as exc:
                raise Invalid(f'field label not supported: "{exc.args[0]}"') from exc
        return True

    # -- update ------------------------------------------------------------------------------

    async def update(self, obj: Object) -> pb_message.Message:
        info, msg = self._unwrap(obj)
        return await self._replace(info, msg, status_only=False)

    async def update_status(self, obj: Object) -> pb_message.Message:
        info, msg = self._unwrap(obj)
        if not info.has_status:
            raise Invalid(f"{info.plural} have no status subresource")
        return await self._replace(info, msg, status_only=True)

    async def _replace(self, info: KindInfo, msg, *, status_only: bool) -> pb_message.Message:
        namespace = self._namespace_of(info, msg)
        name = msg.metadata.name
        if not name:
            raise Invalid(f"{info.kind}: metadata.name: Required value")
        key = object_key(info, namespace, name)
        precondition = msg.metadata.resource_version
        if precondition and not precondition.isdigit():
            raise Invalid(f'{describe(info, namespace, name)}: metadata.resourceVersion: invalid value "{precondition}"')
        for _attempt in range(_CONFLICT_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise NotFound(f"{describe(info, namespace, name)} not found")
            if precondition and int(precondition) != kv.mod_revision:
                raise self._conflict(info, namespace, name)
            current = self._decode(info, kv)
            if msg.metadata.uid and msg.metadata.uid != current.metadata.uid:
                raise Conflict(
                    f"Precondition failed for {describe(info, namespace, name)}: UID in precondition: "
                    f"{msg.metadata.uid}, UID in object meta: {current.metadata.uid}"
                )
            new = self._merge_for_replace(info, current, msg, status_only)
            try:
                return await self._write_changed(info, key, kv, current, new)
            except ConflictError:
                if precondition:
                    raise self._conflict(info, namespace, name)
        raise self._conflict(info, namespace, name)

    @staticmethod
    def _conflict(info: KindInfo, namespace: str, name: str) -> Conflict:
        return Conflict(
            f'Operation cannot be fulfilled on {describe(info, namespace, name)}: the object has been '
            f"modified; please apply your changes to the latest version and try again"
        )

    def _merge_for_replace(self, info: KindInfo, current, incoming, status_only: bool):
        """The object an update would store: server-owned fields from ``current``."""
        new = info.message()
        if status_only:
            new.CopyFrom(current)
            new.ClearField("status")
            if incoming.HasField("status"):
                new.status.CopyFrom(incoming.status)
            return new
        new.CopyFrom(incoming)
        if info.has_status:
            new.ClearField("status")
            if current.HasField("status"):
                new.status.CopyFrom(current.status)
        self._keep_server_metadata(current, new)
        return new

    @staticmethod
    def _keep_server_metadata(current, new) -> None:
        cm, nm = current.metadata, new.metadata
        nm.uid = cm.uid
        nm.namespace = cm.namespace
        nm.creation_timestamp.CopyFrom(cm.creation_timestamp)
        nm.generation = cm.generation
        if cm.HasField("deletion_timestamp"):
            nm.deletion_timestamp.CopyFrom(cm.deletion_timestamp)
        else:
            nm.ClearField("deletion_timestamp")
        if cm.HasField("deletion_grace_period_seconds"):
            nm.deletion_grace_period_seconds = cm.deletion_grace_period_seconds
        else:
            nm.ClearField("deletion_grace_period_seconds")
        if not nm.generate_name:
            nm.generate_name = cm.generate_name

    async def _write_changed(self, info: KindInfo, key: str, kv: KeyValue, current, new):
        """Admits ``new`` over ``current`` and writes it if anything changed (a no-op update
        writes nothing and keeps the resourceVersion, as Kubernetes does). Deletes the object
        when its deletion was pending and the last finalizer is gone."""
        self.admission.default(info, new)
        if self._spec_bytes(current) != self._spec_bytes(new):
            new.metadata.generation = current.metadata.generation + 1
        self.admission.validate(info, new, current)
        data = self._encode(info, new)
        if data == kv.value:
            return current
        if new.metadata.HasField("deletion_timestamp") and not self._held(info, new):
            gone = await self.store.delete(key, kv.mod_revision)
            new.metadata.resource_version = str(gone.mod_revision)
            return new
        written = await self.store.update(key, data, kv.mod_revision)
        new.metadata.resource_version = str(written.mod_revision)
        return new

    @staticmethod
    def _held(info: KindInfo, msg) -> bool:
        """Whether an object marked for deletion must stay: finalizers remain (for a Namespace
        also spec.finalizers, which the namespace controller clears once it is empty), or a pod
        is still within its grace period (its node's agent finishes the deletion)."""
        if msg.metadata.finalizers:
            return True
        if info.kind == "Namespace" and msg.spec.finalizers:
            return True
        if info.kind == "Pod" and msg.metadata.deletion_grace_period_seconds > 0:
            return True
        return False

    @staticmethod
    def _spec_bytes(msg) -> bytes:
        """What counts as the desired state for metadata.generation: every top-level field but
        metadata and status."""
        parts = []
        for field, value in msg.ListFields():
            if field.name not in ("metadata", "status", "api_version", "kind"):
                parts.append(field.name.encode())
                parts.append(value.SerializeToString(deterministic=True) if hasattr(value, "SerializeToString") else repr(value).encode())
        return b"\0".join(parts)

    # -- apply -------------------------------------------------------------------------------

    async def apply(self, obj: Object, *, create_only: bool = False):
        """Creates or merges; returns (object, ApplyResult)."""
        info, msg = self._unwrap(obj)
        namespace = self._namespace_of(info, msg)
        if not msg.metadata.name:
            return await self.create(obj), svc.APPLY_RESULT_CREATED
        key = object_key(info, namespace, msg.metadata.name)
        for _attempt in range(_CONFLICT_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                try:
                    return await self.create(kinds.wrap(msg)), svc.APPLY_RESULT_CREATED
                except AlreadyExists:
                    if create_only:
                        raise
                    continue
            if create_only:
                raise self._already_exists(info, msg)
            current = self._decode(info, kv)
            new = self._merge_for_apply(info, current, msg)
            try:
                stored = await self._write_changed(info, key, kv, current, new)
            except ConflictError:
                continue
            if stored is current:
                return current, svc.APPLY_RESULT_UNCHANGED
            return stored, svc.APPLY_RESULT_CONFIGURED
        raise self._conflict(info, namespace, msg.metadata.name)

    def _merge_for_apply(self, info: KindInfo, current, applied):
        """What the manifest says wins; what it leaves out keeps its stored value (so fields
        the server or controllers fill in, like a Service's clusterIP, survive a re-apply)."""
        new = info.message()
        new.CopyFrom(current)
        for key, value in applied.metadata.labels.items():
            new.metadata.labels[key] = value
        for key, value in applied.metadata.annotations.items():
            new.metadata.annotations[key] = value
        if applied.metadata.owner_references:
            del new.metadata.owner_references[:]
            new.metadata.owner_references.extend(applied.metadata.owner_references)
        if applied.metadata.finalizers:
            del new.metadata.finalizers[:]
            new.metadata.finalizers.extend(applied.metadata.finalizers)
        for field, value in applied.ListFields():
            if field.name in ("metadata", "status", "api_version", "kind"):
                continue
            overlay(new, field, value)
        return new

    async def bulk_apply(self, objects: Iterable[Object], *, create_only: bool, return_objects: bool):
        """Applies each object on its own; creates of new objects are committed together."""
        results: list[svc.BulkApplyItemResult] = []
        pending_creates: list[tuple[int, KindInfo, object, str, bytes]] = []
        for obj in objects:
            result = svc.BulkApplyItemResult()
            results.append(result)
            try:
                info, msg = self._unwrap(obj)
                namespace = self._namespace_of(info, msg)
                key = object_key(info, namespace, msg.metadata.name) if msg.metadata.name else ""
                if key and self.store.get_now(key) is not None:
                    stored, outcome = await self.apply(obj, create_only=create_only)
                    result.result = outcome
                    result.resource_version = stored.metadata.resource_version
                    if return_objects:
                        result.object.CopyFrom(kinds.wrap(stored))
                    continue
                key, data = self._prepare_create(info, msg)
                pending_creates.append((len(results) - 1, info, msg, key, data))
            except APIError as exc:
                result.code = exc.code.value[0]
                result.message = exc.message
        if pending_creates:
            outcomes = await self.store.write_many([WriteOp(key, data, 0) for _, _, _, key, data in pending_creates])
            for (index, info, msg, _key, _data), outcome in zip(pending_creates, outcomes):
                result = results[index]
                if isinstance(outcome, StoreError):
                    err = self._already_exists(info, msg) if isinstance(outcome, KeyExistsError) else APIError(str(outcome))
                    result.code = err.code.value[0]
                    result.message = err.message
                    continue
                result.result = svc.APPLY_RESULT_CREATED
                result.resource_version = str(outcome.mod_revision)
                if return_objects:
                    msg.metadata.resource_version = result.resource_version
                    result.object.CopyFrom(kinds.wrap(msg))
        return results

    # -- delete ------------------------------------------------------------------------------

    async def delete(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        grace_period_seconds: int | None = None,
        propagation: int = svc.PROPAGATION_POLICY_UNSPECIFIED,
        uid: str = "",
        resource_version: str = "",
    ):
        """Returns (object, deleted): deleted is False while finalizers or a graceful pod
        termination hold the object."""
        info = self.kind(kind)
        if info.namespaced and not namespace:
            namespace = "default"
        key = object_key(info, namespace, name)
        for _attempt in range(_CONFLICT_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise NotFound(f"{describe(info, namespace, name)} not found")
            current = self._decode(info, kv)
            if uid and uid != current.metadata.uid:
                raise Conflict(f"Precondition failed for {describe(info, namespace, name)}: UID in precondition: {uid}, UID in object meta: {current.metadata.uid}")
            if resource_version and resource_version != current.metadata.resource_version:
                raise self._conflict(info, namespace, name)
            try:
                return await self._delete_once(info, key, kv, current, grace_period_seconds, propagation)
            except ConflictError:
                continue
        raise self._conflict(info, namespace, name)

    async def _delete_once(self, info, key, kv, current, grace, propagation):
        meta = current.metadata
        finalizers = list(meta.finalizers)
        if propagation == svc.PROPAGATION_POLICY_FOREGROUND and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif propagation == svc.PROPAGATION_POLICY_ORPHAN and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        graceful = 0
        if info.kind == "Pod" and current.spec.node_name and current.status.phase not in ("Succeeded", "Failed"):
            if grace is None:
                grace = current.spec.termination_grace_period_seconds if current.spec.HasField("termination_grace_period_seconds") else 30
            graceful = max(0, grace)
        if meta.HasField("deletion_timestamp"):
            # Already terminating: only a shorter grace period (e.g. 0, a force delete) changes anything.
            if info.kind == "Pod" and grace is not None and grace == 0 and not finalizers:
                gone = await self.store.delete(key, kv.mod_revision)
                current.metadata.resource_version = str(gone.mod_revision)
                return current, True
            return current, False
        held_by_spec = info.kind == "Namespace" and bool(current.spec.finalizers)
        if not finalizers and not graceful and not held_by_spec:
            gone = await self.store.delete(key, kv.mod_revision)
            current.metadata.resource_version = str(gone.mod_revision)
            return current, True
        new = info.message()
        new.CopyFrom(current)
        del new.metadata.finalizers[:]
        new.metadata.finalizers.extend(finalizers)
        stamp = self._now()
        stamp.seconds += graceful
        new.metadata.deletion_timestamp.CopyFrom(stamp)
        new.metadata.deletion_grace_period_seconds = graceful
        if info.kind == "Namespace":
            new.status.phase = "Terminating"
        written = await self.store.update(key, self._encode(info, new), kv.mod_revision)
        new.metadata.resource_version = str(written.mod_revision)
        return new, False

    # -- bind --------------------------------------------------------------------------------

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "", annotations=None):
        info = kinds.by_kind("Pod")
        namespace = namespace or "default"
        key = object_key(info, namespace, name)
        for _attempt in range(_CONFLICT_RETRIES):
            kv = await self.store.get(key)
            pod = self._bound_pod(info, kv, namespace, name, node_name, uid, annotations)
            try:
                written = await self.store.update(key, self._encode(info, pod), kv.mod_revision)
            except ConflictError:
                continue
            pod.metadata.resource_version = str(written.mod_revision)
            return pod
        raise self._conflict(info, namespace, name)

    async def bulk_bind(self, bindings: Iterable[svc.BindRequest]) -> list[svc.BulkBindItemResult]:
        """Binds many pods with one group commit; each binding succeeds or fails on its own.

        A binding that loses a race with another write to its pod is retried alone through
        bind(), so the outcomes are exactly those of one Bind call per pod."""
        info = kinds.by_kind("Pod")
        results: list[svc.BulkBindItemResult] = []
        pending: list[tuple[int, svc.BindRequest, str]] = []
        ops: list[WriteOp] = []
        for req in bindings:
            result = svc.BulkBindItemResult()
            results.append(result)
            namespace = req.namespace or "default"
            key = object_key(info, namespace, req.name)
            try:
                kv = self.store.get_now(key)
                pod = self._bound_pod(info, kv, namespace, req.name, req.node_name, req.uid, req.annotations)
            except APIError as exc:
                result.code = exc.code.value[0]
                result.message = exc.message
                continue
            pending.append((len(results) - 1, req, key))
            ops.append(WriteOp(key, self._encode(info, pod), kv.mod_revision))
        if not ops:
            return results
        outcomes = await self.store.write_many(ops)
        for (index, req, _key), outcome in zip(pending, outcomes):
            result = results[index]
            if not isinstance(outcome, StoreError):
                result.resource_version = str(outcome.mod_revision)
                continue
            try:  # lost a race (two bindings of one pod in the request, or a write meanwhile)
                pod = await self.bind(req.namespace, req.name, req.node_name, req.uid, req.annotations)
                result.resource_version = pod.metadata.resource_version
            except APIError as exc:
                result.code = exc.code.value[0]
                result.message = exc.message
        return results

    def _bound_pod(self, info: KindInfo, kv, namespace: str, name: str, node_name: str, uid: str, annotations=None):
        """The stored pod `kv` with the binding applied, or the APIError Bind answers with."""
        if not node_name:
            raise Invalid(f'binding for pods "{name}": target.name: Required value')
        if annotations:
            errs: list[str] = []
            validate_annotations(annotations, "metadata.annotations", errs)
            if errs:
                raise Invalid(f'binding for pods "{name}" is invalid: ' + "; ".join(errs))
        if kv is None:
            raise NotFound(f"{describe(info, namespace, name)} not found")
        pod = self._decode(info, kv)
        if uid and uid != pod.metadata.uid:
            raise Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": the pod was recreated (uid {pod.metadata.uid}, binding for {uid})')
        if pod.spec.node_name:
            raise FailedPrecondition(
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned to node "{pod.spec.node_name}"'
            )
        if pod.metadata.HasField("deletion_timestamp"):
            raise FailedPrecondition(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is being deleted')
        pod.spec.node_name = node_name
        for key, value in (annotations or {}).items():
            pod.metadata.annotations[key] = value
        self.admission.mark_scheduled(pod, self._now())
        return pod

    # -- watch -------------------------------------------------------------------------------

    async def watch(
        self,
        kind: str,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        bookmark_interval: float | None = None,
    ) -> AsyncIterator[bytes]:
        """Yields serialized WatchResponse messages, each a batch of events in revision order.

        Each event is encoded once and shared by every watcher that receives it."""
        info = self.kind(kind)
        labels, fields = self._selectors(label_selector, field_selector)
        if resource_version in ("", "0"):
            start = self.store.committed_revision
        elif resource_version.isdigit():
            start = int(resource_version)
        else:
            raise Invalid(f'resourceVersion: invalid value "{resource_version}"')
        prefix = key_prefix(info, namespace)
        filtering = not labels.empty or not fields.empty
        name = info.message.DESCRIPTOR.full_name
        try:
            async for events in self.store.watch(
                prefix, start, idle_timeout=bookmark_interval, coalesce=self.watch_coalesce
            ):
                if not events:
                    yield wire.watch_event_entry(svc.EVENT_TYPE_BOOKMARK, None, self.store.committed_revision)
                    continue
                if not filtering:
                    chunk = [event.wire for event in events]
                    if None in chunk:
                        chunk = [event.wire or self._encoded(name, event) for event in events]
                    yield b"".join(chunk)
                    continue
                chunk = []
                for event in events:
                    seen_as = self._filtered_type(info, event, labels, fields)
                    if seen_as is not None:
                        chunk.append(self._encoded(name, event, seen_as))
                if chunk:
                    yield b"".join(chunk)
        except CompactedError as exc:
            raise Gone(
                f"too old resource version: {exc.requested} ({exc.compacted + 1}); the watch "
                f"cannot resume from it: list again and watch from the list's resourceVersion"
            ) from exc

    def _filtered_type(self, info: KindInfo, event: StoreEvent, labels, fields) -> int | None:
        """How a watcher with selectors sees an event, as Kubernetes does: an object that
        starts matching is ADDED, one that stops matching is DELETED; None if it never matched."""
        now = self._parsed_matches(info, event, "msg", event.value, labels, fields)
        natural = self._natural_type(event)
        if natural != svc.EVENT_TYPE_MODIFIED or event.prev_value is None:
            return natural if now else None
        before = self._parsed_matches(info, event, "prev", event.prev_value, labels, fields)
        if now and before:
            return svc.EVENT_TYPE_MODIFIED
        if now:
            return svc.EVENT_TYPE_ADDED
        return svc.EVENT_TYPE_DELETED if before else None

    def _parsed_matches(self, info: KindInfo, event: StoreEvent, slot: str, value: bytes, labels, fields) -> bool:
        cache = _event_cache(event)
        msg = cache.get(slot)
        if msg is None:
            msg = info.message()
            msg.ParseFromString(value)
            cache[slot] = msg
        return self._matches(msg, labels, fields)

    @staticmethod
    def _natural_type(event: StoreEvent) -> int:
        if event.type == StoreEventType.DELETE:
            return svc.EVENT_TYPE_DELETED
        return svc.EVENT_TYPE_ADDED if event.created else svc.EVENT_TYPE_MODIFIED

    @classmethod
    def _encoded(cls, message_full_name: str, event: StoreEvent, event_type: int | None = None) -> bytes:
        """The event as a WatchResponse entry, encoded once per (event, type) and shared: as
        it happened in ``event.wire``, as a selector sees it in ``event.cache``."""
        natural = cls._natural_type(event)
        if event_type is None or event_type == natural:
            if event.wire is None:
                event.wire = cls._entry(message_full_name, event, natural)
            return event.wire
        slot = ("wire", event_type)
        cache = _event_cache(event)
        data = cache.get(slot)
        if data is None:
            data = cache[slot] = cls._entry(message_full_name, event, event_type)
        return data

    @staticmethod
    def _entry(message_full_name: str, event: StoreEvent, event_type: int) -> bytes:
        obj = wire.object_at_revision(message_full_name, event.value, event.revision)
        return wire.watch_event_entry(event_type, obj, event.revision)

    # -- bootstrap ---------------------------------------------------------------------------

    async def ensure_namespaces(self, names: Iterable[str] = SYSTEM_NAMESPACES) -> None:
        info = kinds.by_kind("Namespace")
        for name in names:
            if self.store.get_now(object_key(info, "", name)) is None:
                ns = info.message()
                ns.metadata.name = name
                await self.create(kinds.wrap(ns))

