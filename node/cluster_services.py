"""ClusterServices: what a container node does for Services, put together.

    ServiceWatcher --> ServiceCatalog --+--> ServiceProxy   (ClusterIP/NodePort forwarding)
                                        +--> ClusterDNS     (names, on the bridge gateway)
                                        +--> environment()  (the containers' variables)

The watch starts with the agent (so the first containers already see every Service); the
forwarding and the DNS responder once the node's pod CIDR and bridge are known. ``stop`` removes
the node's rules and closes the responder.
"""

from __future__ import annotations

import logging

from shoal.node.dns import ClusterDNS, ResolverConfig, catalog_lookup, gateway_ip
from shoal.node.service_catalog import ServiceCatalog, ServiceWatcher
from shoal.node.service_proxy import ServiceProxy, choose_backend

log = logging.getLogger("shoal.node.services")


def _host_nameservers() -> list[str]:
    try:
        with open("/etc/resolv.conf") as f:
            return ResolverConfig.parse(f.read()).nameservers
    except OSError:
        return []


class ClusterServices:
    def __init__(self, api, node: str, *, proxy_mode: str = "auto", dns: bool = True) -> None:
        self.node = node
        self.catalog = ServiceCatalog()
        self.watcher = ServiceWatcher(api, self.catalog)
        self.proxy_mode = proxy_mode
        self.dns_enabled = dns
        self.proxy: ServiceProxy | None = None
        self.dns: ClusterDNS | None = None
        self.pod_cidr = ""

    def start_watch(self) -> None:
        self.watcher.start()

    async def start_node(self, pod_cidr: str, bridge: str) -> None:
        """Forwarding and DNS for the node whose pods live in ``pod_cidr`` behind ``bridge``."""
        self.pod_cidr = pod_cidr
        if self.proxy_mode != "off":
            backend = await choose_backend(self.node, bridge, self.proxy_mode)
            if backend is None:
                log.warning("node %s: no way to forward Services here (%s): they are not forwarded", self.node,
                            self.proxy_mode)
            else:
                self.proxy = ServiceProxy(self.catalog, backend)
                self.proxy.start()
        if self.dns_enabled:
            dns = ClusterDNS(gateway_ip(pod_cidr), catalog_lookup(self.catalog), upstreams=_host_nameservers())
            try:
                await dns.start()
                self.dns = dns
            except OSError as exc:
                log.warning("node %s: cluster DNS on %s:53: %s", self.node, dns.address, exc)

    async def stop(self) -> None:
        await self.watcher.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        if self.dns is not None:
            await self.dns.stop()

    def nameserver(self, pod_cidr: str) -> str:
        """The address pods of ``pod_cidr`` use as their nameserver ("" without cluster DNS).
        Known before the responder listens: a pod asking early retries, as resolvers do."""
        return gateway_ip(pod_cidr) if self.dns_enabled and pod_cidr else ""

    async def environment(self, pod) -> dict[str, str]:
        """The service variables of a container of ``pod`` starting now."""
        if not await self.watcher.wait_synced():
            log.warning("pod %s/%s: the Service list is not in yet: starting without its Service variables",
                        pod.metadata.namespace, pod.metadata.name)
        links = pod.spec.enable_service_links if pod.spec.HasField("enable_service_links") else True
        return self.catalog.service_environment(pod.metadata.namespace, links)


def attach(agents, api, proxy_mode: str = "auto") -> ClusterServices | None:
    """ClusterServices for an agent process running one container node (hollow and process
    nodes have no pod network to forward into); starts its watch. None when not applicable."""
    runtime = agents[0].runtime if len(agents) == 1 else None
    if runtime is None or not runtime.isolated or not hasattr(runtime, "cluster_services"):
        return None
    services = ClusterServices(api, agents[0].name, proxy_mode=proxy_mode)
    agents[0].runtime.cluster_services = services
    services.start_watch()
    return services


async def remove_rules(node: str) -> None:
    """Removes the forwarding rules a killed agent of ``node`` left (``shoal agent --clean-up``)."""
    import shutil

    from shoal.node.network import bridge_name
    from shoal.node.service_proxy import IptablesBackend, NftBackend

    if shutil.which("nft"):
        await NftBackend(node, bridge_name(node)).remove()
    if shutil.which("iptables"):
        await IptablesBackend(node, bridge_name(node)).remove()
    if shutil.which("ip"):
        from shoal.node.userspace_proxy import UserspaceBackend

        await UserspaceBackend(node, bridge_name(node)).remove()
