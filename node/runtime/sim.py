"""The hollow runtime: no processes, a scripted lifecycle, synthetic utilization.

Pods reach Running after ``start_delay`` seconds. A pod can script its containers' end with
annotations, so hollow clusters can model batch work too:

    sim.shoal.io/exit-after-seconds: "30"    every container exits 30 s after it starts
    sim.shoal.io/exit-code: "1"              ... with this code (default 0)

An image whose name contains ``sim-pull-error`` fails to pull (ErrImagePull), for tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import random
import time

from shoal.node.runtime.base import ContainerUsage, ExitInfo, ImagePullError, ImageRecord, Runtime, RuntimeError_
from shoal.proto.quantity import milli_value, value

EXIT_AFTER = "sim.shoal.io/exit-after-seconds"
EXIT_CODE = "sim.shoal.io/exit-code"


class _SimContainer:
    __slots__ = ("exit", "cpu_milli", "memory", "timer")

    def __init__(self, exit_future: asyncio.Future, cpu_milli: int, memory: int) -> None:
        self.exit = exit_future
        self.cpu_milli = cpu_milli
        self.memory = memory
        self.timer: asyncio.TimerHandle | None = None


class SimRuntime(Runtime):
    name = "sim"
    isolated = False

    def __init__(self, *, pod_cidr: str = "10.244.0.0/24", start_delay: float = 0.0, clock=time.time,
                 seed: int | None = None) -> None:
        self._set_network(pod_cidr)
        self._ips: dict[str, int] = {}
        self._containers: dict[tuple[str, str], _SimContainer] = {}
        self._images: set[str] = set()
        self.start_delay = start_delay
        self.clock = clock
        self._random = random.Random(seed)

    def _set_network(self, pod_cidr: str) -> None:
        network = ipaddress.ip_network(pod_cidr, strict=False)
        self._base = int(network.network_address)
        self._size = network.num_addresses
        self._next_host = 2  # .1 is the gateway

    async def start(self, pod_cidr: str) -> None:
        if pod_cidr:
            self._set_network(pod_cidr)

    def version(self) -> str:
        return "sim://0.1.0"

    async def pull_image(self, image: str, policy: str) -> str:
        if "sim-pull-error" in image:
            raise ImagePullError(f'failed to pull image "{image}": simulated pull error')
        self._images.add(image)
        return "sim://sha256:" + hashlib.sha256(image.encode()).hexdigest()

    def images(self) -> list[ImageRecord]:
        return [ImageRecord((name,), 1_000_000) for name in sorted(self._images)]

    async def create_sandbox(self, pod) -> str:
        uid = pod.metadata.uid
        if uid not in self._ips:
            used = set(self._ips.values())
            for _ in range(self._size - 3):
                host = self._next_host
                self._next_host = 2 + (self._next_host - 1) % (self._size - 3)
                if host not in used:
                    self._ips[uid] = host
                    break
            else:
                raise RuntimeError_("no pod address left in the node's pod CIDR")
        return str(ipaddress.ip_address(self._base + self._ips[uid]))

    async def start_container(self, pod, container, *, attempt: int, init: bool) -> str:
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        loop = asyncio.get_running_loop()
        requests = container.resources.requests
        record = _SimContainer(loop.create_future(), milli_value(requests.get("cpu", "0")),
                               value(requests.get("memory", "0")))
        key = (pod.metadata.uid, container.name)
        self._containers[key] = record
        annotations = pod.metadata.annotations
        if EXIT_AFTER in annotations:
            code = int(annotations.get(EXIT_CODE, "0"))
            record.timer = loop.call_later(float(annotations[EXIT_AFTER]), self._exit, key, code)
        return f"sim://{pod.metadata.uid[:8]}-{container.name}-{attempt}"

    def _exit(self, key: tuple[str, str], code: int) -> None:
        record = self._containers.get(key)
        if record is not None and not record.exit.done():
            record.exit.set_result(ExitInfo(code, self.clock(), signal=0))

    async def wait_container(self, pod_uid: str, name: str) -> ExitInfo:
        record = self._containers.get((pod_uid, name))
        if record is None:
            return ExitInfo(0, self.clock())
        try:
            return await record.exit
        finally:
            if record.timer is not None:
                record.timer.cancel()
            self._containers.pop((pod_uid, name), None)

    async def stop_container(self, pod_uid: str, name: str, grace_seconds: int) -> None:
        # A hollow container honours SIGTERM at once.
        self._exit((pod_uid, name), 143 if grace_seconds > 0 else 137)

    async def remove_sandbox(self, pod_uid: str) -> None:
        self._ips.pop(pod_uid, None)

    def usage(self) -> list[ContainerUsage]:
        """Synthetic: a random share of each container's requests."""
        out = []
        for (uid, name), rec in self._containers.items():
            cpu = int(rec.cpu_milli * 1_000_000 * self._random.uniform(0.2, 0.9))
            mem = int(rec.memory * self._random.uniform(0.3, 0.8)) or 4 * 1024 * 1024
            out.append(ContainerUsage(uid, name, cpu, mem))
        return out
