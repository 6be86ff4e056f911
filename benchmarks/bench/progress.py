"""Progress on long runs: one line per case when it starts and when it ends, with elapsed time.

Plain text on stderr (no dependency), so stdout keeps the report and a log file stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.done = 0
        self.t_start = time.perf_counter()
        self._t_case = self.t_start

    def _write(self, line: str) -> None:
        if not self.quiet:
            self.stream.write(line + "\n")
            self.stream.flush()

    def start(self, name: str, detail: str = "") -> None:
        self._t_case = time.perf_counter()
        self._write(f"[{self.done + 1}/{self.total}] {name} {detail}".rstrip() + " ...")

    def note(self, line: str) -> None:
        """A line within the current case (cluster mode: nodes registered, pods created)."""
        self._write(line)

    def finish(self, name: str, outcome: str) -> None:
        self.done += 1
        now = time.perf_counter()
        self._write(f"[{self.done}/{self.total}] {name}: {outcome} ({now - self._t_case:.1f} s; total {now - self.t_start:.1f} s)")
