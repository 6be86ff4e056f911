"""The HorizontalPodAutoscaler's pure logic: the replica calculator (Kubernetes' tolerance and its
conservative handling of unready pods and pods without metrics), min/max, the stabilization
windows and the rate policies, and the conditions it reports. No server."""

from __future__ import annotations

import pytest
from ctrl_helpers import NOW
from shoal.control.controllers.hpa import (
    ABLE_TO_SCALE,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    AutoscalerMemory,
    HPASettings,
    autoscaler_status,
    decide,
    scale_down_limit,
    scale_up_limit,
)
from shoal.control.controllers.meta import timestamp
from shoal.control.controllers.replica_calculator import (
    MetricError,
    PodUsage,
    group_pods,
    raw_resource_replicas,
    resource_replicas,
)
from shoal.v1 import autoscaling_pb2, core_pb2

SETTINGS = HPASettings(sync_seconds=15, tolerance=0.1, downscale_stabilization_seconds=300)


def pod(name: str, *, cpu: str | None = "100m", memory: str | None = "100Mi", phase: str = "Running",
        ready: bool = True, started: float = NOW - 3600, ready_at: float = NOW - 3500,
        terminating: bool = False) -> core_pb2.Pod:
    p = core_pb2.Pod()
    p.metadata.name = name
    p.metadata.namespace = "default"
    c = p.spec.containers.add(name="app", image="busybox")
    if cpu is not None:
        c.resources.requests["cpu"] = cpu
    if memory is not None:
        c.resources.requests["memory"] = memory
    p.status.phase = phase
    if phase != "Pending":
        p.status.start_time.CopyFrom(timestamp(started))
        p.status.conditions.add(type="Ready", status="True" if ready else "False",
                                last_transition_time=timestamp(ready_at))
    if terminating:
        p.metadata.deletion_timestamp.CopyFrom(timestamp(NOW))
    return p


def use(cpu_millis: int = 0, memory_bytes: int = 0, at: float = NOW - 1, window: float = 5.0) -> PodUsage:
    return PodUsage(cpu_millis, memory_bytes, at, window)


def hpa(*, min_replicas: int = 1, max_replicas: int = 10, cpu: int | None = 50, memory: int | None = None,
        cpu_average: str = "", behavior: dict | None = None) -> autoscaling_pb2.HorizontalPodAutoscaler:
    h = autoscaling_pb2.HorizontalPodAutoscaler()
    h.metadata.name = "web"
    h.metadata.namespace = "default"
    h.metadata.generation = 1
    h.spec.scale_target_ref.kind = "Deployment"
    h.spec.scale_target_ref.name = "web"
    h.spec.min_replicas = min_replicas
    h.spec.max_replicas = max_replicas
    for resource, target in (("cpu", cpu), ("memory", memory)):
        if target is not None:
            m = h.spec.metrics.add(type="Resource")
            m.resource.name = resource
            m.resource.target.type = "Utilization"
            m.resource.target.average_utilization = target
    if cpu_average:
        m = h.spec.metrics.add(type="Resource")
        m.resource.name = "cpu"
        m.resource.target.type = "AverageValue"
        m.resource.target.average_value = cpu_average
    for direction, rules in (behavior or {}).items():
        r = getattr(h.spec.behavior, direction)
        if "window" in rules:
            r.stabilization_window_seconds = rules["window"]
        for kind, value, period in rules.get("policies", ()):
            r.policies.add(type=kind, value=value, period_seconds=period)
        if "select" in rules:
            r.select_policy = rules["select"]
    return h


def pods_using(*millis: int, **kw) -> tuple[list, dict]:
    pods = [pod(f"p{i}", **kw) for i in range(len(millis))]
    return pods, {f"p{i}": use(m) for i, m in enumerate(millis)}


# -- the replica calculator -------------------------------------------------------------------------


@pytest.mark.parametrize("millis,current,expected", [
    pytest.param((100, 100), 2, 4, id="double-the-target-doubles"),
    pytest.param((54, 54), 2, 2, id="within-10%-tolerance"),
    pytest.param((56, 56), 2, 3, id="just-outside-tolerance"),
    pytest.param((10, 10, 10, 10), 4, 1, id="scale-down"),
    pytest.param((200,), 1, 4, id="single-busy-pod"),
])
def test_utilization_replicas(millis, current, expected):
    pods, usage = pods_using(*millis)
    assert resource_replicas(current, 50, "cpu", pods, usage, NOW).replicas == expected


