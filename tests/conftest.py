"""Shared fixtures: a real `shoal server` subprocess on a free port with its own data dir."""

from __future__ import annotations

import os
import signal

import pytest

from server_process import ServerProcess, free_port, shoal_command  # noqa: F401 (re-exported)


@pytest.fixture
def server_factory(tmp_path):
    started: list[ServerProcess] = []

    def make(*extra_args: str, data_dir: str | None = None, scheduler: bool = False) -> ServerProcess:
        # The in-process scheduler only when asked for: most tests bind pods themselves (they
        # play the scheduler) and would race it. scheduler=True starts the server as users do.
        d = data_dir or str(tmp_path / f"server{len(started)}")
        os.makedirs(d, exist_ok=True)
        srv = ServerProcess(d, list(extra_args) + ([] if scheduler else ["--no-scheduler"]))
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    """One server (API only, no controllers) for the tests that only need isolation by
    namespace or name."""
    d = str(tmp_path_factory.mktemp("shared-server"))
    # The API alone: controllers acting on the objects would race the assertions.
    srv = ServerProcess(d, ["--no-controllers", "--no-scheduler"]).start()
    yield srv
    srv.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def client(shared_server):
    from shoal.proto.client import ClusterClient

    with ClusterClient(shared_server.address, timeout=10) as c:
        yield c
