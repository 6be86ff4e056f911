"""Batch and gang placement with OR-Tools CP-SAT.

    result = solve(problem, objective="nodes", time_limit=5.0)

The model (one Boolean x[p, n] per pair the feasibility mask allows, nothing else):

    each pod on at most one node            ExactlyOne(x[p, *], not placed[p])
    capacity per node and resource          sum_p req[p, r] x[p, n] <= free[n, r]  (x used[n]
                                            when minimizing nodes: the LP bound then counts bins)
    gangs                                   placed[m] => active[g];  sum placed >= min * active[g]
    anti-affinity                           sum over a domain <= max_per_domain - existing
    spread (DoNotSchedule)                  receives[d] => count[d] - min_e count[e] <= max_skew

Objectives are lexicographic: first the priority-weighted number of pods placed, then the
objective's own measure (nodes in use, peak utilization, pods moved; see problem.evaluate). When
the greedy hint already places every pod that has a feasible node, the first stage is skipped
and every such pod must be placed; otherwise a first solve maximizes the placed weight with
part of the time and the second keeps at least what it found.

Symmetry: nodes that cannot be told apart (same free and allocatable capacity, same mask column,
same domains, nobody's current node) are used in index order, and pods that cannot be told apart
(same requests, priority, mask row, groups and current node) take nodes in index order. Both are
the rows and columns of the lex-leader of the assignment matrix, so together they keep an
optimum. The hint is put into that canonical form before it is given to the solver.

The result is never worse than the hint: if the solver finds nothing better in the time limit,
the hint comes back with status "hint" and a note saying so.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from .greedy import best_greedy, pod_sizes
from .problem import (
    DEFAULT_TIME_LIMIT,
    OBJECTIVES,
    Objective,
    PlacementProblem,
    evaluate,
    peak_utilization_permille,
)
from .result import SolverResult, explain_unplaced

# Beyond this many (pod, node) pairs the model takes longer to build than a batch may wait:
# the greedy answer is returned (the scheduler should cut the batch or the nodes first).
DEFAULT_MAX_PAIRS = 400_000
# Building the pair model costs ~25 us per pair in Python (372,000 pairs: 8 s on this 2-core
# machine under load): beyond this many pairs per second of the limit it would not be built in
# time, and a plain problem goes to the pod-class model instead (cpsat_classes.py).
PAIRS_PER_SECOND = 30_000
# Above this many pairs a plain problem whose pods fall into far fewer classes goes to the
# pod-class model even when the pair model could be built: fewer variables, the same optimum
# (the pair model keeps smaller problems for its stronger bounds: presolve and the LP).
CLASS_MODEL_ABOVE = 20_000


def default_workers() -> int:
    # CP-SAT's portfolio needs several workers to be useful even on 2 cores.
    return max(4, min(8, os.cpu_count() or 1))


@dataclass
class _Model:
    model: cp_model.CpModel
    x_pod: list[list[tuple[int, cp_model.IntVar]]]
    x_node: list[list[tuple[int, cp_model.IntVar]]]
    placed: list[cp_model.IntVar | None]
    active: list[cp_model.IntVar | None] = field(default_factory=list)
    used: dict[int, cp_model.IntVar] = field(default_factory=dict)
    receives: list[tuple[list[int], dict[int, cp_model.IntVar]]] = field(default_factory=list)
    peak: cp_model.IntVar | None = None


def solve(
    problem: PlacementProblem,
    objective: Objective = "nodes",
    time_limit: float = DEFAULT_TIME_LIMIT,
    hint: SolverResult | None = None,
    workers: int | None = None,
    seed: int = 0,
    symmetry_breaking: bool = True,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    log: bool = False,
) -> SolverResult:
    """Place the batch under the objective within time_limit seconds (building included)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    t0 = time.perf_counter()
    hint = hint if hint is not None else best_greedy(problem, objective)
    hint_value = evaluate(problem, hint.assignment, objective)
    feasible = problem.feasible_mask()
    notes: list[str] = []
    pairs = int(feasible.sum())
    budget = min(max_pairs, int(PAIRS_PER_SECOND * time_limit))
    if pairs > min(budget, CLASS_MODEL_ABOVE):
        from . import cpsat_classes

        if cpsat_classes.applies(problem, objective) and cpsat_classes.n_pairs(problem) <= min(budget, pairs // 2):
            left = max(0.05, time_limit - (time.perf_counter() - t0))
            return cpsat_classes.solve_by_classes(problem, objective, left, hint, workers or default_workers(), seed)
    if pairs > budget:
        if pairs <= max_pairs:
            notes.append(f"{pairs} (pod, node) pairs: more than {time_limit:g} s can build "
                         f"(max_pairs={max_pairs}); the model is skipped")
        else:
            notes.append(f"{pairs} (pod, node) pairs exceed max_pairs={max_pairs}: greedy answer returned")
        return _from_hint(problem, hint, objective, t0, notes, bound=None)
    if pairs == 0:
        return _from_hint(problem, hint, objective, t0, ["nothing can be placed"], bound=None, proven=True)

    weights = problem.priority_weights()
    placeable = feasible.any(axis=1)
    max_weight = int(weights[placeable].sum())
    workers = workers or default_workers()

    def remaining() -> float:
        return max(0.05, time_limit - (time.perf_counter() - t0))

    canonical = canonical_hint(problem, hint.assignment) if symmetry_breaking else hint.assignment
    m = _build(problem, objective, feasible, symmetry_breaking)
    _add_hint(problem, m, canonical, objective)
    w_vars = [(v, int(weights[p])) for p, v in enumerate(m.placed) if v is not None]
    weight_expr = cp_model.LinearExpr.weighted_sum([v for v, _ in w_vars], [w for _, w in w_vars])

    stage1_proven = False
    bound: int | None = None
    status_name = "UNKNOWN"
    best = None
    if objective == "priority" or hint_value.placed_weight < max_weight:
        m.model.maximize(weight_expr)
        budget = remaining() if objective == "priority" else remaining() / 2
        status, solver = _run(m.model, budget, workers, seed, log)
        status_name = solver.status_name(status)
        keep = hint_value.placed_weight
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = _read(m, solver, problem.n_pods)
            stage1_proven = status == cp_model.OPTIMAL
            bound = math.floor(solver.best_objective_bound + 1e-6)
            if evaluate(problem, best, objective).placed_weight > keep:
                keep = evaluate(problem, best, objective).placed_weight
                m.model.clear_hints()
                _add_hint(problem, m, best, objective)
        if objective != "priority":
            # the second stage keeps the best weight found (the hint is a witness if CP-SAT's isn't)
            m.model.add(weight_expr >= keep)
    else:
        # The hint places every placeable pod: so must the answer.
        for v in m.placed:
            if v is not None:
                m.model.add(v == 1)
        stage1_proven = True

    if objective != "priority":
        m.model.minimize(_secondary(problem, m, objective))
        status, solver = _run(m.model, remaining(), workers, seed, log)
        status_name = solver.status_name(status)
        bound = None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = _read(m, solver, problem.n_pods)
            bound = math.ceil(solver.best_objective_bound - 1e-6)
        if not stage1_proven:
            notes.append("placed weight not proven maximal: the bound holds for that weight only")

    if best is None:
        notes.append(f"CP-SAT found no solution in {time_limit:g} s ({status_name}): the greedy hint is returned")
        return _from_hint(problem, hint, objective, t0, notes, bound=bound)
    value = evaluate(problem, best, objective)
    if value.key > hint_value.key:
        notes.append("CP-SAT's best was worse than the greedy hint: the hint is returned")
        return _from_hint(problem, hint, objective, t0, notes, bound=bound)
    proven = status_name == "OPTIMAL"
    measure_value = value.placed_weight if objective == "priority" else value.secondary
    return SolverResult(
        assignment=best,
        solver="cpsat",
        objective=objective,
        value=value,
        status="optimal" if proven else "feasible",
        bound=bound,
        gap=_gap(measure_value, bound),
        seconds=time.perf_counter() - t0,
        reasons=explain_unplaced(problem, best, proven=stage1_proven),
        notes=notes + [f"hint: {hint.solver}"],
    )


def _gap(value: int, bound: int | None) -> float | None:
    if bound is None:
        return None
    return abs(value - bound) / max(1, abs(value))


def _from_hint(problem: PlacementProblem, hint: SolverResult, objective: Objective, t0: float,
               notes: list[str], bound: int | None, proven: bool = False) -> SolverResult:
    value = evaluate(problem, hint.assignment, objective)
    measure_value = value.placed_weight if objective == "priority" else value.secondary
    return SolverResult(
        assignment=hint.assignment.copy(),
        solver=hint.solver,
        objective=objective,
        value=value,
        status="optimal" if proven else "hint",
        bound=bound,
        gap=_gap(measure_value, bound),
        seconds=time.perf_counter() - t0,
        reasons=explain_unplaced(problem, hint.assignment, proven=proven),
        notes=notes,
    )


# Above this many variables presolve alone can eat a 5 s budget: probing and repeated passes
# are switched off, so the search starts (from the hint) in time.
LIGHT_PRESOLVE_VARIABLES = 20_000


def _run(model: cp_model.CpModel, seconds: float, workers: int, seed: int, log: bool) -> tuple[int, cp_model.CpSolver]:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    if len(model.proto.variables) > LIGHT_PRESOLVE_VARIABLES:
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.max_presolve_iterations = 1
    return solver.solve(model), solver


def _read(m: _Model, solver: cp_model.CpSolver, n_pods: int) -> np.ndarray:
    out = np.full(n_pods, -1, np.int64)
    for p, row in enumerate(m.x_pod):
        for n, v in row:
            if solver.boolean_value(v):
                out[p] = n
                break
    return out


# -- the model --------------------------------------------------------------------------------


def _resource_scale(problem: PlacementProblem, objective: Objective) -> np.ndarray:
    """A common divisor per resource: memory in bytes becomes MiB-sized numbers when every
    request is a multiple (exact: floor(free / g) still admits exactly the same sums)."""
    scale = np.ones(problem.n_resources, np.int64)
    for r in range(problem.n_resources):
        vals = [int(v) for v in np.unique(np.abs(problem.requests[:, r])) if v]
        if objective == "balanced":
            vals += [int(v) for v in np.unique(np.abs(problem.allocatable[:, r])) if v]
            vals += [int(v) for v in np.unique(np.abs(problem.allocatable[:, r] - problem.free[:, r])) if v]
        g = 0
        for v in vals:
            g = math.gcd(g, v)
            if g == 1:
                break
        scale[r] = max(g, 1)
    return scale


def _build(problem: PlacementProblem, objective: Objective, feasible: np.ndarray, symmetry: bool) -> _Model:
    model = cp_model.CpModel()
    P, N, R = problem.n_pods, problem.n_nodes, problem.n_resources
    x_pod: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(P)]
    x_node: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(N)]
    allowed = feasible.copy()
    if symmetry:
        allowed &= ~_beyond_first_nodes(problem, feasible)
    for p in range(P):
        for n in np.flatnonzero(allowed[p]):
            v = model.new_bool_var(f"x_{p}_{n}")
            x_pod[p].append((int(n), v))
            x_node[int(n)].append((p, v))
    placed: list[cp_model.IntVar | None] = [None] * P
    for p in range(P):
        if x_pod[p]:
            placed[p] = model.new_bool_var(f"placed_{p}")
            model.add_exactly_one([v for _, v in x_pod[p]] + [placed[p].Not()])
    m = _Model(model, x_pod, x_node, placed)

    busy = problem.nodes_in_use()
    if objective == "nodes" or symmetry:
        for n in range(N):
            if x_node[n] and not (busy[n] and objective == "nodes"):
                m.used[n] = model.new_bool_var(f"used_{n}")

    scale = _resource_scale(problem, objective)
    req = problem.requests // scale
    free = problem.free // scale
    for n in range(N):
        if not x_node[n]:
            continue
        pods = [p for p, _ in x_node[n]]
        vs = [v for _, v in x_node[n]]
        bounded = np.zeros(R, dtype=bool)  # resources whose capacity row ties x[., n] to used[n]
        for r in range(R):
            coefs = req[pods, r]
            if coefs[coefs > 0].sum() <= free[n, r]:
                continue  # can never bind
            expr = cp_model.LinearExpr.weighted_sum(vs, [int(c) for c in coefs])
            if objective == "nodes" and n in m.used:
                model.add(expr <= int(free[n, r]) * m.used[n])  # a stronger LP: empty bins hold nothing
                bounded[r] = True
            else:
                model.add(expr <= int(free[n, r]))
        u = m.used.get(n)
        if u is None:
            continue
        for p, v in x_node[n]:
            if not np.any(req[p, bounded] > 0):
                model.add_implication(v, u)
        if objective != "nodes":
            model.add_bool_or(vs).only_enforce_if(u)  # used means used (minimizing nodes sees to it)

    _add_gangs(problem, m)
    _add_anti_affinity(problem, m)
    _add_spread(problem, m)
    if objective == "balanced":
        _add_peak(problem, m, scale)
    if symmetry:
        _break_symmetry(problem, m, feasible, objective)
    return m


