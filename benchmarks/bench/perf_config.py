"""kube-scheduler's scheduler_perf configuration (performance-config.yaml) as runnable plans.

The file is a list of test cases; each has a `workloadTemplate` (a list of ops) and `workloads`
(each with `params` and, in newer files, a `threshold` in pods/s for kube-scheduler). An op's
`countParam: $initNodes` takes the workload's `initNodes`. Template paths are written relative
to kube-scheduler's test folder (`config/templates/pod-default.yaml`); they are looked up beside
the configuration file, beside its parent, and beside the file with the leading `config/` dropped.

    plans = load_plans("performance-config.yaml", case="SchedulingBasic*", scale=0.01)
    plan.steps          [NodeStep, NamespaceStep, PodStep, ...] in op order
    plan.unsupported    what Shoal does not do for this workload, one line each
    plan.blocking       the subset that stops the workload from running at all
    plan.threshold      kube-scheduler's pods/s for it: the file's own `threshold`, or with
                        thresholds="upstream" a published one (kube_thresholds.py); see
                        plan.threshold_source

Thresholds: the shared file predates `threshold`. With thresholds="upstream" each test case that
upstream gives a thresholded workload gets it: attached to the file's own workload when the params
are the same, else added as a workload of its own (upstream's name and params, the file's
workloadTemplate), so Shoal runs what kube-scheduler was measured on. A threshold the file states
always wins. "auto" means "upstream" when the file states no threshold at all, else "file".

What runs as scheduler_perf would (library mode): createNodes (node template,
labelNodePrepareStrategy, nodeAllocatableStrategy.nodeAllocatable), createNamespaces,
createPods (namespace, podTemplatePath, collectMetrics, skipWaitToCompletion), createPodSets,
barrier (every step finishes before the next in library mode), churn (a ChurnStep: applied on
the wall clock in cluster mode; listed as not applied in library mode, which has no clock for it).
What is listed instead: PV / PVC templates (the pods are placed without their volumes), CSI node
limits and migrated plugins, DRA ops, and any key or opcode this reader does not know.
"""

from __future__ import annotations

import copy
import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from .kube_thresholds import REPO as UPSTREAM_REPO
from .kube_thresholds import THRESHOLDS, UpstreamThreshold, for_case

# scheduler_perf's own defaults when an op names no template (test/integration/scheduler_perf).
DEFAULT_NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"generateName": "scheduler-perf-"},
    "spec": {},
    "status": {"capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"}},
}
DEFAULT_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"generateName": "pod-"},
    "spec": {
        "containers": [
            {
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "ports": [{"containerPort": 80}],
                "resources": {
                    "limits": {"cpu": "100m", "memory": "500Mi"},
                    "requests": {"cpu": "100m", "memory": "500Mi"},
                },
            }
        ]
    },
}

HOSTNAME = "kubernetes.io/hostname"

# Keys each supported opcode understands; anything else on the op is listed as unsupported.
COMMON_KEYS = {"opcode"}
NODE_KEYS = {"count", "countParam", "nodeTemplatePath", "labelNodePrepareStrategy", "nodeAllocatableStrategy", "uniqueNodeLabelStrategy"}
NAMESPACE_KEYS = {"prefix", "count", "countParam", "namespaceTemplatePath"}
POD_KEYS = {"count", "countParam", "namespace", "podTemplatePath", "collectMetrics", "skipWaitToCompletion"}
PODSET_KEYS = {"count", "countParam", "namespacePrefix", "createPodsOp"}
CHURN_KEYS = {"mode", "number", "templatePaths", "intervalMilliseconds"}
CHURN_MODES = ("recreate", "create")
CHURN_DEFAULT_INTERVAL_MS = 500  # scheduler_perf's default
# Keys on createPods that Shoal reads but cannot honour: the pods run without them.
POD_IGNORED = {
    "persistentVolumeTemplatePath": "PVs / PVCs not created: pods are placed without their volumes",
    "persistentVolumeClaimTemplatePath": "PVs / PVCs not created: pods are placed without their volumes",
}
DRA_OPS = {"createResourceDriver", "createResourceClass", "createResourceClaimTemplate", "createResourceClaim", "createAny"}


