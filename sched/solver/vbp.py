"""Vector bin packing to (proven) optimality: fewest bins of a capacity vector holding every item.

    solution = solve_vbp(read_vbp("class1_60_5_0.vbp"), time_limit=60)
    solution.bins, solution.lower_bound, solution.gap, solution.status

The stages, each stopping the whole as soon as the bins found meet the lower bound:

    1. heuristics     first / best / dot-product fit over four decreasing orders (upper bound);
                      volume and clique bounds (lower bound)
    2. exact fill     if the items fill the volume bound's K bins exactly in some dimension, list
                      the exactly-full bins and set-partition them (exact_fill.py): planted
                      instances, Triplets; a complete list without a partition proves K + 1;
                      when there are too many to list, build the packing bin by bin
    3. column gen.    the Gilmore-Gomory LP (colgen.py): ceil(LP) as lower bound, and a pool of
                      bins from which CP-SAT picks an integer packing (the integer master)
    4. repacking      large neighbourhood search: CP-SAT empties the lightest bin into a few
                      others, again and again (vbp_lns.py)
    5. assignment     CP-SAT over item-to-bin variables, cliques fixed, bins ordered
                      (vbp_cpsat.py), hinted with the best packing so far, for the time left

Nothing here is tuned to particular instances: the stages are general, and the budget split is
by fractions of the time limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .colgen import column_generation, integer_master, patterns_of
from .exact_fill import bin_completion, exact_patterns, set_partition, tight_dims
from .vbp_bounds import conflict_graph, greedy_clique, volume_bound
from .vbp_cpsat import solve_assignment
from .vbp_heuristics import n_bins, portfolio
from .vbp_instance import VbpInstance, format_vbp, parse_vbp, read_vbp
from .vbp_lns import repack

__all__ = ["VbpInstance", "VbpSolution", "format_vbp", "parse_vbp", "read_vbp", "solve_vbp"]


def default_workers() -> int:
    return 8


@dataclass
class VbpSolution:
    instance: str
    bins: int
    lower_bound: int
    assignment: np.ndarray  # bin per item (items in VbpInstance.items order), 0..bins-1
    method: str  # the stage that found the packing returned
    seconds: float
    bounds: dict[str, int] = field(default_factory=dict)  # each bound's value
    log: list[str] = field(default_factory=list)

    @property
    def optimal(self) -> bool:
        return self.bins == self.lower_bound

    @property
    def status(self) -> str:
        return "optimal" if self.optimal else "feasible"

    @property
    def gap(self) -> float:
        """(bins - lower bound) / bins."""
        return (self.bins - self.lower_bound) / max(self.bins, 1)


def bin_loads(capacity: np.ndarray, items: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    loads = np.zeros((int(assignment.max()) + 1 if len(assignment) else 0, len(capacity)), dtype=np.int64)
    np.add.at(loads, assignment, items)
    return loads


def is_packing(capacity: np.ndarray, items: np.ndarray, assignment: np.ndarray) -> bool:
    return bool(len(assignment) == len(items) and np.all(assignment >= 0)
                and np.all(bin_loads(capacity, items, assignment) <= capacity))


class _Search:
    """The incumbent and the bounds, shared by the stages."""

    def __init__(self, instance: VbpInstance, time_limit: float, workers: int, verbose: bool) -> None:
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + time_limit
        self.time_limit = time_limit
        self.capacity = np.asarray(instance.capacity, dtype=np.int64)
        self.items = instance.items
        self.n = len(self.items)
        self.workers = workers
        self.verbose = verbose
        self.best: np.ndarray | None = None
        self.method = ""
        self.lower = 0
        self.bounds: dict[str, int] = {}
        self.log: list[str] = []
        self.heuristic_runs: list[tuple[str, np.ndarray]] = []

    @property
    def ub(self) -> int:
        return n_bins(self.best) if self.best is not None else self.n

    def done(self) -> bool:
        return self.ub <= self.lower or time.perf_counter() >= self.deadline

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def offer(self, assignment: np.ndarray | None, method: str) -> None:
        if assignment is None or not is_packing(self.capacity, self.items, assignment):
            return
        _, assignment = np.unique(assignment, return_inverse=True)
        if self.best is None or n_bins(assignment) < self.ub:
            self.best, self.method = assignment.astype(np.int64), method
            self.note(f"{method}: {self.ub} bins")

    def bound(self, name: str, value: int) -> None:
        self.bounds[name] = max(self.bounds.get(name, 0), int(value))
        if value > self.lower:
            self.lower = int(value)
            self.note(f"{name} bound: {value}")

    def note(self, msg: str) -> None:
        line = f"{time.perf_counter() - self.t0:7.2f}s  {msg}"
        self.log.append(line)
        if self.verbose:
            print(line, flush=True)


def solve_vbp(instance: VbpInstance, time_limit: float = 60.0, workers: int | None = None,
              verbose: bool = False) -> VbpSolution:
    """The fewest bins found within time_limit seconds, with the best lower bound proven."""
    s = _Search(instance, time_limit, workers or default_workers(), verbose)
    if s.n == 0:
        return VbpSolution(instance.name, 0, 0, np.zeros(0, np.int64), "empty", 0.0)
    _heuristics(s)
    conflicts = conflict_graph(s.capacity, s.items)
    clique = greedy_clique(conflicts)
    s.bound("clique", len(clique))
    if not s.done():
        _exact_fill(s)
    if not s.done():
        _column_generation(s)
    if not s.done():
        assert s.best is not None
        got = repack(s.capacity, s.items, s.best, s.lower, time.perf_counter() + 0.7 * s.left())
        s.offer(got, "lns-repack")
    if not s.done():
        assert s.best is not None
        got, bound, _ = solve_assignment(s.capacity, s.items, conflicts, clique, s.best, s.lower,
                                               s.deadline, s.workers)
        s.offer(got, "cpsat-assignment")
        s.bound("cpsat", bound)
    assert s.best is not None
    return VbpSolution(instance.name, s.ub, min(s.lower, s.ub), s.best, s.method,
                       time.perf_counter() - s.t0, dict(s.bounds), s.log)


def _heuristics(s: _Search) -> None:
    s.heuristic_runs = portfolio(s.capacity, s.items)
    name, assignment = s.heuristic_runs[0]
    s.offer(assignment, name)
    s.bound("volume", volume_bound(s.capacity, s.items))


def _exact_fill(s: _Search) -> None:
    k = s.lower
    tight = tight_dims(s.capacity, s.items, k)
    if not tight.any():
        return
    listing = exact_patterns(s.capacity, s.items, tight)
    s.note(f"exact fill: {len(listing.patterns)} exactly-full bins listed "
           f"({'complete' if listing.complete else 'incomplete'}, {listing.nodes} nodes)")
    got, infeasible = set_partition(s.n, listing.patterns, k, time.perf_counter() + 0.3 * s.left(), s.workers)
    s.offer(got, "exact-fill")
    if got is not None:
        return
    if infeasible and listing.complete:
        s.bound("exact-fill", k + 1)
        return
    # Too many bins to list them all: build one packing bin by bin instead.
    got = bin_completion(s.capacity, s.items, tight, time.perf_counter() + 0.4 * s.left())
    s.offer(got, "bin-completion")


def _column_generation(s: _Search) -> None:
    assert s.best is not None
    initial = patterns_of(s.best)
    for _, a in s.heuristic_runs[1:6]:
        initial += patterns_of(a)
    cg = column_generation(s.capacity, s.items, initial, time.perf_counter() + 0.35 * s.left(),
                           workers=min(s.workers, 2), target=s.ub, log=s.log)
    s.bound("lp", math.ceil(cg.lower_bound - 1e-6))
    if s.done():
        return
    partition = bool(np.any(s.items < 0))
    got, _ = integer_master(s.n, cg.patterns, time.perf_counter() + 0.3 * s.left(), s.lower,
                            hint=patterns_of(s.best), partition=partition, workers=s.workers)
    s.offer(got, "colgen-master")
