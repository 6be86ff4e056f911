"""PodStatus from a PodMachine: what the agent writes through UpdateStatus.

Pure: the machine, the status the API last held (for the fields others own: the PodScheduled
condition the binding wrote, qosClass, nominatedNodeName) and the node's address in, a
shoal.v1.PodStatus out.
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from shoal.node.lifecycle import ContainerRecord, PodMachine, Termination
from shoal.v1 import core_pb2

# The conditions the agent owns, in the order kubectl describe lists them.
AGENT_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromSeconds(int(seconds))
    return ts


def _terminated(term: Termination, msg: core_pb2.ContainerStateTerminated) -> None:
    msg.exit_code = term.exit_code
    msg.reason = term.reason
    if term.message:
        msg.message = term.message
    if term.signal:
        msg.signal = term.signal
    if term.started_at is not None:
        msg.started_at.CopyFrom(timestamp(term.started_at))
    msg.finished_at.CopyFrom(timestamp(term.finished_at))
    if term.container_id:
        msg.container_id = term.container_id


def container_status(rec: ContainerRecord) -> core_pb2.ContainerStatus:
    cs = core_pb2.ContainerStatus(name=rec.name, image=rec.spec.image, image_id=rec.image_id,
                                  restart_count=rec.restart_count, ready=rec.ready)
    if rec.container_id:
        cs.container_id = rec.container_id
    if rec.phase in ("running", "stopping"):
        cs.state.running.started_at.CopyFrom(timestamp(rec.started_at or 0))
        cs.started = rec.started
    elif rec.phase == "exited" and rec.termination is not None and rec.backoff_until is None:
        _terminated(rec.termination, cs.state.terminated)
        cs.started = False
    else:
        cs.state.waiting.reason = rec.waiting_reason
        if rec.waiting_message:
            cs.state.waiting.message = rec.waiting_message
        cs.started = False
    last = rec.last_termination
    if rec.phase == "exited" and rec.backoff_until is not None and rec.termination is not None:
        # Waiting in CrashLoopBackOff: the run that just ended is the last state.
        last = rec.termination
    if last is not None:
        _terminated(last, cs.last_state.terminated)
    return cs


def pod_status(machine: PodMachine, previous: core_pb2.PodStatus | None = None, *, host_ip: str = "") -> core_pb2.PodStatus:
    prev = previous or core_pb2.PodStatus()
    status = core_pb2.PodStatus(phase=machine.phase(), qos_class=prev.qos_class,
                                nominated_node_name=prev.nominated_node_name)
    for cond in prev.conditions:
        if cond.type not in AGENT_CONDITIONS:
            status.conditions.add().CopyFrom(cond)
    for ctype in AGENT_CONDITIONS:
        value, since = machine.conditions.get(ctype, ("False", machine.first_seen or 0))
        cond = status.conditions.add(type=ctype, status=value)
        cond.last_transition_time.CopyFrom(timestamp(since))
        if value == "False" and ctype in ("Ready", "ContainersReady"):
            unready = [n for n in machine.app_names if not machine.containers[n].ready]
            if unready:
                cond.reason = "ContainersNotReady"
                cond.message = f"containers with unready status: [{' '.join(unready)}]"
        elif value == "False" and ctype == "Initialized":
            waiting = [n for n in machine.init_names if not machine.containers[n].succeeded]
            cond.reason = "ContainersNotInitialized"
            cond.message = f"containers with incomplete status: [{' '.join(waiting)}]"
    if prev.HasField("start_time"):
        status.start_time.CopyFrom(prev.start_time)
    elif machine.first_seen is not None:
        status.start_time.CopyFrom(timestamp(machine.first_seen))
    if host_ip:
        status.host_ip = host_ip
        status.host_ips.add(ip=host_ip)
    if machine.pod_ip:
        status.pod_ip = machine.pod_ip
        status.pod_ips.add(ip=machine.pod_ip)
    if machine.sandbox_message and machine.sandbox != "ready":
        status.message = machine.sandbox_message
    for name in machine.init_names:
        status.init_container_statuses.append(container_status(machine.containers[name]))
    for name in machine.app_names:
        status.container_statuses.append(container_status(machine.containers[name]))
    return status


def prior_containers(status: core_pb2.PodStatus):
    """The restart counts and last states the API holds, for a machine adopting the pod."""
    from shoal.node.lifecycle import PriorContainer

    out = []
    for cs in list(status.init_container_statuses) + list(status.container_statuses):
        last = None
        if cs.last_state.HasField("terminated"):
            t = cs.last_state.terminated
            last = Termination(t.exit_code, t.reason, t.started_at.seconds or None, t.finished_at.seconds, t.message,
                               t.signal, t.container_id)
        out.append(PriorContainer(cs.name, cs.restart_count, last))
    return tuple(out)
