"""The `shoal server` process: store, API, gRPC (health and reflection on), compaction."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from shoal.control.api.objects import ObjectAPI
from shoal.control.api.servicer import NODE_SERVICE_NAME, SERVICE_NAME, ClusterServicer, NodeServicer
from shoal.control.store.interface import StoreError
from shoal.control.store.sqlite import SqliteStore

log = logging.getLogger("shoal.server")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # bulk applies of large manifests; objects are capped separately


@dataclass
class ServerConfig:
    data_dir: str
    listen: str
    history_revisions: int = 100_000
    compact_interval: float = 60.0
    bookmark_interval: float = 60.0
    watch_batch_window: float = 0.05
    # NORMAL (WAL): an acknowledged write survives kill -9 of the server, as k3s's SQLite store
    # (kine, go-sqlite3's default) does; FULL adds an fsync per group commit for power loss.
    synchronous: str = "NORMAL"
    log_level: str = "INFO"
    controllers: bool = True  # run the controller manager (control/controllers) in this process
    scheduler: bool = True  # run the scheduler (shoal.sched.loop) in this process
    batch_window_ms: int = 0  # the scheduler's batch mode (sched/loop/batch.py); 0: off
    # kube-controller-manager's --controllers ("*", "*,-job", ...); None: SHOAL_CONTROLLERS or "*"
    controller_names: str | None = None
    # Seconds a node's Lease may go unrenewed before it is Ready=Unknown and tainted unreachable
    # (node lifecycle); None: SHOAL_NODE_MONITOR_GRACE_SECONDS or 40.
    node_monitor_grace_period: float | None = None


class StartupError(Exception):
    """A reason the server cannot start, said in one line."""


async def _compact_forever(store: SqliteStore, keep: int, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        target = store.committed_revision - keep
        if target > store.compacted_revision:
            try:
                await store.compact(target)
            except Exception:
                log.exception("compaction failed")


async def serve(config: ServerConfig, stop: asyncio.Event | None = None) -> None:
    if config.batch_window_ms < 0:
        raise StartupError(f"--batch-window: must be >= 0 milliseconds, not {config.batch_window_ms}")
    if config.controllers and config.controller_names is not None:
        from shoal.control.controllers.manager import registry, resolve_enabled

        try:
            resolve_enabled(config.controller_names, registry())
        except ValueError as exc:
            raise StartupError(f"--controllers: {exc}") from None
    try:
        os.makedirs(config.data_dir, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data dir {config.data_dir} is unusable: {exc.strerror}") from exc
    if not os.access(config.data_dir, os.W_OK | os.X_OK):
        raise StartupError(f"data dir {config.data_dir} is not writable")
    try:
        store = await SqliteStore.open(os.path.join(config.data_dir, "state.db"), synchronous=config.synchronous)
    except StoreError as exc:
        raise StartupError(str(exc)) from exc

    api = ObjectAPI(store, watch_coalesce=config.watch_batch_window)
    await api.ensure_namespaces()

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
    ClusterServicer(api, bookmark_interval=config.bookmark_interval).register(server)
    # -- NodeService: logs/exec proxied to the agents, the utilization window (api/node_proxy.py,
    # api/utilization.py) --------------------------------------------------------------------
    NodeServicer(api).register(server)
    # -- end NodeService -------------------------------------------------------------------------
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, NODE_SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(config.listen)
    except RuntimeError as exc:
        await store.close()
        raise StartupError(f"cannot listen on {config.listen}: address in use or not available") from exc
    await server.start()
    await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    await health.set(NODE_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)  # NodeService
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    host = config.listen.rsplit(":", 1)[0]
    print(f"shoal server listening on {host}:{port} (data dir {config.data_dir}, revision {store.revision})", flush=True)

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    compactor = asyncio.create_task(
        _compact_forever(store, config.history_revisions, config.compact_interval)
    )
    # -- controllers (control/controllers/manager.py): a client of the API just started --------
    controller_manager = None
    if config.controllers:
        from shoal.control.controllers.controller import ControllerSettings
        from shoal.control.controllers.manager import run_controller_manager

        settings = ControllerSettings.from_env()
        if config.node_monitor_grace_period is not None:
            settings.node_monitor_grace_seconds = config.node_monitor_grace_period
        api_host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]", "::") else host
        controller_manager = asyncio.create_task(
            run_controller_manager(f"{api_host}:{port}", stop, enabled=config.controller_names, settings=settings),
            name="controller-manager",
        )
    # -- end controllers ---------------------------------------------------------------------
    # -- scheduler (sched/loop): a client of the API just started, like the controllers -------
    scheduler = None
    if config.scheduler:
        from shoal.sched.loop import run_scheduler

        api_host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]", "::") else host
        scheduler = asyncio.create_task(
            run_scheduler(f"{api_host}:{port}", stop, batch_window=config.batch_window_ms / 1000.0), name="scheduler")
    # -- end scheduler -------------------------------------------------------------------------
    await stop.wait()
    log.info("shutting down")
    if controller_manager is not None:  # controllers stop before the API they talk to
        controller_manager.cancel()
        await asyncio.gather(controller_manager, return_exceptions=True)
    if scheduler is not None:  # the scheduler too (sched/loop)
        scheduler.cancel()
        await asyncio.gather(scheduler, return_exceptions=True)
    compactor.cancel()
    await health.enter_graceful_shutdown()
    await server.stop(grace=2)
    await store.close()
    print("shoal server stopped", flush=True)


def run(config: ServerConfig) -> int:
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
