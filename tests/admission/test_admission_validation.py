"""Validation on create: a table of valid objects of every kind, and a table of invalid ones,
each with the field path (and error type) its message must name."""

from __future__ import annotations

import copy

import pytest
from shoal.control.api import defaulting, validation
from shoal.control.api.errors import Invalid
from shoal.proto import kinds

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


def admit(manifest: dict) -> None:
    """Defaults then validates a manifest as a create would (namespace filled as the API does)."""
    info, msg = kinds.unwrap(_envelope(manifest))
    if info.namespaced and not msg.metadata.namespace:
        msg.metadata.namespace = "default"
    defaulting.apply_defaults(info, msg)
    validation.validate(info, msg, None)


def container(**fields) -> dict:
    return {"name": "web", "image": "nginx:1.25", **fields}


POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"containers": [container(ports=[{"containerPort": 80, "name": "http"}],
                                      resources={"requests": {"cpu": "100m", "memory": "128Mi"}})]},
}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()]}}
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
}
REPLICA_SET = {
    "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-5d4f"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
}
JOB = {
    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}},
}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}
NODE = {
    "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1.example.com", "labels": {"zone": "a"}},
    "spec": {"taints": [{"key": "gpu", "value": "true", "effect": "NoSchedule"}], "podCIDR": "10.244.1.0/24"},
    "status": {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "nvidia.com/gpu": "2"}},
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
              "data": {"app.properties": "a=1", "MODE": "fast"}, "binaryData": {"blob.bin": "AAEC"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "data": {"password": "czNjcjN0"}}
PV = {
    "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"},
    "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data/pv-1"}},
}
PVC = {
    "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}
ENDPOINTS = {
    "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
    "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8080}]}],
}
PRIORITY_CLASS = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000}
POD_GROUP = {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup", "metadata": {"name": "train"},
             "spec": {"minMember": 4, "minResources": {"cpu": "16", "nvidia.com/gpu": "4"}}}
HPA = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 2, "maxReplicas": 10,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]},
}
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "node-1"},
         "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
EVENT = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.17a1"},
         "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, "reason": "Scheduled", "type": "Normal"}

