"""`shoal up` / `shoal down`: a local cluster in the background for a newcomer.

Starts `shoal server` detached (its own session, log and pid file in the data dir) and waits until
the gRPC health check says SERVING. Then, each in the background with its log and pid file in the
data dir:

- the local registry (docker-registry on 127.0.0.1:5000, if installed), seeded with a `busybox`
  image built from busybox-static and used by the agents as docker.io's mirror, so
  `image: busybox` resolves to it;
- agents (`shoal agent`), one by default, with the best runtime the machine has (runc or crun
  as root with skopeo and umoci; otherwise hollow `sim` nodes, saying why);
- hollow nodes (`shoal agent --runtime sim --count N`) when asked for.

`shoal down` stops the agents and removes their containers and sandboxes, then the registry,
then the server. The data stays. Agents and the registry are separate processes started through
the `shoal` command, so this module imports nothing of the node part.

The agent counts come from up()'s arguments; until the `up` command has flags for them they can
be given as SHOAL_UP_AGENTS, SHOAL_UP_SIM_NODES, SHOAL_UP_RUNTIME and SHOAL_UP_REGISTRY
(HOST:PORT, or "none").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PID_FILE = "server.pid"
LOG_FILE = "server.log"
AGENTS_FILE = "agents.json"
REGISTRY_DIR = "registry"
DEFAULT_REGISTRY = "127.0.0.1:5000"
REGISTRY_CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {address}
"""


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


def up(data_dir: str, listen: str, timeout: float = 60.0, *, agents: int | None = None,
       sim_nodes: int | None = None, runtime: str | None = None, registry: str | None = None) -> int:
    """Server, then registry, then agents. Arguments left None come from SHOAL_UP_* variables."""
    agents = int(os.environ.get("SHOAL_UP_AGENTS", "1")) if agents is None else agents
    sim_nodes = int(os.environ.get("SHOAL_UP_SIM_NODES", "0")) if sim_nodes is None else sim_nodes
    runtime = runtime or os.environ.get("SHOAL_UP_RUNTIME", "auto")
    registry = registry or os.environ.get("SHOAL_UP_REGISTRY", DEFAULT_REGISTRY)
    rc = _up_server(data_dir, listen, timeout)
    if rc != 0:
        return rc
    mirror = "" if registry == "none" else _up_registry(data_dir, registry, timeout)
    return _up_agents(data_dir, listen, agents, sim_nodes, runtime, mirror, timeout)


def _up_server(data_dir: str, listen: str, timeout: float) -> int:
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
            # The `shoal` script rather than `python -m`: with -m, a stale shoal.egg-info in the
            # working directory (a source checkout) hides the installed entry points.
            [*_shoal(), "server", "--data-dir", data_dir, "--listen", listen],
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
    _down_agents(data_dir, timeout)
    _stop_pid_file(data_dir, os.path.join(REGISTRY_DIR, "registry.pid"), "registry", timeout)
    return _down_server(data_dir, timeout)


def _down_server(data_dir: str, timeout: float) -> int:
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


# -- the registry ----------------------------------------------------------------------------


def _shoal() -> list[str]:
    exe = shutil.which("shoal")
    return [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]


