"""ImageLocality: favours nodes that already hold the pod's images, scaled by how widely each
image is spread: sum over containers of int64(size * nodesWithImage / totalNodes), clamped to
[23 MiB, 1000 MiB x containers] and mapped onto 0..100. No normalization step."""

from __future__ import annotations

import numpy as np

from ..framework.interface import SCORE, Cycle, Plugin

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
MAX_NODE_SCORE = 100


def calculate_priority(sums: np.ndarray, n_containers: int) -> np.ndarray:
    max_threshold = MAX_CONTAINER_THRESHOLD * n_containers
    clamped = np.clip(sums, MIN_THRESHOLD, max(max_threshold, MIN_THRESHOLD))
    if max_threshold == MIN_THRESHOLD:
        return np.zeros_like(sums)
    return MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality(Plugin):
    NAME = NAME
    POINTS = frozenset({SCORE})

    def raw_scores(self, cycle: Cycle) -> np.ndarray:
        def compute() -> np.ndarray:
            snapshot = cycle.snapshot
            total = snapshot.n_nodes
            sums = np.zeros(total, dtype=np.int64)
            for image in cycle.cls.images:
                nodes, sizes = snapshot.image_nodes(image)
                if len(nodes):
                    spread = float(len(nodes)) / float(total)
                    sums[nodes] += (sizes.astype(np.float64) * spread).astype(np.int64)
            return calculate_priority(sums, cycle.cls.n_containers)

        return cycle.cached(f"{NAME}/raw", cycle.snapshot.node_version, compute)

    def score(self, cycle: Cycle, feasible: np.ndarray) -> np.ndarray:
        return self.raw_scores(cycle)

    def score_constant(self, cycle: Cycle, mask: np.ndarray) -> bool:
        raw = self.raw_scores(cycle)[mask]
        return raw.size == 0 or bool((raw == raw[0]).all())


def new(args, profile) -> ImageLocality:
    return ImageLocality(args, profile)
