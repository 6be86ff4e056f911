"""Which server, namespace and token a command uses, as kubectl decides it:
the flag (--server/-s, --namespace/-n, --token), else the environment (SHOAL_SERVER,
SHOAL_NAMESPACE, SHOAL_TOKEN), else the config context (--context, else current-context),
else the default (the address `shoal server` listens on, namespace "default", no token)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from shoal.control.cli_verbs import config as cli_config
from shoal.control.cli_verbs.base import CLIError

NAMESPACE_ENV = "SHOAL_NAMESPACE"
TOKEN_ENV = "SHOAL_TOKEN"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Connection:
    server: str
    namespace: str
    token: str
    # True when -n/--namespace was given: manifests naming another namespace are then refused,
    # as kubectl refuses them.
    namespace_from_flag: bool

    def client(self, *, timeout: float | None = 30.0):
        from shoal.proto.client import ClusterClient

        return ClusterClient(self.server, timeout=timeout, token=self.token)


def resolve(args: argparse.Namespace) -> Connection:
    from shoal.proto.defaults import DEFAULT_LISTEN, SERVER_ENV

    flags = {name: getattr(args, name, None) for name in ("server", "namespace", "token", "context")}
    context: dict[str, str] = {}
    if not all(flags[name] for name in ("server", "namespace", "token")):
        config = cli_config.load()
        name = flags["context"] or config.current_context
        if flags["context"] and name not in config.contexts:
            raise CLIError(f'context "{name}" does not exist in {config.path}')
        context = config.context(name) if name else {}
    server = flags["server"] or os.environ.get(SERVER_ENV) or context.get("server") or DEFAULT_LISTEN
    namespace = flags["namespace"] or os.environ.get(NAMESPACE_ENV) or context.get("namespace") or DEFAULT_NAMESPACE
    token = flags["token"] or os.environ.get(TOKEN_ENV) or context.get("token") or ""
    server = _address(server)
    args._server_address = server  # for the "cannot reach" message
    return Connection(server, namespace, token, namespace_from_flag=bool(flags["namespace"]))


def _address(server: str) -> str:
    """HOST:PORT from what users paste: "grpc://host:7443", "http://host:7443/", "host:7443"."""
    for scheme in ("grpc://", "grpcs://", "http://", "https://"):
        if server.startswith(scheme):
            server = server[len(scheme):]
    return server.rstrip("/")