def test_utilization_and_average_are_reported():
    pods, usage = pods_using(150, 50)
    found = resource_replicas(2, 50, "cpu", pods, usage, NOW)
    assert (found.utilization, found.average, found.replicas) == (100, 100, 4)


def test_unready_pods_count_as_idle_when_scaling_up():
    pods, usage = pods_using(100, 100)
    pods.append(pod("new", phase="Pending"))
    # ratio 2.0 from the two ready pods; the pending one at 0: (100+100+0) / (3*50) -> 4 replicas
    assert resource_replicas(3, 50, "cpu", pods, usage, NOW).replicas == 4


def test_unready_pods_cannot_turn_a_scale_up_into_nothing_or_worse():
    pods, usage = pods_using(60)
    pods += [pod("a", phase="Pending"), pod("b", phase="Pending")]
    # ratio 1.2 alone, 0.4 with the pending pods counted idle: the direction reverses -> keep 3
    assert resource_replicas(3, 50, "cpu", pods, usage, NOW).replicas == 3


def test_missing_metrics_count_as_full_request_when_scaling_down():
    pods, usage = pods_using(10, 10)
    pods.append(pod("silent"))
    # ratio 0.2 -> with the silent pod at its request (100m): (10+10+100)/(3*50)=0.8 -> ceil(2.4)=3
    assert resource_replicas(3, 50, "cpu", pods, usage, NOW).replicas == 3
    pods.append(pod("silent2"))
    # (10+10+100+100)/(4*50)=1.1 -> reverses the direction: keep 4
    assert resource_replicas(4, 50, "cpu", pods, usage, NOW).replicas == 4


def test_missing_metrics_count_as_idle_when_scaling_up():
    pods, usage = pods_using(150, 150)
    pods.append(pod("silent"))
    # (150+150+0)/(3*50)=2.0 -> 6
    assert resource_replicas(3, 50, "cpu", pods, usage, NOW).replicas == 6


def test_groups_of_pods():
    pods = [pod("ok"), pod("gone", terminating=True), pod("failed", phase="Failed"), pod("pending", phase="Pending"),
            pod("silent"), pod("never-ready", ready=False, started=NOW - 3600, ready_at=NOW - 3590),
            pod("just-ready", started=NOW - 20, ready_at=NOW - 2)]
    usage = {n: use(50) for n in ("ok", "gone", "failed", "pending", "never-ready", "just-ready")}
    groups = group_pods(pods, usage, "cpu", NOW)
    assert groups.ready_count == 1
    assert groups.ignored == {"gone", "failed"}
    assert groups.missing == {"silent"}
    # never-ready: unready within 30 s of its start; just-ready: its sample predates a full window
    # after it turned ready.
    assert groups.unready == {"pending", "never-ready", "just-ready"}
    # Memory does not care about readiness.
    assert group_pods(pods, usage, "memory", NOW).unready == {"pending"}


def test_a_container_without_a_request_is_an_error_naming_it():
    pods, usage = pods_using(50, 50)
    pods[1].spec.containers[0].resources.requests.pop("cpu")
    with pytest.raises(MetricError, match="missing request for cpu in container app of Pod p1"):
        resource_replicas(2, 50, "cpu", pods, usage, NOW)


def test_no_metrics_at_all_is_an_error():
    pods, _ = pods_using(50)
    with pytest.raises(MetricError, match="no metrics returned from resource metrics API"):
        resource_replicas(1, 50, "cpu", pods, {}, NOW)


def test_average_value_targets():
    pods, usage = pods_using(300, 100)
    found = raw_resource_replicas(2, 100, "cpu", pods, usage, NOW)
    assert (found.replicas, found.average, found.utilization) == (4, 200, None)


def test_memory_utilization():
    pods = [pod("p0", memory="100Mi"), pod("p1", memory="100Mi")]
    usage = {"p0": use(memory_bytes=90 * 2**20), "p1": use(memory_bytes=90 * 2**20)}
    assert resource_replicas(2, 30, "memory", pods, usage, NOW).replicas == 6


# -- decisions ----------------------------------------------------------------------------------------


