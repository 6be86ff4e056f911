"""What controllers decide to do, as data, and the one place that does it.

Planners return lists of these actions; ``ActionExecutor`` carries them out through the API.
Keeping the decisions as values is what lets every controller's logic be tested with no
server: a test compares the returned actions with the expected ones.

    Create(obj)                       create; names from metadata.generateName are the server's
    Update(obj)                       metadata + spec, with obj's resourceVersion as precondition
    UpdateStatus(obj)                 status only (precondition when resourceVersion is set)
    Delete(kind, namespace, name)     with uid precondition and propagation policy
    Emit(involved, type, reason, msg) an Event about ``involved``

An action may carry ``event``: an Emit to record once the action succeeded; "{name}" in its
message becomes the written object's name (for generateName creates).
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Union

import grpc

from shoal.control.controllers.meta import kind_of, object_key
from shoal.proto.client import APIStatusError
from shoal.v1 import cluster_service_pb2 as svc

log = logging.getLogger("shoal.controllers")

BACKGROUND = svc.PROPAGATION_POLICY_BACKGROUND
FOREGROUND = svc.PROPAGATION_POLICY_FOREGROUND
ORPHAN = svc.PROPAGATION_POLICY_ORPHAN


@dataclass(frozen=True)
class Emit:
    """An Event about ``involved`` (any kind's message, or a (kind, namespace, name, uid) tuple)."""

    involved: object
    type: str  # Normal | Warning
    reason: str
    message: str

    def describe(self) -> str:
        return f"event {self.type} {self.reason}: {self.message}"


@dataclass(frozen=True)
class Create:
    obj: object
    event: Emit | None = None

    def describe(self) -> str:
        meta = self.obj.metadata
        return f"create {kind_of(self.obj)} {meta.namespace}/{meta.name or meta.generate_name + '*'}"


@dataclass(frozen=True)
class Update:
    obj: object
    event: Emit | None = None

    def describe(self) -> str:
        return f"update {kind_of(self.obj)} {object_key(self.obj)}"


@dataclass(frozen=True)
class UpdateStatus:
    obj: object
    event: Emit | None = None

    def describe(self) -> str:
        return f"update status of {kind_of(self.obj)} {object_key(self.obj)}"


@dataclass(frozen=True)
class Delete:
    kind: str
    namespace: str
    name: str
    uid: str = ""
    propagation: int = 0
    grace_period_seconds: int | None = None
    event: Emit | None = None
    # When set, the delete happens only if the object is unchanged since it was read.
    resource_version: str = ""

    @classmethod
    def of(cls, obj, *, propagation: int = 0, event: Emit | None = None, if_unchanged: bool = False) -> "Delete":
        meta = obj.metadata
        return cls(kind_of(obj), meta.namespace, meta.name, meta.uid, propagation, event=event,
                   resource_version=meta.resource_version if if_unchanged else "")

    def describe(self) -> str:
        return f"delete {self.kind} {self.namespace}/{self.name}"


Action = Union[Create, Update, UpdateStatus, Delete, Emit]


@dataclass
class Outcome:
    """What became of one action: the object the server returned, or the error."""

    action: Action
    result: object | None = None
    error: APIStatusError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> grpc.StatusCode | None:
        return None if self.error is None else self.error.code


@dataclass(frozen=True)
class LogEntry:
    at: float
    controller: str
    key: str
    action: str
    outcome: str


@dataclass
class ActionExecutor:
    """Carries actions out through an AsyncClusterClient and records their events. Keeps a
    bounded log of what was done (controller, key, action, outcome) for debugging."""

    client: object
    recorder: object | None = None
    log_size: int = 2000
    history: collections.deque = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.history = collections.deque(maxlen=self.log_size)

    async def run(self, action: Action, *, controller: str = "", key: str = "") -> Outcome:
        outcome = Outcome(action)
        try:
            outcome.result = await self._do(action)
        except APIStatusError as exc:
            outcome.error = exc
        self.history.append(LogEntry(time.time(), controller, key, action.describe(),
                                     "ok" if outcome.ok else f"{outcome.error.reason}: {outcome.error.message}"))
        if outcome.ok:
            event = getattr(action, "event", None)
            if event is not None:
                name = getattr(getattr(outcome.result, "metadata", None), "name", "")
                self.emit(replace(event, message=event.message.replace("{name}", name)))
        elif outcome.code not in (grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND):
            log.info("%s %s: %s failed: %s", controller, key, action.describe(), outcome.error)
        return outcome

    async def run_all(self, actions, *, controller: str = "", key: str = "") -> list[Outcome]:
        return [await self.run(a, controller=controller, key=key) for a in actions]

    def emit(self, event: Emit) -> None:
        if self.recorder is not None:
            self.recorder.record(event.involved, event.type, event.reason, event.message)

    async def _do(self, action: Action):
        client = self.client
        if isinstance(action, Emit):
            self.emit(action)
            return None
        if isinstance(action, Create):
            return await client.create(action.obj)
        if isinstance(action, Update):
            return await client.update(action.obj)
        if isinstance(action, UpdateStatus):
            return await client.update_status(action.obj)
        if isinstance(action, Delete):
            return await self._delete(action)
        raise TypeError(f"not an action: {action!r}")


    async def _delete(self, action: Delete) -> svc.DeleteResponse:
        # Built here rather than through client.delete, which does not pass resourceVersion.
        req = svc.DeleteRequest(kind=action.kind, namespace=action.namespace, name=action.name,
                                propagation_policy=action.propagation, uid=action.uid,
                                resource_version=action.resource_version)
        if action.grace_period_seconds is not None:
            req.grace_period_seconds = action.grace_period_seconds
        try:
            return await self.client.stub.Delete(req, timeout=self.client.timeout)
        except grpc.RpcError as exc:
            raise APIStatusError(exc.code(), exc.details() or "") from None


def first_error(outcomes: list[Outcome], *, ignore: tuple = (grpc.StatusCode.NOT_FOUND,)) -> APIStatusError | None:
    """The first error among outcomes, not counting the codes in ``ignore`` (a delete of
    something already gone is success for a level-based controller)."""
    for outcome in outcomes:
        if outcome.error is not None and outcome.code not in ignore:
            return outcome.error
    return None