class ConfigError(ValueError):
    """The configuration (or a template it names) cannot be read."""


@dataclass
class NodeStep:
    count: int
    template: dict[str, Any]
    name_prefix: str
    label_key: str = ""  # labelNodePrepareStrategy: values given round-robin
    label_values: tuple[str, ...] = ()
    extra_capacity: dict[str, str] = field(default_factory=dict)


@dataclass
class NamespaceStep:
    names: list[str]
    template: dict[str, Any]


@dataclass
class PodStep:
    count: int
    namespace: str
    template: dict[str, Any]
    name_prefix: str
    measured: bool = False
    wait: bool = True  # False: skipWaitToCompletion (the pods may stay pending)


@dataclass
class ChurnStep:
    """scheduler_perf's churn op: from this point on, in the background, every `interval_ms`:
    mode `create` makes `number` more objects of each template (`number` ticks, 0 = no end);
    mode `recreate` deletes the object in the tick's slot (of `number` per template) and makes a
    new one."""

    mode: str
    number: int
    interval_ms: int
    templates: list[dict[str, Any]]


Step = NodeStep | NamespaceStep | PodStep | ChurnStep


@dataclass
class WorkloadPlan:
    case: str
    workload: str
    params: dict[str, Any]
    scale: float
    threshold: float | None = None
    # Where `threshold` comes from: {"from": "file"} or {"from": "upstream", "repo", "path",
    # "commit", "workload", "feature_gates", "note"}; None without a threshold.
    threshold_source: dict[str, Any] | None = None
    labels: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.case}/{self.workload}"

    @property
    def runnable(self) -> bool:
        return not self.blocking

    @property
    def nodes(self) -> int:
        return sum(s.count for s in self.steps if isinstance(s, NodeStep))

    @property
    def init_pods(self) -> int:
        return sum(s.count for s in self.steps if isinstance(s, PodStep) and not s.measured)

    @property
    def measured_pods(self) -> int:
        return sum(s.count for s in self.steps if isinstance(s, PodStep) and s.measured)


def load_config(path: str) -> list[dict[str, Any]]:
    """The test cases of a scheduler_perf configuration file."""
    try:
        with open(path, encoding="utf-8") as f:
            cases = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}") from None
    if not isinstance(cases, list) or not all(isinstance(c, dict) and "name" in c for c in cases):
        raise ConfigError(f"{path}: expected a list of test cases, each with a name")
    return cases


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """`$name` -> params[name]; anything else unchanged. KeyError names a missing param."""
    if isinstance(value, str) and value.startswith("$"):
        name = value[1:]
        if name not in params:
            raise KeyError(name)
        return params[name]
    return value


def scaled(count: int, scale: float) -> int:
    """count x scale, rounded, at least 1 unless count is 0."""
    if count <= 0:
        return 0
    return max(1, round(count * scale))


class TemplateLoader:
    """Templates by the path the configuration writes, resolved beside the file, cached."""

    def __init__(self, config_path: str) -> None:
        self.base = os.path.dirname(os.path.abspath(config_path))
        self._cache: dict[str, dict[str, Any]] = {}

    def resolve(self, rel: str) -> str:
        parts = rel.replace("\\", "/").split("/")
        candidates = [os.path.join(self.base, rel), os.path.join(os.path.dirname(self.base), rel)]
        if len(parts) > 1:
            candidates.append(os.path.join(self.base, *parts[1:]))
        for c in candidates:
            if os.path.isfile(c):
                return c
        raise ConfigError(f"template {rel} not found beside {self.base}")

    def load(self, rel: str) -> dict[str, Any]:
        path = self.resolve(rel)
        if path not in self._cache:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
            if not isinstance(doc, dict):
                raise ConfigError(f"{path}: expected one object")
            self._cache[path] = _go_field_names(doc)
        return copy.deepcopy(self._cache[path])


