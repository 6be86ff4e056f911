"""Pod networking through the standard CNI plugins: a network namespace per pod, an address from
the node's pod CIDR.

    ip netns add shoal-<uid>                    the pod's namespace, at /run/netns/shoal-<uid>
    CNI loopback ADD                            lo up inside it
    CNI bridge ADD (ipam host-local)            veth pair: one end eth0 in the pod, the other on
                                                the node's bridge, whose address (.1) is the
                                                pods' gateway; the host reaches pods through it
    CNI portmap ADD (pods with hostPorts)       DNAT of node:hostPort to pod:containerPort
                                                (iptables chains named after the pod), with
                                                SNAT so the host itself reaches it too
    CNI portmap DEL, bridge DEL, ip netns del   removes the port rules, releases the address,
                                                removes the veth and the namespace (its bind
                                                mount under /run/netns)

The bridge is named after the node (``shoal-<hash>``), so several agents can share a machine,
each with its own pod CIDR; host-local keeps its leases under the agent's state directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass

from shoal.node.procutil import run
from shoal.node.runtime.base import RuntimeUnavailable

log = logging.getLogger("shoal.node")

CNI_PATHS = ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni")
NETNS_DIR = "/run/netns"
CNI_VERSION = "1.0.0"


class NetworkError(Exception):
    pass


def bridge_name(node: str) -> str:
    return "shoal-" + hashlib.sha256(node.encode()).hexdigest()[:8]


def netns_name(uid: str) -> str:
    return f"shoal-{uid}"


def port_mappings(pod) -> list[dict]:
    """The pod's containerPort/hostPort pairs as the CNI portMappings capability wants them
    (ports without a hostPort are not published)."""
    out = []
    for container in pod.spec.containers:
        for port in container.ports:
            if port.host_port:
                out.append({"hostPort": port.host_port, "containerPort": port.container_port,
                            "protocol": (port.protocol or "TCP").lower(), "hostIP": port.host_ip})
    return out


def find_cni_bin() -> str:
    for path in CNI_PATHS:
        if os.path.exists(os.path.join(path, "bridge")) and os.path.exists(os.path.join(path, "host-local")):
            return path
    raise RuntimeUnavailable("the CNI plugins (bridge, host-local) are not installed: "
                             "apt-get install containernetworking-plugins")


@dataclass
class PodNetwork:
    node: str
    pod_cidr: str
    state_dir: str
    cni_bin: str = ""

    def __post_init__(self) -> None:
        self.bridge = bridge_name(self.node)
        self.network_name = f"shoal-{self.node}"[:64]
        self.ipam_dir = os.path.join(self.state_dir, "cni", "networks")

    def check(self) -> None:
        self.cni_bin = self.cni_bin or find_cni_bin()
        if shutil.which("ip") is None:
            raise RuntimeUnavailable("iproute2 is not installed (apt-get install iproute2)")
        os.makedirs(self.ipam_dir, exist_ok=True)

    def bridge_conf(self) -> dict:
        return {
            "cniVersion": CNI_VERSION,
            "name": self.network_name,
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": True,
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_cidr}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": self.ipam_dir},
        }

    def portmap_conf(self, mappings: list[dict], prev_result: dict | None = None) -> dict:
        conf = {"cniVersion": CNI_VERSION, "name": self.network_name, "type": "portmap",
                "capabilities": {"portMappings": True}, "snat": True,
                "runtimeConfig": {"portMappings": mappings}}
        if prev_result is not None:
            conf["prevResult"] = prev_result
        return conf

    def loopback_conf(self) -> dict:
        return {"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"}

    async def _plugin(self, command: str, conf: dict, uid: str, netns: str, ifname: str) -> dict:
        env = {
            "CNI_COMMAND": command, "CNI_CONTAINERID": uid, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
            "CNI_PATH": self.cni_bin, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        }
        result = await run(os.path.join(self.cni_bin, conf["type"]), input=json.dumps(conf).encode(), env=env,
                           timeout=60)
        if not result.ok:
            detail = result.stdout.decode(errors="replace").strip() or result.error()
            try:
                err = json.loads(detail)
                detail = f"{err.get('msg', '')} {err.get('details', '')}".strip()
            except ValueError:
                pass
            raise NetworkError(f"CNI {conf['type']} {command}: {detail}")
        return json.loads(result.stdout or b"{}")

    def netns_path(self, uid: str) -> str:
        return os.path.join(NETNS_DIR, netns_name(uid))

    async def add(self, uid: str, mappings: list[dict] = ()) -> str:
        """Creates the pod's namespace and network and publishes its host ports (``mappings``,
        see port_mappings); returns the pod IP. Idempotent enough: a half-made sandbox is torn
        down first."""
        path = self.netns_path(uid)
        if os.path.exists(path):
            await self.delete(uid, mappings)
        result = await run("ip", "netns", "add", netns_name(uid), timeout=30)
        if not result.ok:
            raise NetworkError(f"ip netns add: {result.error()}")
        try:
            await self._plugin("ADD", self.loopback_conf(), uid, path, "lo")
            out = await self._plugin("ADD", self.bridge_conf(), uid, path, "eth0")
            if mappings:
                await self._plugin("ADD", self.portmap_conf(list(mappings), out), uid, path, "eth0")
        except NetworkError:
            await self.delete(uid, mappings)
            raise
        for ip in out.get("ips", []):
            address = ip.get("address", "")
            if "." in address:
                return address.split("/", 1)[0]
        await self.delete(uid)
        raise NetworkError("the bridge plugin returned no IPv4 address")

    async def delete(self, uid: str, mappings: list[dict] = ()) -> None:
        """Removes the pod's host port rules, releases the address and removes the veth and the
        namespace. Idempotent."""
        path = self.netns_path(uid)
        netns = path if os.path.exists(path) else ""
        if mappings:
            # portmap's DEL finds its rules by the container id; it needs no namespace.
            try:
                await self._plugin("DEL", self.portmap_conf(list(mappings)), uid, netns, "eth0")
            except NetworkError as exc:
                log.warning("pod %s: host port rules: %s", uid, exc)
        try:
            await self._plugin("DEL", self.bridge_conf(), uid, netns, "eth0")
        except NetworkError:
            # Without the namespace the plugin may fail; the address must still be let go.
            self._release_address(uid)
        if netns:
            result = await run("ip", "netns", "del", netns_name(uid), timeout=30)
            if not result.ok and os.path.exists(path):
                raise NetworkError(f"ip netns del: {result.error()}")

    def _release_address(self, uid: str) -> None:
        """host-local's lease files hold the container id: remove the ones of ``uid``."""
        net_dir = os.path.join(self.ipam_dir, self.network_name)
        try:
            names = os.listdir(net_dir)
        except OSError:
            return
        for name in names:
            path = os.path.join(net_dir, name)
            try:
                with open(path) as f:
                    if f.readline().strip() == uid:
                        os.unlink(path)
            except OSError:
                continue

    async def remove_bridge(self) -> None:
        await run("ip", "link", "del", self.bridge, timeout=30)
