"""Real Kubernetes manifests map onto the shoal.v1 messages unchanged: every field name of the
manifest is a field's JSON name, and nothing is unknown."""

import copy
import functools
import operator
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from shoal.proto.kinds import by_kind, from_proto_json
from shoal.proto.manifests import from_dict
from shoal.v1 import (
    apps_pb2,
    autoscaling_pb2,
    batch_pb2,
    coordination_pb2,
    core_pb2,
    meta_pb2,
    object_pb2,
    scheduling_pb2,
)

from shared_data import EXAMPLES

MANIFESTS = [
    "web_guestbook_all-in-one_guestbook-all-in-one.yaml",
    "web_guestbook_frontend-deployment.yaml",
    "web_guestbook_frontend-service.yaml",
    "web_guestbook_redis-master-deployment.yaml",
    "web_guestbook_redis-master-service.yaml",
    "web_guestbook_redis-replica-deployment.yaml",
    "web_guestbook_redis-replica-service.yaml",
    "AI_model-serving-tensorflow_deployment.yaml",
    "AI_model-serving-tensorflow_service.yaml",
    "AI_model-serving-tensorflow_pv.yaml",
    "AI_model-serving-tensorflow_pvc.yaml",
    "AI_vllm-deployment_hpa_horizontal-pod-autoscaler.yaml",
    "AI_vllm-deployment_vllm-deployment.yaml",
    "AI_vllm-deployment_vllm-service.yaml",
    "databases_cassandra_cassandra-service.yaml",
    "_archived_volumes_nfs_nfs-pv.yaml",
    "_archived_volumes_nfs_nfs-pvc.yaml",
    "_archived_cpu-manager_exclusive-1.yaml",
    "_archived_cluster-dns_namespace-dev.yaml",
]