def _go_field_names(doc: dict[str, Any]) -> dict[str, Any]:
    """scheduler_perf decodes templates with Go's encoding/json, which matches field names
    without regard to case; the one place the shipped templates rely on that is
    topologySpreadConstraints (`NodeAffinityPolicy: Honor`)."""
    for c in (doc.get("spec") or {}).get("topologySpreadConstraints") or []:
        for key in list(c):
            if key[:1].isupper():
                c[key[0].lower() + key[1:]] = c.pop(key)
    return doc


class _Planner:
    def __init__(self, case: dict[str, Any], workload: dict[str, Any], loader: TemplateLoader, scale: float) -> None:
        self.case = case
        self.loader = loader
        self.scale = scale
        params = dict(workload.get("params") or {})
        threshold = workload.get("threshold")
        self.plan = WorkloadPlan(
            case=case["name"],
            workload=str(workload.get("name", "")),
            params=params,
            scale=scale,
            threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
            labels=list(workload.get("labels") or []) + list(case.get("labels") or []),
        )
        self.namespaces: set[str] = set()
        gates = case.get("featureGates") or {}
        if gates:
            self.plan.notes.append("featureGates " + ", ".join(f"{k}={v}" for k, v in gates.items()) + " (no gates in Shoal)")

    def count(self, op: dict[str, Any], where: str, scale: bool = True) -> int:
        raw = op["countParam"] if "countParam" in op else op.get("count", 0)
        try:
            value = substitute(raw, self.plan.params)
        except KeyError as exc:
            raise ConfigError(f"{where}: param ${exc.args[0]} is not among the workload's params") from None
        if not isinstance(value, int):
            raise ConfigError(f"{where}: count {value!r} is not an integer")
        return scaled(value, self.scale) if scale else value

    def unknown_keys(self, op: dict[str, Any], known: set[str], where: str) -> None:
        for key in sorted(set(op) - known - COMMON_KEYS):
            self.plan.unsupported.append(f"{where}: {key} not supported (ignored)")

    def pod_template(self, op: dict[str, Any]) -> dict[str, Any]:
        rel = op.get("podTemplatePath") or self.case.get("defaultPodTemplatePath")
        return self.loader.load(rel) if rel else copy.deepcopy(DEFAULT_POD)

    def node_step(self, i: int, op: dict[str, Any], where: str) -> None:
        rel = op.get("nodeTemplatePath")
        template = self.loader.load(rel) if rel else copy.deepcopy(DEFAULT_NODE)
        step = NodeStep(self.count(op, where), template, (template.get("metadata") or {}).get("generateName") or "scheduler-perf-")
        step.name_prefix = f"{step.name_prefix}{i}-"
        label = op.get("labelNodePrepareStrategy")
        if label:
            step.label_key = label["labelKey"]
            step.label_values = tuple(str(v) for v in label.get("labelValues") or ())
        alloc = op.get("nodeAllocatableStrategy")
        if alloc:
            step.extra_capacity = {k: str(v) for k, v in (alloc.get("nodeAllocatable") or {}).items()}
            for key in ("csiNodeAllocatable", "migratedPlugins"):
                if key in alloc:
                    self.plan.unsupported.append(f"{where}: nodeAllocatableStrategy.{key} not modelled (no CSINode objects; volume limits are placeholders)")
        if "uniqueNodeLabelStrategy" in op:
            self.plan.unsupported.append(f"{where}: uniqueNodeLabelStrategy not supported (ignored)")
        self.unknown_keys(op, NODE_KEYS, where)
        self.plan.steps.append(step)

    def namespace_step(self, op: dict[str, Any], where: str) -> None:
        rel = op.get("namespaceTemplatePath")
        template = self.loader.load(rel) if rel else {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}
        prefix = op.get("prefix", "namespace")
        names = [f"{prefix}-{k}" for k in range(self.count(op, where, scale=False))]
        self.namespaces.update(names)
        self.unknown_keys(op, NAMESPACE_KEYS, where)
        self.plan.steps.append(NamespaceStep(names, template))

    def pod_step(self, i: int, op: dict[str, Any], where: str, namespace: str | None = None, scale: bool = True) -> None:
        # scheduler_perf: pods of an op without a namespace go to namespace-<op index>.
        ns = namespace or op.get("namespace") or f"namespace-{i}"
        template = self.pod_template(op)
        ignored = [key for key in POD_IGNORED if key in op]
        if ignored:
            self.plan.unsupported.append(f"{where}: {', '.join(ignored)}: {POD_IGNORED[ignored[0]]}")
        self.unknown_keys(op, POD_KEYS | set(POD_IGNORED), where)
        prefix = (template.get("metadata") or {}).get("generateName") or "pod-"
        step = PodStep(self.count(op, where, scale), ns, template, f"{prefix}{i}-", bool(op.get("collectMetrics")), not op.get("skipWaitToCompletion"))
        if ns not in self.namespaces:
            self.namespaces.add(ns)
            self.plan.steps.append(NamespaceStep([ns], {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}))
        self.plan.steps.append(step)

    def churn_step(self, op: dict[str, Any], where: str) -> None:
        mode = op.get("mode", "?")
        interval = int(op.get("intervalMilliseconds") or CHURN_DEFAULT_INTERVAL_MS)
        self.plan.unsupported.append(
            f"{where}: churn ({mode}, every {interval} ms) not applied in library mode: it has no wall clock for it "
            "(the measured pods see a still cluster); --mode cluster applies it"
        )
        self.unknown_keys(op, CHURN_KEYS, where)
        templates = []
        for rel in op.get("templatePaths") or []:
            try:
                templates.append(self.loader.load(rel))
            except ConfigError as exc:
                self.plan.unsupported.append(f"{where}: {exc} (left out of the churn)")
        number = op.get("number", 1)
        if mode not in CHURN_MODES or not isinstance(number, int) or number < 0 or (mode == "recreate" and number == 0):
            self.plan.unsupported.append(f"{where}: churn mode {mode!r} / number {number!r} not understood (no churn)")
            return
        if templates:
            self.plan.steps.append(ChurnStep(mode, number, interval, templates))

    def pod_set_step(self, i: int, op: dict[str, Any], where: str) -> None:
        # Scaling the number of sets (not the pods per set) keeps small sets whole at small scales.
        inner = dict(op.get("createPodsOp") or {})
        self.unknown_keys(op, PODSET_KEYS, where)
        prefix = op.get("namespacePrefix", "namespace")
        for k in range(self.count(op, where)):
            self.pod_step(i, inner, f"{where}.createPodsOp", namespace=f"{prefix}-{k}", scale=False)

    def run(self) -> WorkloadPlan:
        for i, op in enumerate(self.case.get("workloadTemplate") or []):
            try:
                self.op(i, op)
            except ConfigError as exc:  # listed, and the following ops still read
                self.plan.unsupported.append(str(exc))
                self.plan.blocking.append(str(exc))
        if not any(isinstance(s, PodStep) and s.measured for s in self.plan.steps):
            self.plan.blocking.append("no createPods op with collectMetrics: true")
        return self.plan

    def op(self, i: int, op: dict[str, Any]) -> None:
        opcode = op.get("opcode", "?")
        where = f"op {i} {opcode}"
        if opcode == "createNodes":
            self.node_step(i, op, where)
        elif opcode == "createNamespaces":
            self.namespace_step(op, where)
        elif opcode == "createPods":
            self.pod_step(i, op, where)
        elif opcode == "createPodSets":
            self.pod_set_step(i, op, where)
        elif opcode == "barrier":
            pass  # library mode finishes every step before the next
        elif opcode == "churn":
            self.churn_step(op, where)
        elif opcode in DRA_OPS:
            self.plan.unsupported.append(f"{where}: dynamic resource allocation not supported")
            self.plan.blocking.append(f"{where}: DRA")
        else:
            self.plan.unsupported.append(f"{where}: opcode not supported")
            self.plan.blocking.append(f"{where}: unknown opcode")


