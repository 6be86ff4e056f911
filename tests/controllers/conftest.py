"""Fixtures for controller tests against a real `shoal server` (which runs the controllers),
with the test playing the scheduler and the kubelets (ctrl_helpers.FakeKubelet)."""

from __future__ import annotations

import os

import pytest

from accept_helpers import busybox_registry, cluster_factory  # noqa: F401 - the acceptance runs' fixtures
from ctrl_helpers import FAST_SETTINGS, ControllerServer, FakeKubelet, new_namespace


def _start(tmp_dir: str) -> ControllerServer:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env.update(FAST_SETTINGS)
    return ControllerServer(tmp_dir, env).start()


@pytest.fixture(scope="module")
def ctrl_server(tmp_path_factory):
    srv = _start(str(tmp_path_factory.mktemp("ctrl-server")))
    yield srv
    srv.kill()


@pytest.fixture
def restartable_server(tmp_path):
    """A server of the test's own, for tests that kill it."""
    srv = _start(str(tmp_path))
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def ctrl_client(ctrl_server):
    from shoal.proto.client import ClusterClient

    with ClusterClient(ctrl_server.address, timeout=10) as c:
        yield c


@pytest.fixture
def ns(ctrl_client) -> str:
    return new_namespace(ctrl_client)


@pytest.fixture
def kubelet_factory():
    started: list[FakeKubelet] = []

    def make(address: str, namespace: str, **kwargs) -> FakeKubelet:
        k = FakeKubelet(address, namespace, **kwargs)
        k.start()
        started.append(k)
        return k

    yield make
    for k in started:
        k.stop()
    for k in started:
        assert not k.errors, f"fake kubelet errors: {k.errors[:3]}"
