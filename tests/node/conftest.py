"""Fixtures for the node agent: `shoal agent` subprocesses against a real `shoal server`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from node_helpers import missing_tools as _missing_tools
from node_helpers import wait_for


def shoal_command() -> list[str]:
    exe = shutil.which("shoal")
    return [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]


@dataclass
class AgentProcess:
    server: str
    args: list[str]
    log_path: str
    proc: subprocess.Popen | None = None
    ready_line: str = field(default="")

    def start(self, timeout: float = 60.0) -> "AgentProcess":
        log = open(self.log_path, "ab")
        # SHOAL_AGENT_VALIDATE: the pod state machines check their invariants after every event.
        env = {**os.environ, "SHOAL_AGENT_VALIDATE": "1"}
        self.proc = subprocess.Popen([*shoal_command(), "agent", "--server", self.server, *self.args],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self._ready(), timeout, what=f"the agent to register ({self.log_path})")
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

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc


@pytest.fixture
def agent_factory(tmp_path):
    started: list[AgentProcess] = []

    def make(server: str, *args: str, timeout: float = 60.0) -> AgentProcess:
        agent = AgentProcess(server, list(args), str(tmp_path / f"agent{len(started)}.log"))
        started.append(agent)
        return agent.start(timeout)

    yield make
    problems = []
    for agent in started:
        agent.stop()
        text = agent.log()
        if "Traceback" in text or "lifecycle failed" in text:
            problems.append(f"{agent.log_path}:\n{text[-3000:]}")
    assert not problems, "the agent logged errors:\n" + "\n".join(problems)


@pytest.fixture
def api(server_factory):
    """A fresh server (NORMAL sync: these tests measure the agent, not fsync) and a client."""
    from shoal.proto.client import ClusterClient

    srv = server_factory("--sync", "NORMAL")
    with ClusterClient(srv.address, timeout=30) as c:
        c.address = srv.address
        yield c


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A docker-registry on loopback, seeded with busybox (built from busybox-static)."""
    from shoal.node.images.build import seed_busybox
    from shoal.node.registry import LocalRegistry

    if os.geteuid() != 0 or _missing_tools("docker-registry", "skopeo", "busybox"):
        pytest.skip("needs root, docker-registry, skopeo and busybox")
    work = tmp_path_factory.mktemp("registry")
    reg = LocalRegistry(str(work), port=_free_port()).start()
    seed_busybox(reg.address, str(work))
    yield reg
    reg.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RuncNode:
    api: object
    agent: AgentProcess
    name: str
    state_dir: str
    args: list[str]
    factory: object

    def restart_agent(self, sig: int = signal.SIGTERM) -> AgentProcess:
        self.agent.stop(sig)
        self.agent = self.factory(self.api.address, *self.args)
        return self.agent


@pytest.fixture
def runc_node(api, agent_factory, registry, tmp_path):
    """A fresh server and one `shoal agent --runtime runc` using the seeded registry as docker.io's
    mirror, with a 1 s crash back-off. Everything it leaves is removed afterwards."""
    import uuid

    from node_helpers import force_clean

    name = f"runc-{uuid.uuid4().hex[:6]}"
    state_dir = f"/var/lib/shoal-test/{name}"
    args = ["--runtime", "runc", "--name", name, "--state-dir", state_dir, "--registry-mirror",
            f"docker.io={registry.address}", "--backoff-initial", "1", "--backoff-max", "4", "--lease-interval", "2"]
    try:
        agent = agent_factory(api.address, *args)
        node = RuncNode(api, agent, name, state_dir, args, agent_factory)
        yield node
        node.agent.stop()
    finally:
        force_clean(state_dir, name)