def plan_workload(case: dict[str, Any], workload: dict[str, Any], loader: TemplateLoader, scale: float = 1.0) -> WorkloadPlan:
    """One workload of one test case as steps. An op that cannot be read (a missing param, a
    template the shared data does not carry, such as DRA's) is listed and makes the plan
    blocking rather than failing the whole run."""
    return _Planner(case, workload, loader, scale).run()


def matches(pattern: str | None, case: str, workload: str) -> bool:
    """--case: a test case name, or case/workload, with shell wildcards."""
    if not pattern:
        return True
    return fnmatch.fnmatchcase(case, pattern) or fnmatch.fnmatchcase(f"{case}/{workload}", pattern)


THRESHOLD_MODES = ("auto", "file", "upstream")


def uses_upstream_thresholds(mode: str, cases: list[dict[str, Any]]) -> bool:
    """Whether `mode` (one of THRESHOLD_MODES) takes upstream thresholds for these test cases."""
    if mode not in THRESHOLD_MODES:
        raise ConfigError(f"thresholds: {mode!r} is not one of {', '.join(THRESHOLD_MODES)}")
    if mode == "auto":
        return not any(isinstance(w.get("threshold"), (int, float)) for c in cases for w in c.get("workloads") or [])
    return mode == "upstream"


def with_upstream_thresholds(case: dict[str, Any], table: tuple[UpstreamThreshold, ...] = THRESHOLDS,
                             ) -> list[tuple[dict[str, Any], UpstreamThreshold | None]]:
    """The case's workloads, each with the upstream threshold that applies to it (or None): an
    upstream workload with the same params as one of the file's goes to that one unless the file
    states a threshold for it; any other becomes a workload of its own, named as upstream names it
    (suffixed `_upstream` if the file uses the name for other params)."""
    out: list[tuple[dict[str, Any], UpstreamThreshold | None]] = [(w, None) for w in case.get("workloads") or []]
    for t in for_case(case["name"], table):
        same = next((i for i, (w, _) in enumerate(out) if dict(w.get("params") or {}) == dict(t.params)), None)
        if same is not None:
            w, taken = out[same]
            if taken is None and not isinstance(w.get("threshold"), (int, float)):
                out[same] = (w, t)
            continue
        names = {str(w.get("name", "")) for w, _ in out}
        name = t.workload if t.workload not in names else f"{t.workload}_upstream"
        out.append(({"name": name, "params": dict(t.params)}, t))
    return out


