"""The agent's side of utilization (node/utilization.py): what one report holds, read from /proc
texts and runtimes' usage; then the stream against a real server, across a server restart."""

from __future__ import annotations

import signal
import time
from types import SimpleNamespace

import pytest

from node_helpers import wait_for
from shoal.node import utilization
from shoal.node.runtime.base import ContainerUsage

PROC_STAT = """cpu  1000 20 300 5000 200 10 5 0 40 0
cpu0 500 10 150 2500 100 5 2 0 20 0
intr 12345
"""
MEMINFO = """MemTotal:       16000000 kB
MemFree:         2000000 kB
MemAvailable:   10000000 kB
"""


def test_busy_ticks_leave_out_idle_and_iowait_and_count_guest_once():
    assert utilization.cpu_busy_ticks(PROC_STAT) == 1000 + 20 + 300 + 10 + 5 + 0
    assert utilization.cpu_busy_ticks("") == 0


def test_memory_in_use_is_total_minus_available():
    assert utilization.memory_in_use_bytes(MEMINFO) == 6_000_000 * 1024
    assert utilization.memory_in_use_bytes("MemTotal: 100 kB\nMemFree: 40 kB\n") == 60 * 1024


def test_host_usage_is_a_rate_between_two_readings(tmp_path):
    clock = iter([100.0, 102.0]).__next__
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "stat").write_text(PROC_STAT)
    host = utilization.HostUsage(str(tmp_path), clock=clock)
    assert host.sample()[0] == 0  # nothing to compare with yet
    (tmp_path / "stat").write_text(PROC_STAT.replace("cpu  1000", f"cpu  {1000 + utilization._CLOCK_TICKS}"))
    assert host.sample() == (500, 6_000_000 * 1024)  # one cpu-second over two seconds


def test_the_process_runtime_counts_a_containers_session_from_proc():
    import subprocess

    from shoal.node.runtime.process import session_usage

    # As the process runtime's shim: a new session, the container's processes inside it.
    shim = subprocess.Popen(["sh", "-c", "sh -c 'while :; do :; done' & wait"], start_new_session=True)
    try:
        time.sleep(0.5)
        cpu_ns, rss = session_usage(shim.pid)
        assert cpu_ns >= 200_000_000 and rss > 0
    finally:
        import os

        os.killpg(shim.pid, signal.SIGKILL)
        shim.wait()
    assert session_usage(shim.pid) == (0, 0)


class StubRuntime:
    name = "sim"

    def __init__(self, usages):
        self.usages = usages

    def usage(self):
        return self.usages


def stub_agent(name: str, pods: dict[str, tuple[str, str]], usages) -> SimpleNamespace:
    workers = {uid: SimpleNamespace(machine=SimpleNamespace(pod=SimpleNamespace(namespace=ns, name=pod)))
               for uid, (ns, pod) in pods.items()}
    return SimpleNamespace(name=name, workers=workers, runtime=StubRuntime(usages))


def test_a_hollow_node_is_its_pods_plus_a_system_share():
    agent = stub_agent("h0", {"u1": ("default", "web")}, [
        ContainerUsage("u1", "main", 250_000_000, 100 << 20),
        ContainerUsage("u1", "sidecar", 50_000_000, 20 << 20),
        ContainerUsage("orphan", "main", 999_000_000, 1 << 30),  # not a pod of the API: left out
    ])
    msg = utilization.node_utilization(agent, None, now=1000.0, window=10.0)
    assert (msg.node_name, msg.timestamp.seconds, msg.window.seconds) == ("h0", 1000, 10)
    assert [(p.namespace, p.name, p.uid) for p in msg.pods] == [("default", "web", "u1")]
    assert [(c.name, c.cpu_millis, c.memory_bytes) for c in msg.pods[0].containers] == [
        ("main", 250, 100 << 20), ("sidecar", 50, 20 << 20)]
    assert msg.cpu_millis == 300 + utilization.SIM_SYSTEM_CPU_MILLIS
    assert msg.memory_bytes == (120 << 20) + utilization.SIM_SYSTEM_MEMORY_BYTES


def test_a_report_of_many_hollow_nodes_comes_in_chunks():
    agents = [stub_agent(f"h{i}", {}, []) for i in range(7)]
    reporter = utilization.UtilizationReporter(None, agents, interval=5.0, chunk=3, clock=lambda: 50.0)
    requests = reporter.report()
    assert [len(r.nodes) for r in requests] == [3, 3, 1]
    assert [n.node_name for r in requests for n in r.nodes] == [f"h{i}" for i in range(7)]
    assert requests[0].nodes[0].window.seconds == 5  # the first report: one interval


# -- against a real server -------------------------------------------------------------------------


def _node_items(address: str) -> list[str]:
    import grpc

    from shoal.v1 import node_service_pb2 as nsvc
    from shoal.v1 import node_service_pb2_grpc as nsvc_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            resp = nsvc_grpc.NodeServiceStub(channel).GetUtilization(nsvc.GetUtilizationRequest(kind="Node"), timeout=5)
        except grpc.RpcError:
            return []
    return [item.name for item in resp.items]


@pytest.mark.slow
def test_the_agent_reconnects_after_the_server_restarts(tmp_path, agent_factory):
    from server_process import ServerProcess

    (tmp_path / "server").mkdir()
    server = ServerProcess(str(tmp_path / "server"), ["--no-controllers"]).start()
    try:
        agent = agent_factory(server.address, "--runtime", "sim", "--count", "2", "--name-prefix", "rc-",
                              "--stats-interval", "1")
        wait_for(lambda: _node_items(server.address) == ["rc-0", "rc-1"], 10, what="the first report")
        server.stop(signal.SIGTERM)
        assert _node_items(server.address) == []
        time.sleep(1.5)  # the agent notices and backs off
        server.start()
        assert _node_items(server.address) == []  # the window lives in memory only
        wait_for(lambda: _node_items(server.address) == ["rc-0", "rc-1"], 20, what="reports after the restart")
        assert "utilization stream:" in agent.log() and "reconnecting" in agent.log()
    finally:
        server.stop(signal.SIGKILL)