def test_scale_up_decision_and_status():
    h = hpa(max_replicas=10)
    pods, usage = pods_using(100, 100)
    d = decide(h, 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.rescale) == (4, True)
    assert d.reason == "cpu resource utilization (percentage of request) above target"
    assert d.conditions[SCALING_ACTIVE][:2] == ("True", "ValidMetricFound")
    assert d.conditions[SCALING_LIMITED][:2] == ("False", "DesiredWithinRange")
    status = autoscaler_status(h, d, 2, NOW, scaled=True)
    assert (status.current_replicas, status.desired_replicas) == (2, 4)
    assert status.last_scale_time.seconds == int(NOW)
    (metric,) = status.current_metrics
    assert (metric.resource.name, metric.resource.current.average_utilization,
            metric.resource.current.average_value) == ("cpu", 100, "100m")
    assert [c.type for c in status.conditions] == [ABLE_TO_SCALE, SCALING_ACTIVE, SCALING_LIMITED]


def test_idle_pods_still_name_the_metric_in_scaling_active():
    pods, usage = pods_using(0, 0)
    d = decide(hpa(min_replicas=2, max_replicas=5), 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 2
    assert d.conditions[SCALING_ACTIVE] == (
        "True", "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)")
    assert d.conditions[SCALING_LIMITED][:2] == ("True", "TooFewReplicas")


def test_max_replicas_limits_and_says_so():
    pods, usage = pods_using(500, 500)
    d = decide(hpa(max_replicas=3), 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 3
    assert d.conditions[SCALING_LIMITED][:2] == ("True", "TooManyReplicas")


def test_without_behavior_scale_up_is_at_most_double_or_four():
    pods, usage = pods_using(*[1000] * 5)
    d = decide(hpa(max_replicas=100), 5, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 10
    assert d.conditions[SCALING_LIMITED][:2] == ("True", "ScaleUpLimit")


def test_below_min_and_above_max_are_corrected_without_metrics():
    d = decide(hpa(min_replicas=2, max_replicas=5), 1, [], {}, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.reason) == (2, "Current number of replicas below Spec.MinReplicas")
    d = decide(hpa(min_replicas=2, max_replicas=5), 9, [], {}, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.reason) == (5, "Current number of replicas above Spec.MaxReplicas")


def test_a_target_at_zero_replicas_disables_scaling():
    d = decide(hpa(), 0, [], {}, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.rescale) == (0, False)
    assert d.conditions[SCALING_ACTIVE][:2] == ("False", "ScalingDisabled")


def test_failing_metrics_never_scale():
    pods, _ = pods_using(50, 50)
    h = hpa()
    h.status.desired_replicas = 2
    d = decide(h, 2, pods, {}, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.rescale, d.metric_error) == (2, False, True)
    assert d.conditions[SCALING_ACTIVE][:2] == ("False", "FailedGetResourceMetric")
    assert d.conditions[SCALING_ACTIVE][2].startswith("the HPA was unable to compute the replica count: ")


def test_one_failing_metric_blocks_scale_down_but_not_scale_up():
    pods = [pod("p0", memory=None), pod("p1", memory=None)]
    low = {"p0": use(5), "p1": use(5)}
    d = decide(hpa(cpu=50, memory=50), 2, pods, low, AutoscalerMemory(), NOW, SETTINGS)
    assert not d.rescale and d.conditions[SCALING_ACTIVE][1] == "FailedGetResourceMetric"
    high = {"p0": use(200), "p1": use(200)}
    d = decide(hpa(cpu=50, memory=50), 2, pods, high, AutoscalerMemory(), NOW, SETTINGS)
    assert (d.desired, d.rescale) == (4, True)  # 8 wanted, at most max(2 x 2, 4) at once


def test_largest_proposal_wins():
    pods = [pod("p0"), pod("p1")]
    usage = {"p0": use(50, 90 * 2**20), "p1": use(50, 90 * 2**20)}
    d = decide(hpa(cpu=50, memory=30), 3, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 6  # memory wants 6, cpu 2
    assert d.reason == "memory resource utilization (percentage of request) above target"


def test_scale_down_waits_for_the_stabilization_window():
    memory = AutoscalerMemory()
    busy, idle = pods_using(100, 100, 100, 100)[1], pods_using(5, 5, 5, 5)[1]
    pods = pods_using(0, 0, 0, 0)[0]
    assert decide(hpa(), 4, pods, busy, memory, NOW - 100, SETTINGS).desired == 8
    d = decide(hpa(), 4, pods, idle, memory, NOW, SETTINGS)
    assert (d.desired, d.rescale) == (8, True)  # the recommendation of 100 s ago still holds
    assert d.conditions[ABLE_TO_SCALE][1] == "ScaleDownStabilized"
    d = decide(hpa(), 4, pods, idle, memory, NOW + 201, SETTINGS)
    assert (d.desired, d.reason) == (1, "All metrics below target")


def test_behavior_window_shortens_stabilization():
    h = hpa(behavior={"scale_down": {"window": 5}})
    memory = AutoscalerMemory()
    pods, busy = pods_using(100, 100)
    idle = pods_using(5, 5)[1]
    assert decide(h, 2, pods, busy, memory, NOW, SETTINGS).desired == 4
    assert decide(h, 4, pods, idle, memory, NOW + 3, SETTINGS).desired == 4
    assert decide(h, 4, pods, idle, memory, NOW + 6, SETTINGS).desired == 1


def test_behavior_up_window_takes_the_lowest_recent_recommendation():
    h = hpa(behavior={"scale_up": {"window": 60}})
    memory = AutoscalerMemory()
    pods, low = pods_using(50, 50)
    busy = pods_using(150, 150)[1]
    assert decide(h, 2, pods, low, memory, NOW, SETTINGS).desired == 2
    d = decide(h, 2, pods, busy, memory, NOW + 10, SETTINGS)
    assert (d.desired, d.conditions[ABLE_TO_SCALE][1]) == (2, "ScaleUpStabilized")


@pytest.mark.parametrize("policies,select,events,expected", [
    pytest.param((("Pods", 4, 15), ("Percent", 100, 15)), "Max", [], 20, id="max-of-pods-and-percent"),
    pytest.param((("Pods", 4, 15), ("Percent", 100, 15)), "Min", [], 14, id="min-of-pods-and-percent"),
    pytest.param((("Pods", 2, 60),), "Max", [(NOW - 10, 2)], 10, id="pods-already-added-in-period"),
    pytest.param((("Pods", 2, 60),), "Max", [(NOW - 100, 2)], 12, id="old-events-do-not-count"),
    pytest.param((("Pods", 4, 15),), "Disabled", [], 10, id="disabled"),
])
def test_scale_up_limits(policies, select, events, expected):
    rules = autoscaling_pb2.HpaScalingRules(select_policy=select)
    for kind, value, period in policies:
        rules.policies.add(type=kind, value=value, period_seconds=period)
    assert scale_up_limit(10, events, rules, NOW) == expected


def test_scale_down_limits():
    rules = autoscaling_pb2.HpaScalingRules(select_policy="Max")
    rules.policies.add(type="Percent", value=50, period_seconds=60)
    assert scale_down_limit(10, [], rules, NOW) == 5
    assert scale_down_limit(10, [(NOW - 5, 10)], rules, NOW) == 10  # 20 at period start, halved
    rules.policies.add(type="Pods", value=1, period_seconds=60)
    assert scale_down_limit(10, [], rules, NOW) == 5  # Max: the policy allowing the biggest change


def test_behavior_policy_limits_a_scale_down():
    h = hpa(behavior={"scale_down": {"window": 0, "policies": [("Pods", 1, 60)]}})
    pods, idle = pods_using(*[5] * 6)
    d = decide(h, 6, pods, idle, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 5
    assert d.conditions[SCALING_LIMITED][:2] == ("True", "ScaleDownLimit")


# -- the runner's rescale against a fake API --------------------------------------------------------


class _ConflictOnceClient:
    """Refuses the first update as a conflict (a stale cache), then accepts."""

    def __init__(self, stored):
        self.stored = stored
        self.updates = []

    async def update(self, obj):
        self.updates.append(obj.spec.replicas)
        if len(self.updates) == 1:
            import grpc
            from shoal.proto.client import APIStatusError

            raise APIStatusError(grpc.StatusCode.ABORTED, "the object has been modified")
        return obj

    async def get(self, kind, name, namespace=""):
        from shoal.control.controllers.meta import clone

        return clone(self.stored)


@pytest.mark.parametrize("fresh_replicas,scaled,updates", [
    pytest.param(2, True, [4, 4], id="retried-on-a-fresh-read"),
    pytest.param(3, False, [4], id="replicas-changed-meanwhile"),
])
def test_a_conflicting_rescale_is_retried_once_if_the_target_still_has_the_same_replicas(fresh_replicas, scaled,
                                                                                         updates):
    import asyncio

    from shoal.control.controllers.actions import ActionExecutor
    from shoal.control.controllers.controller import ControllerContext
    from shoal.control.controllers.hpa import (
        Decision,
        HorizontalPodAutoscalerController,
    )
    from shoal.control.controllers.informer import InformerFactory
    from shoal.v1 import apps_pb2

    target = apps_pb2.Deployment()
    target.metadata.name, target.metadata.namespace = "web", "default"
    target.spec.replicas = 2
    stored = apps_pb2.Deployment()
    stored.CopyFrom(target)
    stored.spec.replicas = fresh_replicas
    client = _ConflictOnceClient(stored)

    async def run():
        ctx = ControllerContext(client=client, informers=InformerFactory(client), executor=ActionExecutor(client))
        controller = HorizontalPodAutoscalerController(ctx)
        decision = Decision(current=2, desired=4, rescale=True, reason="cpu above target")
        return await controller._rescale(hpa(), target, decision, "default/web"), decision

    ok, decision = asyncio.run(run())
    assert ok is scaled and client.updates == updates
    assert decision.conditions[ABLE_TO_SCALE][1] == ("SucceededRescale" if scaled else "FailedUpdateScale")


def test_behavior_tolerances_apply_per_direction():
    h = hpa(max_replicas=40, behavior={"scale_up": {"window": 0}, "scale_down": {"window": 0}})
    h.spec.behavior.scale_up.tolerance = "0.5"
    h.spec.behavior.scale_down.tolerance = "0.05"
    pods, usage = pods_using(70, 70)  # ratio 1.4: noise for a 50% scale-up tolerance (not for 10%)
    assert decide(h, 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS).desired == 2
    assert decide(hpa(), 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS).desired == 3
    pods, usage = pods_using(*[46] * 20)  # ratio 0.92: a change for a 5% scale-down tolerance (not for 10%)
    assert decide(h, 20, pods, usage, AutoscalerMemory(), NOW, SETTINGS).desired == 19
    assert decide(hpa(max_replicas=40), 20, pods, usage, AutoscalerMemory(), NOW, SETTINGS).desired == 20


# -- ContainerResource ----------------------------------------------------------------------------


def _two_container_pod(name: str):
    p = pod(name, cpu="100m")
    side = p.spec.containers.add(name="sidecar", image="busybox")
    side.resources.requests["cpu"] = "900m"
    return p


def _container_hpa(target: int, container: str = "app"):
    h = hpa(cpu=None)
    m = h.spec.metrics.add(type="ContainerResource")
    m.container_resource.name = "cpu"
    m.container_resource.container = container
    m.container_resource.target.type = "Utilization"
    m.container_resource.target.average_utilization = target
    return h


def test_container_resource_looks_at_one_container_only():
    pods = [_two_container_pod("p0"), _two_container_pod("p1")]
    # The app container is at 100% of its 100m; the pod as a whole at 10% of its 1000m.
    usage = {n: PodUsage(100, 0, NOW - 1, 5.0, (("app", 100, 0), ("sidecar", 0, 0))) for n in ("p0", "p1")}
    d = decide(_container_hpa(50), 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert d.desired == 4
    assert d.reason == "cpu container resource utilization (percentage of request) above target"
    (status,) = d.metrics
    assert (status.type, status.container_resource.name, status.container_resource.container,
            status.container_resource.current.average_utilization) == ("ContainerResource", "cpu", "app", 100)
    # The same pods judged as a whole are far below a 50% target.
    assert decide(hpa(cpu=50), 2, pods, usage, AutoscalerMemory(), NOW, SETTINGS).reason == "All metrics below target"


def test_container_resource_of_a_container_the_pods_lack():
    pods = [_two_container_pod("p0")]
    usage = {"p0": PodUsage(100, 0, NOW - 1, 5.0, (("app", 100, 0),))}
    d = decide(_container_hpa(50, container="nope"), 1, pods, usage, AutoscalerMemory(), NOW, SETTINGS)
    assert not d.rescale
    assert d.conditions[SCALING_ACTIVE][:2] == ("False", "FailedGetContainerResourceMetric")


def test_other_metric_types_are_reported_unavailable():
    h = hpa(cpu=None)
    m = h.spec.metrics.add(type="External")
    m.external.metric.name = "queue_depth"
    m.external.target.type = "Value"
    m.external.target.value = "10"
    d = decide(h, 2, [], {}, AutoscalerMemory(), NOW, SETTINGS)
    assert d.conditions[SCALING_ACTIVE][:2] == ("False", "FailedGetExternalMetric")
    assert "External metrics are not available in Shoal" in d.conditions[SCALING_ACTIVE][2]
