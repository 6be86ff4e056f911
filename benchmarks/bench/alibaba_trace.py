"""The Alibaba GPU trace (clusterdata cluster-trace-gpu-v2023, the FGD paper's "openb" lists):
node list and pod lists as the gpu-frag and trace benchmarks read them.

    openb_node_list_gpu_node.csv   sn, cpu_milli, memory_mib, gpu, model
    openb_pod_list_<variant>.csv   name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec,
                                   qos, pod_phase, creation_time, deletion_time, scheduled_time
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from shoal.sched.gpu.devices import GpuNodes, PodDemand
from shoal.sched.gpu.request import GpuRequest, GpuRequestError, from_trace

GPU_NODE_LIST = "openb_node_list_gpu_node.csv"
POD_LIST_PREFIX = "openb_pod_list_"
DEFAULT_POD_LIST = "default"


class TraceError(ValueError):
    """A trace file Shoal cannot read; the message names the file, row and column."""


@dataclass(frozen=True)
class TraceNode:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str


@dataclass(frozen=True)
class TracePod:
    name: str
    cpu_milli: int
    memory_mib: int
    gpu: GpuRequest
    creation: int  # seconds
    deletion: int  # seconds (<= creation: never recorded)


def default_trace_dir() -> Path:
    """$SHOAL_SHARED_DATA/traces/alibaba-gpu-v2023, else ../shared/data/... beside the checkout."""
    root = os.environ.get("SHOAL_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[3] / "shared" / "data"
    return base / "traces" / "alibaba-gpu-v2023"


def _int(row: dict, column: str, where: str) -> int:
    value = row.get(column)
    try:
        return int(float(value)) if value not in (None, "") else 0
    except ValueError:
        raise TraceError(f"{where}: column {column!r}: expected a number, got {value!r}") from None


def read_nodes(path: str | Path) -> list[TraceNode]:
    out = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path}:{i}"
            model = (row.get("model") or "").strip()
            out.append(TraceNode(row["sn"], _int(row, "cpu_milli", where), _int(row, "memory_mib", where),
                                 _int(row, "gpu", where), "" if model == "nan" else model))
    return out


def read_pods(path: str | Path) -> list[TracePod]:
    out = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f), start=2):
            where = f"{path}:{i}"
            try:
                gpu = from_trace(_int(row, "num_gpu", where), _int(row, "gpu_milli", where), (row.get("gpu_spec") or "").strip(), where)
            except GpuRequestError as exc:
                raise TraceError(str(exc)) from None
            out.append(TracePod(row["name"], _int(row, "cpu_milli", where), _int(row, "memory_mib", where), gpu,
                                _int(row, "creation_time", where), _int(row, "deletion_time", where)))
    return out


def pod_list_path(trace_dir: str | Path, pods: str) -> Path:
    """A pod list by variant name ("default", "gpushare40") or by file path."""
    p = Path(pods)
    if p.suffix == ".csv" or p.exists():
        return p
    return Path(trace_dir) / f"{POD_LIST_PREFIX}{pods}.csv"


def pod_list_names(trace_dir: str | Path) -> list[str]:
    return sorted(p.stem[len(POD_LIST_PREFIX):] for p in Path(trace_dir).glob(f"{POD_LIST_PREFIX}*.csv"))


def build_nodes(nodes: list[TraceNode]) -> GpuNodes:
    return GpuNodes.build([n.name for n in nodes], [n.cpu_milli for n in nodes], [n.memory_mib for n in nodes],
                          [n.gpus for n in nodes], [n.model for n in nodes])


def demands(nodes: GpuNodes, pods: list[TracePod]) -> list[PodDemand]:
    return [nodes.demand(p.cpu_milli, p.memory_mib, p.gpu) for p in pods]
