"""Running the node's helper programs (runc, skopeo, umoci, ip, CNI plugins) from asyncio."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error(self) -> str:
        """The last lines the program wrote to stderr (or stdout), for a user-facing message."""
        text = (self.stderr or self.stdout).decode(errors="replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-3:]) or f"{self.argv[0]} exited with {self.returncode}"


class CommandError(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(f"{os.path.basename(result.argv[0])} {' '.join(result.argv[1:3])}: {result.error()}")
        self.result = result


async def run(*argv: str, input: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 120.0,
              check: bool = False) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        result = Result(tuple(argv), -9, out, err + f"\ntimed out after {timeout:g}s".encode())
    else:
        result = Result(tuple(argv), proc.returncode or 0, out, err)
    if check and not result.ok:
        raise CommandError(result)
    return result
