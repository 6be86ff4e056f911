"""`shoal up` / `shoal down`: a local cluster in the background for a newcomer.

Starts `shoal server` detached (its own session, log and pid file in the data dir) and waits until
the gRPC health check says SERVING. Agents join in a later step of the project.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PID_FILE = "server.pid"
LOG_FILE = "server.log"


def is_serving(address: str, timeout: float = 1.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def _read_pid(data_dir: str) -> int | None:
    try:
        with open(os.path.join(data_dir, PID_FILE)) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def up(data_dir: str, listen: str, timeout: float = 60.0) -> int:
    if is_serving(listen):
        print(f"a shoal server is already serving on {listen}")
        return 0
    os.makedirs(data_dir, exist_ok=True)
    if _read_pid(data_dir) is not None:
        print(f"error: a shoal server (pid {_read_pid(data_dir)}) already uses {data_dir}", file=sys.stderr)
        return 1
    log_path = os.path.join(data_dir, LOG_FILE)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shoal.control.cli", "server", "--data-dir", data_dir, "--listen", listen],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    with open(os.path.join(data_dir, PID_FILE), "w") as f:
        f.write(str(proc.pid))
    print(f"starting shoal server (pid {proc.pid}, log {log_path}) ...", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"error: shoal server exited with code {proc.returncode}; see {log_path}", file=sys.stderr)
            return 1
        if is_serving(listen, timeout=0.5):
            print(f"control plane ready on {listen} (data in {data_dir})")
            print(f"stop it with: shoal down --data-dir {data_dir}")
            return 0
        time.sleep(0.1)
    print(f"error: shoal server not ready after {timeout:.0f}s; see {log_path}", file=sys.stderr)
    return 1


def down(data_dir: str, timeout: float = 30.0) -> int:
    pid = _read_pid(data_dir)
    if pid is None:
        print(f"no shoal server running for {data_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    try:
        os.unlink(os.path.join(data_dir, PID_FILE))
    except OSError:
        pass
    print(f"shoal server (pid {pid}) stopped")
    return 0
