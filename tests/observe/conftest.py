"""Fixtures for logs, exec and utilization: a real `shoal server`, real agents (runc, or hollow
sim nodes) and the `shoal` CLI as users run it.

The runc setup follows tests/node/conftest.py (whose helpers in node_helpers.py are reused): a
docker-registry on loopback seeded with busybox acts as docker.io's mirror. Clusters are
module-scoped: the tests of a module share one server and one agent, each test with its own pods.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node"))

from node_helpers import force_clean, missing_tools, wait_for  # noqa: E402 (tests/node is on the path now)
from server_process import ServerProcess, free_port, shoal_command  # noqa: E402

STATS_INTERVAL = "1"


@dataclass
class AgentProcess:
    server: str
    args: list[str]
    log_path: str
    proc: subprocess.Popen | None = field(default=None)

    def start(self, timeout: float = 60.0) -> AgentProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*shoal_command(), "agent", "--server", self.server, *self.args],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout, what=f"the agent to register ({self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"shoal agent exited with {self.proc.returncode}: {self.log()}")
        return "registered with" in self.log()

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Cluster:
    server: ServerProcess
    agent: AgentProcess
    node: str  # the node name, or the hollow nodes' name prefix
    state_dir: str = ""

    @property
    def address(self) -> str:
        return self.server.address

    def client(self):
        from shoal.proto.client import ClusterClient

        return ClusterClient(self.address, timeout=30)

    def shoal(self, *args: str, input: bytes | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """`shoal ARGS` against this cluster: returncode, stdout and stderr as text."""
        env = {**os.environ, "SHOAL_SERVER": self.address, "HOME": os.path.dirname(self.agent.log_path)}
        return subprocess.run([*shoal_command(), *args], input=input, capture_output=True, timeout=timeout, env=env,
                              check=False)

    def assert_agent_clean(self) -> None:
        text = self.agent.log()
        assert "Traceback" not in text and "lifecycle failed" not in text, text[-3000:]


def _check_agent_and_stop(cluster: Cluster) -> None:
    try:
        cluster.assert_agent_clean()
    finally:
        cluster.agent.stop()
        cluster.server.stop(signal.SIGKILL)


@pytest.fixture
def agent_factory(tmp_path):
    """Starts `shoal agent --server ADDRESS ARGS...` processes; stops them after the test and
    fails it if one logged a traceback."""
    started: list[AgentProcess] = []

    def start(address: str, *args: str) -> AgentProcess:
        agent = AgentProcess(address, list(args), str(tmp_path / f"agent{len(started)}.log"))
        started.append(agent)
        return agent.start()

    yield start
    for agent in started:
        agent.stop()
    assert not [a.log_path for a in started if "Traceback" in a.log()], "an agent logged a traceback"


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A docker-registry on loopback, seeded with busybox (built from busybox-static)."""
    from shoal.node.images.build import seed_busybox
    from shoal.node.registry import LocalRegistry

    if os.geteuid() != 0 or missing_tools("docker-registry", "skopeo", "umoci", "runc", "busybox", "ip"):
        pytest.skip("needs root, runc, docker-registry, skopeo, umoci, busybox and iproute2")
    work = tmp_path_factory.mktemp("observe-registry")
    reg = LocalRegistry(str(work), port=free_port()).start()
    seed_busybox(reg.address, str(work))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def runc_cluster(registry, tmp_path_factory):
    """A server and one `shoal agent --runtime runc` (crash back-off 1 s, utilization every 1 s)."""
    work = tmp_path_factory.mktemp("runc-cluster")
    server = ServerProcess(str(work), ["--sync", "NORMAL"]).start()
    name = f"obs-{uuid.uuid4().hex[:6]}"
    state_dir = f"/var/lib/shoal-test/{name}"
    args = ["--runtime", "runc", "--name", name, "--state-dir", state_dir, "--registry-mirror",
            f"docker.io={registry.address}", "--backoff-initial", "1", "--backoff-max", "2",
            "--lease-interval", "2", "--stats-interval", STATS_INTERVAL]
    agent = AgentProcess(server.address, args, str(work / "agent.log"))
    try:
        agent.start()
        cluster = Cluster(server, agent, name, state_dir)
        yield cluster
        _check_agent_and_stop(cluster)
    finally:
        agent.stop()
        server.stop(signal.SIGKILL)
        force_clean(state_dir, name)


@pytest.fixture(scope="module")
def sim_cluster(tmp_path_factory):
    """A server and three hollow nodes in one `shoal agent --runtime sim --count 3` process."""
    work = tmp_path_factory.mktemp("sim-cluster")
    server = ServerProcess(str(work), ["--sync", "NORMAL", "--no-controllers"]).start()
    prefix = f"hollow-{uuid.uuid4().hex[:4]}-"
    args = ["--runtime", "sim", "--count", "3", "--name-prefix", prefix, "--sim-start-delay", "0.1",
            "--stats-interval", STATS_INTERVAL]
    agent = AgentProcess(server.address, args, str(work / "agent.log"))
    try:
        agent.start()
        cluster = Cluster(server, agent, prefix)
        yield cluster
        _check_agent_and_stop(cluster)
    finally:
        agent.stop()
        server.stop(signal.SIGKILL)
