"""Shoal's scheduler: kube-scheduler's plugins and semantics over a vectorized cluster snapshot.

    from shoal.sched import place
    result = place(nodes, pods, existing=(), profile=None, seed=0)

See README.md for the layout. Importing this package is cheap: the heavy modules load on first
use, so `shoal --help` does not pay for NumPy or Numba.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Assignment",
    "ClusterSnapshot",
    "PlacementResult",
    "Scheduler",
    "Unschedulable",
    "build_snapshot",
    "explain",
    "load_config",
    "place",
]

_LAZY = {
    "Assignment": ("api", "Assignment"),
    "PlacementResult": ("api", "PlacementResult"),
    "Unschedulable": ("api", "Unschedulable"),
    "build_snapshot": ("api", "build_snapshot"),
    "place": ("api", "place"),
    "ClusterSnapshot": ("snapshot", "ClusterSnapshot"),
    "Scheduler": ("scheduler", "Scheduler"),
    "explain": ("api", "explain"),
    "load_config": ("framework.config", "load_config"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'shoal.sched' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"{__name__}.{target[0]}")
    value = getattr(module, target[1])
    globals()[name] = value
    return value
