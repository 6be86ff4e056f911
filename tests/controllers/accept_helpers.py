"""Real components for the controllers' acceptance tests (test_ctrl_accept_*.py): a `shoal server`
running its own scheduler and controllers, and `shoal agent` processes (runc with busybox from a
local registry, or hollow sim nodes). Nothing here plays the scheduler or a kubelet.

The agent process wrapper, the registry seeding and the cleanup of runc leftovers are the node
tests' (tests/node/conftest.py, node_helpers.py), loaded from there rather than copied.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

_NODE_TESTS = Path(__file__).resolve().parents[1] / "node"
if str(_NODE_TESTS) not in sys.path:
    sys.path.insert(0, str(_NODE_TESTS))

import node_helpers  # tests/node, put on the path just above
from server_process import ServerProcess

_spec = importlib.util.spec_from_file_location("node_agent_fixtures", _NODE_TESTS / "conftest.py")
_node_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _node_fixtures  # dataclasses look their module up there
_spec.loader.exec_module(_node_fixtures)
AgentProcess = _node_fixtures.AgentProcess

needs_containers = node_helpers.needs_containers
wait_for = node_helpers.wait_for


@pytest.fixture(scope="module")
def busybox_registry(tmp_path_factory):
    """A docker-registry on loopback seeded with busybox (as the node tests' registry)."""
    from shoal.node.images.build import seed_busybox
    from shoal.node.registry import LocalRegistry

    if os.geteuid() != 0 or node_helpers.missing_tools("docker-registry", "skopeo", "busybox"):
        pytest.skip("needs root, docker-registry, skopeo and busybox")
    work = tmp_path_factory.mktemp("accept-registry")
    reg = LocalRegistry(str(work), port=_node_fixtures._free_port()).start()
    seed_busybox(reg.address, str(work))
    yield reg
    reg.stop()


class Cluster:
    """A server with its scheduler and controllers, and the agents the test starts."""

    def __init__(self, tmp_path: Path, server_args: list[str]) -> None:
        self.tmp_path = tmp_path
        data_dir = tmp_path / "server"
        data_dir.mkdir(parents=True)
        self.server = ServerProcess(str(data_dir), ["--sync", "NORMAL", *server_args]).start()
        self.agents: list[AgentProcess] = []
        self.runc_nodes: list[tuple[str, str]] = []  # (node name, state dir) to clean after

    @property
    def address(self) -> str:
        return self.server.address

    def client(self):
        from shoal.proto.client import ClusterClient

        return ClusterClient(self.address, timeout=30)

    def agent(self, *args: str, timeout: float = 60.0) -> AgentProcess:
        agent = AgentProcess(self.address, list(args), str(self.tmp_path / f"agent{len(self.agents)}.log"))
        self.agents.append(agent)
        return agent.start(timeout)

    def sim_agent(self, name: str, *args: str) -> AgentProcess:
        return self.agent("--runtime", "sim", "--name", name, "--lease-interval", "1", "--sim-start-delay", "0.2",
                          *args)

    def runc_agent(self, registry, *args: str) -> tuple[AgentProcess, str]:
        name = f"accept-{uuid.uuid4().hex[:6]}"
        state_dir = os.path.join(node_helpers.state_root(), name)
        self.runc_nodes.append((name, state_dir))
        agent = self.agent("--runtime", "runc", "--name", name, "--state-dir", state_dir, "--registry-mirror",
                           f"docker.io={registry.address}", "--backoff-initial", "1", "--backoff-max", "4",
                           "--lease-interval", "2", *args)
        return agent, name

    def close(self) -> list[str]:
        """Stops everything; returns the agents' logged tracebacks, if any."""
        problems = []
        for agent in self.agents:
            if agent.proc is not None:
                agent.stop()
            text = agent.log()
            if "Traceback" in text or "lifecycle failed" in text:
                problems.append(f"{agent.log_path}:\n{text[-3000:]}")
        for name, state_dir in self.runc_nodes:
            node_helpers.force_clean(state_dir, name)
        self.server.stop(signal.SIGKILL)
        return problems


@pytest.fixture
def cluster_factory(tmp_path):
    made: list[Cluster] = []

    def make(*server_args: str) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(made)}", list(server_args))
        made.append(cluster)
        return cluster

    yield make
    problems = [p for c in made for p in c.close()]
    assert not problems, "an agent logged errors:\n" + "\n".join(problems)


def pods(client, namespace: str = "default", selector: str = "") -> list:
    return client.list_items("Pod", namespace, label_selector=selector)


def active(pod_list: list) -> list:
    return [p for p in pod_list if not p.metadata.HasField("deletion_timestamp")
            and p.status.phase not in ("Succeeded", "Failed")]


def is_ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def endpoint_ips(client, name: str, namespace: str = "default") -> set[str]:
    from shoal.proto.client import APIStatusError

    try:
        ep = client.get("Endpoints", name, namespace)
    except APIStatusError:
        return set()
    return {a.ip for s in ep.subsets for a in s.addresses}


def apply_yaml(client, text: str, namespace: str = "default") -> None:
    from shoal.proto import manifests

    for item in manifests.load_text(text):
        if item.info.namespaced and not item.message.metadata.namespace:
            item.message.metadata.namespace = namespace
        client.apply(item.message)


def elapsed(since: float) -> float:
    return time.monotonic() - since
