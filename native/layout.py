"""Conventions shared by every kernel: matrix columns, reason codes, strategies, hash constants.

The node matrix has one row per node and one column per resource:

    column 0 cpu (milli)   1 memory (bytes)   2 pods (count)   3 ephemeral-storage (bytes)
    column 4.. scalar resources (extended resources such as nvidia.com/gpu, hugepages)

`nonzero_requested` has only the cpu and memory columns. A pod's request vector uses the same
columns, with `pod_req[PODS] == 1` for every pod.

Fit-filter outputs, per node:

    insufficient   int64 bitmask, bit r set when 0 < pod_req[r] > alloc[r] - requested[r]
    unresolvable   int64 bitmask, the bits of `insufficient` where pod_req[r] > alloc[r] as well
                   (clearing the node would not help; never set for pods, as in Kubernetes)
    reason         int32: 0 when the node is feasible; static_reason when the static (non-resource)
                   filters rejected it; else FIT_REASON_BASE + the first insufficient column in
                   Kubernetes' order (pods, cpu, memory, ephemeral-storage, then scalar columns).

Static reason codes belong to the caller and must lie in 1 .. FIT_REASON_BASE - 1.
"""

from __future__ import annotations

CPU = 0
MEMORY = 1
PODS = 2
EPHEMERAL_STORAGE = 3
FIRST_SCALAR = 4
NONZERO_COLUMNS = 2  # nonzero_requested covers cpu and memory only

# Bit r of an int64 mask; bit 63 would be the sign bit.
MAX_RESOURCES = 63

REASON_FEASIBLE = 0
FIT_REASON_BASE = 1000

# Kubernetes reports "Too many pods" before the other resources.
FIT_CHECK_ORDER_HEAD = (PODS, CPU, MEMORY, EPHEMERAL_STORAGE)

LEAST_ALLOCATED = 0
MOST_ALLOCATED = 1
REQUESTED_TO_CAPACITY_RATIO = 2
STRATEGY_NAMES = {
    LEAST_ALLOCATED: "LeastAllocated",
    MOST_ALLOCATED: "MostAllocated",
    REQUESTED_TO_CAPACITY_RATIO: "RequestedToCapacityRatio",
}

MAX_NODE_SCORE = 100
MAX_CUSTOM_PRIORITY_SCORE = 10  # RequestedToCapacityRatio shape scores are 0..10
MAX_UTILIZATION = 100

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

NO_NODE = -1

# splitmix64's finalizer (Steele, Lea, Flood 2014) and the inverses of its two multipliers, so the
# winner of a tie can be recovered from the smallest hash without a second scan.
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
MIX_MUL_1 = 0xBF58476D1CE4E5B9
MIX_MUL_2 = 0x94D049BB133111EB
MIX_MUL_1_INV = 0x96DE1B173F119089
MIX_MUL_2_INV = 0x319642B2D24D8EC3
UINT64_MASK = (1 << 64) - 1

# The fast floating-point path of the fused kernels is exact (bit for bit the integer results)
# while allocatable values of the scored columns stay at or below this bound (16 TiB of memory)
# and requested values stay below FLOAT_EXACT_REQUEST_LIMIT. Larger clusters take the integer
# path; see native/README.md for the derivation.
FLOAT_EXACT_ALLOC_LIMIT = 1 << 44
FLOAT_EXACT_REQUEST_LIMIT = 1 << 52


def fit_reason(column: int) -> int:
    """The reason code of a node whose first insufficient resource is `column`."""
    return FIT_REASON_BASE + column


def fit_check_order(n_resources: int) -> tuple[int, ...]:
    """Columns in the order Kubernetes checks and reports them (pods first)."""
    head = tuple(c for c in FIT_CHECK_ORDER_HEAD if c < n_resources)
    return head + tuple(range(FIRST_SCALAR, n_resources))
