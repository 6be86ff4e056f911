"""One small valid object of every kind, for tests that go through every verb."""

from __future__ import annotations

from shoal.v1 import apps_pb2, autoscaling_pb2, batch_pb2, coordination_pb2, core_pb2, scheduling_pb2


def _pod_template(t, app: str) -> None:
    t.metadata.labels["app"] = app
    c = t.spec.containers.add()
    c.name = "app"
    c.image = "busybox:1.36"
    c.resources.requests["cpu"] = "100m"
    c.resources.requests["memory"] = "64Mi"


def namespace(name):
    o = core_pb2.Namespace()
    o.metadata.name = name
    return o


def node(name):
    o = core_pb2.Node()
    o.metadata.name = name
    o.metadata.labels["kubernetes.io/hostname"] = name
    o.status.capacity["cpu"] = "4"
    o.status.capacity["memory"] = "16Gi"
    o.status.capacity["pods"] = "110"
    o.status.allocatable.update(o.status.capacity)
    return o


def pod(name):
    o = core_pb2.Pod()
    o.metadata.name = name
    o.metadata.labels["app"] = "web"
    c = o.spec.containers.add()
    c.name = "web"
    c.image = "busybox:1.36"
    c.resources.requests["cpu"] = "250m"
    c.resources.requests["memory"] = "64Mi"
    return o


def replica_set(name):
    o = apps_pb2.ReplicaSet()
    o.metadata.name = name
    o.spec.replicas = 2
    o.spec.selector.match_labels["app"] = name
    _pod_template(o.spec.template, name)
    return o


def deployment(name):
    o = apps_pb2.Deployment()
    o.metadata.name = name
    o.spec.replicas = 3
    o.spec.selector.match_labels["app"] = name
    _pod_template(o.spec.template, name)
    return o


def service(name):
    o = core_pb2.Service()
    o.metadata.name = name
    o.spec.selector["app"] = name
    p = o.spec.ports.add()
    p.port = 80
    return o


def endpoints(name):
    o = core_pb2.Endpoints()
    o.metadata.name = name
    s = o.subsets.add()
    s.addresses.add().ip = "10.42.0.5"
    s.ports.add().port = 8080
    return o


def config_map(name):
    o = core_pb2.ConfigMap()
    o.metadata.name = name
    o.data["greeting"] = "hello"
    return o


def secret(name):
    o = core_pb2.Secret()
    o.metadata.name = name
    o.data["password"] = b"s3cret"
    return o


def persistent_volume(name):
    o = core_pb2.PersistentVolume()
    o.metadata.name = name
    o.spec.capacity["storage"] = "1Gi"
    o.spec.access_modes.append("ReadWriteOnce")
    o.spec.host_path.path = "/tmp/pv-" + name
    return o


def persistent_volume_claim(name):
    o = core_pb2.PersistentVolumeClaim()
    o.metadata.name = name
    o.spec.access_modes.append("ReadWriteOnce")
    o.spec.resources.requests["storage"] = "1Gi"
    return o


def job(name):
    o = batch_pb2.Job()
    o.metadata.name = name
    _pod_template(o.spec.template, name)
    o.spec.template.spec.restart_policy = "Never"
    return o


def priority_class(name):
    o = scheduling_pb2.PriorityClass()
    o.metadata.name = name
    o.value = 1000
    return o


def pod_group(name):
    o = scheduling_pb2.PodGroup()
    o.metadata.name = name
    o.spec.min_member = 4
    return o


def horizontal_pod_autoscaler(name):
    o = autoscaling_pb2.HorizontalPodAutoscaler()
    o.metadata.name = name
    o.spec.scale_target_ref.api_version = "apps/v1"
    o.spec.scale_target_ref.kind = "Deployment"
    o.spec.scale_target_ref.name = "web"
    o.spec.min_replicas = 1
    o.spec.max_replicas = 5
    m = o.spec.metrics.add()
    m.type = "Resource"
    m.resource.name = "cpu"
    m.resource.target.type = "Utilization"
    m.resource.target.average_utilization = 60
    return o


def lease(name):
    o = coordination_pb2.Lease()
    o.metadata.name = name
    o.spec.holder_identity = "node-1"
    o.spec.lease_duration_seconds = 40
    return o


def event(name):
    o = core_pb2.Event()
    o.metadata.name = name
    o.involved_object.kind = "Pod"
    o.involved_object.name = "web"
    o.involved_object.namespace = "default"
    o.reason = "Scheduled"
    o.message = "Successfully assigned default/web to node-1"
    o.type = "Normal"
    return o


MINIMAL = {
    "Namespace": namespace,
    "Node": node,
    "Pod": pod,
    "ReplicaSet": replica_set,
    "Deployment": deployment,
    "Service": service,
    "Endpoints": endpoints,
    "ConfigMap": config_map,
    "Secret": secret,
    "PersistentVolume": persistent_volume,
    "PersistentVolumeClaim": persistent_volume_claim,
    "Job": job,
    "PriorityClass": priority_class,
    "PodGroup": pod_group,
    "HorizontalPodAutoscaler": horizontal_pod_autoscaler,
    "Lease": lease,
    "Event": event,
}


def change_spec(kind: str, obj) -> None:
    """A change to the object's desired state (what bumps metadata.generation)."""
    if kind in ("Namespace", "Node"):
        obj.metadata.labels["changed"] = "yes"
        if kind == "Node":
            obj.spec.unschedulable = True
    elif kind == "Pod":
        obj.spec.containers[0].image = "busybox:1.37"
    elif kind in ("ReplicaSet", "Deployment"):
        obj.spec.replicas = 5
    elif kind == "Service":
        obj.spec.ports[0].port = 8080
    elif kind == "Endpoints":
        obj.subsets[0].ports[0].port = 9090
    elif kind == "ConfigMap":
        obj.data["greeting"] = "hi"
    elif kind == "Secret":
        obj.data["password"] = b"changed"
    elif kind == "PersistentVolume":
        obj.spec.capacity["storage"] = "2Gi"
    elif kind == "PersistentVolumeClaim":
        obj.metadata.labels["changed"] = "yes"
    elif kind == "Job":
        obj.spec.active_deadline_seconds = 100
    elif kind == "PriorityClass":
        obj.description = "changed"
    elif kind == "PodGroup":
        obj.spec.min_member = 8
    elif kind == "HorizontalPodAutoscaler":
        obj.spec.max_replicas = 9
    elif kind == "Lease":
        obj.spec.holder_identity = "node-2"
    elif kind == "Event":
        obj.message = "changed"


def change_status(kind: str, status) -> None:
    """A change to the observed state (what UpdateStatus writes)."""
    if kind == "Pod":
        status.phase = "Running"
    elif kind == "Node":
        status.capacity["cpu"] = "8"
    elif kind in ("Namespace", "PersistentVolume", "PersistentVolumeClaim"):
        status.phase = "Terminating" if kind == "Namespace" else "Bound"
    elif kind == "Service":
        status.load_balancer.ingress.add().ip = "192.0.2.10"
    elif kind in ("ReplicaSet", "Deployment"):
        status.ready_replicas = 2
    elif kind == "Job":
        status.succeeded = 1
    elif kind == "PodGroup":
        status.phase = "Running"
    elif kind == "HorizontalPodAutoscaler":
        status.desired_replicas = 4
    else:
        raise AssertionError(f"{kind} has no status subresource")
