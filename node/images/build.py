"""`shoal image import`: a root filesystem (directory or tarball) -> a one-layer OCI image -> a registry.

The OCI layout is written here in Python (a gzipped tar layer, the config and manifest JSON,
all named by sha256) and pushed with ``skopeo copy``. ``busybox_rootfs`` makes the root
filesystem of the `busybox` image `shoal up` seeds its registry with, from busybox-static.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from shoal.node.images.reference import is_loopback, parse_reference

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


class _Hashing(io.RawIOBase):
    """A write-through file that hashes what passes."""

    def __init__(self, out) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)


def _write_blob(layout: str, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer_from_dir(source: str, layout: str) -> tuple[dict, str]:
    """(descriptor of the gzipped layer, diff_id) for a directory, entries owned by root."""
    tmp = os.path.join(layout, "blobs", "sha256", "layer.tmp")
    with open(tmp, "wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz:
            plain = _Hashing(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(os.listdir(source)):
                    tar.add(os.path.join(source, name), arcname=name, filter=_root_owned)
    return _finish_layer(layout, tmp, compressed), f"sha256:{plain.sha.hexdigest()}"


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _layer_from_tarball(source: str, layout: str) -> tuple[dict, str]:
    with open(source, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    tmp = os.path.join(layout, "blobs", "sha256", "layer.tmp")
    plain = hashlib.sha256()
    if gzipped:
        with gzip.open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                plain.update(chunk)
        shutil.copyfile(source, tmp)
        compressed = _Hashing(open(os.devnull, "wb"))
        with open(tmp, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                compressed.write(chunk)
    else:
        with open(tmp, "wb") as raw:
            compressed = _Hashing(raw)
            with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as gz, open(source, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    plain.update(chunk)
                    gz.write(chunk)
    return _finish_layer(layout, tmp, compressed), f"sha256:{plain.hexdigest()}"


def _finish_layer(layout: str, tmp: str, compressed: _Hashing) -> dict:
    digest = compressed.sha.hexdigest()
    os.replace(tmp, os.path.join(layout, "blobs", "sha256", digest))
    return {"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{digest}", "size": compressed.size}


def build_layout(source: str, layout: str, tag: str, *, cmd: list[str] | None = None,
                 entrypoint: list[str] | None = None, env: list[str] = (), workdir: str = "") -> str:
    """Writes an OCI image layout with one image tagged ``tag``; returns the manifest digest."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if os.path.isdir(source):
        layer, diff_id = _layer_from_dir(source, layout)
    else:
        layer, diff_id = _layer_from_tarball(source, layout)
    config_body: dict = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env]}
    if cmd:
        config_body["Cmd"] = list(cmd)
    if entrypoint:
        config_body["Entrypoint"] = list(entrypoint)
    if workdir:
        config_body["WorkingDir"] = workdir
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = {
        "created": created,
        "architecture": _ARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": config_body,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": f"shoal image import {os.path.basename(source)}"}],
    }
    config_desc = {"mediaType": OCI_CONFIG, **_write_blob(layout, json.dumps(config, sort_keys=True).encode())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": [layer]}
    manifest_desc = {"mediaType": OCI_MANIFEST, **_write_blob(layout, json.dumps(manifest, sort_keys=True).encode()),
                     "annotations": {"org.opencontainers.image.ref.name": tag}}
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append(manifest_desc)
    with open(index_path, "w") as f:
        json.dump(index, f)
    return manifest_desc["digest"]


def destination(name: str, registry: str) -> str:
    """Where ``name`` is pushed: names without a registry go to ``registry`` (library/ added to
    single-component names, as docker.io does)."""
    ref = parse_reference(name)
    explicit = name.removeprefix("docker://").split("/", 1)[0]
    if ref.registry == "docker.io" and explicit != "docker.io":
        ref = ref.at(registry)
    return str(ref)


def push(layout: str, tag: str, dest: str) -> None:
    registry = dest.split("/", 1)[0]
    tls = "false" if is_loopback(registry) else "true"
    subprocess.run(["skopeo", "copy", "--quiet", f"--dest-tls-verify={tls}", f"oci:{layout}:{tag}", f"docker://{dest}"],
                   check=True, capture_output=True, text=True, timeout=600)


def import_image(source: str, names: list[str], *, registry: str = "127.0.0.1:5000", **config) -> list[str]:
    """Builds the image from ``source`` and pushes it under every name; returns where it went."""
    with tempfile.TemporaryDirectory(prefix="shoal-image-") as layout:
        build_layout(source, layout, "import", **config)
        pushed = []
        for name in names:
            dest = destination(name, registry)
            push(layout, "import", dest)
            pushed.append(dest)
        return pushed


def import_command(args: argparse.Namespace) -> int:
    if not os.path.exists(args.source):
        print(f"error: {args.source}: no such file or directory", file=sys.stderr)
        return 1
    if shutil.which("skopeo") is None:
        print("error: skopeo is not installed (apt-get install skopeo)", file=sys.stderr)
        return 1
    names = [args.name] + [f"{args.name.rsplit(':', 1)[0]}:{t}" if ":" not in t else t for t in args.tag]
    try:
        pushed = import_image(args.source, names, registry=args.registry, cmd=args.cmd, entrypoint=args.entrypoint,
                              env=args.env, workdir=args.workdir)
    except subprocess.CalledProcessError as exc:
        print(f"error: push failed: {(exc.stderr or '').strip()}", file=sys.stderr)
        return 1
    for dest in pushed:
        print(f"pushed {dest}")
    return 0


def busybox_version(busybox: str = "/bin/busybox") -> str:
    """"1.35.0" from the binary's banner, "" if unknown."""
    try:
        out = subprocess.run([busybox], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return ""
    first = out.splitlines()[0] if out else ""
    for word in first.split():
        if word.startswith("v") and word[1:2].isdigit():
            return word[1:].split("-")[0]
    return ""


def busybox_rootfs(target: str, busybox: str = "/bin/busybox") -> None:
    """A minimal root filesystem: a static busybox with every applet linked, /etc/passwd and the
    usual empty directories."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev", "var/www", "home"):
        os.makedirs(os.path.join(target, d), exist_ok=True)
    os.chmod(os.path.join(target, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(target, "bin", "busybox"))
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for path in applets:
        link = os.path.join(target, path)
        if path == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    with open(os.path.join(target, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    with open(os.path.join(target, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    with open(os.path.join(target, "var", "www", "index.html"), "w") as f:
        f.write("hello from shoal\n")


def seed_busybox(registry: str, work_dir: str) -> list[str]:
    """Pushes busybox (built from busybox-static) as library/busybox:{latest,VERSION,MAJOR.MINOR}."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    version = busybox_version(busybox)
    tags = ["latest"]
    if version:
        tags += [version, ".".join(version.split(".")[:2])]
    rootfs = os.path.join(work_dir, "busybox-rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    busybox_rootfs(rootfs, busybox)
    try:
        return import_image(rootfs, [f"busybox:{t}" for t in dict.fromkeys(tags)], registry=registry, cmd=["sh"])
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