def _add_gangs(problem: PlacementProblem, m: _Model) -> None:
    for gi, g in enumerate(problem.gangs):
        active = m.model.new_bool_var(f"gang_{gi}")
        m.active.append(active)
        members = [m.placed[p] for p in g.members if m.placed[p] is not None]
        if len(members) < g.required:
            m.model.add(active == 0)
        for v in members:
            m.model.add_implication(v, active)
        if g.required == len(g.members):
            for v in members:
                m.model.add(v == active)
        else:
            m.model.add(sum(members) >= g.required * active)


def _add_anti_affinity(problem: PlacementProblem, m: _Model) -> None:
    for a in problem.anti_affinity:
        dom, existing = problem.anti_affinity_domains(a)
        by_domain: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for p in a.members:
            for n, v in m.x_pod[p]:
                if dom[n] >= 0:
                    by_domain[int(dom[n])].append(v)
        for d, vs in by_domain.items():
            room = a.max_per_domain - int(existing[d]) if d < len(existing) else a.max_per_domain
            if room <= 0:
                for v in vs:
                    m.model.add(v == 0)
            elif room == 1:
                m.model.add_at_most_one(vs)
            elif room < len(vs):
                m.model.add(sum(vs) <= room)


def _add_spread(problem: PlacementProblem, m: _Model) -> None:
    for si, s in enumerate(problem.spread):
        dom, existing = problem.spread_counts(s)
        ids = [int(d) for d in problem.spread_domain_ids(s)]
        added: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for p in s.members:
            for n, v in m.x_pod[p]:
                added[int(dom[n])].append(v)
        if not ids:
            continue
        count = {d: int(existing[d]) + sum(added[d]) for d in ids}
        top = int(existing[ids].max()) + len(s.members)
        low = m.model.new_int_var(0, top, f"spread_{si}_min")
        m.model.add_min_equality(low, [count[d] if added[d] else int(existing[d]) for d in ids])
        receives: dict[int, cp_model.IntVar] = {}
        for d in ids:
            if not added[d]:
                continue
            r = m.model.new_bool_var(f"spread_{si}_receives_{d}")
            receives[d] = r
            for v in added[d]:
                m.model.add_implication(v, r)
            m.model.add_bool_or(added[d]).only_enforce_if(r)
            m.model.add(count[d] - low <= s.max_skew).only_enforce_if(r)
        m.receives.append((ids, receives))


