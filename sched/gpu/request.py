"""How a pod asks for GPUs, in Kubernetes terms, and how a node offers them.

Shoal follows the vocabulary of Alibaba's GPU-sharing scheduler and of the trace's simulator
(hkust-adsl/kubernetes-scheduler-simulator), expressed so that the scheduler's equivalence classes
see it (classes are built from the pod spec, not its annotations):

    node   allocatable  alibabacloud.com/gpu-milli: <devices x 1000>   every device is one GPU
           label        alibabacloud.com/gpu-card-model: V100M32        the model of its GPUs
    pod    request      alibabacloud.com/gpu-milli: <total milli>       (container resources)
             < 1000      a share of ONE GPU (two shared pods may sit on one GPU while their
                         shares fit in 1000)
             k x 1000    k whole GPUs
           node affinity alibabacloud.com/gpu-card-model In [V100M16, V100M32]   a model
    bound  annotation   alibabacloud.com/gpu-index: "3" or "0-1-2"      the devices it holds

The annotations `alibabacloud.com/gpu-milli` (per GPU), `alibabacloud.com/gpu-count` and
`alibabacloud.com/gpu-card-model` of the simulator's pod YAML are read by `from_annotations`
and turned into the request above by `manifest_resources` (the bench builds pods this way).
NodeResourcesFit checks the pod's total against the node's total; GpuShare checks devices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GPU_MILLI_RESOURCE = "alibabacloud.com/gpu-milli"
GPU_MILLI_ANNOTATION = "alibabacloud.com/gpu-milli"
GPU_COUNT_ANNOTATION = "alibabacloud.com/gpu-count"
GPU_MODEL_ANNOTATION = "alibabacloud.com/gpu-card-model"
GPU_MODEL_LABEL = "alibabacloud.com/gpu-card-model"
GPU_INDEX_ANNOTATION = "alibabacloud.com/gpu-index"
MILLI_PER_GPU = 1000
MAX_GPUS_PER_NODE = 8


class GpuRequestError(ValueError):
    """A GPU request that cannot be met by any device layout; the message names the field."""


@dataclass(frozen=True)
class GpuRequest:
    """What one pod asks of GPU devices: `count` devices with `milli` free each.

    count 0 means no GPU; count 1 with milli < 1000 is a shared GPU; otherwise milli is 1000."""

    count: int = 0
    milli: int = 0
    models: tuple[str, ...] = ()  # allowed models; () is any

    @property
    def total_milli(self) -> int:
        return self.count * self.milli

    @property
    def shared(self) -> bool:
        return self.count == 1 and 0 < self.milli < MILLI_PER_GPU


def from_total(total_milli: int, models: tuple[str, ...] = (), where: str = "pod") -> GpuRequest:
    """The request behind a pod's alibabacloud.com/gpu-milli total."""
    if total_milli < 0:
        raise GpuRequestError(f"{where}: {GPU_MILLI_RESOURCE}: must not be negative, got {total_milli}")
    if total_milli == 0:
        return GpuRequest()
    if total_milli < MILLI_PER_GPU:
        return GpuRequest(1, total_milli, models)
    if total_milli % MILLI_PER_GPU:
        raise GpuRequestError(
            f"{where}: {GPU_MILLI_RESOURCE}: {total_milli} is neither a share of one GPU (< 1000) "
            f"nor whole GPUs (a multiple of 1000)")
    count = total_milli // MILLI_PER_GPU
    if count > MAX_GPUS_PER_NODE:
        raise GpuRequestError(f"{where}: {GPU_MILLI_RESOURCE}: {count} GPUs is more than {MAX_GPUS_PER_NODE} per node")
    return GpuRequest(count, MILLI_PER_GPU, models)


def from_trace(num_gpu: int, gpu_milli: int, gpu_spec: str = "", where: str = "pod") -> GpuRequest:
    """The trace's (num_gpu, gpu_milli, gpu_spec): gpu_milli is per GPU; gpu_spec 'A|B' lists models."""
    models = tuple(m for m in gpu_spec.split("|") if m and m != "nan") if gpu_spec else ()
    if num_gpu <= 0:
        return GpuRequest()
    if num_gpu > 1 and gpu_milli != MILLI_PER_GPU:
        raise GpuRequestError(f"{where}: gpu_milli: {num_gpu} GPUs must be whole (1000), got {gpu_milli}")
    if not 0 < gpu_milli <= MILLI_PER_GPU:
        raise GpuRequestError(f"{where}: gpu_milli: expected 1..1000, got {gpu_milli}")
    return from_total(num_gpu * gpu_milli, models, where)


def from_annotations(annotations: Mapping[str, str], where: str = "pod") -> GpuRequest:
    """The simulator's pod annotations (gpu-milli per GPU, gpu-count, gpu-card-model)."""
    try:
        count = int(annotations.get(GPU_COUNT_ANNOTATION, "0") or 0)
        milli = int(annotations.get(GPU_MILLI_ANNOTATION, str(MILLI_PER_GPU)) or 0)
    except ValueError as exc:
        raise GpuRequestError(f"{where}: GPU annotations: {exc}") from None
    return from_trace(count, milli, annotations.get(GPU_MODEL_ANNOTATION, ""), where)


def manifest_resources(request: GpuRequest) -> dict[str, str]:
    """The container resource requests that express `request` (empty for no GPU)."""
    return {GPU_MILLI_RESOURCE: str(request.total_milli)} if request.count else {}


def model_affinity(request: GpuRequest) -> dict | None:
    """The pod's spec.affinity restricting its GPU model (None when any model will do)."""
    if not request.models or not request.count:
        return None
    term = {"matchExpressions": [{"key": GPU_MODEL_LABEL, "operator": "In", "values": list(request.models)}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def format_devices(devices) -> str:
    """The gpu-index annotation value: device indices joined by '-'."""
    return "-".join(str(int(d)) for d in devices)


def parse_devices(value: str, where: str = "pod") -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in value.split("-") if x != "")
    except ValueError:
        raise GpuRequestError(f"{where}: annotation {GPU_INDEX_ANNOTATION}: expected indices joined by '-', got {value!r}") from None
