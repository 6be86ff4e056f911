"""Batch mode (off by default; `--batch-window MS`): the ordinary pods that arrived within the
window are placed together by the solver when that packs better than one at a time.

    the runner waits the window once the queue has pods, so arrivals gather; then per batch:
        place_batch (objective "nodes"): kube-scheduler's own one-at-a-time answer is computed
        on the same snapshot and is the solver's hint
            the solver places more (priority-weighted) pods
                -> its placements are assumed and bound; the pods it left out, and those it
                   cannot take (inter-pod terms, host ports), go through the per-pod path
            otherwise
                -> everything is released and the batch takes the per-pod path unchanged, so
                   batch mode never does worse than the default, and where one at a time
                   places as much, the profile's scoring (spreading, by default) decides as
                   before: the solver's fewer nodes alone do not override it

The solve holds the loop for up to `time_limit` seconds per batch (CP-SAT stops sooner when it
proves the optimum), which is the price of the window; small windows and limits suit a busy
in-process server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..batch_place import place_batch
from ..solver_bridge import release
from . import actions as act
from .cache import pod_facts

if TYPE_CHECKING:
    from .queue import QueuedPod
    from .state import SchedulerState

log = logging.getLogger("shoal.sched.batch")

BATCH_TIME_LIMIT = 1.0  # seconds per batch solve
BATCH_OBJECTIVE = "nodes"
MIN_SOLVER_BATCH = 2  # one pod: nothing to pack together


@dataclass
class BatchStats:
    batches: int = 0  # batches the solver looked at
    improved: int = 0  # ... where its answer was taken
    solver_placed: int = 0


def place_window(state: SchedulerState, entries: list[QueuedPod], time_limit: float = BATCH_TIME_LIMIT,
                 stats: BatchStats | None = None) -> tuple[list[QueuedPod], list[act.Action]]:
    """Solver placement of the batch when better; returns the entries left for the per-pod path
    and the Bind actions of the pods the solver placed."""
    # Pods with a nomination keep their preemption story on the per-pod path.
    candidates = [e for e in entries if not e.info.nominated_node_name]
    if len(candidates) < MIN_SOLVER_BATCH:
        return entries, []
    try:
        batch = place_batch(state.scheduler, [e.info for e in candidates], (), BATCH_OBJECTIVE, time_limit)
    except Exception:  # a bug, not a verdict: the per-pod path takes the batch as without the window
        log.exception("the batch solver failed; placing one at a time")
        release(state.snapshot, [e.info for e in candidates if e.info.row >= 0])
        return entries, []
    if stats is not None:
        stats.batches += 1
    placed = [i for i, n in enumerate(batch.nodes.tolist()) if n >= 0]
    if not batch.places_more:
        release(state.snapshot, [candidates[i].info for i in placed])
        return entries, []
    if stats is not None:
        stats.improved += 1
        stats.solver_placed += len(placed)
    names = state.snapshot.nodes
    out: list[act.Action] = []
    for i in placed:
        e = candidates[i]
        node = names[int(batch.nodes[i])].name
        state.cache.assume(e.info, node, e.uid, pod_facts(e.pod), committed=True)
        state.queue.binding(e)
        state.stats.assumed += 1
        out.append(act.bind_to(state.snapshot, act.PodRef(e.pod.metadata.namespace or "default", e.pod.metadata.name, e.uid), node))
    taken = {id(candidates[i]) for i in placed}
    return [e for e in entries if id(e) not in taken], out
