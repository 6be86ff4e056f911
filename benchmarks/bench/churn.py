"""scheduler_perf's churn op on the wall clock, against a real server (cluster mode).

A thread ticks every `interval_ms` from start(): in `recreate` mode each tick deletes the object
of the tick's slot (if one was made) and creates a new one, per template, as scheduler_perf's
churn goroutine does; in `create` mode each tick creates one more object per template, for
`number` ticks (0: until stopped). The first tick comes one interval after start, as a Go ticker's.
Namespaced objects go to namespace `churn`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from .perf_config import ChurnStep

NAMESPACE = "churn"
CLUSTER_SCOPED = {"Node", "Namespace", "PriorityClass", "PersistentVolume"}


class ChurnDriver(threading.Thread):
    def __init__(self, address: str, step: ChurnStep) -> None:
        super().__init__(daemon=True)
        from shoal.proto.client import ClusterClient

        self.client = ClusterClient(address, timeout=30)
        self.step = step
        self.stopped = threading.Event()
        self.created = 0
        self.deleted = 0
        self.ticks = 0
        self.errors: list[str] = []
        self._slots: list[list[tuple[str, str, str] | None]] = [[None] * max(step.number, 1) for _ in step.templates]

    def start(self) -> None:
        from shoal.proto import manifests

        if any(t.get("kind") not in CLUSTER_SCOPED for t in self.step.templates):
            ns = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            self.client.bulk_apply([ns])
        super().start()

    def run(self) -> None:
        interval = self.step.interval_ms / 1000.0
        while not self.stopped.wait(interval):
            if self.step.mode == "create" and self.step.number and self.ticks >= self.step.number:
                return
            for i, template in enumerate(self.step.templates):
                try:
                    self._tick(i, template)
                except Exception as exc:  # noqa: BLE001 - a failed churn write is reported, the run goes on
                    if len(self.errors) < 5:
                        self.errors.append(f"{template.get('kind')}: {exc}")
            self.ticks += 1

    def _tick(self, i: int, template: dict[str, Any]) -> None:
        from shoal.proto import manifests

        kind = template.get("kind", "?")
        if self.step.mode == "recreate":
            slot = self.ticks % self.step.number
            previous = self._slots[i][slot]
            if previous is not None:
                self.client.delete(previous[0], previous[1], previous[2], grace_period_seconds=0)
                self.deleted += 1
        doc = copy.deepcopy(template)
        meta = doc.setdefault("metadata", {})
        prefix = meta.pop("generateName", None) or f"churn-{kind.lower()}-"
        meta["name"] = f"{prefix}{i}-{self.ticks}"
        namespace = "" if kind in CLUSTER_SCOPED else NAMESPACE
        if namespace:
            meta["namespace"] = namespace
        self.client.create(manifests.from_dict(doc))
        self.created += 1
        if self.step.mode == "recreate":
            self._slots[i][self.ticks % self.step.number] = (kind, meta["name"], namespace)

    def stop(self) -> dict[str, Any]:
        """Stop ticking; what was done."""
        self.stopped.set()
        self.join(10)
        self.client.close()
        return {"mode": self.step.mode, "interval_ms": self.step.interval_ms, "ticks": self.ticks,
                "created": self.created, "deleted": self.deleted, "errors": self.errors}
