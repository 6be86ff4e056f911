"""`shoal image import`'s OCI layout, checked by the tools that consume it (umoci, skopeo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from shoal.node.images.build import build_layout, busybox_rootfs, destination

needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None or os.geteuid() != 0, reason="needs umoci and root")


def test_names_without_a_registry_go_to_the_cluster_registry():
    assert destination("busybox:1.35", "127.0.0.1:5000") == "127.0.0.1:5000/library/busybox:1.35"
    assert destination("team/app", "127.0.0.1:5000") == "127.0.0.1:5000/team/app:latest"
    assert destination("10.0.0.1:5000/x:y", "127.0.0.1:5000") == "10.0.0.1:5000/x:y"
    assert destination("docker.io/library/busybox", "r:5000") == "docker.io/library/busybox:latest"


@needs_umoci
@pytest.mark.parametrize("source_kind", ["directory", "tarball", "gzipped-tarball"])
def test_an_imported_rootfs_unpacks_with_umoci(tmp_path, source_kind):
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "hello").write_text("#!/bin/sh\necho hi\n")
    (rootfs / "bin" / "hello").chmod(0o755)
    os.symlink("hello", rootfs / "bin" / "hi")
    source = str(rootfs)
    if source_kind != "directory":
        source = str(tmp_path / ("root.tar.gz" if source_kind == "gzipped-tarball" else "root.tar"))
        with tarfile.open(source, "w:gz" if source_kind == "gzipped-tarball" else "w") as tar:
            tar.add(rootfs, arcname=".")
    layout = str(tmp_path / "layout")
    build_layout(source, layout, "v1", cmd=["/bin/hello"], env=["A=1"], workdir="/bin")
    out = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:v1", str(out)], check=True, capture_output=True)
    assert (out / "rootfs" / "bin" / "hello").read_text() == "#!/bin/sh\necho hi\n"
    assert os.readlink(out / "rootfs" / "bin" / "hi") == "hello"
    config = json.loads((out / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/hello"] and "A=1" in config["process"]["env"]
    assert config["process"]["cwd"] == "/bin"


@pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox")
def test_the_busybox_rootfs_has_its_applets_and_users(tmp_path):
    busybox_rootfs(str(tmp_path), shutil.which("busybox"))
    assert os.readlink(tmp_path / "bin" / "sh") == "/bin/busybox"
    assert (tmp_path / "usr" / "sbin" / "httpd").is_symlink() or (tmp_path / "sbin" / "httpd").is_symlink() \
        or (tmp_path / "bin" / "httpd").is_symlink()
    assert "root:x:0:0" in (tmp_path / "etc" / "passwd").read_text()
