"""The OCI runtime spec (config.json) of one container, from its pod, its image and the node.

Pure: dictionaries in, a dictionary out, so every rule here is unit-tested without runc.

    command   Kubernetes' rules: command+args replace ENTRYPOINT+CMD; args alone replace CMD;
              $(VAR) expands from the container's environment, $$(VAR) escapes.
    limits    memory -> memory.limit (and swap, so there is none); cpu -> CFS quota over a
              100 ms period; requests.cpu -> cpu shares; a pids limit per container.
    security  Docker's default capability set, masked /proc paths, no privilege escalation,
              unless the securityContext says otherwise (privileged, capabilities add/drop,
              runAsUser/runAsGroup, readOnlyRootFilesystem, allowPrivilegeEscalation, sysctls).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from shoal.proto.quantity import milli_value, value

CFS_PERIOD_US = 100_000
MIN_SHARES = 2
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's (and containerd's) default capability set.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
ALL_CAPABILITIES = DEFAULT_CAPABILITIES + (
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_LEASE",
    "CAP_AUDIT_CONTROL", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
)
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
BASE_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
]


class SpecError(ValueError):
    """The container cannot be described (e.g. no command at all); shown as a start error."""


@dataclass
class ImageConfig:
    """The parts of an OCI image config a container uses."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""

    @classmethod
    def from_oci(cls, doc: dict) -> "ImageConfig":
        cfg = doc.get("config") or {}
        return cls(list(cfg.get("Entrypoint") or []), list(cfg.get("Cmd") or []), list(cfg.get("Env") or []),
                   cfg.get("WorkingDir") or "", cfg.get("User") or "")


@dataclass
class SandboxPaths:
    """Where the pod's shared pieces are on the node."""

    netns: str = ""  # "" = the host's network
    hosts: str = ""
    hostname_file: str = ""
    resolv_conf: str = ""
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> host path
    # Volumes mounted read-only whatever the volumeMount says (configMap, secret, read-only claims).
    read_only_volumes: frozenset[str] = frozenset()


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known variables expand, unknown stay as written, $$ is $."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _VAR.sub(sub, text)


def command_line(container, image: ImageConfig, env: dict[str, str]) -> list[str]:
    if container.command:
        argv = list(container.command) + list(container.args)
    elif container.args:
        argv = list(image.entrypoint) + list(container.args)
    else:
        argv = list(image.entrypoint) + list(image.cmd)
    if not argv:
        raise SpecError(f"container {container.name}: no command specified and the image has none")
    return [expand(a, env) for a in argv]


def field_value(pod, path: str, host_ip: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name, "metadata.namespace": meta.namespace, "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name, "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod.status.pod_ip, "status.hostIP": host_ip or pod.status.host_ip,
    }
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return getattr(meta, m.group(1)).get(m.group(2), "")
    return ""


