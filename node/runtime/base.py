"""The interface every runtime offers the agent, and the values that cross it.

A runtime knows pods by uid and containers by name; it keeps whatever it needs on disk to find
them again after the agent restarts (``recover``). Calls are idempotent where the lifecycle may
repeat them (stopping a stopped container, removing a removed sandbox).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from shoal.node.lifecycle import RecoveredContainer


class RuntimeError_(Exception):
    """A runtime operation failed; the message is for the user (it lands in the pod's status)."""


class ImagePullError(RuntimeError_):
    def __init__(self, message: str, *, never: bool = False) -> None:
        super().__init__(message)
        self.never = never


class RuntimeUnavailable(RuntimeError_):
    """The runtime cannot work on this machine (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class ExitInfo:
    exit_code: int
    finished_at: float
    oom_killed: bool = False
    signal: int = 0
    message: str = ""


@dataclass(slots=True)
class RecoveredPod:
    uid: str
    namespace: str
    name: str
    pod_ip: str
    containers: list[RecoveredContainer] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImageRecord:
    names: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    pod_uid: str
    container: str
    cpu_usage_nanocores: int
    memory_working_set_bytes: int


class Runtime(abc.ABC):
    #: "runc", "crun", "process", "sim"
    name: str = ""
    #: False for runtimes that run containers as plain host processes.
    isolated: bool = True

    async def start(self, pod_cidr: str) -> None:
        """Prepare the machine (directories, the pod network for ``pod_cidr``). Raises
        RuntimeUnavailable."""

    async def close(self) -> None:
        """Release what the runtime holds in this process; containers keep running."""

    @abc.abstractmethod
    def version(self) -> str:
        """As nodeInfo.containerRuntimeVersion shows it: "runc://1.1.5"."""

    @abc.abstractmethod
    async def pull_image(self, image: str, policy: str) -> str:
        """Makes ``image`` present per ``policy``; returns its image id. Raises ImagePullError."""

    @abc.abstractmethod
    async def create_sandbox(self, pod) -> str:
        """Creates the pod's sandbox (network namespace, address); returns the pod IP."""

    @abc.abstractmethod
    async def start_container(self, pod, container, *, attempt: int, init: bool) -> str:
        """Creates and starts one container of a pod whose sandbox exists; returns its id
        ("runc://..."). Raises RuntimeError_ if it cannot start."""

    @abc.abstractmethod
    async def wait_container(self, pod_uid: str, name: str) -> ExitInfo:
        """Waits until the container ends, cleans up its runtime state (not its logs) and says how
        it ended."""

    @abc.abstractmethod
    async def stop_container(self, pod_uid: str, name: str, grace_seconds: int) -> None:
        """SIGTERM, then SIGKILL after ``grace_seconds``. Idempotent."""

    @abc.abstractmethod
    async def remove_sandbox(self, pod_uid: str) -> None:
        """Removes everything the pod's sandbox holds (network, directories). Idempotent."""

    async def recover(self) -> list[RecoveredPod]:
        """The pods this runtime still holds from an earlier run of the agent."""
        return []

    def images(self) -> list[ImageRecord]:
        return []

    async def exec_in(self, pod_uid: str, name: str, command: list[str], timeout: float) -> tuple[int, bytes]:
        """Runs a command in a running container (exec probes); returns its exit code and its
        stdout and stderr together."""
        code, out, err = await self.exec_streams(pod_uid, name, command, timeout)
        return code, out + err

    async def exec_streams(self, pod_uid: str, name: str, command: list[str], timeout: float,
                           stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        """Runs a command in a running container with ``stdin`` as its input (`shoal exec`);
        returns its exit code, stdout and stderr."""
        raise RuntimeError_(f"{self.name} runtime cannot exec")

    def log_path(self, pod_uid: str, name: str, attempt: int) -> str | None:
        return None

    def usage(self) -> list[ContainerUsage]:
        return []
