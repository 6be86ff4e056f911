"""PodStatus as the agent reports it, built from a state machine driven by events."""

from __future__ import annotations

from shoal.node.lifecycle import BackoffPolicy, ContainerExited, ContainerStarted, ProbeResult
from shoal.node.status import pod_status, prior_containers
from shoal.v1 import core_pb2

from test_pod_lifecycle import Driver, pod


def conditions(status) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions}


def test_a_running_pod_reports_ip_conditions_and_container_state():
    d = Driver(pod("web"))
    d.to_running()
    prev = core_pb2.PodStatus(qos_class="BestEffort")
    prev.conditions.add(type="PodScheduled", status="True")
    st = pod_status(d.m, prev, host_ip="192.0.2.2")
    assert st.phase == "Running"
    assert st.pod_ip == "10.244.0.5" and [i.ip for i in st.pod_ips] == ["10.244.0.5"]
    assert st.host_ip == "192.0.2.2"
    assert st.qos_class == "BestEffort"
    assert conditions(st) == {"PodScheduled": "True", "PodReadyToStartContainers": "True", "Initialized": "True",
                              "Ready": "True", "ContainersReady": "True"}
    (cs,) = st.container_statuses
    assert cs.state.WhichOneof("state") == "running"
    assert cs.ready and cs.started and cs.container_id == "id-web" and cs.image_id == "sha256:web"
    assert st.start_time.seconds == 1000


def test_crash_loop_shows_waiting_with_the_last_run_as_last_state():
    d = Driver(pod("web"), BackoffPolicy(initial=10))
    d.to_running()
    d.feed(ContainerExited, "web", 1)
    d.feed(ContainerStarted, "web", "id2")
    d.feed(ContainerExited, "web", 137, oom_killed=True)
    (cs,) = pod_status(d.m).container_statuses
    assert cs.state.waiting.reason == "CrashLoopBackOff"
    assert cs.last_state.terminated.exit_code == 137
    assert cs.last_state.terminated.reason == "OOMKilled"
    assert cs.restart_count == 1
    assert conditions(pod_status(d.m))["Ready"] == "False"


def test_unready_containers_are_named():
    d = Driver(pod("web", has_readiness_probe=True))
    d.to_running()
    st = pod_status(d.m)
    ready = next(c for c in st.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.message) == ("False", "ContainersNotReady",
                                                            "containers with unready status: [web]")
    d.feed(ProbeResult, "web", "readiness", True)
    assert conditions(pod_status(d.m))["Ready"] == "True"


def test_a_finished_pod_reports_terminated_containers():
    d = Driver(pod("job", restart="Never"))
    d.to_running()
    d.feed(ContainerExited, "job", 0)
    st = pod_status(d.m)
    assert st.phase == "Succeeded"
    (cs,) = st.container_statuses
    assert cs.state.terminated.reason == "Completed"


def test_prior_containers_round_trip():
    d = Driver(pod("web"))
    d.to_running()
    d.feed(ContainerExited, "web", 2)
    (prior,) = prior_containers(pod_status(d.m))
    assert prior.restart_count == 1 and prior.last_termination.exit_code == 2
