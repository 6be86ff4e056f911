"""GPU sharing through the cluster: `shoal scheduler --profile` with GpuShare and
GpuFragmentation binds pods to GPU devices and records them on the pod with the binding
(alibabacloud.com/gpu-index), never two pods over one device's 1000 milli."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import defaultdict

from cluster_helpers import all_bound, create_all, wait_for
from sched_builders import node, pod
from server_process import shoal_command
from shoal.proto.client import ClusterClient

NS = "default"
GPU = "alibabacloud.com/gpu-milli"
INDEX = "alibabacloud.com/gpu-index"
PROFILE = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled: [{name: GpuShare}, {name: GpuFragmentation, weight: 5}]
"""


def _gpu_node(name: str, gpus: int) -> dict:
    return node(name, "32", "128Gi", extra={GPU: str(gpus * 1000)})


def _gpu_pod(name: str, milli: int) -> dict:
    p = pod(name, "1", "1Gi", extra={GPU: str(milli)})
    p["spec"]["containers"][0]["resources"]["limits"] = {GPU: str(milli)}  # extended resources: limit = request
    return p


def test_gpu_pods_are_bound_to_devices_recorded_on_the_pod(server_factory, tmp_path):
    srv = server_factory()  # --no-scheduler
    (tmp_path / "gpu.yaml").write_text(PROFILE)
    with open(tmp_path / "scheduler.log", "wb") as log:
        proc = subprocess.Popen([*shoal_command(), "scheduler", "--server", srv.address, "--profile",
                                 str(tmp_path / "gpu.yaml")], stdout=log, stderr=subprocess.STDOUT,
                                env={k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")})
    try:
        with ClusterClient(srv.address, timeout=10) as c:
            create_all(c, [_gpu_node("g1", 2), _gpu_node("g2", 2)])
            create_all(c, [_gpu_pod("whole-0", 1000)])
            wait_for("the whole-GPU pod bound", lambda: all_bound(c, NS))
            create_all(c, [_gpu_pod(f"share-{i}", 400) for i in range(6)])  # 2 per free device
            bound = wait_for("7 GPU pods bound", lambda: all_bound(c, NS))
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    log_text = (tmp_path / "scheduler.log").read_text()
    assert rc == 0 and "Traceback" not in log_text, log_text
    used: dict[tuple[str, int], int] = defaultdict(int)
    for p in bound.values():
        devices = p.metadata.annotations[INDEX]
        request = int(p.spec.containers[0].resources.requests[GPU])
        indices = [int(d) for d in devices.split("-")] if "-" in devices else [int(devices)]
        if request >= 1000:
            assert len(indices) == request // 1000
        for d in indices:
            assert 0 <= d < 2
            used[(p.spec.node_name, d)] += min(request, 1000)
    assert all(milli <= 1000 for milli in used.values()), dict(used)
    assert sum(used.values()) == 1000 + 6 * 400
