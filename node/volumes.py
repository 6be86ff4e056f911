"""Pod volumes whose content comes from the API: configMap, secret and persistentVolumeClaim.

    resolve_volumes(api, pod)      ConfigMaps, Secrets, claims and their volumes read from the API
                                   -> VolumePlan (raises VolumeNotReady with the message the pod
                                   shows while it waits, as the kubelet's FailedMount says it)
    project_keys(...)              pure: an object's keys -> the files of a projected volume
    claim_mount(pvc, pv)           pure: a bound claim -> the node directory to bind-mount
    write_projection(dir, files)   the kubelet's AtomicWriter: files go into a fresh hidden
                                   directory, then one rename of the ``..data`` symlink swaps the
                                   whole set, so a container never sees half an update

The projected layout (what a container sees at its mountPath):

    ..2026_11_26_19_05_00.x7k2p/    the current payload (files with their modes)
    ..data -> ..2026_11_26_...      swapped atomically on every change
    <key>  -> ..data/<key>          one symlink per top-level name, stable across updates

The directory itself is bind-mounted (never a single file), so a running container sees
updates; secret volumes live on a tmpfs so their content never reaches the node's disk.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from shoal.proto.client import APIStatusError

DATA_LINK = "..data"
DATA_LINK_TMP = "..data_tmp"
PAYLOAD_DIR_MODE = 0o755
# Volume sources the agent resolves through the API.
API_SOURCES = ("config_map", "secret", "persistent_volume_claim")
# Where the message of a volume that cannot be set up starts (kubelet's FailedMount text).
MOUNT_FAILED = "MountVolume.SetUp failed for volume"
BOUND = "Bound"
SECRET_TMPFS_SIZE = "16m"
# Volumes of the local-path provisioner (control/controllers/local_path.py) get a directory any
# container user may write, as k3s' provisioner makes them (mkdir -m 0777).
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH_PROVISIONER = "shoal.io/local-path"
PROVISIONED_DIR_MODE = 0o777
REFRESH_ENV = "SHOAL_AGENT_VOLUME_REFRESH_SECONDS"
DEFAULT_REFRESH_SECONDS = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def volume_refresh_seconds() -> float:
    """How often a running pod's configMap and secret volumes are compared with their objects
    (SHOAL_AGENT_VOLUME_REFRESH_SECONDS; the kubelet's sync period is a minute, ours shorter)."""
    try:
        return max(0.2, float(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH_SECONDS)))
    except ValueError:
        return DEFAULT_REFRESH_SECONDS


class VolumeNotReady(Exception):
    """A volume's source is missing or not usable yet (the pod waits and retries)."""


class VolumeError(VolumeNotReady):
    """A volume's spec can never work as written (a bad item path); retried all the same,
    since the object it reads may change."""


@dataclass(frozen=True, slots=True)
class ProjectedFile:
    path: str  # relative to the volume's root
    data: bytes
    mode: int


@dataclass(frozen=True, slots=True)
class ClaimMount:
    path: str  # the node directory of the bound PersistentVolume
    read_only: bool = False
    create: bool = False  # hostPath DirectoryOrCreate: make it if missing
    create_mode: int = 0o755  # the kubelet's mode for a created hostPath directory


@dataclass
class VolumePlan:
    """What the API-backed volumes of one pod resolve to."""

    projected: dict[str, list[ProjectedFile]] = field(default_factory=dict)  # configMap, secret
    secrets: set[str] = field(default_factory=set)  # volume names whose files are secret
    claims: dict[str, ClaimMount] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.projected or self.claims)


def has_api_volumes(pod) -> bool:
    return any(v.WhichOneof("source") in API_SOURCES for v in pod.spec.volumes)


def has_projected_volumes(pod) -> bool:
    return any(v.WhichOneof("source") in ("config_map", "secret") for v in pod.spec.volumes)


# -- pure rules -------------------------------------------------------------------------------


def check_item_path(path: str, volume: str) -> None:
    """Kubernetes' rule for items[].path: relative, no '..' element."""
    if not path or os.path.isabs(path) or ".." in path.split("/"):
        raise VolumeError(f'{MOUNT_FAILED} "{volume}" : invalid item path {path!r}: must be relative '
                          f"and may not contain '..'")