def _set_threshold_source(plan: WorkloadPlan, upstream: UpstreamThreshold | None) -> None:
    if plan.threshold is not None:
        plan.threshold_source = {"from": "file"}
    elif upstream is not None:
        path, commit = upstream.source
        plan.threshold = upstream.threshold
        plan.threshold_source = {"from": "upstream", "repo": UPSTREAM_REPO, "path": path, "commit": commit,
                                 "workload": f"{upstream.case}/{upstream.workload}", "feature_gates": dict(upstream.feature_gates),
                                 "note": upstream.note}


def load_plans(path: str, case: str | None = None, scale: float = 1.0, skip: str | None = None,
               thresholds: str = "file") -> list[WorkloadPlan]:
    """The workloads matching `case` and not `skip` (patterns as in matches()); `thresholds` as in
    THRESHOLD_MODES (module docstring)."""
    loader = TemplateLoader(path)
    cases = load_config(path)
    upstream = uses_upstream_thresholds(thresholds, cases)
    plans = []
    for c in cases:
        workloads = with_upstream_thresholds(c) if upstream else [(w, None) for w in c.get("workloads") or []]
        for w, t in workloads:
            name = str(w.get("name", ""))
            if matches(case, c["name"], name) and not (skip and matches(skip, c["name"], name)):
                plan = plan_workload(c, w, loader, scale)
                _set_threshold_source(plan, t)
                plans.append(plan)
    return plans
