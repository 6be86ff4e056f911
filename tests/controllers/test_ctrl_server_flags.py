"""`shoal server`'s controller flags: --controllers in kube-controller-manager's syntax (checked
before anything starts) and --node-monitor-grace-period (its effect: test_ctrl_accept_nodes.py)."""

from __future__ import annotations

import subprocess

from server_process import free_port, shoal_command


def test_an_unknown_controller_name_stops_the_server_with_one_line(tmp_path):
    run = subprocess.run([*shoal_command(), "server", "--data-dir", str(tmp_path), "--listen",
                          f"127.0.0.1:{free_port()}", "--controllers", "*,-nodelifecycle,hpa"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 1
    assert run.stderr.startswith("error: --controllers: unknown controller 'hpa'; known: ")
    assert "horizontalpodautoscaling" in run.stderr and "nodelifecycle" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_the_flags_are_documented():
    run = subprocess.run([*shoal_command(), "server", "--help"], capture_output=True, text=True, timeout=30,
                         check=True)
    text = " ".join(run.stdout.split())
    assert "--controllers LIST" in text and "--node-monitor-grace-period SECONDS" in text
