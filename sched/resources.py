"""Resource amounts as the scheduler counts them: which names count, and what a pod requests.

Amounts are integers from ``shoal.proto.quantity.resource_list_to_ints``: cpu in millicores,
everything else in base units. Columns of the node matrix follow ``shoal.native.layout``:

    0 cpu   1 memory   2 pods   3 ephemeral-storage   4.. scalar resources (interned)

A pod's request is Kubernetes' ``resourcehelper.PodRequests``:

    max(sum of app containers + sidecars, max over init containers of their use) + overhead

where an init container's use is its own request plus the sidecars started before it, and a
sidecar (an init container with restartPolicy Always) adds to the sum. Pod-level requests
(``spec.resources.requests``), where set, replace the container sum for cpu and memory.
The non-zero request (for scoring only) gives each container that omits a cpu or memory request
100m or 200Mi before summing; an explicit 0 stays 0.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from shoal.native.layout import DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST
from shoal.proto.quantity import resource_list_to_ints

CPU_NAME = "cpu"
MEMORY_NAME = "memory"
PODS_NAME = "pods"
EPHEMERAL_STORAGE_NAME = "ephemeral-storage"
FIXED_COLUMNS = (CPU_NAME, MEMORY_NAME, PODS_NAME, EPHEMERAL_STORAGE_NAME)

_NON_MISSING = {CPU_NAME: DEFAULT_MILLI_CPU_REQUEST, MEMORY_NAME: DEFAULT_MEMORY_REQUEST}
_POD_LEVEL_RESOURCES = (CPU_NAME, MEMORY_NAME)


def is_scalar_resource(name: str) -> bool:
    """schedutil.IsScalarResourceName: extended (domain-prefixed, not kubernetes.io/), hugepages-*,
    attachable-volumes-* and kubernetes.io/-prefixed native resources. Others are not counted."""
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return True
    # Extended (domain-prefixed) or kubernetes.io/-prefixed native; quota's "requests." is not.
    return "/" in name and not name.startswith("requests.")


def counted(name: str) -> bool:
    """Whether the scheduler tracks a resource of this name at all."""
    return name in FIXED_COLUMNS or is_scalar_resource(name)


class PodRequest(NamedTuple):
    """What a pod asks for: `requests` by resource name (counted names only, no "pods"), and
    the non-zero cpu and memory used by NodeResourcesFit's scoring."""

    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_memory: int


def _add(total: dict[str, int], amounts: Mapping[str, int]) -> None:
    for name, amount in amounts.items():
        total[name] = total.get(name, 0) + amount


def _max_into(total: dict[str, int], amounts: Mapping[str, int]) -> None:
    for name, amount in amounts.items():
        if name not in total or amount > total[name]:
            total[name] = amount


def _with_non_missing(amounts: dict[str, int], raw: Mapping[str, str]) -> dict[str, int]:
    out = dict(amounts)
    for name, default in _NON_MISSING.items():
        if name not in raw:
            out[name] = out.get(name, 0) + default
    return out


def aggregate_requests(
    containers: Iterable[tuple[Mapping[str, str], bool]],
    init_containers: Iterable[tuple[Mapping[str, str], bool]],
    overhead: Mapping[str, str],
    pod_level: Mapping[str, str],
    non_missing: bool,
) -> dict[str, int]:
    """resourcehelper.PodRequests over (requests, is_sidecar) pairs (is_sidecar is ignored for
    app containers). Raises QuantityError naming the resource for an invalid quantity."""
    total: dict[str, int] = {}
    for raw, _ in containers:
        amounts = resource_list_to_ints(raw)
        _add(total, _with_non_missing(amounts, raw) if non_missing else amounts)
    sidecars: dict[str, int] = {}
    init_use: dict[str, int] = {}
    for raw, is_sidecar in init_containers:
        amounts = resource_list_to_ints(raw)
        if non_missing:
            amounts = _with_non_missing(amounts, raw)
        if is_sidecar:
            _add(total, amounts)
            _add(sidecars, amounts)
            use = dict(sidecars)
        else:
            use = dict(amounts)
            _add(use, sidecars)
        _max_into(init_use, use)
    _max_into(total, init_use)
    if pod_level:
        amounts = resource_list_to_ints(pod_level)
        for name in _POD_LEVEL_RESOURCES:
            if name in amounts:
                total[name] = amounts[name]
    _add(total, resource_list_to_ints(overhead))
    return total


def pod_request(spec) -> PodRequest:
    """The request of a core_pb2.PodSpec (see the module docstring)."""
    containers = [(c.resources.requests, False) for c in spec.containers]
    inits = [(c.resources.requests, c.HasField("restart_policy") and c.restart_policy == "Always") for c in spec.init_containers]
    pod_level = spec.resources.requests if spec.HasField("resources") else {}
    real = aggregate_requests(containers, inits, spec.overhead, pod_level, non_missing=False)
    nonzero = aggregate_requests(containers, inits, spec.overhead, pod_level, non_missing=True)
    requests = {name: amount for name, amount in real.items() if counted(name) and name != PODS_NAME}
    return PodRequest(requests, nonzero.get(CPU_NAME, 0), nonzero.get(MEMORY_NAME, 0))


def node_allocatable(status) -> dict[str, int]:
    """A node's allocatable amounts (counted names only). As Kubernetes' defaulting does, an
    empty allocatable falls back to capacity."""
    raw = status.allocatable if len(status.allocatable) else status.capacity
    return dict(_allocatable(tuple(sorted(raw.items()))))


@functools.lru_cache(maxsize=4096)
def _allocatable(raw: tuple[tuple[str, str], ...]) -> tuple[tuple[str, int], ...]:
    """Parsed once per distinct resource list: clusters have few node shapes and many nodes."""
    return tuple((name, amount) for name, amount in resource_list_to_ints(dict(raw)).items() if counted(name))
