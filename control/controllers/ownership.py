"""Adoption and release, as Kubernetes' ControllerRefManager, and the expectations that keep a
controller from acting twice on one change before it has seen its own writes.

claim(owner, candidates, matches): a candidate controlled by ``owner`` stays owned while it
matches and is released (its controller reference removed) when it stops matching; an orphan
that matches is adopted (controller reference added, blockOwnerDeletion=true). Objects being
deleted are neither adopted nor released, and an owner being deleted adopts nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from shoal.control.controllers.actions import Update
from shoal.control.controllers.meta import clone, controller_ref, is_terminating, new_controller_ref


@dataclass
class Claim:
    owned: list = field(default_factory=list)
    adopt: list[Update] = field(default_factory=list)
    release: list[Update] = field(default_factory=list)

    @property
    def actions(self) -> list[Update]:
        return [*self.adopt, *self.release]


def adopted(obj, owner):
    new = clone(obj)
    new.metadata.owner_references.append(new_controller_ref(owner))
    return new


def released(obj, owner):
    new = clone(obj)
    keep = [r for r in obj.metadata.owner_references if r.uid != owner.metadata.uid]
    del new.metadata.owner_references[:]
    new.metadata.owner_references.extend(keep)
    return new


def claim(owner, candidates: Iterable, matches: Callable[[object], bool]) -> Claim:
    result = Claim()
    owner_uid = owner.metadata.uid
    owner_deleting = is_terminating(owner)
    for obj in candidates:
        ref = controller_ref(obj)
        if ref is not None:
            if ref.uid != owner_uid:
                continue
            if matches(obj):
                result.owned.append(obj)
            elif not owner_deleting and not is_terminating(obj):
                result.release.append(Update(released(obj, owner)))
            continue
        if owner_deleting or is_terminating(obj) or not matches(obj):
            continue
        result.adopt.append(Update(adopted(obj, owner)))
        result.owned.append(obj)
    return result


@dataclass
class _Expectation:
    adds: int
    deletes: set[str]
    at: float


class Expectations:
    """Creates and deletes a controller has issued but not yet seen come back through its
    informers, per controller key (ControllerExpectations + UIDTrackingControllerExpectations).
    A key with outstanding expectations is not acted on, unless they are older than ``ttl``
    (a lost watch event must not wedge a controller forever)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl: float = 300.0) -> None:
        self.clock = clock
        self.ttl = ttl
        self._by_key: dict[str, _Expectation] = {}

    def expect(self, key: str, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        self._by_key[key] = _Expectation(adds, set(deletes), self.clock())

    def creation_observed(self, key: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None and exp.adds > 0:
            exp.adds -= 1

    def deletion_observed(self, key: str, uid: str) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.deletes.discard(uid)

    def satisfied(self, key: str) -> bool:
        exp = self._by_key.get(key)
        if exp is None:
            return True
        if exp.adds <= 0 and not exp.deletes:
            return True
        return self.clock() - exp.at > self.ttl

    def pending(self, key: str) -> tuple[int, int]:
        exp = self._by_key.get(key)
        return (0, 0) if exp is None else (exp.adds, len(exp.deletes))

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