def _documents(name: str) -> list[dict]:
    with open(EXAMPLES / name, encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def _parse(doc: dict):
    return from_dict(doc)  # unknown fields are errors


@pytest.mark.parametrize("name", MANIFESTS)
def test_real_manifest_parses_with_no_unknown_field(name: str) -> None:
    for doc in _documents(name):
        message = _parse(doc)
        assert message.kind == doc["kind"]
        assert message.metadata.name == doc["metadata"]["name"]


# Quantities written as JSON numbers come back as strings: the only change a round trip makes.
NUMERIC_QUANTITIES = {
    "AI_vllm-deployment_hpa_horizontal-pod-autoscaler.yaml": [
        ("spec", "metrics", 0, "pods", "target", "averageValue"),
    ],
    "_archived_cpu-manager_exclusive-1.yaml": [
        ("spec", "containers", 0, "resources", "requests", "cpu"),
        ("spec", "containers", 0, "resources", "limits", "cpu"),
    ],
}


@pytest.mark.parametrize("name", MANIFESTS)
def test_real_manifest_comes_back_unchanged(name: str) -> None:
    for doc in _documents(name):
        message = _parse(doc)
        back = from_proto_json(json_format.MessageToDict(message), message.DESCRIPTOR)
        expected = copy.deepcopy(doc)
        for path in NUMERIC_QUANTITIES.get(name, []):
            parent = functools.reduce(operator.getitem, path[:-1], expected)
            parent[path[-1]] = str(parent[path[-1]])
        assert back == expected


def test_guestbook_service_target_port_is_an_int_or_string() -> None:
    (service,) = [_parse(d) for d in _documents("web_guestbook_redis-master-service.yaml")]
    port = service.spec.ports[0]
    assert (port.port, port.target_port.int_val) == (6379, 6379)
    assert port.target_port.WhichOneof("value") == "int_val"


def test_headless_service_keeps_cluster_ip_none() -> None:
    (service,) = [_parse(d) for d in _documents("databases_cassandra_cassandra-service.yaml")]
    assert service.spec.cluster_ip == "None"


def test_pvc_storage_class_empty_string_is_kept_apart_from_unset() -> None:
    (nfs,) = [_parse(d) for d in _documents("_archived_volumes_nfs_nfs-pvc.yaml")]
    (tf,) = [_parse(d) for d in _documents("AI_model-serving-tensorflow_pvc.yaml")]
    assert nfs.spec.HasField("storage_class_name") and nfs.spec.storage_class_name == ""
    assert not tf.spec.HasField("storage_class_name")
    assert tf.spec.resources.requests["storage"] == "1Gi"


def test_pv_source_is_one_of_its_volume_sources() -> None:
    (pv,) = [_parse(d) for d in _documents("AI_model-serving-tensorflow_pv.yaml")]
    assert pv.spec.WhichOneof("source") == "host_path"
    assert pv.spec.capacity["storage"] == "1Gi"
    assert pv.spec.persistent_volume_reclaim_policy == "Retain"


def test_hpa_numeric_average_value_becomes_a_quantity_string() -> None:
    (hpa,) = [_parse(d) for d in _documents("AI_vllm-deployment_hpa_horizontal-pod-autoscaler.yaml")]
    metric = hpa.spec.metrics[0]
    assert (metric.type, metric.pods.metric.name) == ("Pods", "vllm_num_requests_running")
    assert metric.pods.target.average_value == "4"
    assert hpa.spec.HasField("min_replicas") and hpa.spec.min_replicas == 1
    scale_down = hpa.spec.behavior.scale_down
    assert scale_down.stabilization_window_seconds == 30
    assert (scale_down.policies[0].type, scale_down.policies[0].value) == ("Percent", 100)


def test_vllm_deployment_env_from_secret_and_memory_empty_dir() -> None:
    (deployment,) = [_parse(d) for d in _documents("AI_vllm-deployment_vllm-deployment.yaml")]
    pod = deployment.spec.template.spec
    container = pod.containers[0]
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    secret_ref = container.env[2].value_from.secret_key_ref
    assert (secret_ref.name, secret_ref.key) == ("hf-secret", "hf_token")
    assert pod.volumes[0].empty_dir.medium == "Memory"


def test_numeric_cpu_request_becomes_a_quantity_string() -> None:
    (pod,) = [_parse(d) for d in _documents("_archived_cpu-manager_exclusive-1.yaml")]
    assert pod.spec.containers[0].resources.requests["cpu"] == "1"


# ---------------------------------------------------------------------------------------------
# Field names Kubernetes spells with upper-case initialisms: each needs an explicit json_name.

KUBERNETES_SPELLINGS = [
    (core_pb2.PodSpec, "host_pid", "hostPID"),
    (core_pb2.PodSpec, "host_ipc", "hostIPC"),
    (core_pb2.PodSpec, "set_hostname_as_fqdn", "setHostnameAsFQDN"),
    (core_pb2.PodStatus, "host_ip", "hostIP"),
    (core_pb2.PodStatus, "host_ips", "hostIPs"),
    (core_pb2.PodStatus, "pod_ip", "podIP"),
    (core_pb2.PodStatus, "pod_ips", "podIPs"),
    (core_pb2.ContainerPort, "host_ip", "hostIP"),
    (core_pb2.ContainerStatus, "container_id", "containerID"),
    (core_pb2.ContainerStatus, "image_id", "imageID"),
    (core_pb2.ContainerStateTerminated, "container_id", "containerID"),
    (core_pb2.ServiceSpec, "cluster_ip", "clusterIP"),
    (core_pb2.ServiceSpec, "cluster_ips", "clusterIPs"),
    (core_pb2.ServiceSpec, "external_ips", "externalIPs"),
    (core_pb2.ServiceSpec, "load_balancer_ip", "loadBalancerIP"),
    (core_pb2.ServiceSpec, "ip_families", "ipFamilies"),
    (core_pb2.SessionAffinityConfig, "client_ip", "clientIP"),
    (core_pb2.NodeSpec, "pod_cidr", "podCIDR"),
    (core_pb2.NodeSpec, "pod_cidrs", "podCIDRs"),
    (core_pb2.NodeSpec, "provider_id", "providerID"),
    (core_pb2.NodeSystemInfo, "machine_id", "machineID"),
    (core_pb2.NodeSystemInfo, "system_uuid", "systemUUID"),
    (core_pb2.NodeSystemInfo, "boot_id", "bootID"),
    (core_pb2.DaemonEndpoint, "port", "Port"),
    (core_pb2.Volume, "downward_api", "downwardAPI"),
    (core_pb2.VolumeProjection, "downward_api", "downwardAPI"),
    (core_pb2.EndpointAddress, "target_ref", "targetRef"),
    (core_pb2.Event, "reporting_component", "reportingComponent"),
    (meta_pb2.ObjectMeta, "uid", "uid"),
    (meta_pb2.ManagedFieldsEntry, "fields_v1", "fieldsV1"),
]


@pytest.mark.parametrize(
    ("message", "field", "json_name"),
    KUBERNETES_SPELLINGS,
    ids=[f"{m.DESCRIPTOR.name}.{j}" for m, _, j in KUBERNETES_SPELLINGS],
)
def test_field_has_the_kubernetes_json_name(message, field: str, json_name: str) -> None:
    assert message.DESCRIPTOR.fields_by_name[field].json_name == json_name


# Default lowerCamelCase turns "pod_ip" into "podIp"; Kubernetes never spells an initialism so.
_MISCASED_INITIALISM = re.compile(r"(Ip|Ips|Id|Ids|Cidr|Cidrs|Uuid|Uid|Pid|Ipc|Url|Fqdn|Api|Dns|Tls)(?=[A-Z]|$)")
_MODULES = (meta_pb2, core_pb2, apps_pb2, batch_pb2, scheduling_pb2, autoscaling_pb2, coordination_pb2, object_pb2)


def _all_messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    pending = [d for module in _MODULES for d in module.DESCRIPTOR.message_types_by_name.values()]
    while pending:
        descriptor = pending.pop()
        if not descriptor.GetOptions().map_entry:
            found.append(descriptor)
        pending.extend(descriptor.nested_types)
    return found


def _all_fields() -> list[FieldDescriptor]:
    return [f for d in _all_messages() for f in d.fields]


def test_no_json_name_spells_an_initialism_in_lower_camel_case() -> None:
    miscased = [f.full_name + " -> " + f.json_name for f in _all_fields() if _MISCASED_INITIALISM.search(f.json_name)]
    assert miscased == []


def test_every_message_of_the_object_model_has_a_comment() -> None:
    undocumented = []
    proto_root = Path(core_pb2.__file__).parents[2]  # the -I root: proto/
    for module in _MODULES:
        lines = (proto_root / module.DESCRIPTOR.name).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("message ") and not lines[number - 1].startswith("//"):
                undocumented.append(f"{module.DESCRIPTOR.name}: {line}")
    assert undocumented == []


def test_quantity_fields_are_strings() -> None:
    quantities = [f for f in _all_fields() if f.has_options and f.GetOptions().Extensions[meta_pb2.quantity]]
    assert len(quantities) >= 15
    for fd in quantities:
        value_fd = fd.message_type.fields_by_name["value"] if fd.message_type else fd
        assert value_fd.type == FieldDescriptor.TYPE_STRING, fd.full_name


# The shape `kubectl get pod -o yaml` prints: server-set metadata and a full status.
EXPORTED_POD = """
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2025-01-02T03:04:05Z"
  generateName: web-7d4b9c-
  labels: {app: web, pod-template-hash: 7d4b9c}
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {.: {}, f:app: {}}}
    manager: kube-controller-manager
    operation: Update
    time: "2025-01-02T03:04:05Z"
  name: web-7d4b9c-x2x9z
  namespace: default
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: web-7d4b9c
    uid: 0b7e6c1e-2f0a-4d8e-9d7e-1f2a3b4c5d6e
  resourceVersion: "12345"
  uid: 5f0c2a5e-1b2c-4d3e-8f9a-0b1c2d3e4f5a
spec:
  containers:
  - image: nginx:1.27
    imagePullPolicy: IfNotPresent
    name: nginx
    ports: [{containerPort: 80, name: http, protocol: TCP}]
    readinessProbe:
      httpGet: {path: /, port: http, scheme: HTTP}
      periodSeconds: 10
    resources:
      requests: {cpu: 250m, memory: 64Mi}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - {mountPath: /var/run/secrets/kubernetes.io/serviceaccount, name: kube-api-access, readOnly: true}
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: node-1
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  serviceAccount: default
  serviceAccountName: default
  terminationGracePeriodSeconds: 30
  tolerations:
  - {effect: NoExecute, key: node.kubernetes.io/not-ready, operator: Exists, tolerationSeconds: 300}
  topologySpreadConstraints:
  - labelSelector: {matchLabels: {app: web}}
    maxSkew: 1
    minDomains: 2
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions: [{key: app, operator: In, values: [web]}]
          topologyKey: kubernetes.io/hostname
  volumes:
  - name: kube-api-access
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {expirationSeconds: 3607, path: token}
      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
      - downwardAPI:
          items:
          - fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}
            path: namespace
status:
  conditions:
  - {lastProbeTime: null, lastTransitionTime: "2025-01-02T03:04:06Z", status: "True", type: Ready}
  containerStatuses:
  - containerID: containerd://0123abcd
    image: docker.io/library/nginx:1.27
    imageID: docker.io/library/nginx@sha256:0123
    lastState: {}
    name: nginx
    ready: true
    restartCount: 0
    started: true
    state:
      running: {startedAt: "2025-01-02T03:04:06Z"}
  hostIP: 10.0.0.11
  hostIPs: [{ip: 10.0.0.11}]
  phase: Running
  podIP: 10.244.1.7
  podIPs: [{ip: 10.244.1.7}]
  qosClass: Burstable
  startTime: "2025-01-02T03:04:05Z"
"""


def test_exported_pod_with_status_parses_with_no_unknown_field() -> None:
    pod = _parse(yaml.safe_load(EXPORTED_POD))
    assert pod.status.pod_ips[0].ip == pod.status.pod_ip == "10.244.1.7"
    assert pod.status.host_ip == "10.0.0.11"
    assert pod.status.container_statuses[0].state.WhichOneof("state") == "running"
    assert pod.status.container_statuses[0].container_id == "containerd://0123abcd"
    assert pod.spec.HasField("priority") and pod.spec.priority == 0
    assert pod.spec.tolerations[0].toleration_seconds == 300
    assert pod.spec.topology_spread_constraints[0].min_domains == 2
    assert pod.spec.containers[0].readiness_probe.http_get.port.str_val == "http"
    assert pod.spec.volumes[0].projected.sources[2].downward_api.items[0].path == "namespace"
    assert pod.metadata.owner_references[0].controller is True
