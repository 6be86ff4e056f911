"""Validation on update: what may change in a stored object and what may not."""

from __future__ import annotations

import copy

import pytest
from shoal.control.api import defaulting, validation
from shoal.control.api.errors import Invalid
from shoal.proto import kinds

DELETE = object()


def patched(base: dict, changes: dict) -> dict:
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


def stored(manifest: dict):
    """The object as a create would have stored it (defaulted and valid)."""
    info, msg = kinds.unwrap(_envelope(manifest))
    if info.namespaced:
        msg.metadata.namespace = "default"
    defaulting.apply_defaults(info, msg)
    validation.validate(info, msg, None)
    return info, msg


def update(old_manifest: dict, changes: dict) -> None:
    """Validates an update that reads the stored object and writes it back with ``changes``
    (as `kubectl edit` does)."""
    info, old = stored(old_manifest)
    read_back = kinds.to_manifest(old) | {"apiVersion": info.api_version, "kind": info.kind}
    info, new = kinds.unwrap(_envelope(patched(read_back, changes)))
    if info.namespaced:
        new.metadata.namespace = "default"
    defaulting.apply_defaults(info, new)
    validation.validate(info, new, old)


POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "resources": {"requests": {"cpu": "100m"}}}],
             "initContainers": [{"name": "init", "image": "busybox:1.36"}],
             "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
             "schedulingGates": [{"name": "example.com/quota"}, {"name": "example.com/gang"}]},
}
BOUND_POD = {**POD, "spec": {**POD["spec"], "nodeName": "node-1", "activeDeadlineSeconds": 600}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "web"}, "ports": [{"port": 80}]}}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}
REPLICA_SET = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}}
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
       "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}}
PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
      "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/a"}}}
PRIORITY_CLASS = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 100}
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}, "immutable": True}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "MQ=="}}

ALLOWED = [
    ("pod-labels", POD, {"metadata.labels": {"app": "web", "canary": "true"}}),
    ("pod-image", POD, {"spec.containers.0.image": "nginx:1.26"}),
    ("pod-init-image", POD, {"spec.initContainers.0.image": "busybox:1.37"}),
    ("pod-toleration-added", POD, {"spec.tolerations": POD["spec"]["tolerations"] + [{"key": "b", "operator": "Exists"}]}),
    ("pod-active-deadline-set", POD, {"spec.activeDeadlineSeconds": 30}),
    ("pod-active-deadline-shortened", BOUND_POD, {"spec.activeDeadlineSeconds": 60}),
    ("pod-scheduling-gate-removed", POD, {"spec.schedulingGates": [{"name": "example.com/gang"}]}),
    ("pod-scheduling-gates-cleared", POD, {"spec.schedulingGates": []}),
    ("pod-node-name-first-set", POD, {"spec.nodeName": "node-1"}),
    ("pod-status-phase", BOUND_POD, {"status": {"phase": "Running"}}),
    ("pod-default-tolerations-omitted", POD, {"spec.tolerations": POD["spec"]["tolerations"]}),
    ("pod-unchanged", POD, {}),
    ("service-same-cluster-ip", SERVICE, {"spec.ports": [{"port": 8080}]}),
    ("deployment-replicas", DEPLOYMENT, {"spec.replicas": 5}),
    ("deployment-template", DEPLOYMENT, {"spec.template.spec.containers.0.image": "nginx:1.26"}),
    ("replica-set-replicas", REPLICA_SET, {"spec.replicas": 0}),
    ("job-parallelism", JOB, {"spec.parallelism": 4}),
    ("job-suspended-template", patched(JOB, {"spec.suspend": True}), {"spec.template.spec.containers.0.image": "perl:5"}),
    ("pvc-grow", PVC, {"spec.resources.requests.storage": "2Gi"}),
    ("pvc-bind", PVC, {"spec.volumeName": "pv-1"}),
    ("pv-reclaim-policy", PV, {"spec.persistentVolumeReclaimPolicy": "Delete"}),
    ("priority-class-description", PRIORITY_CLASS, {"description": "for web"}),
    ("config-map-labels", CONFIG_MAP, {"metadata.labels": {"a": "b"}}),
    ("secret-data", SECRET, {"data": {"a": "Mg=="}}),
]


@pytest.mark.parametrize(("base", "changes"), [a[1:] for a in ALLOWED], ids=[a[0] for a in ALLOWED])
def test_allowed_updates(base, changes):
    update(base, changes)


