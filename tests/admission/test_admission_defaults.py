"""Defaulting: each kind gets Kubernetes' defaults, and what the user set is kept."""

from __future__ import annotations

import copy

import pytest
from shoal.control.api import defaulting
from shoal.proto import kinds

POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
    "spec": {"containers": [{"name": "web", "image": "nginx"}]},
}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": TEMPLATE}}
REPLICA_SET = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"}, "spec": {"template": TEMPLATE}}
JOB = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
    "spec": {"template": {"metadata": {"labels": {"app": "pi"}}, "spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
DELETE = object()


def patched(base: dict, changes: dict) -> dict:
    """A deep copy of ``base`` with each dotted path ("spec.containers.0.image") set (or, for
    DELETE, removed)."""
    doc = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return doc


def defaulted(manifest: dict) -> dict:
    info, msg = kinds.unwrap(_envelope(manifest))
    defaulting.apply_defaults(info, msg)
    return kinds.to_manifest(msg)


def field(doc: dict, path: str):
    node = doc
    for part in path.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        elif part in node:
            node = node[part]
        else:
            return DELETE  # absent
    return node


def container(**fields) -> dict:
    return {"name": "web", "image": "nginx:1.25", **fields}


CASES = [
    # -- Pod ------------------------------------------------------------------------------------
    ("pod-spec", POD, {}, {
        "spec.restartPolicy": "Always", "spec.dnsPolicy": "ClusterFirst",
        "spec.terminationGracePeriodSeconds": 30, "spec.schedulerName": "default-scheduler",
        "spec.enableServiceLinks": True, "spec.priority": 0, "status.phase": "Pending",
    }),
    ("pod-user-values-kept", POD, {
        "spec.restartPolicy": "Never", "spec.dnsPolicy": "Default", "spec.terminationGracePeriodSeconds": 5,
        "spec.schedulerName": "gang", "spec.enableServiceLinks": False, "spec.priority": 7,
        "spec.containers": [container(imagePullPolicy="Never", terminationMessagePath="/tmp/x",
                                      terminationMessagePolicy="FallbackToLogsOnError")],
    }, {
        "spec.restartPolicy": "Never", "spec.dnsPolicy": "Default", "spec.terminationGracePeriodSeconds": 5,
        "spec.schedulerName": "gang", "spec.enableServiceLinks": False, "spec.priority": 7,
        "spec.containers.0.imagePullPolicy": "Never", "spec.containers.0.terminationMessagePath": "/tmp/x",
        "spec.containers.0.terminationMessagePolicy": "FallbackToLogsOnError",
    }),
    ("pod-zero-grace-period-kept", POD, {"spec.terminationGracePeriodSeconds": 0},
     {"spec.terminationGracePeriodSeconds": 0}),
    ("pod-priority-left-to-its-class", POD, {"spec.priorityClassName": "high"}, {"spec.priority": DELETE}),
    ("container-termination-message", POD, {}, {
        "spec.containers.0.terminationMessagePath": "/dev/termination-log",
        "spec.containers.0.terminationMessagePolicy": "File",
    }),
    ("init-container-defaults", POD, {"spec.initContainers": [{"name": "init", "image": "busybox:1.36"}]}, {
        "spec.initContainers.0.imagePullPolicy": "IfNotPresent",
        "spec.initContainers.0.terminationMessagePolicy": "File",
    }),
    ("port-protocol-tcp", POD, {"spec.containers": [container(ports=[{"containerPort": 80}])]},
     {"spec.containers.0.ports.0.protocol": "TCP"}),
    ("port-protocol-kept", POD, {"spec.containers": [container(ports=[{"containerPort": 53, "protocol": "UDP"}])]},
     {"spec.containers.0.ports.0.protocol": "UDP"}),
    ("host-network-host-port", POD, {"spec.hostNetwork": True, "spec.containers": [container(ports=[{"containerPort": 8080}])]},
     {"spec.containers.0.ports.0.hostPort": 8080}),
    ("probe", POD, {"spec.containers": [container(readinessProbe={"httpGet": {"port": 80}})]}, {
        "spec.containers.0.readinessProbe.timeoutSeconds": 1, "spec.containers.0.readinessProbe.periodSeconds": 10,
        "spec.containers.0.readinessProbe.successThreshold": 1, "spec.containers.0.readinessProbe.failureThreshold": 3,
        "spec.containers.0.readinessProbe.httpGet.path": "/", "spec.containers.0.readinessProbe.httpGet.scheme": "HTTP",
    }),
    ("probe-user-values-kept", POD, {"spec.containers": [container(livenessProbe={
        "tcpSocket": {"port": 80}, "timeoutSeconds": 5, "periodSeconds": 30, "failureThreshold": 10})]}, {
        "spec.containers.0.livenessProbe.timeoutSeconds": 5, "spec.containers.0.livenessProbe.periodSeconds": 30,
        "spec.containers.0.livenessProbe.failureThreshold": 10, "spec.containers.0.livenessProbe.successThreshold": 1,
    }),
    ("limits-copied-to-missing-requests", POD, {"spec.containers": [container(resources={
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})]}, {
        "spec.containers.0.resources.requests": {"cpu": "500m", "memory": "1Gi"},
    }),
    ("volume-without-source-is-empty-dir", POD, {"spec.volumes": [{"name": "scratch"}]}, {"spec.volumes.0.emptyDir": {}}),
    ("config-map-volume-mode", POD, {"spec.volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]},
     {"spec.volumes.0.configMap.defaultMode": 0o644}),
    ("secret-volume-mode-kept", POD, {"spec.volumes": [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o400}}]},
     {"spec.volumes.0.secret.defaultMode": 0o400}),
    ("env-field-ref-api-version", POD, {"spec.containers": [container(env=[
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])]},
     {"spec.containers.0.env.0.valueFrom.fieldRef.apiVersion": "v1"}),
    # DefaultTolerationSeconds
    ("tolerations-added", POD, {}, {"spec.tolerations": [NOT_READY, UNREACHABLE]}),
    ("toleration-user-not-ready-kept", POD, {"spec.tolerations": [dict(NOT_READY, tolerationSeconds=60)]},
     {"spec.tolerations": [dict(NOT_READY, tolerationSeconds=60), UNREACHABLE]}),
    ("toleration-wildcard-tolerates-all", POD, {"spec.tolerations": [{"operator": "Exists"}]},
     {"spec.tolerations": [{"operator": "Exists"}]}),
    ("toleration-other-effect-does-not-count", POD, {"spec.tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}]},
     {"spec.tolerations.1": NOT_READY, "spec.tolerations.2": UNREACHABLE}),
    # QoS classes
    ("qos-best-effort", POD, {}, {"status.qosClass": "BestEffort"}),
    ("qos-burstable-requests-only", POD, {"spec.containers": [container(resources={"requests": {"cpu": "100m"}})]},
     {"status.qosClass": "Burstable"}),
    ("qos-guaranteed-from-limits", POD, {"spec.containers": [container(resources={"limits": {"cpu": "1", "memory": "1Gi"}})]},
     {"status.qosClass": "Guaranteed"}),
    ("qos-guaranteed-equal-values-different-spelling", POD, {"spec.containers": [container(resources={
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}})]},
     {"status.qosClass": "Guaranteed"}),
    ("qos-burstable-cpu-limit-only", POD, {"spec.containers": [container(resources={"limits": {"cpu": "1"}})]},
     {"status.qosClass": "Burstable"}),
    ("qos-burstable-one-container-unlimited", POD, {"spec.containers": [
        container(resources={"limits": {"cpu": "1", "memory": "1Gi"}}), {"name": "side", "image": "busybox"}]},
     {"status.qosClass": "Burstable"}),
    ("qos-ignores-other-resources", POD, {"spec.containers": [container(resources={"requests": {"ephemeral-storage": "1Gi"}})]},
     {"status.qosClass": "BestEffort"}),
    ("qos-kept", POD, {"status": {"qosClass": "Guaranteed", "phase": "Running"}},
     {"status.qosClass": "Guaranteed", "status.phase": "Running"}),
    # -- Service ----------------------------------------------------------------------------------
    ("service", SERVICE, {}, {
        "spec.type": "ClusterIP", "spec.sessionAffinity": "None", "spec.ports.0.protocol": "TCP",
        "spec.ports.0.targetPort": 80, "spec.internalTrafficPolicy": "Cluster",
    }),
    ("service-target-port-kept", SERVICE, {"spec.ports": [{"port": 80, "targetPort": "http"}]}, {"spec.ports.0.targetPort": "http"}),
    ("service-node-port-traffic-policy", SERVICE, {"spec.type": "NodePort"}, {"spec.externalTrafficPolicy": "Cluster"}),
    ("service-client-ip-timeout", SERVICE, {"spec.sessionAffinity": "ClientIP"},
     {"spec.sessionAffinityConfig.clientIP.timeoutSeconds": 10800}),
    # -- workloads --------------------------------------------------------------------------------
    ("deployment", DEPLOYMENT, {}, {
        "spec.replicas": 1, "spec.strategy.type": "RollingUpdate",
        "spec.strategy.rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        "spec.revisionHistoryLimit": 10, "spec.progressDeadlineSeconds": 600,
        "spec.selector": {"matchLabels": {"app": "web"}},
    }),
    ("deployment-template-pod-spec", DEPLOYMENT, {}, {
        "spec.template.spec.restartPolicy": "Always", "spec.template.spec.dnsPolicy": "ClusterFirst",
        "spec.template.spec.containers.0.imagePullPolicy": "IfNotPresent",
        "spec.template.spec.tolerations": DELETE,
    }),
    ("deployment-zero-replicas-kept", DEPLOYMENT, {"spec.replicas": 0}, {"spec.replicas": 0}),
    ("deployment-selector-kept", DEPLOYMENT, {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
     {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}),
    ("deployment-recreate", DEPLOYMENT, {"spec.strategy": {"type": "Recreate"}}, {"spec.strategy": {"type": "Recreate"}}),
    ("deployment-max-surge-kept", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxSurge": 0}}},
     {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"}}),
    ("replica-set", REPLICA_SET, {}, {"spec.replicas": 1, "spec.selector": {"matchLabels": {"app": "web"}},
                                      "spec.template.spec.restartPolicy": "Always"}),
    ("job", JOB, {}, {
        "spec.parallelism": 1, "spec.completions": 1, "spec.backoffLimit": 6, "spec.completionMode": "NonIndexed",
        "spec.template.spec.restartPolicy": DELETE, "spec.selector": DELETE, "metadata.labels": {"app": "pi"},
    }),
    ("job-parallel-completions-unset", JOB, {"spec.parallelism": 3}, {"spec.parallelism": 3, "spec.completions": DELETE}),
    ("job-completions-only", JOB, {"spec.completions": 5}, {"spec.parallelism": 1, "spec.completions": 5}),
    # -- storage, config, cluster -----------------------------------------------------------------
    ("pvc", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": {}},
     {}, {"spec.volumeMode": "Filesystem", "status.phase": "Pending"}),
    ("pv", {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"}, "spec": {"hostPath": {"path": "/d"}}},
     {}, {"spec.persistentVolumeReclaimPolicy": "Retain", "spec.volumeMode": "Filesystem"}),
    ("pv-reclaim-policy-kept", {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
                                "spec": {"persistentVolumeReclaimPolicy": "Delete"}},
     {}, {"spec.persistentVolumeReclaimPolicy": "Delete"}),
    ("namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
     {}, {"status.phase": "Active", "spec.finalizers": ["kubernetes"]}),
    ("node-allocatable-from-capacity", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                                       "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}},
     {}, {"status.allocatable": {"cpu": "4", "memory": "8Gi"}}),
    ("node-allocatable-kept", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                               "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"}}},
     {}, {"status.allocatable": {"cpu": "3"}}),
    ("secret-type", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}, {}, {"type": "Opaque"}),
    ("secret-string-data-merged", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                   "stringData": {"user": "admin"}},
     {}, {"data": {"user": "YWRtaW4="}, "stringData": DELETE}),
    ("hpa", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
             "spec": {"maxReplicas": 3}},
     {}, {"spec.minReplicas": 1, "spec.metrics": [
         {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}),
    ("hpa-behavior", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
                      "spec": {"maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}},
     {}, {"spec.behavior.scaleDown.stabilizationWindowSeconds": 60, "spec.behavior.scaleDown.selectPolicy": "Max",
          "spec.behavior.scaleUp.policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                             {"type": "Percent", "value": 100, "periodSeconds": 15}]}),
    ("priority-class", {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "p"}, "value": 5},
     {}, {"preemptionPolicy": "PreemptLowerPriority"}),
    ("event", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}}, {}, {"count": 1, "type": "Normal"}),
    ("event-values-kept", {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "count": 4, "type": "Warning"},
     {}, {"count": 4, "type": "Warning"}),
    ("endpoints-port-protocol", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
                                 "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]},
     {}, {"subsets.0.ports.0.protocol": "TCP"}),
]


@pytest.mark.parametrize(("base", "changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_defaults(base, changes, expected):
    doc = defaulted(patched(base, changes))
    for path, value in expected.items():
        assert field(doc, path) == value, path


IMAGES = [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("registry.local:5000/team/app", "Always"), ("registry.local:5000/team/app:v2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"), ("", "Always"),
]


@pytest.mark.parametrize(("image", "policy"), IMAGES, ids=[i or "empty" for i, _ in IMAGES])
def test_image_pull_policy_follows_the_tag(image, policy):
    doc = defaulted(patched(POD, {"spec.containers.0.image": image}))
    assert doc["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize("kind", ["Lease", "PodGroup", "ConfigMap"])
def test_kinds_without_defaults_are_left_alone(kind):
    info = kinds.by_kind(kind)
    msg = info.message()
    msg.metadata.name = "x"
    before = msg.SerializeToString()
    defaulting.apply_defaults(info, msg)
    assert msg.SerializeToString() == before


@pytest.mark.parametrize("manifest", [POD, DEPLOYMENT, JOB, SERVICE], ids=["pod", "deployment", "job", "service"])
def test_defaulting_twice_changes_nothing(manifest):
    once = defaulted(manifest)
    assert defaulted(once | {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"]}) == once


def test_repeated_pod_specs_get_the_same_defaults_as_the_first():
    # The defaulted spec is remembered per distinct spec; the copy must not leak between pods.
    first = defaulted(POD)
    second = defaulted(POD)
    assert first == second
    other = defaulted(patched(POD, {"spec.restartPolicy": "Never"}))
    assert other["spec"]["restartPolicy"] == "Never"
    assert defaulted(POD)["spec"]["restartPolicy"] == "Always"


def _envelope(doc):
    """The Object for a manifest (as the CLI reads it)."""
    from shoal.proto.manifests import from_dict

    return kinds.wrap(from_dict(doc))
