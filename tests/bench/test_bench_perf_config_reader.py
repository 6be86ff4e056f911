"""The scheduler_perf configuration reader: $param substitution, template loading, scaling,
and unsupported ops listed per workload (never silently skipped)."""

from __future__ import annotations

import textwrap

import pytest
from shared_data import SHARED_DATA
from shoal.benchmarks.bench.perf_config import (
    ConfigError,
    NamespaceStep,
    NodeStep,
    PodStep,
    TemplateLoader,
    load_plans,
    scaled,
    substitute,
)

PERF_CONFIG = SHARED_DATA / "scheduler_perf" / "performance-config.yaml"


def write_config(tmp_path, body: str, templates: dict[str, str] | None = None) -> str:
    for rel, text in (templates or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    path = tmp_path / "performance-config.yaml"
    path.write_text(textwrap.dedent(body))
    return str(path)


POD = """\
    apiVersion: v1
    kind: Pod
    metadata:
      generateName: small-
      labels: {app: small}
    spec:
      containers:
      - name: c
        image: x
        resources: {requests: {cpu: 250m}}
"""


@pytest.mark.parametrize(
    "value, expected",
    [("$initNodes", 500), ("$measurePods", 0), (7, 7), ("plain", "plain")],
    ids=["param", "zero-param", "literal-int", "literal-string"],
)
def test_substitute(value, expected):
    assert substitute(value, {"initNodes": 500, "measurePods": 0}) == expected


def test_substitute_missing_param_names_it():
    with pytest.raises(KeyError, match="nope"):
        substitute("$nope", {})


@pytest.mark.parametrize("count, scale, expected", [(5000, 0.01, 50), (4, 0.01, 1), (0, 0.01, 0), (1000, 1, 1000), (3, 2.5, 8)])
def test_scaled(count, scale, expected):
    assert scaled(count, scale) == expected


def test_params_substituted_into_counts_and_scaled(tmp_path):
    path = write_config(
        tmp_path,
        """\
        - name: Basic
          defaultPodTemplatePath: config/templates/small.yaml
          workloadTemplate:
          - opcode: createNodes
            countParam: $initNodes
          - opcode: createPods
            countParam: $initPods
          - opcode: createPods
            countParam: $measurePods
            collectMetrics: true
          workloads:
          - name: big
            params: {initNodes: 1000, initPods: 300, measurePods: 2000}
            threshold: 250
        """,
        {"templates/small.yaml": POD},
    )
    (plan,) = load_plans(path, scale=0.1)
    assert plan.runnable and plan.unsupported == []
    assert (plan.nodes, plan.init_pods, plan.measured_pods) == (100, 30, 200)
    assert plan.threshold == 250.0
    pods = [s for s in plan.steps if isinstance(s, PodStep)]
    assert [p.measured for p in pods] == [False, True]
    # Pods without a namespace go to namespace-<op index>, as scheduler_perf puts them.
    assert [p.namespace for p in pods] == ["namespace-1", "namespace-2"]
    assert pods[0].template["metadata"]["labels"] == {"app": "small"}


def test_template_paths_resolve_beside_the_file_without_config_prefix(tmp_path):
    write_config(tmp_path, "[]", {"templates/small.yaml": POD})
    loader = TemplateLoader(str(tmp_path / "performance-config.yaml"))
    assert loader.load("config/templates/small.yaml")["metadata"]["generateName"] == "small-"
    assert loader.load("templates/small.yaml")["kind"] == "Pod"
    with pytest.raises(ConfigError, match="not found"):
        loader.load("config/templates/missing.yaml")


def test_template_field_names_matched_without_case_as_go_does(tmp_path):
    write_config(tmp_path, "[]", {"templates/spread.yaml": """\
        kind: Pod
        spec:
          topologySpreadConstraints:
          - {maxSkew: 1, topologyKey: k, whenUnsatisfiable: DoNotSchedule, NodeTaintsPolicy: Honor}
        """})
    doc = TemplateLoader(str(tmp_path / "performance-config.yaml")).load("templates/spread.yaml")
    assert doc["spec"]["topologySpreadConstraints"][0]["nodeTaintsPolicy"] == "Honor"


def test_unsupported_ops_are_listed_and_blocking_ones_stop_the_case(tmp_path):
    path = write_config(
        tmp_path,
        """\
        - name: Mixed
          workloadTemplate:
          - opcode: createNodes
            count: 10
            nodeAllocatableStrategy:
              nodeAllocatable: {example.com/volumes: "39"}
              csiNodeAllocatable: {ebs.csi.aws.com: {count: 39}}
          - opcode: churn
            mode: recreate
            intervalMilliseconds: 1000
          - opcode: barrier
          - opcode: createPods
            count: 5
            persistentVolumeClaimTemplatePath: config/templates/pvc.yaml
            collectMetrics: true
          workloads:
          - name: w
        - name: Dra
          workloadTemplate:
          - opcode: createNodes
            count: 1
          - opcode: createResourceClass
            templatePath: config/dra/resourceclass.yaml
          - opcode: teleportPods
          - opcode: createPods
            count: 1
            collectMetrics: true
          workloads:
          - name: w
        """,
    )
    mixed, dra = load_plans(path)
    assert mixed.runnable
    text = "\n".join(mixed.unsupported)
    assert "churn" in text and "csiNodeAllocatable" in text and "persistentVolumeClaimTemplatePath" in text
    node = next(s for s in mixed.steps if isinstance(s, NodeStep))
    assert node.extra_capacity == {"example.com/volumes": "39"}
    assert not dra.runnable
    assert any("createResourceClass" in u for u in dra.unsupported)
    assert any("teleportPods" in b and "unknown opcode" in b for b in dra.blocking)


def test_missing_param_blocks_only_its_workload(tmp_path):
    path = write_config(
        tmp_path,
        """\
        - name: C
          workloadTemplate:
          - {opcode: createNodes, countParam: $nodes}
          - {opcode: createPods, countParam: $pods, collectMetrics: true}
          workloads:
          - {name: ok, params: {nodes: 2, pods: 2}}
          - {name: broken, params: {nodes: 2}}
        """,
    )
    ok, broken = load_plans(path)
    assert ok.runnable
    assert not broken.runnable and any("$pods" in b for b in broken.blocking)


def test_case_filter_takes_case_or_case_slash_workload_with_wildcards():
    names = [p.name for p in load_plans(str(PERF_CONFIG), case="SchedulingBasic/5000*")]
    assert names == ["SchedulingBasic/5000Nodes"]
    assert {p.case for p in load_plans(str(PERF_CONFIG), case="Preemption*")} == {"PreemptionBasic", "PreemptionPVs"}


def test_shared_performance_config_reads_every_case():
    plans = load_plans(str(PERF_CONFIG), scale=0.01)
    by_name = {p.name: p for p in plans}
    assert len(plans) >= 40
    # Every non-DRA workload is runnable; DRA ones are listed as such.
    for p in plans:
        if "ResourceClaim" in p.case:
            assert not p.runnable and any("dynamic resource allocation" in u for u in p.unsupported)
        else:
            assert p.runnable, (p.name, p.blocking)
    anti = by_name["SchedulingPodAntiAffinity/5000Nodes"]
    assert [s.names for s in anti.steps if isinstance(s, NamespaceStep)] == [["sched-0", "sched-1"]]
    assert [(s.namespace, s.count, s.measured) for s in anti.steps if isinstance(s, PodStep)] == [("sched-0", 10, False), ("sched-1", 10, True)]
    spread = by_name["TopologySpreading/5000Nodes"]
    node = next(s for s in spread.steps if isinstance(s, NodeStep))
    assert (node.count, node.label_key, node.label_values) == (50, "topology.kubernetes.io/zone", ("moon-1", "moon-2", "moon-3"))
    churn = by_name["SchedulingWithMixedChurn/5000Nodes"]
    assert any("churn" in u for u in churn.unsupported)
    # createPodSets: the number of sets scales, each set keeps its pods.
    ns_sel = by_name["SchedulingRequiredPodAntiAffinityWithNSSelector/5000Nodes"]
    assert [s.namespace for s in ns_sel.steps if isinstance(s, PodStep) and not s.measured] == ["init-ns-0"]
    assert ns_sel.init_pods == 40


def test_churn_op_becomes_a_step_and_is_listed_for_library_mode():
    from shoal.benchmarks.bench.perf_config import ChurnStep

    (plan,) = load_plans(str(PERF_CONFIG), "SchedulingWithMixedChurn/1000Nodes")
    (churn,) = [s for s in plan.steps if isinstance(s, ChurnStep)]
    assert (churn.mode, churn.number, churn.interval_ms) == ("recreate", 1, 1000)
    assert [t["kind"] for t in churn.templates] == ["Node", "Pod", "Service"]
    assert plan.runnable
    assert any("not applied in library mode" in u for u in plan.unsupported)


@pytest.mark.parametrize(
    "op, listed",
    [
        pytest.param("{opcode: churn, mode: sideways, templatePaths: [t/node.yaml]}", "not understood", id="unknown-mode"),
        pytest.param("{opcode: churn, mode: recreate, number: 0, templatePaths: [t/node.yaml]}", "not understood", id="recreate-needs-number"),
        pytest.param("{opcode: churn, mode: create, templatePaths: [t/missing.yaml]}", "missing.yaml not found", id="missing-template"),
    ],
)
def test_churn_ops_that_cannot_run_are_listed_not_blocking(tmp_path, op, listed):
    from shoal.benchmarks.bench.perf_config import ChurnStep

    path = write_config(tmp_path, f"""\
        - name: C
          workloadTemplate:
          - opcode: createNodes
            count: 2
          - {op}
          - opcode: createPods
            count: 2
            collectMetrics: true
          workloads:
          - name: w
        """, {"t/node.yaml": "apiVersion: v1\nkind: Node\nmetadata: {generateName: churn-}\n"})
    (plan,) = load_plans(path)
    assert plan.runnable
    assert not any(isinstance(s, ChurnStep) for s in plan.steps)
    assert any(listed in u for u in plan.unsupported), plan.unsupported
