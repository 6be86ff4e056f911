"""What the node is: capacity, addresses and system info, read from the machine (or given)."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field

from shoal.v1 import core_pb2

AGENT_VERSION = "v0.1.0-shoal"
DEFAULT_MAX_PODS = 110
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass
class NodeResources:
    """Quantities as the API spells them ("2", "16Gi")."""

    capacity: dict[str, str]
    allocatable: dict[str, str]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def memory_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_resources(state_dir: str, *, cpu: str = "", memory: str = "", pods: int = DEFAULT_MAX_PODS,
                      reserved_cpu_milli: int = 0, reserved_memory: int = 0) -> NodeResources:
    """Capacity from the machine unless given; allocatable is capacity minus what is reserved."""
    from shoal.proto.quantity import milli_value, value

    cpu_milli = milli_value(cpu) if cpu else cpu_count() * 1000
    mem = value(memory) if memory else memory_bytes()
    try:
        st = os.statvfs(state_dir if os.path.isdir(state_dir) else "/")
        storage = st.f_blocks * st.f_frsize
    except OSError:
        storage = 0
    capacity = {"cpu": _milli(cpu_milli), "memory": f"{mem // 1024}Ki", "pods": str(pods),
                "ephemeral-storage": f"{storage // 1024}Ki"}
    allocatable = dict(capacity)
    allocatable["cpu"] = _milli(max(0, cpu_milli - reserved_cpu_milli))
    allocatable["memory"] = f"{max(0, mem - reserved_memory) // 1024}Ki"
    return NodeResources(capacity, allocatable)


def _milli(m: int) -> str:
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


def host_ip() -> str:
    """The address the machine uses to reach the outside (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


@dataclass
class SystemInfo:
    runtime_version: str
    machine_id: str = field(default_factory=lambda: _read("/etc/machine-id"))
    boot_id: str = field(default_factory=lambda: _read("/proc/sys/kernel/random/boot_id"))
    system_uuid: str = field(default_factory=lambda: _read("/sys/class/dmi/id/product_uuid"))
    kernel_version: str = field(default_factory=platform.release)
    os_image: str = field(default_factory=os_image)
    architecture: str = field(default_factory=lambda: _ARCH.get(platform.machine(), platform.machine()))

    def to_proto(self) -> core_pb2.NodeSystemInfo:
        return core_pb2.NodeSystemInfo(
            machine_id=self.machine_id, system_uuid=self.system_uuid, boot_id=self.boot_id,
            kernel_version=self.kernel_version, os_image=self.os_image,
            container_runtime_version=self.runtime_version, kubelet_version=AGENT_VERSION,
            kube_proxy_version=AGENT_VERSION, operating_system="linux", architecture=self.architecture,
        )