def _add_peak(problem: PlacementProblem, m: _Model, scale: np.ndarray) -> None:
    alloc = problem.allocatable // scale
    used0 = (problem.allocatable - problem.free) // scale
    req = problem.requests // scale
    peak = m.model.new_int_var(0, 1000 * 1000, "peak_permille")
    floor_peak = 0
    for n in range(problem.n_nodes):
        for r in range(problem.n_resources):
            if alloc[n, r] <= 0:
                continue
            floor_peak = max(floor_peak, -((-1000 * int(used0[n, r])) // int(alloc[n, r])))
            terms = [(v, int(req[p, r])) for p, v in m.x_node[n] if req[p, r] != 0]
            if not terms:
                continue
            expr = cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [1000 * c for _, c in terms])
            m.model.add(1000 * int(used0[n, r]) + expr <= int(alloc[n, r]) * peak)
    m.model.add(peak >= floor_peak)
    m.peak = peak


def _secondary(problem: PlacementProblem, m: _Model, objective: Objective) -> cp_model.LinearExprT:
    if objective == "nodes":
        busy = problem.nodes_in_use()
        extra = [u for n, u in m.used.items() if not busy[n]]
        return sum(extra) + int(busy.sum())
    if objective == "balanced":
        assert m.peak is not None
        return m.peak
    if objective == "disruption":
        stays = []
        homes = 0
        for p in range(problem.n_pods):
            home = int(problem.current[p])
            if home < 0:
                continue
            homes += 1
            for n, v in m.x_pod[p]:
                if n == home:
                    stays.append(v)
        return homes - sum(stays)
    raise ValueError(objective)


# -- symmetry -------------------------------------------------------------------------------


def node_classes(problem: PlacementProblem, feasible: np.ndarray) -> list[list[int]]:
    """Groups (size >= 2, in index order) of nodes no constraint or objective tells apart."""
    homes = {int(c) for c in problem.current if c >= 0}
    keys: dict[tuple, list[int]] = defaultdict(list)
    aa = [problem.anti_affinity_domains(a) + (a.domains is None,) for a in problem.anti_affinity]
    spread = [problem.spread_counts(s)[0] for s in problem.spread]
    busy = problem.nodes_in_use()
    for n in range(problem.n_nodes):
        if n in homes:
            continue
        key: list[object] = [problem.free[n].tobytes(), problem.allocatable[n].tobytes(), bool(busy[n]),
                             feasible[:, n].tobytes()]
        for dom, existing, per_node in aa:
            d = int(dom[n])
            key.append(("own", int(existing[d])) if per_node else d)
        key.extend(int(dom[n]) for dom in spread)
        keys[tuple(key)].append(n)
    return [g for g in keys.values() if len(g) > 1]


def pod_classes(problem: PlacementProblem, feasible: np.ndarray) -> list[list[int]]:
    """Groups (size >= 2, in index order) of pods no constraint or objective tells apart."""
    gang_of = problem.gang_of()
    groups: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(problem.anti_affinity):
        for p in a.members:
            groups[p].append(i)
    spreads: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(problem.spread):
        for p in s.members:
            spreads[p].append(i)
    keys: dict[tuple, list[int]] = defaultdict(list)
    for p in range(problem.n_pods):
        key = (problem.requests[p].tobytes(), int(problem.priority[p]), feasible[p].tobytes(), int(gang_of[p]),
               tuple(groups[p]), tuple(spreads[p]), int(problem.current[p]))
        keys[key].append(p)
    return [g for g in keys.values() if len(g) > 1]


def _break_symmetry(problem: PlacementProblem, m: _Model, feasible: np.ndarray, objective: Objective) -> None:
    for nodes in node_classes(problem, feasible):
        us = [m.used[n] for n in nodes if n in m.used]
        for a, b in itertools.pairwise(us):
            m.model.add_implication(b, a)
    N = problem.n_nodes
    for pods in pod_classes(problem, feasible):
        pos = []
        for p in pods:
            if m.placed[p] is None:
                break
            row = m.x_pod[p]
            pos.append(cp_model.LinearExpr.weighted_sum([v for _, v in row], [n for n, _ in row]) + N * (1 - m.placed[p]))
        for a, b in itertools.pairwise(pos):
            m.model.add(a <= b)


def symmetry_order(problem: PlacementProblem) -> np.ndarray:
    """The pod order both symmetry rules agree on: bigger first (then input order), so the
    first pods of identical nodes are the big ones, as in first-fit decreasing."""
    return np.lexsort((np.arange(problem.n_pods), -pod_sizes(problem, "sum")))


def _beyond_first_nodes(problem: PlacementProblem, feasible: np.ndarray) -> np.ndarray:
    """bool[P, N]: pairs the lex-leader excludes. Among identical nodes n_0 < n_1 < ..., the
    first pod (in symmetry order) of n_j comes after that of n_(j-1), so the pod at position t
    of the class's candidates can only be on n_0 .. n_t."""
    rank = np.empty(problem.n_pods, dtype=np.int64)
    rank[symmetry_order(problem)] = np.arange(problem.n_pods)
    out = np.zeros_like(feasible)
    for nodes in node_classes(problem, feasible):
        pods = np.flatnonzero(feasible[:, nodes[0]])
        pods = pods[np.argsort(rank[pods])]
        for t, p in enumerate(pods[: len(nodes) - 1]):
            out[p, nodes[t + 1 :]] = True
    return out


def canonical_hint(problem: PlacementProblem, assignment: np.ndarray) -> np.ndarray:
    """The same placement brought to the form the symmetry rules keep: identical nodes ordered
    by their first pod (in symmetry order), identical pods taking nodes in index order. Each
    step can only raise the assignment matrix in lex order, so alternating them ends."""
    feasible = problem.feasible_mask()
    out = np.asarray(assignment, dtype=np.int64).copy()
    rank = np.empty(problem.n_pods, dtype=np.int64)
    rank[symmetry_order(problem)] = np.arange(problem.n_pods)
    nclasses = node_classes(problem, feasible)
    pclasses = pod_classes(problem, feasible)
    for _ in range(100):
        before = out.copy()
        for nodes in nclasses:
            first = {n: int(rank[out == n].min()) if np.any(out == n) else problem.n_pods for n in nodes}
            members = {n: np.flatnonzero(out == n) for n in nodes}
            for new, old in zip(nodes, sorted(nodes, key=lambda n: (first[n], n))):
                out[members[old]] = new
        for pods in pclasses:
            spots = sorted(int(out[p]) if out[p] >= 0 else problem.n_nodes for p in pods)
            for p, n in zip(pods, spots):
                out[p] = n if n < problem.n_nodes else -1
        if np.array_equal(before, out):
            break
    return out


def _add_hint(problem: PlacementProblem, m: _Model, assignment: np.ndarray, objective: Objective) -> None:
    model = m.model
    for p, row in enumerate(m.x_pod):
        for n, v in row:
            model.add_hint(v, int(assignment[p] == n))
        if m.placed[p] is not None:
            model.add_hint(m.placed[p], int(assignment[p] >= 0))
    for n, u in m.used.items():
        model.add_hint(u, int(np.any(assignment == n)))
    for gi, g in enumerate(problem.gangs):
        if gi < len(m.active):
            model.add_hint(m.active[gi], int(any(assignment[p] >= 0 for p in g.members)))
    for (ids, receives), s in zip(m.receives, problem.spread):
        dom = problem.spread_counts(s)[0]
        got = {int(dom[assignment[p]]) for p in s.members if assignment[p] >= 0}
        for d, r in receives.items():
            model.add_hint(r, int(d in got))
    if m.peak is not None:
        model.add_hint(m.peak, peak_utilization_permille(problem, assignment))
