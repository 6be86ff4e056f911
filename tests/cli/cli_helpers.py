"""Helpers shared by the CLI tests (fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shared_data import EXAMPLES

EXAMPLES_DIR = str(EXAMPLES)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def assert_one_error_line(result: Result) -> str:
    """The command failed with exit status 1 and exactly one line on stderr, no traceback."""
    assert result.rc == 1, result
    assert "Traceback" not in result.err + result.out, result.err
    assert len(result.err_lines) == 1, result.err
    return result.err_lines[0]


def all_kinds_manifest(namespace: str) -> str:
    """One object of every kind Shoal serves; cluster-scoped names carry the namespace's."""
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}-extra
  labels: {{team: a}}
---
apiVersion: v1
kind: Node
metadata:
  name: {namespace}-node
  labels: {{node-role.kubernetes.io/worker: ""}}
spec:
  podCIDR: 10.1.0.0/24
  taints:
  - {{key: gpu, value: "true", effect: NoSchedule}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web, tier: front}}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    resources:
      requests: {{cpu: 100m, memory: 64Mi}}
      limits: {{cpu: 1, memory: 128Mi}}
    readinessProbe:
      httpGet: {{path: /, port: http}}
    ports:
    - {{name: http, containerPort: 8080}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: web-rs}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: rs}}}}
  template:
    metadata: {{labels: {{app: rs}}}}
    spec:
      containers: [{{name: c, image: nginx}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 10%}}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: nginx, resources: {{limits: {{cpu: 2, memory: 1000}}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: web}}
subsets:
- addresses: [{{ip: 10.1.0.5}}]
  ports: [{{name: http, port: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config}}
data:
  app.conf: |
    a = 1
    b = 2
binaryData:
  blob: AAECAw==
---
apiVersion: v1
kind: Secret
metadata: {{name: web-secret}}
type: Opaque
data:
  password: aHVudGVyMg==
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {namespace}-pv}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: /tmp/shoal-test-pv}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: web-data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: web-job}}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox, command: ["true"]}}]
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: {namespace}-high}}
value: 1000
description: high priority
---
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata: {{name: web-gang}}
spec:
  minMember: 4
  minResources: {{cpu: 4}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {{type: Utilization, averageUtilization: 60}}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {{name: web-lease}}
spec:
  holderIdentity: node-a
  leaseDurationSeconds: 40
  renewTime: "2024-05-01T12:00:00.000000Z"
---
apiVersion: v1
kind: Event
metadata: {{name: web.1}}
involvedObject: {{kind: Pod, name: web, namespace: {namespace}}}
reason: FailedScheduling
message: "0/1 nodes are available: 1 Insufficient cpu."
type: Warning
count: 2
firstTimestamp: "2024-05-01T12:00:00Z"
lastTimestamp: "2024-05-01T12:05:00Z"
source: {{component: default-scheduler}}
"""


# kind -> the name of its object in all_kinds_manifest ("{ns}" stands for the namespace)
ALL_KINDS_NAMES = {
    "Namespace": "{ns}-extra", "Node": "{ns}-node", "Pod": "web", "ReplicaSet": "web-rs", "Deployment": "web",
    "Service": "web", "Endpoints": "web", "ConfigMap": "web-config", "Secret": "web-secret",
    "PersistentVolume": "{ns}-pv", "PersistentVolumeClaim": "web-data", "Job": "web-job",
    "PriorityClass": "{ns}-high", "PodGroup": "web-gang", "HorizontalPodAutoscaler": "web", "Lease": "web-lease",
    "Event": "web.1",
}
