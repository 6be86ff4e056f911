"""An independent feasibility checker for placements.

Reads only the raw fields of a PlacementProblem (none of its derived helpers, none of the
placers' code) and checks, with plain loops, every hard rule the placers promise:

    shape        one entry per pod, each -1 or a node index
    mask         a pod only where the scheduler's filters allow it
    capacity     per node and resource, the placed requests fit the free capacity
    gangs        0 or at least min_member members placed
    anti-affinity at most max_per_domain members (plus existing pods) per domain
    spread       no member on a node without the topology key; every domain that received a
                 member ends with count - min(count over domains) <= max_skew

Returns the violations as readable strings: an empty list means feasible.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .problem import PlacementProblem


def check(problem: PlacementProblem, assignment: Any) -> list[str]:
    a = [int(x) for x in list(assignment)]
    n_nodes = len(problem.free)
    n_pods = len(problem.requests)
    errors: list[str] = []
    if len(a) != n_pods:
        return [f"shape: {len(a)} entries for {n_pods} pods"]
    for p, n in enumerate(a):
        if n < -1 or n >= n_nodes:
            errors.append(f"shape: pod {p} on node {n}, outside -1..{n_nodes - 1}")
    if errors:
        return errors

    for p, n in enumerate(a):
        if n >= 0 and not bool(problem.mask[p][n]):
            errors.append(f"mask: pod {p} on node {n}, which its filters exclude")

    n_res = len(problem.free[0]) if n_nodes else 0
    load = [[0] * n_res for _ in range(n_nodes)]
    for p, n in enumerate(a):
        if n >= 0:
            for r in range(n_res):
                load[n][r] += int(problem.requests[p][r])
    for n in range(n_nodes):
        for r in range(n_res):
            if load[n][r] > int(problem.free[n][r]):
                errors.append(f"capacity: node {n} resource {r}: {load[n][r]} placed > {int(problem.free[n][r])} free")

    for g in problem.gangs:
        placed = sum(1 for m in g.members if a[m] >= 0)
        need = g.min_member if g.min_member else len(g.members)
        if 0 < placed < need:
            errors.append(f"gang {g.name}: {placed} of {len(g.members)} placed, needs 0 or >= {need}")

    for aa in problem.anti_affinity:
        count: dict[int, int] = defaultdict(int)
        if aa.existing is not None:
            for d, c in enumerate(list(aa.existing)):
                count[d] += int(c)
        for m in aa.members:
            n = a[m]
            if n < 0:
                continue
            d = n if aa.domains is None else int(aa.domains[n])
            if d >= 0:
                count[d] += 1
        for d, c in count.items():
            if c > aa.max_per_domain:
                # existing pods alone may break the rule; only complain if the batch added some
                added = sum(1 for m in aa.members if a[m] >= 0 and (a[m] if aa.domains is None else int(aa.domains[a[m]])) == d)
                if added:
                    errors.append(f"anti-affinity {aa.name}: domain {d} holds {c} > {aa.max_per_domain}")

    for s in problem.spread:
        domain_of = [int(x) for x in list(s.domains)]
        count = defaultdict(int)
        for d in domain_of:
            if d >= 0:
                count[d] += 0
        if s.existing is not None:
            for d, c in enumerate(list(s.existing)):
                if d in count:
                    count[d] += int(c)
        received: set[int] = set()
        for m in s.members:
            n = a[m]
            if n < 0:
                continue
            d = domain_of[n]
            if d < 0:
                errors.append(f"spread {s.name}: pod {m} on node {n}, which has no topology domain")
                continue
            count[d] += 1
            received.add(d)
        if count:
            low = min(count.values())
            for d in sorted(received):
                if count[d] - low > s.max_skew:
                    errors.append(f"spread {s.name}: domain {d} has {count[d]}, min {low}, skew > {s.max_skew}")
    return errors


def assert_feasible(problem: PlacementProblem, assignment: Any) -> None:
    errors = check(problem, assignment)
    if errors:
        raise AssertionError("infeasible placement:\n  " + "\n  ".join(errors[:20]))
