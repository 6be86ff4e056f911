"""Image references as Docker and Kubernetes read them, and where to pull them from.

    busybox                       -> docker.io/library/busybox:latest
    busybox:1.35                  -> docker.io/library/busybox:1.35
    me/app                        -> docker.io/me/app:latest
    127.0.0.1:5000/tools:v1       -> 127.0.0.1:5000/tools:v1
    docker://127.0.0.1:5000/x:y   -> 127.0.0.1:5000/x:y        (skopeo's transport prefix is accepted)

A mirror maps a registry onto another endpoint, as a k3s registries.yaml mirror does: with
``docker.io=127.0.0.1:5000``, ``busybox`` is pulled from ``127.0.0.1:5000/library/busybox:latest``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"


class ReferenceError_(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def short(self) -> str:
        """As people write it: docker.io/library/ dropped."""
        text = str(self)
        for prefix in (f"{DEFAULT_REGISTRY}/library/", f"{DEFAULT_REGISTRY}/"):
            if text.startswith(prefix):
                return text[len(prefix):]
        return text

    def at(self, registry: str) -> "Reference":
        return Reference(registry, self.repository, self.tag, self.digest)


def parse_reference(text: str) -> Reference:
    ref = text.strip()
    if ref.startswith("docker://"):
        ref = ref[len("docker://"):]
    if not ref or any(c.isspace() for c in ref):
        raise ReferenceError_(f"invalid image reference {text!r}")
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    first, slash, rest = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, ref
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if not path or path != path.lower():
        raise ReferenceError_(f"invalid image reference {text!r}: repository names are lower case")
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def default_pull_policy(text: str) -> str:
    """Kubernetes' default: Always for :latest (or no tag), else IfNotPresent."""
    ref = parse_reference(text)
    return "Always" if ref.tag == "latest" and not ref.digest else "IfNotPresent"


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Mirrors:
    """Registry -> endpoint, and the endpoints spoken to over plain HTTP."""

    endpoints: dict[str, str]
    insecure: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, mirror_flags: list[str], insecure_flags: list[str] = ()) -> "Mirrors":
        endpoints = {}
        for item in mirror_flags:
            registry, sep, endpoint = item.partition("=")
            if not sep or not registry or not endpoint:
                raise ReferenceError_(f"--registry-mirror {item!r}: want REGISTRY=HOST:PORT")
            endpoints[registry] = endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")
        return cls(endpoints, frozenset(insecure_flags))

    def source(self, ref: Reference) -> tuple[Reference, bool]:
        """Where to pull ``ref`` from, and whether over plain HTTP (TLS not verified)."""
        registry = self.endpoints.get(ref.registry, ref.registry)
        return ref.at(registry), registry in self.insecure or is_loopback(registry)
