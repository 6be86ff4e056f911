"""The node's image cache: pulled with skopeo into one OCI layout, unpacked once with umoci.

    STATE/images/oci/               one OCI image layout: blobs/sha256/* (content-addressed, shared
                                    by every image), index.json (one entry per pulled reference)
    STATE/images/rootfs/<digest>/   the unpacked root filesystem of a manifest, read-only lower
                                    layer of every container of that image
    STATE/images/refs.json          reference -> manifest digest, registry digest, size

imagePullPolicy as Kubernetes reads it: Never (only what is here), IfNotPresent (pull when
absent), Always (ask the registry for the current digest; pull only if it moved).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from shoal.node.images.reference import Mirrors, Reference, ReferenceError_, parse_reference
from shoal.node.procutil import run
from shoal.node.runtime.base import ImagePullError, ImageRecord
from shoal.node.runtime.spec import ImageConfig

log = logging.getLogger("shoal.node")
PULL_TIMEOUT = 600.0
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))


@dataclass
class ImageInfo:
    reference: str  # normalized: docker.io/library/busybox:latest
    manifest_digest: str
    registry_digest: str
    rootfs: str
    config: ImageConfig
    size_bytes: int

    @property
    def image_id(self) -> str:
        """As Kubernetes shows imageID: repository@digest."""
        ref = parse_reference(self.reference)
        return f"{ref.name}@{self.registry_digest or self.manifest_digest}"


def _tag_for(ref: str) -> str:
    return "r" + hashlib.sha256(ref.encode()).hexdigest()[:40]


class ImageStore:
    def __init__(self, root: str, mirrors: Mirrors | None = None) -> None:
        self.root = root
        self.layout = os.path.join(root, "oci")
        self.rootfs_dir = os.path.join(root, "rootfs")
        self.refs_path = os.path.join(root, "refs.json")
        self.mirrors = mirrors or Mirrors({})
        self._lock = asyncio.Lock()
        self._inflight: dict[str, asyncio.Future] = {}
        self.refs: dict[str, dict] = {}
        self._configs: dict[str, ImageConfig] = {}

    def open(self) -> None:
        os.makedirs(self.rootfs_dir, exist_ok=True)
        try:
            with open(self.refs_path) as f:
                self.refs = json.load(f)
        except (OSError, ValueError):
            self.refs = {}

    def _save(self) -> None:
        tmp = self.refs_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.refs, f, indent=1, sort_keys=True)
        os.replace(tmp, self.refs_path)

    # -- reads -----------------------------------------------------------------------------

    def lookup(self, image: str) -> ImageInfo | None:
        """The cached image for a reference, if it is fully here."""
        try:
            ref = str(parse_reference(image))
        except ReferenceError_:
            return None
        entry = self.refs.get(ref)
        if entry is None:
            return None
        rootfs = os.path.join(self.rootfs_dir, entry["manifest"].split(":", 1)[1], "rootfs")
        if not os.path.isdir(rootfs):
            return None
        return ImageInfo(ref, entry["manifest"], entry.get("registry_digest", ""), rootfs,
                         self._config(entry["config"]), entry.get("size", 0))

    def _blob(self, digest: str) -> bytes:
        algo, hexd = digest.split(":", 1)
        with open(os.path.join(self.layout, "blobs", algo, hexd), "rb") as f:
            return f.read()

    def _config(self, digest: str) -> ImageConfig:
        cfg = self._configs.get(digest)
        if cfg is None:
            cfg = ImageConfig.from_oci(json.loads(self._blob(digest)))
            self._configs[digest] = cfg
        return cfg

    def records(self) -> list[ImageRecord]:
        """What the Node status lists: names (reference and repository@digest) and sizes."""
        by_manifest: dict[str, tuple[list[str], int]] = {}
        for ref, entry in sorted(self.refs.items()):
            names, size = by_manifest.setdefault(entry["manifest"], ([], entry.get("size", 0)))
            digest_name = f"{parse_reference(ref).name}@{entry.get('registry_digest') or entry['manifest']}"
            for name in (digest_name, ref):
                if name not in names:
                    names.append(name)
        return [ImageRecord(tuple(names), size) for names, size in by_manifest.values()]

    # -- pulls -----------------------------------------------------------------------------

    async def ensure(self, image: str, policy: str) -> ImageInfo:
        """The image, pulled if ``policy`` wants it. Raises ImagePullError."""
        try:
            ref = parse_reference(image)
        except ReferenceError_ as exc:
            raise ImagePullError(f'InvalidImageName: {exc}') from None
        cached = self.lookup(str(ref))
        if policy == "Never":
            if cached is None:
                raise ImagePullError(f'Container image "{image}" is not present with pull policy of Never', never=True)
            return cached
        if cached is not None and (policy != "Always" or ref.digest):
            return cached
        key = str(ref)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            info = await self._pull(ref, image, cached)
            future.set_result(info)
            return info
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, no "never retrieved" warning
            raise
        finally:
            del self._inflight[key]

    async def _pull(self, ref: Reference, image: str, cached: ImageInfo | None) -> ImageInfo:
        source, plain_http = self.mirrors.source(ref)
        registry_digest = ""
        if plain_http:
            registry_digest = await asyncio.to_thread(_head_digest, source, plain_http)
            if cached is not None and registry_digest and registry_digest == cached.registry_digest:
                return cached
        started = time.monotonic()
        tag = _tag_for(str(ref))
        async with self._lock:
            os.makedirs(self.layout, exist_ok=True)
            argv = ["skopeo", "copy", "--quiet", f"--src-tls-verify={'false' if plain_http else 'true'}",
                    f"docker://{source}", f"oci:{self.layout}:{tag}"]
            result = await run(*argv, timeout=PULL_TIMEOUT)
            if not result.ok:
                raise ImagePullError(f'failed to pull image "{image}" from {source.registry}: {_skopeo_message(result.error())}')
            manifest_digest = self._index_digest(tag)
            manifest = json.loads(self._blob(manifest_digest))
            await self._unpack(tag, manifest_digest)
        size = sum(layer.get("size", 0) for layer in manifest.get("layers", [])) + manifest["config"].get("size", 0)
        self.refs[str(ref)] = {"manifest": manifest_digest, "config": manifest["config"]["digest"],
                               "registry_digest": registry_digest or manifest_digest, "size": size,
                               "pulled": time.time()}
        self._save()
        log.info("pulled %s from %s in %.2fs", ref, source.registry, time.monotonic() - started)
        info = self.lookup(str(ref))
        assert info is not None
        return info

    def _index_digest(self, tag: str) -> str:
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        for desc in index.get("manifests", []):
            if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return desc["digest"]
        raise ImagePullError(f"pulled image not found in the cache (tag {tag})")

    async def _unpack(self, tag: str, manifest_digest: str) -> None:
        final = os.path.join(self.rootfs_dir, manifest_digest.split(":", 1)[1])
        if os.path.isdir(os.path.join(final, "rootfs")):
            return
        tmp = final + ".unpack"
        shutil.rmtree(tmp, ignore_errors=True)
        result = await run("umoci", "unpack", "--image", f"{self.layout}:{tag}", tmp, timeout=PULL_TIMEOUT)
        if not result.ok:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImagePullError(f"failed to unpack image: {result.error()}")
        os.replace(tmp, final)


def _skopeo_message(text: str) -> str:
    """The msg="..." part of skopeo's logrus line, if it is one."""
    start = text.find('msg="')
    if start < 0:
        return text
    return text[start + 5:].rsplit('"', 1)[0].replace('\\"', '"')


def _head_digest(source: Reference, plain_http: bool) -> str:
    """The registry's current digest of a tag (HEAD on the manifest), "" if it cannot say."""
    scheme = "http" if plain_http else "https"
    target = source.digest or source.tag or "latest"
    url = f"{scheme}://{source.registry}/v2/{source.repository}/manifests/{target}"
    req = urllib.request.Request(url, method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers.get("Docker-Content-Digest", "")
    except (urllib.error.URLError, OSError, ValueError):
        return ""
