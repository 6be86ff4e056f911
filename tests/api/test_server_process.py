"""The `shoal server` process: durability across kill -9, start-up errors, health, reflection."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from server_process import shoal_command
from minimal_objects import MINIMAL
from shoal.proto.client import APIStatusError, ClusterClient


@pytest.mark.parametrize("sync", ["default", "FULL"])
def test_acknowledged_creates_survive_sigkill(server_factory, tmp_path, sync):
    srv = server_factory(*([] if sync == "default" else ["--sync", sync]))
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        with ClusterClient(srv.address, timeout=5) as c:
            for i in range(500):
                name = f"durable-{w}-{i}"
                try:
                    c.create(MINIMAL["ConfigMap"](name))
                except APIStatusError:
                    return  # the server died under us: this create was not acknowledged
                acknowledged.append(name)
                if stop.is_set():
                    return

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]  # 2,000 creates
    for t in threads:
        t.start()
    while len(acknowledged) < 700:
        time.sleep(0.005)
    srv.proc.send_signal(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    assert 700 <= len(acknowledged) < 2000, "the kill did not land in the middle of the writes"

    restarted = server_factory(data_dir=srv.data_dir)
    with ClusterClient(restarted.address) as c:
        stored = {cm.metadata.name for cm in c.list_items("ConfigMap", "default")}
    missing = [name for name in acknowledged if name not in stored]
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:3]}"


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [*shoal_command(), "server", "--data-dir", str(tmp_path), "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_second_server_on_the_same_data_dir_is_a_clear_error(server_factory):
    srv = server_factory()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([*shoal_command(), "server", "--data-dir", srv.data_dir, "--listen", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "in use by another process" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    with ClusterClient(srv.address) as c:  # the first one serves on
        c.create(MINIMAL["ConfigMap"]("still-here"))


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    proc = subprocess.run([*shoal_command(), "server", "--data-dir", str(path), "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"data dir {path}" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_stops_cleanly(server_factory):
    srv = server_factory()
    assert srv.stop(signal.SIGTERM) == 0


def test_health_and_reflection_are_on(shared_server):
    with grpc.insecure_channel(shared_server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "shoal.v1.ClusterService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "shoal.v1.ClusterService" in names and "grpc.health.v1.Health" in names
