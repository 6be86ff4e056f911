"""Run one plugin (or a whole cycle) on small clusters and read the results by node name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sched_builders import msgs
from shoal.proto import manifests
from shoal.sched.api import build_snapshot, resolve_profiles
from shoal.sched.framework.config import default_profile
from shoal.sched.framework.runtime import Framework, ScheduleResult
from shoal.sched.podinfo import PodParser


@dataclass
class Harness:
    fw: Framework
    cycle: Any
    prefilter_status: Any

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.fw.snapshot.nodes]

    def plugin(self, name: str):
        plugin = self.fw.profile.plugin(name)
        assert plugin is not None, name
        return plugin

    def filter(self, name: str) -> dict[str, tuple[str, ...] | None]:
        """node -> reasons of the plugin's status there (None where it passes)."""
        verdict = self.plugin(name).filter(self.cycle)
        out = {}
        for i, node in enumerate(self.names):
            out[node] = None if verdict is None or not verdict.fail[i] else verdict.status_of(i).reasons
        return out

    def codes(self, name: str) -> dict[str, int | None]:
        verdict = self.plugin(name).filter(self.cycle)
        return {
            node: None if verdict is None or not verdict.fail[i] else int(verdict.status_of(i).code)
            for i, node in enumerate(self.names)
        }

    def passing(self, name: str) -> set[str]:
        return {n for n, r in self.filter(name).items() if r is None}

    def raw(self, name: str, feasible: set[str] | None = None) -> dict[str, int]:
        mask = self._mask(feasible)
        scores = self.plugin(name).score(self.cycle, mask)
        return {n: int(scores[i]) for i, n in enumerate(self.names) if mask[i]}

    def normalized(self, name: str, feasible: set[str] | None = None) -> dict[str, int]:
        mask = self._mask(feasible)
        plugin = self.plugin(name)
        out = plugin.normalize(self.cycle, plugin.score(self.cycle, mask), mask)
        return {n: int(out[i]) for i, n in enumerate(self.names) if mask[i]}

    def _mask(self, feasible: set[str] | None) -> np.ndarray:
        return np.array([feasible is None or n in feasible for n in self.names], dtype=bool)

    def schedule(self) -> ScheduleResult:
        return self.fw.schedule(self.cycle.pod)

    def choice(self) -> str | None:
        result = self.schedule()
        return self.names[result.node] if result.node >= 0 else None

    def message(self) -> str:
        return self.schedule().message


def harness(nodes, incoming, existing=(), profile=None, seed: int = 0, **context) -> Harness:
    """A framework over `nodes` with `existing` pods bound, ready to run `incoming`'s cycle."""
    parser = PodParser(context.pop("priority_classes", ()))
    snapshot = build_snapshot(msgs(nodes), msgs(list(existing)), parser=parser, **context)
    profiles = resolve_profiles(profile)
    chosen = next(iter(profiles.values())) if profiles else default_profile()
    fw = Framework(chosen, snapshot, seed)
    info = parser.parse(manifests.from_dict(incoming), 10_000)
    cycle = fw.cycle(info)
    status = fw.run_pre_filter(cycle)
    return Harness(fw, cycle, status)