FORBIDDEN = [
    ("pod-resources", POD, {"spec.containers.0.resources.requests.cpu": "200m"},
     "spec: Forbidden: pod updates may not change fields other than"),
    ("pod-container-added", POD, {"spec.containers": POD["spec"]["containers"] + [{"name": "b", "image": "b"}]},
     "spec: Forbidden: pod updates may not change fields other than"),
    ("pod-restart-policy", POD, {"spec.restartPolicy": "Never"}, "spec: Forbidden"),
    ("pod-toleration-removed", POD, {"spec.tolerations": []}, "spec.tolerations: Forbidden"),
    ("pod-node-name-changed", BOUND_POD, {"spec.nodeName": "node-2"}, "spec.nodeName: Forbidden"),
    ("pod-node-name-cleared", BOUND_POD, {"spec.nodeName": DELETE}, "spec.nodeName: Forbidden"),
    ("pod-active-deadline-raised", BOUND_POD, {"spec.activeDeadlineSeconds": 601}, "spec.activeDeadlineSeconds: Invalid value: 601"),
    ("pod-active-deadline-removed", BOUND_POD, {"spec.activeDeadlineSeconds": DELETE}, "spec.activeDeadlineSeconds: Invalid value"),
    ("pod-scheduling-gate-added", POD, {"spec.schedulingGates": POD["spec"]["schedulingGates"] + [{"name": "x/y"}]},
     "spec.schedulingGates[2]: Forbidden"),
    ("service-cluster-ip", SERVICE, {"spec.clusterIP": "10.96.0.11"}, 'spec.clusterIP: Invalid value: "10.96.0.11": field is immutable'),
    ("service-cluster-ip-unset", SERVICE, {"spec.clusterIP": DELETE}, "spec.clusterIP: Invalid value"),
    ("deployment-selector", DEPLOYMENT, {"spec.selector": {"matchLabels": {"app": "web", "v": "2"}},
                                         "spec.template.metadata.labels": {"app": "web", "v": "2"}},
     "spec.selector: Invalid value"),
    ("replica-set-selector", REPLICA_SET, {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
     "spec.selector: Invalid value"),
    ("job-template", JOB, {"spec.template.spec.containers.0.image": "perl:5"}, "spec.template: Invalid value"),
    ("job-completions", JOB, {"spec.completions": 3}, "spec.completions: Invalid value: 3: field is immutable"),
    ("job-completion-mode", JOB, {"spec.completionMode": "Indexed"}, "spec.completionMode: Invalid value"),
    ("pvc-access-modes", PVC, {"spec.accessModes": ["ReadWriteMany"]}, "spec: Forbidden: spec is immutable after creation"),
    ("pv-source", PV, {"spec.hostPath.path": "/b"}, "spec.persistentvolumesource: Forbidden"),
    ("priority-class-value", PRIORITY_CLASS, {"value": 101}, "value: Forbidden: may not be changed in an update."),
    ("config-map-immutable-data", CONFIG_MAP, {"data": {"a": "2"}}, "data: Forbidden: field is immutable when `immutable` is set"),
    ("config-map-immutable-unset", CONFIG_MAP, {"immutable": False}, "immutable: Forbidden"),
    ("secret-type", SECRET, {"type": "kubernetes.io/basic-auth", "data": {"username": "YQ=="}}, 'type: Invalid value: "kubernetes.io/basic-auth"'),
]


@pytest.mark.parametrize(("base", "changes", "expected"), [f[1:] for f in FORBIDDEN], ids=[f[0] for f in FORBIDDEN])
def test_forbidden_updates(base, changes, expected):
    with pytest.raises(Invalid) as caught:
        update(base, changes)
    assert expected in caught.value.message


def test_pvc_cannot_shrink_below_its_capacity():
    _, old = stored(PVC)
    old.status.capacity["storage"] = "1Gi"
    info, new = stored(PVC)
    new.spec.resources.requests["storage"] = "512Mi"
    with pytest.raises(Invalid, match="spec.resources.requests.storage: Forbidden"):
        validation.validate(info, new, old)


def _envelope(doc):
    """The Object for a manifest (as the CLI reads it)."""
    from shoal.proto.manifests import from_dict

    return kinds.wrap(from_dict(doc))