def project_keys(what: str, name: str, volume: str, data: Mapping[str, bytes], items, default_mode: int,
                 optional: bool) -> list[ProjectedFile]:
    """The files of a configMap or secret volume: every key (no items) or the listed keys at
    their paths, each with its item mode or the volume's defaultMode. A listed key the object
    lacks fails the volume unless the source is optional, as in Kubernetes."""
    files = []
    if not items:
        for key in sorted(data):
            files.append(ProjectedFile(key, data[key], default_mode))
        return files
    for item in items:
        if item.key not in data:
            if optional:
                continue
            raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : {what} "{name}" has no key "{item.key}"')
        check_item_path(item.path, volume)
        mode = item.mode if item.HasField("mode") else default_mode
        files.append(ProjectedFile(item.path, data[item.key], mode))
    return files


def _requirement_matches(req, value: str | None) -> bool:
    op, values = req.operator, list(req.values)
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def node_selector_matches(selector, node_name: str, labels: Mapping[str, str]) -> bool:
    """A NodeSelector (terms ORed, requirements of a term ANDed) against this node; an empty
    selector matches every node."""
    terms = list(selector.node_selector_terms)
    if not terms:
        return True
    for term in terms:
        if not term.match_expressions and not term.match_fields:
            continue  # an empty term matches nothing, as in Kubernetes
        if all(_requirement_matches(r, labels.get(r.key)) for r in term.match_expressions) and all(
                _requirement_matches(r, node_name if r.key == "metadata.name" else None) for r in term.match_fields):
            return True
    return False


def claim_mount(volume: str, source, pvc, pv, node_name: str = "", node_labels: Mapping[str, str] | None = None
                ) -> ClaimMount:
    """The node directory behind a claim, once the claim is bound to ``pv`` and ``pv`` to it
    and ``pv`` may be used on this node (its nodeAffinity: a local volume's data is on one node
    only, and mounting an empty directory elsewhere would hide that)."""
    claim = source.claim_name
    if pvc is None:
        raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : persistentvolumeclaim "{claim}" not found')
    if not pvc.spec.volume_name or pvc.status.phase != BOUND:
        raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : persistentvolumeclaim "{claim}" is not bound '
                             f"(phase {pvc.status.phase or 'Pending'})")
    if pv is None:
        raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : persistentvolume "{pvc.spec.volume_name}" '
                             f'of claim "{claim}" not found')
    if pv.spec.claim_ref.uid and pv.spec.claim_ref.uid != pvc.metadata.uid:
        raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : persistentvolume "{pv.metadata.name}" is bound '
                             f'to another claim ({pv.spec.claim_ref.namespace}/{pv.spec.claim_ref.name})')
    if node_labels is not None and pv.spec.node_affinity.HasField("required") and not node_selector_matches(
            pv.spec.node_affinity.required, node_name, node_labels):
        raise VolumeNotReady(f'{MOUNT_FAILED} "{volume}" : volume node affinity conflict: persistentvolume '
                             f'"{pv.metadata.name}" is not usable on node {node_name}')
    kind = pv.spec.WhichOneof("source")
    read_only = bool(source.read_only)
    if kind == "host_path":
        provisioned = pv.metadata.annotations.get(ANN_PROVISIONED_BY) == LOCAL_PATH_PROVISIONER
        return ClaimMount(pv.spec.host_path.path, read_only, create=pv.spec.host_path.type == "DirectoryOrCreate",
                          create_mode=PROVISIONED_DIR_MODE if provisioned else 0o755)
    if kind == "local":
        return ClaimMount(pv.spec.local.path, read_only)
    raise VolumeError(f'{MOUNT_FAILED} "{volume}" : persistentvolume "{pv.metadata.name}" has a {kind} source; '
                      f"this agent mounts hostPath and local volumes only")


# -- reading the API --------------------------------------------------------------------------


async def _get(api, kind: str, name: str, namespace: str = ""):
    try:
        return await api.get(kind, name, namespace)
    except APIStatusError as exc:
        if exc.reason == "NotFound":
            return None
        raise VolumeNotReady(f"reading {kind} {namespace + '/' if namespace else ''}{name}: {exc.message}") from None