VALID = [
    ("pod", POD, {}),
    ("pod-minimal", POD, {"metadata.labels": DELETE, "spec.containers": [{"name": "c", "image": "busybox"}]}),
    ("pod-every-common-field", POD, {
        "spec.restartPolicy": "OnFailure", "spec.dnsPolicy": "None",
        "spec.dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.cluster.local"], "options": [{"name": "ndots", "value": "2"}]},
        "spec.nodeSelector": {"kubernetes.io/os": "linux"}, "spec.priorityClassName": "high", "spec.preemptionPolicy": "Never",
        "spec.tolerations": [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
                             {"operator": "Exists"}, {"key": "x", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
        "spec.topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                            "whenUnsatisfiable": "DoNotSchedule", "minDomains": 2,
                                            "labelSelector": {"matchLabels": {"app": "web"}}}],
        "spec.affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a", "b"]},
                    {"key": "cores", "operator": "Gt", "values": ["4"]},
                    {"key": "spot", "operator": "DoesNotExist"}],
                    "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-9"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {
                    "matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]},
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                 "topologyKey": "kubernetes.io/hostname"}]}},
        "spec.volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                         {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.conf"}]}},
                         {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
        "spec.initContainers": [{"name": "init", "image": "busybox"},
                                {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                                 "readinessProbe": {"tcpSocket": {"port": 9901}}}],
        "spec.containers": [container(
            ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP", "hostPort": 53}],
            env=[{"name": "MODE", "value": "fast"},
                 {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
            envFrom=[{"configMapRef": {"name": "cfg"}}],
            resources={"requests": {"cpu": "250m", "memory": "64Mi", "nvidia.com/gpu": "1"},
                       "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}},
            volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/etc/app", "readOnly": True}],
            livenessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 3},
            readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}},
            startupProbe={"grpc": {"port": 9090}, "failureThreshold": 30},
            lifecycle={"preStop": {"sleep": {"seconds": 5}}},
            securityContext={"runAsUser": 1000, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}})],
        "spec.schedulingGates": [{"name": "example.com/quota"}],
        "spec.activeDeadlineSeconds": 3600,
        "spec.overhead": {"cpu": "10m"},
    }),
    ("pod-request-equals-limit", POD, {"spec.containers.0.resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}}),
    ("pod-scientific-quantities", POD, {"spec.containers.0.resources": {"requests": {"cpu": "1e-1", "memory": "1.5Gi"}}}),
    ("pod-name-is-dns-subdomain", POD, {"metadata.name": "web.v2-abc"}),
    ("pod-label-prefixed", POD, {"metadata.labels": {"app.kubernetes.io/name": "web", "tier": ""}}),
    ("pod-generate-name", POD, {"metadata.generateName": "web-"}),
    ("deployment", DEPLOYMENT, {}),
    ("deployment-zero-replicas", DEPLOYMENT, {"spec.replicas": 0}),
    ("deployment-recreate", DEPLOYMENT, {"spec.strategy": {"type": "Recreate"}}),
    ("deployment-rolling-numbers", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}),
    ("deployment-selector-expression", DEPLOYMENT, {"spec.selector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}]}}),
    ("deployment-selector-from-template", DEPLOYMENT, {"spec.selector": DELETE}),
    ("replica-set", REPLICA_SET, {}),
    ("job", JOB, {}),
    ("job-on-failure-indexed", JOB, {"spec.template.spec.restartPolicy": "OnFailure", "spec.completionMode": "Indexed",
                                     "spec.completions": 5, "spec.parallelism": 2, "spec.backoffLimit": 0}),
    ("service", SERVICE, {}),
    ("service-headless-no-ports", SERVICE, {"spec.clusterIP": "None", "spec.ports": DELETE}),
    ("service-external-name", SERVICE, {"spec.type": "ExternalName", "spec.externalName": "db.example.com", "spec.ports": DELETE}),
    ("service-node-port", SERVICE, {"spec.type": "NodePort", "spec.ports": [{"port": 80, "nodePort": 30080}]}),
    ("service-cluster-ip", SERVICE, {"spec.clusterIP": "10.96.0.10", "spec.clusterIPs": ["10.96.0.10"]}),
    ("service-several-ports", SERVICE, {"spec.ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
    ("node", NODE, {}),
    ("namespace", NAMESPACE, {}),
    ("config-map", CONFIG_MAP, {}),
    ("secret", SECRET, {}),
    ("secret-tls", SECRET, {"type": "kubernetes.io/tls", "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"}}),
    ("pv", PV, {}),
    ("pv-local", PV, {"spec.hostPath": DELETE, "spec.local": {"path": "/mnt/disk"}, "spec.nodeAffinity": {"required": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}}),
    ("pvc", PVC, {}),
    ("pvc-block", PVC, {"spec.volumeMode": "Block", "spec.storageClassName": "fast"}),
    ("endpoints", ENDPOINTS, {}),
    ("priority-class", PRIORITY_CLASS, {}),
    ("priority-class-highest-user-value", PRIORITY_CLASS, {"value": 1_000_000_000}),
    ("priority-class-system", PRIORITY_CLASS, {"metadata.name": "system-cluster-critical", "value": 2_000_000_000}),
    ("pod-group", POD_GROUP, {}),
    ("hpa", HPA, {}),
    ("hpa-value-target", HPA, {"spec.metrics": [{"type": "Pods", "pods": {
        "metric": {"name": "requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "100"}}}]}),
    ("lease", LEASE, {}),
    ("event", EVENT, {}),
]


@pytest.mark.parametrize(("base", "changes"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_objects_are_admitted(base, changes):
    admit(patched(base, changes))


def _containers(n: int) -> list[dict]:
    return [container(name=f"c{i}") for i in range(n)]


INVALID = [
    # -- metadata -------------------------------------------------------------------------------
    ("name-missing", POD, {"metadata.name": DELETE}, "metadata.name: Required value"),
    ("name-uppercase", POD, {"metadata.name": "Web"}, 'metadata.name: Invalid value: "Web"'),
    ("name-too-long", POD, {"metadata.name": "a" * 254}, "must be no more than 253 characters"),
    ("name-underscore", DEPLOYMENT, {"metadata.name": "my_app"}, 'metadata.name: Invalid value: "my_app"'),
    ("generate-name-bad", POD, {"metadata.generateName": "Web-"}, "metadata.generateName: Invalid value"),
    ("namespace-bad", POD, {"metadata.namespace": "Team.A"}, 'metadata.namespace: Invalid value: "Team.A"'),
    ("label-key-space", POD, {"metadata.labels": {"bad key": "x"}}, 'metadata.labels: Invalid value: "bad key"'),
    ("label-key-prefix-uppercase", POD, {"metadata.labels": {"Example.com/app": "x"}}, "metadata.labels: Invalid value"),
    ("label-key-name-too-long", POD, {"metadata.labels": {"a" * 64: "x"}}, "name part must be no more than 63 characters"),
    ("label-value-too-long", POD, {"metadata.labels": {"app": "x" * 64}}, "must be no more than 63 characters"),
    ("label-value-bad", POD, {"metadata.labels": {"app": "-web"}}, 'metadata.labels: Invalid value: "-web"'),
    ("annotation-key-bad", POD, {"metadata.annotations": {"not valid": "x"}}, "metadata.annotations: Invalid value"),
    ("annotations-too-large", POD, {"metadata.annotations": {"big": "x" * (256 * 1024)}}, "metadata.annotations: Too long"),
    ("owner-reference-incomplete", POD, {"metadata.ownerReferences": [{"kind": "ReplicaSet", "name": "web"}]},
     "metadata.ownerReferences[0].uid: Required value"),
    ("two-controllers", POD, {"metadata.ownerReferences": [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True}]}, "metadata.ownerReferences: Invalid value"),
    ("finalizers-orphan-and-foreground", POD, {"metadata.finalizers": ["orphan", "foregroundDeletion"]}, "metadata.finalizers: Invalid value"),
    ("finalizer-bad", POD, {"metadata.finalizers": ["a/b/c"]}, "metadata.finalizers[0]: Invalid value"),
    # -- pod: containers ------------------------------------------------------------------------
    ("no-containers", POD, {"spec.containers": []}, "spec.containers: Required value"),
    ("container-name-missing", POD, {"spec.containers.0.name": DELETE}, "spec.containers[0].name: Required value"),
    ("container-name-bad", POD, {"spec.containers.0.name": "Web_1"}, 'spec.containers[0].name: Invalid value: "Web_1"'),
    ("container-name-duplicate", POD, {"spec.containers": [container(), container()]}, 'spec.containers[1].name: Duplicate value: "web"'),
    ("init-container-name-duplicate", POD, {"spec.initContainers": [container()]}, 'spec.containers[0].name: Duplicate value: "web"'),
    ("image-missing", POD, {"spec.containers.0.image": DELETE}, "spec.containers[0].image: Required value"),
    ("image-whitespace", POD, {"spec.containers.0.image": " nginx"}, "spec.containers[0].image: Invalid value"),
    ("image-pull-policy", POD, {"spec.containers.0.imagePullPolicy": "Sometimes"}, 'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes"'),
    ("termination-message-policy", POD, {"spec.containers.0.terminationMessagePolicy": "Log"}, "spec.containers[0].terminationMessagePolicy: Unsupported value"),
    ("container-port-zero", POD, {"spec.containers.0.ports": [{"containerPort": 0}]}, "spec.containers[0].ports[0].containerPort: Required value"),
    ("container-port-too-big", POD, {"spec.containers.0.ports": [{"containerPort": 65536}]},
     "spec.containers[0].ports[0].containerPort: Invalid value: 65536: must be between 1 and 65535, inclusive"),
    ("container-port-negative", POD, {"spec.containers.0.ports": [{"containerPort": -1}]}, "spec.containers[0].ports[0].containerPort: Invalid value: -1"),
    ("host-port-too-big", POD, {"spec.containers.0.ports": [{"containerPort": 80, "hostPort": 70000}]}, "spec.containers[0].ports[0].hostPort"),
    ("host-port-clash", POD, {"spec.containers": [container(ports=[{"containerPort": 80, "hostPort": 80}]),
                                                  container(name="b", ports=[{"containerPort": 81, "hostPort": 80}])]},
     "spec.containers[1].ports[0].hostPort: Duplicate value"),
    ("port-name-too-long", POD, {"spec.containers.0.ports": [{"containerPort": 80, "name": "a-very-long-name1"}]}, "spec.containers[0].ports[0].name: Invalid value"),
    ("port-name-duplicate", POD, {"spec.containers.0.ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]},
     'spec.containers[0].ports[1].name: Duplicate value: "http"'),
    ("port-protocol", POD, {"spec.containers.0.ports": [{"containerPort": 80, "protocol": "HTTP"}]},
     'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
    ("quantity-bad", POD, {"spec.containers.0.resources.requests.cpu": "1.5.0"},
     'spec.containers[0].resources.requests.cpu: Invalid value: "1.5.0": must be a valid quantity (e.g. 500m, 1Gi)'),
    ("quantity-empty", POD, {"spec.containers.0.resources.limits": {"memory": ""}}, "spec.containers[0].resources.limits.memory: Invalid value"),
    ("quantity-negative", POD, {"spec.containers.0.resources.requests.memory": "-1Gi"},
     "spec.containers[0].resources.requests.memory: Invalid value: \"-1Gi\": must be greater than or equal to 0"),
    ("request-above-limit", POD, {"spec.containers.0.resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
     'spec.containers[0].resources.requests.cpu: Invalid value: "2": must be less than or equal to cpu limit of 1'),
    ("resource-name-unknown", POD, {"spec.containers.0.resources.requests": {"gpu": "1"}},
     "spec.containers[0].resources.requests.gpu: Invalid value: \"gpu\": must be a standard resource for containers"),
    ("extended-resource-fraction", POD, {"spec.containers.0.resources": {"limits": {"nvidia.com/gpu": "500m"}}},
     "must be an integer"),
    ("extended-resource-without-limit", POD, {"spec.containers.0.resources.requests": {"nvidia.com/gpu": "1"}},
     "spec.containers[0].resources.limits: Required value"),
    ("overhead-quantity", POD, {"spec.overhead": {"cpu": "lots"}}, "spec.overhead.cpu: Invalid value"),
    ("env-name", POD, {"spec.containers.0.env": [{"name": "A=B", "value": "x"}]}, 'spec.containers[0].env[0].name: Invalid value: "A=B"'),
    ("env-value-from-empty", POD, {"spec.containers.0.env": [{"name": "A", "valueFrom": {}}]}, "spec.containers[0].env[0].valueFrom: Invalid value"),
    ("env-value-and-value-from", POD, {"spec.containers.0.env": [
        {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}, "may not be specified when `value` is not empty"),
    ("env-field-path", POD, {"spec.containers.0.env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.secret"}}}]},
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value"),
    ("env-from-without-source", POD, {"spec.containers.0.envFrom": [{"prefix": "X_"}]}, "spec.containers[0].envFrom[0]: Invalid value"),
    ("probe-without-handler", POD, {"spec.containers.0.livenessProbe": {"periodSeconds": 5}},
     "spec.containers[0].livenessProbe: Required value: must specify a handler type"),
    ("probe-liveness-success-threshold", POD, {"spec.containers.0.livenessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}},
     "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
    ("probe-negative-period", POD, {"spec.containers.0.readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": -1}},
     "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1"),
    ("probe-port-zero", POD, {"spec.containers.0.readinessProbe": {"httpGet": {"path": "/"}}},
     "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0"),
    ("probe-port-name-bad", POD, {"spec.containers.0.readinessProbe": {"tcpSocket": {"port": "HTTP_PORT"}}},
     "spec.containers[0].readinessProbe.tcpSocket.port: Invalid value"),
    ("probe-exec-without-command", POD, {"spec.containers.0.startupProbe": {"exec": {}}},
     "spec.containers[0].startupProbe.exec.command: Required value"),
    ("probe-scheme", POD, {"spec.containers.0.readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}}},
     "spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value"),
    ("lifecycle-without-handler", POD, {"spec.containers.0.lifecycle": {"preStop": {}}}, "spec.containers[0].lifecycle.preStop: Required value"),
    ("init-container-restart-policy", POD, {"spec.initContainers": [{"name": "i", "image": "b", "restartPolicy": "Never"}]},
     'spec.initContainers[0].restartPolicy: Unsupported value: "Never"'),
    ("init-container-probe", POD, {"spec.initContainers": [{"name": "i", "image": "b", "readinessProbe": {"tcpSocket": {"port": 1}}}]},
     "spec.initContainers[0].readinessProbe: Forbidden"),
    ("container-restart-policy", POD, {"spec.containers.0.restartPolicy": "Always"}, "spec.containers[0].restartPolicy: Forbidden"),
    ("security-context-user", POD, {"spec.securityContext": {"runAsUser": -1}}, "spec.securityContext.runAsUser: Invalid value: -1"),
    ("security-context-seccomp", POD, {"spec.containers.0.securityContext": {"seccompProfile": {"type": "Strict"}}},
     "spec.containers[0].securityContext.seccompProfile.type: Unsupported value"),
    # -- pod: volumes ---------------------------------------------------------------------------
    ("volume-name-duplicate", POD, {"spec.volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]},
     'spec.volumes[1].name: Duplicate value: "v"'),
    ("volume-name-bad", POD, {"spec.volumes": [{"name": "V_1", "emptyDir": {}}]}, 'spec.volumes[0].name: Invalid value: "V_1"'),
    ("volume-mount-unknown", POD, {"spec.containers.0.volumeMounts": [{"name": "data", "mountPath": "/data"}]},
     'spec.containers[0].volumeMounts[0].name: Not found: "data"'),
    ("volume-mount-path-missing", POD, {"spec.volumes": [{"name": "v", "emptyDir": {}}], "spec.containers.0.volumeMounts": [{"name": "v"}]},
     "spec.containers[0].volumeMounts[0].mountPath: Required value"),
    ("volume-mount-path-twice", POD, {"spec.volumes": [{"name": "v", "emptyDir": {}}], "spec.containers.0.volumeMounts": [
        {"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/a"}]}, "spec.containers[0].volumeMounts[1].mountPath: Invalid value"),
    ("volume-sub-path-escapes", POD, {"spec.volumes": [{"name": "v", "emptyDir": {}}], "spec.containers.0.volumeMounts": [
        {"name": "v", "mountPath": "/a", "subPath": "../etc"}]}, "spec.containers[0].volumeMounts[0].subPath: Invalid value"),
    ("volume-config-map-name", POD, {"spec.volumes": [{"name": "c", "configMap": {}}]}, "spec.volumes[0].configMap.name: Required value"),
    ("volume-secret-mode", POD, {"spec.volumes": [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o1000}}]},
     "spec.volumes[0].secret.defaultMode: Invalid value: 512"),
    ("volume-host-path-missing", POD, {"spec.volumes": [{"name": "h", "hostPath": {}}]}, "spec.volumes[0].hostPath.path: Required value"),
    ("volume-host-path-type", POD, {"spec.volumes": [{"name": "h", "hostPath": {"path": "/x", "type": "Folder"}}]},
     "spec.volumes[0].hostPath.type: Unsupported value"),
    ("volume-pvc-claim-name", POD, {"spec.volumes": [{"name": "p", "persistentVolumeClaim": {}}]},
     "spec.volumes[0].persistentVolumeClaim.claimName: Required value"),
    ("volume-empty-dir-size", POD, {"spec.volumes": [{"name": "e", "emptyDir": {"sizeLimit": "big"}}]},
     "spec.volumes[0].emptyDir.sizeLimit: Invalid value"),
    ("volume-item-path-absolute", POD, {"spec.volumes": [{"name": "c", "configMap": {"name": "c", "items": [{"key": "a", "path": "/etc/a"}]}}]},
     "spec.volumes[0].configMap.items[0].path: Invalid value"),
    ("volume-ephemeral-claim", POD, {"spec.volumes": [{"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}}]},
     "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources.requests.storage: Required value"),
    # -- pod: spec fields -----------------------------------------------------------------------
    ("restart-policy", POD, {"spec.restartPolicy": "Sometimes"},
     'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"'),
    ("dns-policy", POD, {"spec.dnsPolicy": "Google"}, 'spec.dnsPolicy: Unsupported value: "Google"'),
    ("dns-policy-none-without-config", POD, {"spec.dnsPolicy": "None"}, "spec.dnsConfig: Required value"),
    ("dns-config-nameserver", POD, {"spec.dnsConfig": {"nameservers": ["dns.google"]}}, "spec.dnsConfig.nameservers[0]: Invalid value"),
    ("dns-config-too-many-nameservers", POD, {"spec.dnsConfig": {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}},
     "spec.dnsConfig.nameservers: Too many: 4"),
    ("preemption-policy", POD, {"spec.preemptionPolicy": "Always"}, 'spec.preemptionPolicy: Unsupported value: "Always"'),
    ("active-deadline-zero", POD, {"spec.activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds: Invalid value: 0"),
    ("grace-period-negative", POD, {"spec.terminationGracePeriodSeconds": -5}, "spec.terminationGracePeriodSeconds: Invalid value: -5"),
    ("node-name", POD, {"spec.nodeName": "Node_1"}, 'spec.nodeName: Invalid value: "Node_1"'),
    ("node-selector", POD, {"spec.nodeSelector": {"zone": "a b"}}, 'spec.nodeSelector: Invalid value: "a b"'),
    ("hostname", POD, {"spec.hostname": "web.local"}, 'spec.hostname: Invalid value: "web.local"'),
    ("priority-class-name", POD, {"spec.priorityClassName": "High"}, "spec.priorityClassName: Invalid value"),
    ("scheduling-gate-duplicate", POD, {"spec.schedulingGates": [{"name": "a"}, {"name": "a"}]}, 'spec.schedulingGates[1].name: Duplicate value: "a"'),
    ("os-name", POD, {"spec.os": {"name": "plan9"}}, 'spec.os.name: Unsupported value: "plan9"'),
    ("status-phase", POD, {"status": {"phase": "Sleeping"}}, 'status.phase: Unsupported value: "Sleeping"'),
    # -- pod: tolerations, spread, affinity -----------------------------------------------------
    ("toleration-operator", POD, {"spec.tolerations": [{"key": "a", "operator": "In", "value": "b"}]},
     'spec.tolerations[0].operator: Unsupported value: "In": supported values: "Equal", "Exists"'),
    ("toleration-effect", POD, {"spec.tolerations": [{"key": "a", "operator": "Exists", "effect": "NoRun"}]},
     'spec.tolerations[0].effect: Unsupported value: "NoRun"'),
    ("toleration-exists-with-value", POD, {"spec.tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]},
     "spec.tolerations[0].operator: Invalid value"),
    ("toleration-empty-key-equal", POD, {"spec.tolerations": [{"operator": "Equal", "value": "b"}]}, "spec.tolerations[0].operator: Invalid value"),
    ("toleration-seconds-without-no-execute", POD, {"spec.tolerations": [{"key": "a", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]},
     "spec.tolerations[0].effect: Invalid value"),
    ("toleration-key", POD, {"spec.tolerations": [{"key": "a b", "operator": "Exists"}]}, "spec.tolerations[0].key: Invalid value"),
    ("spread-max-skew-zero", POD, {"spec.topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero"),
    ("spread-when-unsatisfiable", POD, {"spec.topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Ignore"}]},
     'spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Ignore"'),
    ("spread-min-domains-schedule-anyway", POD, {"spec.topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]},
     "spec.topologySpreadConstraints[0].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule"),
    ("spread-min-domains-zero", POD, {"spec.topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "minDomains": 0}]},
     "spec.topologySpreadConstraints[0].minDomains: Invalid value: 0"),
    ("spread-topology-key-missing", POD, {"spec.topologySpreadConstraints": [{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].topologyKey: Required value"),
    ("spread-duplicate", POD, {"spec.topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
        {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}: Duplicate value"),
    ("spread-selector-operator", POD, {"spec.topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}}]},
     "spec.topologySpreadConstraints[0].labelSelector.matchExpressions[0].operator: Unsupported value"),
    ("node-affinity-operator", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Like", "values": ["a"]}]}]}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value"),
    ("node-affinity-in-without-values", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}}},
     "nodeSelectorTerms[0].matchExpressions[0].values: Required value"),
    ("node-affinity-exists-with-values", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["a"]}]}]}}}},
     "nodeSelectorTerms[0].matchExpressions[0].values: Forbidden"),
    ("node-affinity-gt-two-values", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["1", "2"]}]}]}}}},
     "nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value"),
    ("node-affinity-lt-not-integer", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["four"]}]}]}}}},
     'nodeSelectorTerms[0].matchExpressions[0].values[0]: Invalid value: "four": must be an integer'),
    ("node-affinity-no-terms", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value"),
    ("node-affinity-match-fields-key", POD, {"spec.affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.labels", "operator": "In", "values": ["a"]}]}]}}}},
     "nodeSelectorTerms[0].matchFields[0].key: Unsupported value"),
    ("node-affinity-weight", POD, {"spec.affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]}}},
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0"),
    ("pod-affinity-topology-key", POD, {"spec.affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}}]}}},
     "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value"),
    ("pod-anti-affinity-selector", POD, {"spec.affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "podAffinityTerm": {"topologyKey": "zone", "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}}]}}},
     "podAffinityTerm.labelSelector.matchExpressions[0].values: Required value"),
    # -- Node -----------------------------------------------------------------------------------
    ("node-name", NODE, {"metadata.name": "Node 1"}, 'metadata.name: Invalid value: "Node 1"'),
    ("node-taint-effect", NODE, {"spec.taints": [{"key": "a", "effect": "Evict"}]}, 'spec.taints[0].effect: Unsupported value: "Evict"'),
    ("node-taint-effect-missing", NODE, {"spec.taints": [{"key": "a"}]}, "spec.taints[0].effect: Required value"),
    ("node-taint-key-missing", NODE, {"spec.taints": [{"effect": "NoSchedule"}]}, "spec.taints[0].key: Required value"),
    ("node-taint-duplicate", NODE, {"spec.taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "NoSchedule"}]},
     "spec.taints[1]: Duplicate value"),
    ("node-capacity-quantity", NODE, {"status.capacity.cpu": "eight"}, 'status.capacity.cpu: Invalid value: "eight"'),
    ("node-allocatable-negative", NODE, {"status.allocatable": {"memory": "-1"}}, "status.allocatable.memory: Invalid value"),
    ("node-pod-cidr", NODE, {"spec.podCIDR": "10.244.1.0"}, "spec.podCIDR: Invalid value"),
    # -- Namespace ------------------------------------------------------------------------------
    ("namespace-name-dot", NAMESPACE, {"metadata.name": "team.a"}, 'metadata.name: Invalid value: "team.a"'),
    ("namespace-name-too-long", NAMESPACE, {"metadata.name": "a" * 64}, "must be no more than 63 characters"),
    ("namespace-finalizer", NAMESPACE, {"spec.finalizers": ["cleanup"]}, 'spec.finalizers[0]: Invalid value: "cleanup"'),
    ("namespace-phase", NAMESPACE, {"status": {"phase": "Gone"}}, 'status.phase: Unsupported value: "Gone"'),
    # -- Service --------------------------------------------------------------------------------
    ("service-name-starts-with-digit", SERVICE, {"metadata.name": "1web"}, 'metadata.name: Invalid value: "1web"'),
    ("service-no-ports", SERVICE, {"spec.ports": DELETE}, "spec.ports: Required value"),
    ("service-port-zero", SERVICE, {"spec.ports": [{"port": 0}]}, "spec.ports[0].port: Invalid value: 0"),
    ("service-port-too-big", SERVICE, {"spec.ports": [{"port": 65536}]}, "spec.ports[0].port: Invalid value: 65536"),
    ("service-type", SERVICE, {"spec.type": "Internal"},
     'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    ("service-protocol", SERVICE, {"spec.ports": [{"port": 80, "protocol": "ICMP"}]}, 'spec.ports[0].protocol: Unsupported value: "ICMP"'),
    ("service-unnamed-ports", SERVICE, {"spec.ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name: Required value"),
    ("service-duplicate-port-names", SERVICE, {"spec.ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]},
     'spec.ports[1].name: Duplicate value: "a"'),
    ("service-duplicate-ports", SERVICE, {"spec.ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "spec.ports[1]: Duplicate value"),
    ("service-target-port", SERVICE, {"spec.ports": [{"port": 80, "targetPort": 70000}]}, "spec.ports[0].targetPort: Invalid value: 70000"),
    ("service-target-port-name", SERVICE, {"spec.ports": [{"port": 80, "targetPort": "Web_Port"}]}, "spec.ports[0].targetPort: Invalid value"),
    ("service-node-port-on-cluster-ip", SERVICE, {"spec.ports": [{"port": 80, "nodePort": 30080}]}, "spec.ports[0].nodePort: Forbidden"),
    ("service-cluster-ip", SERVICE, {"spec.clusterIP": "10.96.0.300"}, 'spec.clusterIP: Invalid value: "10.96.0.300"'),
    ("service-external-name-missing", SERVICE, {"spec.type": "ExternalName", "spec.ports": DELETE}, "spec.externalName: Required value"),
    ("service-session-affinity", SERVICE, {"spec.sessionAffinity": "Cookie"}, 'spec.sessionAffinity: Unsupported value: "Cookie"'),
    ("service-selector", SERVICE, {"spec.selector": {"app": "a b"}}, "spec.selector: Invalid value"),
    ("service-traffic-policy", SERVICE, {"spec.type": "NodePort", "spec.externalTrafficPolicy": "Nearest"},
     'spec.externalTrafficPolicy: Unsupported value: "Nearest"'),
    # -- Endpoints ------------------------------------------------------------------------------
    ("endpoints-ip", ENDPOINTS, {"subsets.0.addresses": [{"ip": "ten"}]}, 'subsets[0].addresses[0].ip: Invalid value: "ten"'),
    ("endpoints-port", ENDPOINTS, {"subsets.0.ports": [{"port": 0}]}, "subsets[0].ports[0].port: Invalid value: 0"),
    ("endpoints-no-addresses", ENDPOINTS, {"subsets.0.addresses": DELETE}, "subsets[0]: Required value"),
    # -- ConfigMap / Secret ---------------------------------------------------------------------
    ("config-map-key", CONFIG_MAP, {"data": {"a/b": "x"}}, 'data: Invalid value: "a/b"'),
    ("config-map-key-dot-dot", CONFIG_MAP, {"data": {"..": "x"}}, "data: Invalid value"),
    ("config-map-too-large", CONFIG_MAP, {"data": {"big": "x" * (1024 * 1024 + 1)}}, "data: Too long"),
    ("config-map-key-in-both", CONFIG_MAP, {"data": {"blob.bin": "x"}}, "binaryData[blob.bin]: Invalid value"),
    ("secret-key", SECRET, {"data": {"pass word": "eA=="}}, 'data: Invalid value: "pass word"'),
    ("secret-string-data-key", SECRET, {"stringData": {"a:b": "x"}}, 'data: Invalid value: "a:b"'),
    ("secret-too-large", SECRET, {"stringData": {"big": "x" * (1024 * 1024 + 1)}}, "data: Too long"),
    ("secret-tls-without-key", SECRET, {"type": "kubernetes.io/tls", "data": {"tls.crt": "Y3J0"}}, "data[tls.key]: Required value"),
    ("secret-docker-config-json", SECRET, {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30u"}},
     "data[.dockerconfigjson]: Invalid value"),
    ("secret-service-account-token", SECRET, {"type": "kubernetes.io/service-account-token"},
     "metadata.annotations[kubernetes.io/service-account.name]: Required value"),
    # -- PersistentVolume / Claim ---------------------------------------------------------------
    ("pv-capacity-missing", PV, {"spec.capacity": DELETE}, "spec.capacity.storage: Required value"),
    ("pv-capacity-other-key", PV, {"spec.capacity": {"size": "10Gi"}}, "spec.capacity.storage: Required value"),
    ("pv-capacity-quantity", PV, {"spec.capacity.storage": "ten"}, 'spec.capacity.storage: Invalid value: "ten"'),
    ("pv-capacity-zero", PV, {"spec.capacity.storage": "0"}, "spec.capacity.storage: Invalid value: \"0\": must be greater than zero"),
    ("pv-no-source", PV, {"spec.hostPath": DELETE}, "spec: Required value: must specify a volume type"),
    ("pv-access-modes-missing", PV, {"spec.accessModes": DELETE}, "spec.accessModes: Required value"),
    ("pv-access-mode", PV, {"spec.accessModes": ["ReadWriteSometimes"]}, 'spec.accessModes: Unsupported value: "ReadWriteSometimes"'),
    ("pv-reclaim-policy", PV, {"spec.persistentVolumeReclaimPolicy": "Keep"}, 'spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep"'),
    ("pv-local-without-affinity", PV, {"spec.hostPath": DELETE, "spec.local": {"path": "/mnt"}}, "spec.nodeAffinity: Required value"),
    ("pv-volume-mode", PV, {"spec.volumeMode": "Raw"}, 'spec.volumeMode: Unsupported value: "Raw"'),
    ("pvc-access-modes-missing", PVC, {"spec.accessModes": DELETE}, "spec.accessModes: Required value"),
    ("pvc-storage-missing", PVC, {"spec.resources": DELETE}, "spec.resources.requests.storage: Required value"),
    ("pvc-storage-quantity", PVC, {"spec.resources.requests.storage": "lots"}, 'spec.resources.requests.storage: Invalid value: "lots"'),
    ("pvc-storage-zero", PVC, {"spec.resources.requests.storage": "0Gi"}, "must be greater than zero"),
    ("pvc-volume-mode", PVC, {"spec.volumeMode": "Raw"}, 'spec.volumeMode: Unsupported value: "Raw"'),
    ("pvc-selector", PVC, {"spec.selector": {"matchExpressions": [{"key": "tier", "operator": "Equals", "values": ["a"]}]}},
     "spec.selector.matchExpressions[0].operator: Unsupported value"),
    ("pvc-storage-class", PVC, {"spec.storageClassName": "Fast SSD"}, "spec.storageClassName: Invalid value"),
    # -- Deployment / ReplicaSet ----------------------------------------------------------------
    ("deployment-selector-missing", DEPLOYMENT, {"spec.selector": DELETE, "spec.template.metadata": DELETE}, "spec.selector: Required value"),
    ("deployment-selector-mismatch", DEPLOYMENT, {"spec.selector": {"matchLabels": {"app": "api"}}},
     'spec.template.metadata.labels: Invalid value: {"app": "web"}: selector does not match template labels'),
    ("deployment-selector-expression-mismatch", DEPLOYMENT, {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}},
     "spec.template.metadata.labels: Invalid value"),
    ("deployment-selector-operator", DEPLOYMENT, {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Is", "values": ["web"]}]}},
     "spec.selector.matchExpressions[0].operator: Unsupported value"),
    ("deployment-replicas-negative", DEPLOYMENT, {"spec.replicas": -1}, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    ("deployment-template-restart-policy", DEPLOYMENT, {"spec.template.spec.restartPolicy": "Never"},
     'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'),
    ("deployment-template-image", DEPLOYMENT, {"spec.template.spec.containers.0.image": DELETE}, "spec.template.spec.containers[0].image: Required value"),
    ("deployment-template-quantity", DEPLOYMENT, {"spec.template.spec.containers.0.resources": {"limits": {"memory": "1 Gi"}}},
     "spec.template.spec.containers[0].resources.limits.memory: Invalid value"),
    ("deployment-template-label", DEPLOYMENT, {"spec.template.metadata.labels": {"app": "web", "bad key": "x"}},
     "spec.template.metadata.labels: Invalid value"),
    ("deployment-active-deadline", DEPLOYMENT, {"spec.template.spec.activeDeadlineSeconds": 10},
     "spec.template.spec.activeDeadlineSeconds: Forbidden"),
    ("deployment-strategy-type", DEPLOYMENT, {"spec.strategy": {"type": "BlueGreen"}}, 'spec.strategy.type: Unsupported value: "BlueGreen"'),
    ("deployment-surge-and-unavailable-zero", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    ("deployment-max-unavailable-over-100", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxUnavailable": "120%"}}},
     'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "120%"'),
    ("deployment-max-surge-text", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxSurge": "some"}}},
     'spec.strategy.rollingUpdate.maxSurge: Invalid value: "some"'),
    ("deployment-max-surge-negative", DEPLOYMENT, {"spec.strategy": {"rollingUpdate": {"maxSurge": -1}}},
     "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1"),
    ("deployment-recreate-with-rolling-update", DEPLOYMENT, {"spec.strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}},
     "spec.strategy.rollingUpdate: Forbidden"),
    ("deployment-progress-deadline", DEPLOYMENT, {"spec.minReadySeconds": 30, "spec.progressDeadlineSeconds": 30},
     "spec.progressDeadlineSeconds: Invalid value: 30: must be greater than minReadySeconds"),
    ("deployment-revision-history", DEPLOYMENT, {"spec.revisionHistoryLimit": -1}, "spec.revisionHistoryLimit: Invalid value: -1"),
    ("replica-set-selector-mismatch", REPLICA_SET, {"spec.selector": {"matchLabels": {"app": "other"}}},
     "spec.template.metadata.labels: Invalid value"),
    ("replica-set-replicas-negative", REPLICA_SET, {"spec.replicas": -3}, "spec.replicas: Invalid value: -3"),
    ("replica-set-empty-selector", REPLICA_SET, {"spec.selector": {"matchLabels": {}}, "spec.template.metadata": DELETE},
     "spec.selector: Invalid value: {}: empty selector is invalid for replicaset"),
    ("replica-set-no-containers", REPLICA_SET, {"spec.template.spec.containers": []}, "spec.template.spec.containers: Required value"),
    # -- Job ------------------------------------------------------------------------------------
    ("job-restart-policy-missing", JOB, {"spec.template.spec.restartPolicy": DELETE},
     'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'),
    ("job-restart-policy-always", JOB, {"spec.template.spec.restartPolicy": "Always"},
     'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'),
    ("job-parallelism", JOB, {"spec.parallelism": -1}, "spec.parallelism: Invalid value: -1"),
    ("job-completions", JOB, {"spec.completions": -2}, "spec.completions: Invalid value: -2"),
    ("job-backoff-limit", JOB, {"spec.backoffLimit": -1}, "spec.backoffLimit: Invalid value: -1"),
    ("job-completion-mode", JOB, {"spec.completionMode": "Sometimes"}, 'spec.completionMode: Unsupported value: "Sometimes"'),
    ("job-indexed-without-completions", JOB, {"spec.completionMode": "Indexed", "spec.parallelism": 2},
     "spec.completions: Required value"),
    ("job-manual-selector-missing", JOB, {"spec.manualSelector": True}, "spec.selector: Required value"),
    ("job-selector-mismatch", JOB, {"spec.selector": {"matchLabels": {"job": "x"}}}, "spec.template.metadata.labels: Invalid value"),
    ("job-name-too-long", JOB, {"metadata.name": "j" * 64}, "metadata.name: Invalid value"),
    ("job-failure-policy-action", JOB, {"spec.podFailurePolicy": {"rules": [{"action": "Retry", "onExitCodes": {"operator": "In", "values": [1]}}]}},
     'spec.podFailurePolicy.rules[0].action: Unsupported value: "Retry"'),
    # -- PriorityClass / PodGroup / HPA / Lease / Event -----------------------------------------
    ("priority-class-too-high", PRIORITY_CLASS, {"value": 1_000_000_001},
     "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"),
    ("priority-class-system-prefix", PRIORITY_CLASS, {"metadata.name": "system-mine"}, 'metadata.name: Invalid value: "system-mine"'),
    ("priority-class-preemption-policy", PRIORITY_CLASS, {"preemptionPolicy": "Sometimes"}, 'preemptionPolicy: Unsupported value: "Sometimes"'),
    ("pod-group-min-member-zero", POD_GROUP, {"spec.minMember": 0}, "spec.minMember: Invalid value: 0: must be greater than or equal to 1"),
    ("pod-group-min-member-missing", POD_GROUP, {"spec.minMember": DELETE}, "spec.minMember: Invalid value: 0"),
    ("pod-group-min-resources", POD_GROUP, {"spec.minResources": {"cpu": "x"}}, 'spec.minResources.cpu: Invalid value: "x"'),
    ("pod-group-timeout", POD_GROUP, {"spec.scheduleTimeoutSeconds": 0}, "spec.scheduleTimeoutSeconds: Invalid value: 0"),
    ("hpa-max-replicas-zero", HPA, {"spec.maxReplicas": 0}, "spec.maxReplicas: Invalid value: 0"),
    ("hpa-min-replicas-zero", HPA, {"spec.minReplicas": 0}, "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"),
    ("hpa-max-below-min", HPA, {"spec.minReplicas": 5, "spec.maxReplicas": 3},
     "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"),
    ("hpa-target-kind-missing", HPA, {"spec.scaleTargetRef.kind": DELETE}, "spec.scaleTargetRef.kind: Required value"),
    ("hpa-target-name-missing", HPA, {"spec.scaleTargetRef.name": DELETE}, "spec.scaleTargetRef.name: Required value"),
    ("hpa-metric-type", HPA, {"spec.metrics": [{"type": "Custom"}]}, 'spec.metrics[0].type: Unsupported value: "Custom"'),
    ("hpa-metric-source-missing", HPA, {"spec.metrics": [{"type": "Resource"}]}, "spec.metrics[0].resource: Required value"),
    ("hpa-target-type", HPA, {"spec.metrics.0.resource.target.type": "Percent"},
     'spec.metrics[0].resource.target.type: Unsupported value: "Percent"'),
    ("hpa-utilization-missing", HPA, {"spec.metrics.0.resource.target": {"type": "Utilization"}},
     "spec.metrics[0].resource.target.averageUtilization: Required value"),
    ("hpa-average-value-quantity", HPA, {"spec.metrics": [{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                                                                   "target": {"type": "AverageValue", "averageValue": "many"}}}]},
     'spec.metrics[0].pods.target.averageValue: Invalid value: "many"'),
    ("hpa-behavior-period", HPA, {"spec.behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}},
     "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 0"),
    ("lease-duration-zero", LEASE, {"spec.leaseDurationSeconds": 0}, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"),
    ("lease-transitions-negative", LEASE, {"spec.leaseTransitions": -1}, "spec.leaseTransitions: Invalid value: -1"),
    ("event-involved-object-missing", EVENT, {"involvedObject": DELETE}, "involvedObject: Required value"),
    ("event-type", EVENT, {"type": "Info"}, 'type: Unsupported value: "Info": supported values: "Normal", "Warning"'),
    ("event-namespace-mismatch", EVENT, {"involvedObject.namespace": "other"}, 'involvedObject.namespace: Invalid value: "other"'),
]


@pytest.mark.parametrize(("base", "changes", "expected"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_objects_are_refused_naming_the_field(base, changes, expected):
    manifest = patched(base, changes)
    with pytest.raises(Invalid) as caught:
        admit(manifest)
    message = caught.value.message
    name = manifest["metadata"].get("name", "")
    assert message.startswith(f'{manifest["kind"]} "{name[:100]}')
    assert " is invalid: " in message
    assert expected in message


def test_volume_without_source_is_refused_when_not_defaulted():
    # Defaulting turns a source-less volume into an emptyDir, as Kubernetes does; validation on
    # its own still refuses one.
    info, pod = kinds.unwrap(_envelope(patched(POD, {"spec.volumes": [{"name": "v"}]})))
    pod.metadata.namespace = "default"
    defaulting.apply_defaults(info, pod)
    pod.spec.volumes[0].ClearField("empty_dir")
    with pytest.raises(Invalid, match=r"spec\.volumes\[0\]: Required value: must specify a volume type"):
        validation.validate(info, pod, None)


def test_cluster_scoped_object_with_a_namespace_is_refused():
    info, node = kinds.unwrap(_envelope(NODE))
    node.metadata.namespace = "default"
    with pytest.raises(Invalid, match="metadata.namespace: Forbidden"):
        validation.validate(info, node, None)


def test_namespaced_object_without_a_namespace_is_refused():
    info, pod = kinds.unwrap(_envelope(POD))
    defaulting.apply_defaults(info, pod)
    with pytest.raises(Invalid, match="metadata.namespace: Required value"):
        validation.validate(info, pod, None)


def test_every_kind_has_a_valid_example():
    assert {base["kind"] for _, base, _ in VALID} == {info.kind for info in kinds.all_kinds()}


def test_every_kind_has_invalid_examples():
    assert {base["kind"] for _, base, _, _ in INVALID} == {info.kind for info in kinds.all_kinds()}


def _envelope(doc):
    """The Object for a manifest (as the CLI reads it)."""
    from shoal.proto.manifests import from_dict

    return kinds.wrap(from_dict(doc))
