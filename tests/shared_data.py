"""Where the project's shared data (real manifests, scheduler_perf workloads, traces) lives:
$SHOAL_SHARED_DATA, else ../shared/data beside the repository (as CI lays it out)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("SHOAL_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
EXAMPLES = SHARED_DATA / "manifests" / "kubernetes-examples"

if not EXAMPLES.is_dir():  # fail loudly: acceptance tests depend on this data
    raise RuntimeError(f"shared data not found at {SHARED_DATA}; set SHOAL_SHARED_DATA")
