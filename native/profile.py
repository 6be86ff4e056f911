"""ScoringProfile: the resource-scoring settings of one scheduler profile, as kernel-ready arrays.

Mirrors NodeResourcesFitArgs.scoringStrategy and BalancedAllocationArgs.resources of
kube-scheduler, plus the two plugins' weights in the profile. Built once per profile, so the
per-pod kernels never convert tuples to arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .layout import (
    CPU,
    LEAST_ALLOCATED,
    MAX_CUSTOM_PRIORITY_SCORE,
    MAX_RESOURCES,
    MAX_UTILIZATION,
    MEMORY,
    REQUESTED_TO_CAPACITY_RATIO,
    STRATEGY_NAMES,
)


def _int64_vector(values: Sequence[int]) -> np.ndarray:
    array = np.array(values, dtype=np.int64).reshape(-1)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class ScoringProfile:
    """What NodeResourcesFit and BalancedAllocation score, and how much each counts.

    `weights` are the per-resource weights of the fit strategy (Kubernetes defaults a weight of
    0 to 1 when it reads the config; this class takes them as given and requires > 0).
    `shape_utilization` / `shape_score` are RequestedToCapacityRatio's points, scores 0..10.
    """

    strategy: int = LEAST_ALLOCATED
    columns: Sequence[int] = (CPU, MEMORY)
    weights: Sequence[int] = (1, 1)
    balanced_columns: Sequence[int] = (CPU, MEMORY)
    fit_weight: int = 1
    balanced_weight: int = 1
    shape_utilization: Sequence[int] = ()
    shape_score: Sequence[int] = ()
    # Derived, kernel-ready arrays.
    columns_array: np.ndarray = field(init=False, repr=False, compare=False)
    weights_array: np.ndarray = field(init=False, repr=False, compare=False)
    balanced_columns_array: np.ndarray = field(init=False, repr=False, compare=False)
    shape_utilization_array: np.ndarray = field(init=False, repr=False, compare=False)
    shape_score_array: np.ndarray = field(init=False, repr=False, compare=False)
    max_column: int = field(init=False, repr=False, compare=False)  # highest column it reads

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGY_NAMES:
            raise ValueError(f"strategy: unknown scoring strategy {self.strategy!r}")
        set_ = object.__setattr__
        set_(self, "columns_array", _int64_vector(self.columns))
        set_(self, "weights_array", _int64_vector(self.weights))
        set_(self, "balanced_columns_array", _int64_vector(self.balanced_columns))
        set_(self, "shape_utilization_array", _int64_vector(self.shape_utilization))
        set_(self, "shape_score_array", _int64_vector(self.shape_score))
        if self.columns_array.shape != self.weights_array.shape:
            raise ValueError("weights: need one weight per scored column")
        if (self.weights_array <= 0).any():
            raise ValueError("weights: resource weights must be positive")
        for name in ("columns_array", "balanced_columns_array"):
            cols = getattr(self, name)
            if ((cols < 0) | (cols >= MAX_RESOURCES)).any():
                raise ValueError(f"{name[:-6]}: columns must lie in 0..{MAX_RESOURCES - 1}")
        if self.fit_weight < 0 or self.balanced_weight < 0:
            raise ValueError("fit_weight/balanced_weight: plugin weights must be >= 0")
        if self.strategy == REQUESTED_TO_CAPACITY_RATIO:
            self._validate_shape()
        used = np.concatenate([self.columns_array, self.balanced_columns_array, [-1]])
        set_(self, "max_column", int(used.max()))

    def _validate_shape(self) -> None:
        u, s = self.shape_utilization_array, self.shape_score_array
        if u.size == 0 or u.shape != s.shape:
            raise ValueError("shape: RequestedToCapacityRatio needs at least one (utilization, score) point")
        if (u < 0).any() or (u > MAX_UTILIZATION).any() or (np.diff(u) <= 0).any():
            raise ValueError("shape_utilization: must increase strictly within 0..100")
        if (s < 0).any() or (s > MAX_CUSTOM_PRIORITY_SCORE).any():
            raise ValueError(f"shape_score: must lie within 0..{MAX_CUSTOM_PRIORITY_SCORE}")

    @property
    def strategy_name(self) -> str:
        return STRATEGY_NAMES[self.strategy]


DEFAULT_PROFILE = ScoringProfile()
