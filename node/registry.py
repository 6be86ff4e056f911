"""A local OCI registry (Debian's docker-registry, the CNCF distribution) on loopback.

`shoal up` runs one on 127.0.0.1:5000 as the cluster's registry and docker.io mirror; tests run
one on a free port.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

CONFIG = """version: 0.1
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


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("registry")


def is_serving(address: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LocalRegistry:
    def __init__(self, work_dir: str, *, host: str = "127.0.0.1", port: int = 5000) -> None:
        self.work_dir = work_dir
        self.address = f"{host}:{port}"
        self.proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> str:
        return os.path.join(self.work_dir, "config.yml")

    def write_config(self) -> None:
        data = os.path.join(self.work_dir, "data")
        os.makedirs(data, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(CONFIG.format(data=data, address=self.address))

    def command(self) -> list[str]:
        binary = registry_binary()
        if binary is None:
            raise FileNotFoundError("docker-registry is not installed (apt-get install docker-registry)")
        return [binary, "serve", self.config_path]

    def start(self, timeout: float = 15.0, *, detach: bool = False) -> "LocalRegistry":
        self.write_config()
        log = open(os.path.join(self.work_dir, "registry.log"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=detach)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}; see {log.name}")
            if is_serving(self.address, 0.5):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry not serving on {self.address} after {timeout:g}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