async def resolve_volumes(api, pod, *, only_projected: bool = False, node_name: str = "",
                          node_labels: Mapping[str, str] | None = None) -> VolumePlan:
    """Reads what the pod's configMap, secret and persistentVolumeClaim volumes need. Raises
    VolumeNotReady (message naming the volume and the object) when any is not there yet.
    ``node_labels``: this node's labels, checked against claimed volumes' nodeAffinity."""
    plan = VolumePlan()
    ns = pod.metadata.namespace
    for vol in pod.spec.volumes:
        kind = vol.WhichOneof("source")
        if kind == "config_map":
            src = vol.config_map
            cm = await _get(api, "ConfigMap", src.name, ns)
            if cm is None:
                if src.optional:
                    plan.projected[vol.name] = []
                    continue
                raise VolumeNotReady(f'{MOUNT_FAILED} "{vol.name}" : configmap "{src.name}" not found')
            data = {k: v.encode() for k, v in cm.data.items()}
            data.update(cm.binary_data)
            plan.projected[vol.name] = project_keys("configmap", src.name, vol.name, data, src.items,
                                                    src.default_mode, src.optional)
        elif kind == "secret":
            src = vol.secret
            secret = await _get(api, "Secret", src.secret_name, ns)
            plan.secrets.add(vol.name)
            if secret is None:
                if src.optional:
                    plan.projected[vol.name] = []
                    continue
                raise VolumeNotReady(f'{MOUNT_FAILED} "{vol.name}" : secret "{src.secret_name}" not found')
            plan.projected[vol.name] = project_keys("secret", src.secret_name, vol.name, dict(secret.data),
                                                    src.items, src.default_mode, src.optional)
        elif kind == "persistent_volume_claim" and not only_projected:
            src = vol.persistent_volume_claim
            pvc = await _get(api, "PersistentVolumeClaim", src.claim_name, ns)
            pv = None
            if pvc is not None and pvc.spec.volume_name:
                pv = await _get(api, "PersistentVolume", pvc.spec.volume_name)
            plan.claims[vol.name] = claim_mount(vol.name, src, pvc, pv, node_name, node_labels)
    return plan


# -- writing projected volumes ----------------------------------------------------------------


def _current_payload(target: str) -> dict[str, tuple[bytes, int]] | None:
    data_dir = os.path.join(target, DATA_LINK)
    if not os.path.isdir(data_dir):
        return None
    out = {}
    for root, _dirs, names in os.walk(data_dir):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, data_dir)] = (f.read(), os.stat(full).st_mode & 0o7777)
    return out


def write_projection(target: str, files: list[ProjectedFile]) -> bool:
    """Makes ``target`` show exactly ``files``, swapping the whole set at once. Returns False
    (and touches nothing) when it already does."""
    wanted = {f.path: (f.data, f.mode & 0o7777) for f in files}
    if _current_payload(target) == wanted:
        return False
    os.makedirs(target, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    payload = tempfile.mkdtemp(prefix=stamp, dir=target)
    os.chmod(payload, PAYLOAD_DIR_MODE)
    for f in files:
        full = os.path.join(payload, f.path)
        os.makedirs(os.path.dirname(full), mode=PAYLOAD_DIR_MODE, exist_ok=True)
        with open(full, "wb") as out:
            out.write(f.data)
        os.chmod(full, f.mode & 0o7777)
    old = os.readlink(os.path.join(target, DATA_LINK)) if os.path.islink(os.path.join(target, DATA_LINK)) else ""
    tmp_link = os.path.join(target, DATA_LINK_TMP)
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(payload), tmp_link)
    os.rename(tmp_link, os.path.join(target, DATA_LINK))
    tops = {f.path.split("/", 1)[0] for f in files}
    for top in tops:
        link = os.path.join(target, top)
        if not os.path.islink(link):
            os.symlink(os.path.join(DATA_LINK, top), link)
    for name in os.listdir(target):
        full = os.path.join(target, name)
        if name.startswith(".."):
            if name not in (DATA_LINK, os.path.basename(payload)) and os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
        elif name not in tops and os.path.islink(full):
            os.unlink(full)
    if old and old != os.path.basename(payload):
        shutil.rmtree(os.path.join(target, old), ignore_errors=True)
    return True


def mount_tmpfs(target: str) -> None:
    """A small tmpfs at ``target`` (secret volumes), unless one is already mounted there."""
    os.makedirs(target, exist_ok=True)
    if os.path.ismount(target):
        return
    opts = f"mode=0755,size={SECRET_TMPFS_SIZE}".encode()
    if _libc.mount(b"tmpfs", target.encode(), b"tmpfs", 0, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {target}: {os.strerror(err)}")
