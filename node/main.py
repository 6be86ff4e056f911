"""`shoal agent`: build the runtime(s) and NodeAgent(s) from the flags and run their Fleet."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time

from shoal.node.agent import AgentConfig, NodeAgent
from shoal.node.api import NodeAPI
from shoal.node.fleet import Fleet
from shoal.node.lifecycle import BackoffPolicy
from shoal.node.machine import NodeResources, SystemInfo, host_ip, machine_resources
from shoal.node.runtime.base import RuntimeUnavailable
from shoal.proto.client import APIStatusError

log = logging.getLogger("shoal.node")
HOLLOW_LABEL = "shoal.io/hollow"
STARTUP_RETRY_SECONDS = 30.0


def parse_labels(text: str) -> dict[str, str]:
    labels = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def hollow_pod_cidr(index: int) -> str:
    """Distinct /24s in 10.128.0.0/9 for up to 32768 hollow nodes (never routed anywhere)."""
    return f"10.{128 + index // 256}.{index % 256}.0/24"


def build_agents(args: argparse.Namespace, api) -> list[NodeAgent]:
    backoff = BackoffPolicy(initial=args.backoff_initial, maximum=args.backoff_max)
    labels = parse_labels(args.node_labels)
    if args.runtime == "sim":
        return _hollow_agents(args, api, backoff, labels)
    if args.count != 1:
        raise SystemExit("error: --count needs --runtime sim (hollow nodes)")
    from shoal.node.runtime.choose import make_runtime

    name = args.name = args.name or socket.gethostname()
    runtime = make_runtime(args.runtime, args)
    resources = machine_resources(args.state_dir, cpu=args.cpu, memory=args.memory, pods=args.pods)
    config = AgentConfig(name=name, resources=resources, labels=labels, pod_cidr=args.pod_cidr, host_ip=host_ip(),
                         lease_duration_seconds=args.lease_duration, backoff=backoff,
                         validate=os.environ.get("SHOAL_AGENT_VALIDATE") == "1")
    return [NodeAgent(config, api, runtime, SystemInfo(runtime.version()))]


def _hollow_agents(args, api, backoff, labels) -> list[NodeAgent]:
    from shoal.node.runtime.sim import SimRuntime

    count = max(1, args.count)
    cpu, memory = args.cpu or "4", args.memory or "16Gi"
    resources = NodeResources(
        capacity={"cpu": cpu, "memory": memory, "pods": str(args.pods), "ephemeral-storage": "100Gi"},
        allocatable={"cpu": cpu, "memory": memory, "pods": str(args.pods), "ephemeral-storage": "100Gi"},
    )
    sysinfo = SystemInfo("sim://0.1.0")
    sysinfo.machine_id = sysinfo.boot_id = sysinfo.system_uuid = ""
    agents = []
    for i in range(count):
        name = args.name if count == 1 and args.name else f"{args.name_prefix}{i}"
        cidr = args.pod_cidr if count == 1 and args.pod_cidr else hollow_pod_cidr(i)
        config = AgentConfig(name=name, resources=resources, labels={HOLLOW_LABEL: "true", **labels}, pod_cidr=cidr,
                             host_ip=f"10.{128 + i // 256}.{i % 256}.1", lease_duration_seconds=args.lease_duration,
                             backoff=backoff, story_size=16, validate=os.environ.get("SHOAL_AGENT_VALIDATE") == "1")
        agents.append(NodeAgent(config, api, SimRuntime(start_delay=args.sim_start_delay), sysinfo))
    return agents


async def _start_with_retries(fleet: Fleet, stop: asyncio.Event) -> bool:
    deadline = time.monotonic() + STARTUP_RETRY_SECONDS
    while True:
        try:
            await fleet.start()
            return True
        except APIStatusError as exc:
            if exc.reason not in ("ServiceUnavailable", "Timeout") or time.monotonic() > deadline or stop.is_set():
                raise
            log.info("waiting for the API at %s: %s", fleet.api.address, exc.message)
            await asyncio.sleep(0.5)


async def main_async(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    api = NodeAPI(args.server, token=args.token)
    try:
        agents = build_agents(args, api)
    except RuntimeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    fleet = Fleet(api, agents, lease_interval=args.lease_interval, node_status_interval=args.node_status_interval)
    http = None
    reporting: asyncio.Task | None = None
    services = None
    try:
        if args.http_port and len(agents) == 1:
            from shoal.node.http import AgentHTTP

            http = AgentHTTP(agents[0], host=args.http_address, port=max(0, args.http_port))
            await http.start()
            agents[0].config.kubelet_port = http.port
        from shoal.node import cluster_services
        from shoal.node.network import bridge_name

        services = cluster_services.attach(agents, api, getattr(args, "proxy_mode", "auto"))
        await _start_with_retries(fleet, stop)
        if services is not None:
            await services.start_node(agents[0].config.pod_cidr, bridge_name(agents[0].name))
        if args.stats_interval > 0:
            from shoal.node.utilization import UtilizationReporter

            reporter = UtilizationReporter(api, agents, interval=args.stats_interval)
            reporting = asyncio.get_running_loop().create_task(reporter.run(), name="utilization")
        first = agents[0]
        what = f"{len(agents)} hollow nodes" if len(agents) > 1 else f"node {first.name}"
        print(f"shoal agent: {what} registered with {args.server} (runtime {first.runtime.version()}, "
              f"pod CIDR {first.config.pod_cidr}, pid {os.getpid()}"
              + (f", http {http.host}:{http.port}" if http else "") + ")", flush=True)
        await stop.wait()
    except RuntimeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except APIStatusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if reporting is not None:
            reporting.cancel()
            await asyncio.gather(reporting, return_exceptions=True)
        if http is not None:
            await http.stop()
        await fleet.stop()
        if services is not None:
            await services.stop()
        await api.close()
    return 0


async def clean_up(args: argparse.Namespace) -> int:
    from shoal.node.runtime.choose import make_runtime
    from shoal.node.runtime.oci import OCIRuntime

    args.name = args.name or socket.gethostname()
    if not os.path.isdir(args.state_dir):
        print(f"nothing to clean up in {args.state_dir}")
        return 0
    import json

    try:
        with open(os.path.join(args.state_dir, "node.json")) as f:
            recorded = json.load(f).get("runtime", "")
    except (OSError, ValueError):
        recorded = ""
    kind = recorded if recorded in ("runc", "crun", "process") else args.runtime
    try:
        runtime = make_runtime(kind if kind != "sim" else "auto", args)
    except RuntimeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not isinstance(runtime, OCIRuntime):
        return 0
    removed = await runtime.remove_everything()
    from shoal.node.cluster_services import remove_rules

    await remove_rules(args.name)
    print(f"removed {removed} pod(s) of node {args.name} from {args.state_dir}")
    return 0


def run_agent(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.clean_up:
        return asyncio.run(clean_up(args))
    return asyncio.run(main_async(args))