def resource_value(container, ref) -> str:
    source, _, name = ref.resource.partition(".")
    amount = getattr(container.resources, source, {}).get(name, "")
    if not amount:
        return "0"
    divisor = ref.divisor or "1"
    if name == "cpu":
        import math

        return str(math.ceil(milli_value(amount) / milli_value(divisor)))
    return str(-(-value(amount) // value(divisor)))


def environment(pod, container, image: ImageConfig, *, pod_ip: str, host_ip: str,
                service_env: dict[str, str] | None = None) -> list[str]:
    """The container's variables, later ones winning: the image's, HOSTNAME, the Services'
    ({NAME}_SERVICE_HOST ..., see node/service_env.py), then the container's own env (which
    may refer to all of the above with $(VAR))."""
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for item in image.env:
        key, _, val = item.partition("=")
        env[key] = val
    env["HOSTNAME"] = pod.spec.hostname or pod.metadata.name
    env.update(service_env or {})
    status_view = type(pod)()
    status_view.CopyFrom(pod)
    status_view.status.pod_ip = pod_ip
    for var in container.env:
        if var.HasField("value_from"):
            source = var.value_from.WhichOneof("source")
            if source == "field_ref":
                env[var.name] = field_value(status_view, var.value_from.field_ref.field_path, host_ip)
            elif source == "resource_field_ref":
                env[var.name] = resource_value(container, var.value_from.resource_field_ref)
            # configMapKeyRef / secretKeyRef need the API: not resolved by this runtime yet.
        else:
            env[var.name] = expand(var.value, env)
    return [f"{k}={v}" for k, v in env.items()]


def resources(container, *, pids_limit: int) -> dict:
    limits, requests = container.resources.limits, container.resources.requests
    out: dict = {"devices": [{"allow": False, "access": "rwm"}]}
    if "memory" in limits:
        mem = value(limits["memory"])
        out["memory"] = {"limit": mem, "swap": mem}
    cpu: dict = {}
    if "cpu" in limits:
        cpu["quota"] = max(1000, milli_value(limits["cpu"]) * CFS_PERIOD_US // 1000)
        cpu["period"] = CFS_PERIOD_US
    request = requests.get("cpu") or limits.get("cpu")
    cpu["shares"] = max(MIN_SHARES, milli_value(request) * 1024 // 1000) if request else MIN_SHARES
    out["cpu"] = cpu
    pids = int(value(limits["pids"])) if "pids" in limits else pids_limit
    if pids > 0:
        out["pids"] = {"limit": pids}
    return out


def _user(pod, container, image: ImageConfig, rootfs: str) -> dict:
    psc, csc = pod.spec.security_context, container.security_context
    uid = gid = None
    if image.user:
        name, _, group = image.user.partition(":")
        uid = int(name) if name.isdigit() else _lookup(os.path.join(rootfs, "etc/passwd"), name, 2)
        if group:
            gid = int(group) if group.isdigit() else _lookup(os.path.join(rootfs, "etc/group"), group, 2)
        elif uid is not None:
            gid = _lookup_gid_of(os.path.join(rootfs, "etc/passwd"), uid)
    for sc in (psc, csc):
        if sc.HasField("run_as_user"):
            uid = sc.run_as_user
        if sc.HasField("run_as_group"):
            gid = sc.run_as_group
    user: dict = {"uid": uid or 0, "gid": gid or 0}
    groups = list(psc.supplemental_groups)
    if psc.HasField("fs_group"):
        groups.append(psc.fs_group)
    if groups:
        user["additionalGids"] = groups
    run_as_non_root = csc.run_as_non_root if csc.HasField("run_as_non_root") else psc.run_as_non_root
    if run_as_non_root and user["uid"] == 0:
        raise SpecError(f"container {container.name}: runAsNonRoot and the image will run as root")
    return user


def _lookup(path: str, name: str, column: int) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) > column and parts[0] == name:
                    return int(parts[column])
    except (OSError, ValueError):
        pass
    raise SpecError(f"unable to find user or group {name!r} in the image")


def _lookup_gid_of(path: str, uid: int) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) > 3 and parts[2] == str(uid):
                    return int(parts[3])
    except (OSError, ValueError):
        pass
    return None


def _capabilities(csc, privileged: bool) -> list[str]:
    if privileged:
        return list(ALL_CAPABILITIES)
    caps = list(DEFAULT_CAPABILITIES)
    drop = {_cap(c) for c in csc.capabilities.drop}
    if "CAP_ALL" in drop:
        caps = []
    caps = [c for c in caps if c not in drop]
    for c in csc.capabilities.add:
        cap = _cap(c)
        if cap == "CAP_ALL":
            return list(ALL_CAPABILITIES)
        if cap not in caps:
            caps.append(cap)
    return caps


def _cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def _mounts(pod, container, sandbox: SandboxPaths) -> list[dict]:
    mounts = [dict(m) for m in BASE_MOUNTS]
    for dest, src in (("/etc/hosts", sandbox.hosts), ("/etc/hostname", sandbox.hostname_file),
                      ("/etc/resolv.conf", sandbox.resolv_conf)):
        if src:
            mounts.append({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]})
    for vm in container.volume_mounts:
        src = sandbox.volumes.get(vm.name)
        if src is None:
            raise SpecError(f"container {container.name}: volume {vm.name!r} is not available on this node")
        if vm.sub_path:
            src = os.path.join(src, vm.sub_path)
            if not os.path.exists(src):  # a configMap key's file is used as it is
                os.makedirs(src, exist_ok=True)
        read_only = vm.read_only or vm.name in sandbox.read_only_volumes
        options = ["rbind", "rprivate", "ro" if read_only else "rw"]
        mounts.append({"destination": vm.mount_path, "type": "bind", "source": src, "options": options})
    return mounts


def oci_spec(pod, container, image: ImageConfig, *, rootfs: str, sandbox: SandboxPaths, cgroups_path: str,
             pod_ip: str = "", host_ip: str = "", pids_limit: int = 1024, nofile: int = 0,
             service_env: dict[str, str] | None = None) -> dict:
    """config.json for ``container`` of ``pod``. ``nofile``: the open-files limit (default: the
    agent's own hard limit, which a container may not exceed)."""
    if not nofile:
        import resource as _resource

        nofile = min(1 << 20, _resource.getrlimit(_resource.RLIMIT_NOFILE)[1])
    csc, psc = container.security_context, pod.spec.security_context
    privileged = csc.HasField("privileged") and csc.privileged
    env_list = environment(pod, container, image, pod_ip=pod_ip, host_ip=host_ip, service_env=service_env)
    env = dict(e.split("=", 1) for e in env_list)
    caps = _capabilities(csc, privileged)
    no_new_privs = not privileged and not (csc.HasField("allow_privilege_escalation") and csc.allow_privilege_escalation)
    process = {
        "terminal": False,
        "user": _user(pod, container, image, rootfs),
        "args": command_line(container, image, env),
        "env": env_list,
        "cwd": container.working_dir or image.working_dir or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": no_new_privs,
    }
    if process["user"]["uid"] == 0:
        process["capabilities"]["ambient"] = []
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if sandbox.netns:
        namespaces.append({"type": "network", "path": sandbox.netns})
    linux: dict = {
        "resources": resources(container, pids_limit=pids_limit),
        "cgroupsPath": cgroups_path,
        "namespaces": namespaces,
    }
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    else:
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    sysctls = {s.name: s.value for s in psc.sysctls}
    if sysctls:
        linux["sysctl"] = sysctls
    readonly = csc.HasField("read_only_root_filesystem") and csc.read_only_root_filesystem
    return {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": rootfs, "readonly": bool(readonly)},
        "hostname": pod.spec.hostname or pod.metadata.name,
        "mounts": _mounts(pod, container, sandbox),
        "linux": linux,
    }
