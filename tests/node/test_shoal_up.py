"""`shoal up` / `shoal down`: server, seeded registry, a real agent and hollow nodes, then nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request

import pytest

from node_helpers import make_pod, missing_tools, wait_for


def shoal_command() -> list[str]:
    import shutil
    import sys

    exe = shutil.which("shoal")
    return [exe] if exe else [sys.executable, "-m", "shoal.control.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or bool(missing_tools("runc", "skopeo", "umoci", "docker-registry", "busybox")),
                    reason="needs root, runc, skopeo, umoci, docker-registry and busybox")
def test_up_runs_busybox_from_the_seeded_mirror_and_down_stops_everything(tmp_path):
    from shoal.proto.client import ClusterClient

    data, listen, reg = str(tmp_path / "cluster"), f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SHOAL_UP_REGISTRY": reg, "SHOAL_UP_SIM_NODES": "3"}
    up = subprocess.run([*shoal_command(), "up", "--data-dir", data, "--listen", listen], env=env,
                        capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "seeded" in up.stdout and "runtime runc://" in up.stdout and "3 hollow nodes" in up.stdout
        host = socket.gethostname()
        with ClusterClient(listen) as api:
            names = sorted(n.metadata.name for n in api.list_items("Node"))
            assert names == sorted([host, "hollow-0", "hollow-1", "hollow-2"])
            web = make_pod("web", image="busybox:1.35", command=["httpd", "-f", "-p", "80", "-h", "/var/www"])
            web.spec.node_selector["kubernetes.io/hostname"] = host  # the real node, not a hollow one
            api.create(web)  # `shoal up`'s scheduler binds it
            wait_for(lambda: api.get("Pod", "web", "default").spec.node_name == host, 30, what="web bound to " + host)
            st = wait_for(lambda: (s := api.get("Pod", "web", "default").status).container_statuses
                          and s.container_statuses[0].ready and s, 30, what="web ready")
            assert urllib.request.urlopen(f"http://{st.pod_ip}/", timeout=5).read() == b"hello from shoal\n"
            uid = api.get("Pod", "web", "default").metadata.uid
    finally:
        down = subprocess.run([*shoal_command(), "down", "--data-dir", data], capture_output=True, text=True,
                              timeout=120)
    assert down.returncode == 0, down.stderr
    assert "removed 1 pod(s)" in down.stdout
    assert not os.path.exists(f"/run/netns/shoal-{uid}")
    left = subprocess.run(["pgrep", "-f", data], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left: {left}"
