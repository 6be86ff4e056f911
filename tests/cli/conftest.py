"""Fixtures for driving the real `shoal` executable against the session's `shoal server`."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
from cli_helpers import Result, all_kinds_manifest


@pytest.fixture(scope="session")
def shoal_env(shared_server, tmp_path_factory) -> dict[str, str]:
    """The environment of every `shoal` run: the session server, a config file of its own and
    none of the caller's SHOAL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env["SHOAL_SERVER"] = shared_server.address
    env["SHOAL_CONFIG"] = str(tmp_path_factory.mktemp("cli-config") / "config")
    return env


@pytest.fixture(scope="session")
def shoal(shoal_env):
    """shoal("get", "pods", "-n", ns) -> Result; ``input`` is sent on stdin."""
    exe = shutil.which("shoal")
    assert exe, "the shoal executable is not on PATH (pip install -e .)"

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 30) -> Result:
        proc = subprocess.run(
            [exe, *args], input=input, capture_output=True, text=True, timeout=timeout,
            env={**shoal_env, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    run.exe = exe  # type: ignore[attr-defined]
    return run


def new_namespace(client) -> str:
    from shoal.proto import kinds

    name = f"cli-{uuid.uuid4().hex[:10]}"
    ns = kinds.by_kind("Namespace").message()
    ns.metadata.name = name
    client.create(ns)
    return name


@pytest.fixture
def namespace(client) -> str:
    """A fresh namespace for one test."""
    return new_namespace(client)


@pytest.fixture(scope="module")
def module_namespace(client) -> str:
    """A fresh namespace shared by the tests of one module."""
    return new_namespace(client)


@pytest.fixture(scope="module")
def populated(shoal, module_namespace) -> str:
    """A namespace holding one object of every kind (applied through the CLI)."""
    result = shoal("apply", "-f", "-", "-n", module_namespace, input=all_kinds_manifest(module_namespace))
    assert result.rc == 0, result
    return module_namespace