def _registry_serving(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _has_busybox(address: str) -> bool:
    req = urllib.request.Request(f"http://{address}/v2/library/busybox/manifests/latest", method="HEAD",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _up_registry(data_dir: str, address: str, timeout: float) -> str:
    """Starts (if needed) and seeds the registry; returns its address, or "" without one."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    reg_dir = os.path.join(data_dir, REGISTRY_DIR)
    if not _registry_serving(address):
        if binary is None:
            print("no local registry: docker-registry is not installed (apt-get install docker-registry); "
                  "pods can only use images from reachable registries")
            return ""
        os.makedirs(os.path.join(reg_dir, "data"), exist_ok=True)
        config = os.path.join(reg_dir, "config.yml")
        with open(config, "w") as f:
            f.write(REGISTRY_CONFIG.format(data=os.path.join(reg_dir, "data"), address=address))
        with open(os.path.join(reg_dir, "registry.log"), "ab") as log:
            proc = subprocess.Popen([binary, "serve", config], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        with open(os.path.join(reg_dir, "registry.pid"), "w") as f:
            f.write(str(proc.pid))
        deadline = time.monotonic() + timeout
        while not _registry_serving(address):
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"error: the registry did not start; see {reg_dir}/registry.log", file=sys.stderr)
                return ""
            time.sleep(0.05)
        print(f"registry ready on {address} (pid {proc.pid})")
    if not _has_busybox(address):
        if shutil.which("busybox") is None or shutil.which("skopeo") is None:
            print("registry not seeded: busybox-static and skopeo are needed to build the busybox image")
        else:
            result = subprocess.run([*_shoal(), "image", "seed", "--registry", address], capture_output=True, text=True)
            if result.returncode != 0:
                print(f"warning: seeding busybox failed: {result.stderr.strip()}", file=sys.stderr)
            else:
                print(f"seeded {address} with busybox (the mirror for unqualified image names)")
    return address


# -- agents ------------------------------------------------------------------------------------


def _best_runtime(requested: str) -> tuple[str, str]:
    """(runtime, why) for the real agents."""
    if requested not in ("auto", ""):
        return requested, ""
    missing = [t for t in ("skopeo", "umoci") if shutil.which(t) is None]
    oci = [r for r in ("runc", "crun") if shutil.which(r)]
    if os.geteuid() != 0:
        return "sim", "not root, so no containers"
    if not oci:
        return "sim", "neither runc nor crun is installed"
    if missing:
        return "sim", f"{' and '.join(missing)} not installed"
    return "auto", ""


def _load_agents(data_dir: str) -> list[dict]:
    try:
        with open(os.path.join(data_dir, AGENTS_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _save_agents(data_dir: str, agents: list[dict]) -> None:
    with open(os.path.join(data_dir, AGENTS_FILE), "w") as f:
        json.dump(agents, f, indent=1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _up_agents(data_dir: str, listen: str, count: int, sim_nodes: int, runtime: str, mirror: str,
               timeout: float) -> int:
    records = [r for r in _load_agents(data_dir) if _alive(r["pid"])]
    running = {r["name"] for r in records}
    kind, why = _best_runtime(runtime)
    if count and kind == "sim":
        print(f"agents run hollow (sim) nodes: {why}")
    host = socket.gethostname()
    wanted = []
    for i in range(count):
        name = host if i == 0 else f"{host}-{i + 1}"
        args = ["--runtime", kind, "--name", name, "--state-dir", os.path.join(data_dir, "agents", name)]
        wanted.append((name, args))
    if sim_nodes:
        wanted.append(("hollow", ["--runtime", "sim", "--count", str(sim_nodes), "--name-prefix", "hollow-"]))
    for name, args in wanted:
        if name in running:
            continue
        if mirror:
            args += ["--registry-mirror", f"docker.io={mirror}"]
        log_path = os.path.join(data_dir, f"agent-{name}.log")
        with open(log_path, "ab") as log:
            start = log.tell()
            proc = subprocess.Popen([*_shoal(), "agent", "--server", listen, *args], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        records.append({"name": name, "pid": proc.pid, "args": args, "log": log_path})
        _save_agents(data_dir, records)
        # One at a time: each agent picks its pod CIDR seeing the nodes registered before it.
        deadline = time.monotonic() + timeout
        while True:
            with open(log_path, "rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
            line = next((ln for ln in text.splitlines() if "registered with" in ln), "")
            if line:
                print(line.replace("shoal agent: ", "agent ready: "))
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                print(f"error: agent {name} did not start; see {log_path}", file=sys.stderr)
                return 1
            time.sleep(0.1)
    return 0


def _stop_pid(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _down_agents(data_dir: str, timeout: float) -> None:
    records = _load_agents(data_dir)
    for rec in records:
        if _alive(rec["pid"]):
            _stop_pid(rec["pid"], timeout)
            print(f"agent {rec['name']} (pid {rec['pid']}) stopped")
    for rec in records:
        args = rec.get("args", [])
        if "--state-dir" in args and "sim" not in args:
            # The agent leaves containers running for its next run to adopt; down removes them.
            result = subprocess.run([*_shoal(), "agent", "--clean-up", *args], capture_output=True, text=True)
            if result.stdout.strip():
                print(result.stdout.strip())
            if result.returncode != 0:
                print(f"warning: cleaning up {rec['name']}: {result.stderr.strip()[-500:]}", file=sys.stderr)
    if records:
        _save_agents(data_dir, [])


def _stop_pid_file(data_dir: str, rel: str, what: str, timeout: float) -> None:
    path = os.path.join(data_dir, rel)
    try:
        with open(path) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    if _alive(pid):
        _stop_pid(pid, timeout)
        print(f"{what} (pid {pid}) stopped")
    try:
        os.unlink(path)
    except OSError:
        pass
