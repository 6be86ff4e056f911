"""Acceptance: a HorizontalPodAutoscaler scales a Deployment of busy-looping busybox pods on a real
runc agent up, from the utilization the agent reports, and back down once the loops stop (short
sync period and scale-down window; the load is switched off through a hostPath file)."""

from __future__ import annotations

import os
import subprocess
import time

from accept_helpers import (
    active,
    apply_yaml,
    needs_containers,
    pods,
    wait_for,
)
from server_process import shoal_command

pytestmark = needs_containers

# 200m of cpu per pod against a 100m request: 200% utilization, four times the 50% target. The
# limit keeps the test from taking more than 0.6 of the machine's two cores.
BURNER = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: burner}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: burner}}}}
  template:
    metadata: {{labels: {{app: burner}}}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes:
      - {{name: ctl, hostPath: {{path: {ctl}, type: DirectoryOrCreate}}}}
      containers:
      - name: burn
        image: busybox
        command: [sh, -c, 'while [ ! -f /ctl/stop ]; do :; done; exec sleep 3600']
        volumeMounts: [{{name: ctl, mountPath: /ctl}}]
        resources:
          requests: {{cpu: 100m, memory: 16Mi}}
          limits: {{cpu: 200m, memory: 64Mi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: burner}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: burner}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
  behavior:
    scaleDown: {{stabilizationWindowSeconds: 5}}
"""


def _replicas(client) -> int:
    return client.get("Deployment", "burner", "default").spec.replicas


def test_hpa_scales_up_under_load_and_down_after(cluster_factory, busybox_registry, monkeypatch, tmp_path):
    monkeypatch.setenv("SHOAL_HPA_SYNC_SECONDS", "1")
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    cluster = cluster_factory()
    cluster.runc_agent(busybox_registry, "--stats-interval", "1")
    client = cluster.client()
    apply_yaml(client, BURNER.format(ctl=ctl))
    started = time.monotonic()

    wait_for(lambda: _replicas(client) == 3, 90, interval=0.5, what="the HPA to scale burner to 3")
    up_after = time.monotonic() - started
    hpa = wait_for(lambda: (h := client.get("HorizontalPodAutoscaler", "burner", "default")).status.desired_replicas
                   == 3 and h, 10, what="the HPA status to say 3")
    assert hpa.status.HasField("last_scale_time")
    (metric,) = hpa.status.current_metrics
    assert metric.resource.name == "cpu" and metric.resource.current.average_utilization > 100
    conditions = {c.type: (c.status, c.reason) for c in hpa.status.conditions}
    assert conditions["ScalingActive"] == ("True", "ValidMetricFound")
    assert conditions["ScalingLimited"] == ("True", "TooManyReplicas")  # 4 wanted, maxReplicas 3
    wait_for(lambda: sum(p.status.phase == "Running" for p in active(pods(client, selector="app=burner"))) == 3, 60,
             interval=0.5, what="3 burner pods running")
    listing = subprocess.run([*shoal_command(), "get", "hpa", "burner", "-s", cluster.address],
                             capture_output=True, text=True, timeout=30, check=True)
    row = listing.stdout.splitlines()[1].split()
    assert row[:2] == ["burner", "Deployment/burner"] and row[2] == "cpu:" and row[3].endswith("%/50%"), listing.stdout

    (ctl / "stop").touch()
    stopped = time.monotonic()
    wait_for(lambda: _replicas(client) == 1, 90, interval=0.5, what="the HPA to scale burner back to 1")
    down_after = time.monotonic() - stopped
    hpa = client.get("HorizontalPodAutoscaler", "burner", "default")
    assert hpa.status.desired_replicas == 1
    assert hpa.status.current_metrics[0].resource.current.average_utilization < 50
    expected = {"New size: 3; reason: cpu resource utilization (percentage of request) above target",
                "New size: 1; reason: All metrics below target"}
    wait_for(lambda: expected <= {e.message for e in client.list_items("Event", "default")
                                  if e.reason == "SuccessfulRescale"}, 10, what="the SuccessfulRescale events")
    # The scale-down waited for the 5 s stabilization window after the load stopped.
    assert down_after >= 5
    print(f"scaled up after {up_after:.1f}s, down {down_after:.1f}s after the load stopped")
    os.unlink(ctl / "stop")
