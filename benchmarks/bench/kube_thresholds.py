"""kube-scheduler's published scheduler_perf thresholds (pods/s), for files that state none.

Later upstream versions of scheduler_perf give some workloads a `threshold`: the pods/s below
which kube-scheduler's CI fails. The shared performance-config.yaml predates that field, so
`shoal bench perf-config --thresholds upstream` takes them from here: per test case, the upstream
workload's name, its threshold, the params it was measured with (so Shoal runs the same sizes)
and where it was read (repository path and commit).

Which workload: upstream often lists a workload twice, once per setting of a feature gate
(`..._QueueingHintsEnabled`, `..._AsyncAPICallsEnabled`); the one without the suffix is taken
and its gates are recorded in `feature_gates`. Each entry is from the newest stored version of
its file that states a threshold for the case; `note` says when a later version dropped it.

Shoal's targets (tracker issue 8): 100x kube-scheduler's threshold for the basic, node-affinity,
taint and spreading cases, 10x for every other case (target_factor).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

REPO = "kubernetes/kubernetes"
BASE = "test/integration/scheduler_perf"

# The stored upstream versions the entries were read from: topic folder -> (path, commit).
MISC = (f"{BASE}/misc/performance-config.yaml", "008b3652959ca58af8be3fb5b6ecfe9ae7638282")
MISC_OLDER = (f"{BASE}/misc/performance-config.yaml", "76c191b9fd6752e9ba7ae416309e28bd355f807a")
AFFINITY = (f"{BASE}/affinity/performance-config.yaml", "1bd6a8f3c4255ac03133920bb1eb3959934aab09")
SPREADING = (f"{BASE}/topology_spreading/performance-config.yaml", "05377107b08828b9be7554d2bf2507510d28827f")
VOLUMES = (f"{BASE}/volumes/performance-config.yaml", "240d43d6c2fefbe01529e81eed0de71a134094ed")

QUEUEING_HINTS_OFF = {"SchedulerQueueingHints": False}
ASYNC_API_CALLS_OFF = {"SchedulerAsyncAPICalls": False}
UNSCHEDULABLE_DIFFERS = ("upstream's template differs: its initPods are schedulable and the unschedulable (high-priority, "
                         "large-CPU) pods arrive by churn during the measurement; the shared file makes the initPods "
                         "the unschedulable ones")


@dataclass(frozen=True)
class UpstreamThreshold:
    case: str
    workload: str
    threshold: float  # pods/s
    params: Mapping[str, int]
    source: tuple[str, str]  # (path in REPO, commit)
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    note: str = ""

    @property
    def citation(self) -> str:
        path, commit = self.source
        return f"{REPO} {path} @{commit[:8]}"


def _t(case: str, workload: str, threshold: float, source: tuple[str, str], gates: Mapping[str, bool] | None = None,
       note: str = "", **params: int) -> UpstreamThreshold:
    return UpstreamThreshold(case, workload, float(threshold), MappingProxyType(dict(params)), source,
                             MappingProxyType(dict(gates or {})), note)


THRESHOLDS: tuple[UpstreamThreshold, ...] = (
    # misc/
    _t("SchedulingBasic", "5000Nodes_10000Pods", 680, MISC, initNodes=5000, initPods=1000, measurePods=10000),
    _t("SchedulingBasic", "5000Nodes_50000Pods", 810, MISC, ASYNC_API_CALLS_OFF, initNodes=5000, initPods=5000, measurePods=50000),
    _t("SchedulingWithMixedChurn", "5000Nodes_10000Pods", 710, MISC, initNodes=5000, measurePods=10000),
    _t("Unschedulable", "5kNodes/100Init/10kPods", 590, MISC, note=UNSCHEDULABLE_DIFFERS, initNodes=5000, initPods=100, measurePods=10000),
    _t("Unschedulable", "5kNodes/20kInit/10kPods", 600, MISC, note=UNSCHEDULABLE_DIFFERS, initNodes=5000, initPods=20000, measurePods=10000),
    _t("PreemptionBasic", "500Nodes", 18, MISC_OLDER, QUEUEING_HINTS_OFF,
       note=f"not in the newer {MISC[0]} @{MISC[1][:8]}, which states no PreemptionBasic threshold",
       initNodes=500, initPods=2000, measurePods=500),
    # affinity/
    _t("SchedulingPodAntiAffinity", "5000Nodes_2000Pods", 60, AFFINITY, QUEUEING_HINTS_OFF, initNodes=5000, initPods=1000, measurePods=2000),
    _t("SchedulingPodAffinity", "5000Nodes_5000Pods", 35, AFFINITY, QUEUEING_HINTS_OFF, initNodes=5000, initPods=5000, measurePods=5000),
    _t("SchedulingPreferredPodAffinity", "5000Nodes_5000Pods", 90, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=5000, initPods=5000, measurePods=5000),
    _t("SchedulingPreferredPodAntiAffinity", "5000Nodes_5000Pods", 90, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=5000, initPods=5000, measurePods=5000),
    _t("SchedulingNodeAffinity", "5000Nodes_10000Pods", 220, AFFINITY, QUEUEING_HINTS_OFF, initNodes=5000, initPods=5000, measurePods=10000),
    _t("MixedSchedulingBasePod", "5000Nodes_5000Pods", 140, AFFINITY, QUEUEING_HINTS_OFF, initNodes=5000, initPods=2000, measurePods=5000),
    _t("SchedulingRequiredPodAntiAffinityWithNSSelector", "5000Nodes_2000Pods", 24, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=6000, initPodsPerNamespace=40, initNamespaces=100, measurePods=2000),
    _t("SchedulingPreferredAntiAffinityWithNSSelector", "5000Nodes_2000Pods", 55, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=5000, initPodsPerNamespace=40, initNamespaces=100, measurePods=2000),
    _t("SchedulingRequiredPodAffinityWithNSSelector", "5000Nodes_2000Pods", 35, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=5000, initPodsPerNamespace=50, initNamespaces=100, measurePods=2000),
    _t("SchedulingPreferredAffinityWithNSSelector", "5000Nodes_5000Pods", 90, AFFINITY, QUEUEING_HINTS_OFF,
       initNodes=5000, initPodsPerNamespace=50, initNamespaces=100, measurePods=5000),
    # topology_spreading/
    _t("TopologySpreading", "5000Nodes_5000Pods", 460, SPREADING, initNodes=5000, initPods=5000, measurePods=5000),
    _t("PreferredTopologySpreading", "5000Nodes_5000Pods", 340, SPREADING, initNodes=5000, initPods=5000, measurePods=5000),
    _t("SchedulingWithNodeInclusionPolicy", "5000Nodes", 270, SPREADING, taintNodes=1000, normalNodes=4000, measurePods=4000),
    # volumes/
    _t("SchedulingSecrets", "5000Nodes_10000Pods", 790, VOLUMES, QUEUEING_HINTS_OFF, initNodes=5000, initPods=1000, measurePods=10000),
    _t("SchedulingInTreePVs", "5000Nodes_2000Pods", 290, VOLUMES, QUEUEING_HINTS_OFF, initNodes=5000, initPods=1000, measurePods=2000),
    _t("SchedulingMigratedInTreePVs", "5000Nodes_5000Pods", 100, VOLUMES, QUEUEING_HINTS_OFF, initNodes=5000, initPods=5000, measurePods=5000),
    _t("SchedulingCSIPVs", "5000Nodes_5000Pods", 100, VOLUMES, QUEUEING_HINTS_OFF, initNodes=5000, initPods=5000, measurePods=5000),
)


def for_case(case: str, table: tuple[UpstreamThreshold, ...] = THRESHOLDS) -> list[UpstreamThreshold]:
    """The upstream thresholded workloads of test case `case`, in table order."""
    return [t for t in table if t.case == case]


# Tracker issue 8: these case classes aim at 100x kube-scheduler, every other case at 10x.
HUNDREDFOLD_CASES = {"SchedulingBasic", "SchedulingNodeAffinity", "TopologySpreading", "PreferredTopologySpreading"}
TAINT_NAME = re.compile(r"taint|toleration", re.IGNORECASE)


def target_factor(case: str) -> int:
    """How many times kube-scheduler's threshold Shoal aims at for `case`: 100 or 10."""
    return 100 if case in HUNDREDFOLD_CASES or TAINT_NAME.search(case) else 10
