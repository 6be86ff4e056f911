"""The OCI runtime (runc or crun): real namespaces, cgroup limits, overlay root filesystems.

On disk, under the agent's state directory (everything a restarted agent needs to adopt what
runs):

    pods/<uid>/pod.json                    namespace, name, IP, network namespace
    pods/<uid>/etc/{hosts,hostname,resolv.conf}
    pods/<uid>/volumes/<name>/             emptyDir, configMap and secret (tmpfs) volumes
    pods/<uid>/volumes.json                the node directories of the pod's claims
    pods/<uid>/logs/<container>/<n>.log    output of run n of a container (n = restartCount)
    pods/<uid>/containers/<name>/          the bundle: config.json, rootfs/ (overlay mount over
                                           the image's unpacked rootfs), upper/, work/,
                                           state.json, pid, exit
    runc/                                  the runtime's --root

Each container runs under a shim: ``sh -c 'runc run --keep ...; echo $? > exit'``. runc run
stays in the foreground as the container's parent, so its exit status is the container's
(128+signal when killed); the shell writes it to the bundle, where it survives an agent
restart. ``--keep`` leaves the container's cgroup in place until the agent has read its OOM
count, then ``runc delete`` removes it. The agent learns of a shim's end through a pidfd, for
its own children and for shims adopted after a restart alike.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from shoal.node.dns import pod_resolv_conf
from shoal.node.images.store import ImageStore
from shoal.node.lifecycle import RecoveredContainer, Termination, termination_reason
from shoal.node.network import NetworkError, PodNetwork, port_mappings
from shoal.node.procutil import run
from shoal.node.runtime import cgroups
from shoal.node.runtime.base import (
    ContainerUsage,
    ExitInfo,
    ImageRecord,
    RecoveredPod,
    Runtime,
    RuntimeError_,
    RuntimeUnavailable,
)
from shoal.node.runtime.spec import SandboxPaths, SpecError, oci_spec
from shoal.node.volumes import VolumePlan, mount_tmpfs, write_projection

log = logging.getLogger("shoal.node")

SHIM = '"$1" --root "$2" run --keep --bundle "$3" --pid-file "$4/pid" "$5" >>"$6" 2>&1; echo $? >"$4/exit.tmp"; mv "$4/exit.tmp" "$4/exit"'
START_TIMEOUT = 60.0
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount_overlay(lower: str, upper: str, work: str, target: str) -> None:
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if _libc.mount(b"overlay", target.encode(), b"overlay", 0, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount overlay on {target}: {os.strerror(err)}")


def unmount(target: str) -> None:
    if os.path.ismount(target):
        if _libc.umount2(target.encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"umount {target}: {os.strerror(err)}")


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below ``prefix`` (leftover checks)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                out.append(point)
    return out


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write_json(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def _process_alive_with(pid: int, marker: str) -> bool:
    """Is ``pid`` alive (not a zombie) and does its command line mention ``marker``?"""
    stat = _read(f"/proc/{pid}/stat")
    if not stat or stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker in _read(f"/proc/{pid}/cmdline").replace("\0", " ")


@dataclass
class LiveContainer:
    """A container whose shim the agent is watching."""

    cid: str
    shim_pid: int
    exited: asyncio.Event
    popen: subprocess.Popen | None = None
    pidfd: int = -1
    pid: int = 0
    cpu_sample: tuple[float, int] = (0.0, 0)

    def watch(self) -> None:
        """Sets ``exited`` when the shim ends (pidfd readable)."""
        loop = asyncio.get_running_loop()
        try:
            self.pidfd = os.pidfd_open(self.shim_pid)
        except ProcessLookupError:
            self.exited.set()
            return

        def ready() -> None:
            loop.remove_reader(self.pidfd)
            self.exited.set()

        loop.add_reader(self.pidfd, ready)

    def close(self) -> None:
        if self.pidfd >= 0:
            try:
                asyncio.get_running_loop().remove_reader(self.pidfd)
            except RuntimeError:
                pass
            os.close(self.pidfd)
            self.pidfd = -1
        if self.popen is not None and self.exited.is_set():
            self.popen.wait()  # reap our own shim (a running one is left to outlive the agent)


def runtime_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return ""
    m = re.search(r"version\s+(\d+(?:\.\d+)*)", out)
    return m.group(1) if m else ""


class OCIRuntime(Runtime):
    isolated = True

    def __init__(self, binary: str, *, state_dir: str, node_name: str, images: ImageStore, host_ip: str = "",
                 pids_limit: int = 1024) -> None:
        self.binary = shutil.which(binary) or binary
        self.name = os.path.basename(binary)
        self.state_dir = state_dir
        self.node_name = node_name
        self.images_store = images
        self.host_ip = host_ip
        self.pids_limit = pids_limit
        self.pods_dir = os.path.join(state_dir, "pods")
        self.runc_root = os.path.join(state_dir, self.name)
        self.network: PodNetwork | None = None
        # Set by the agent (node/cluster_services.py): Service variables and the cluster DNS.
        self.cluster_services = None
        self._live: dict[tuple[str, str], LiveContainer] = {}
        self._version = runtime_version(self.binary)

    # -- setup -----------------------------------------------------------------------------

    def version(self) -> str:
        return f"{self.name}://{self._version or 'unknown'}"

    def check(self) -> None:
        """Raises RuntimeUnavailable with what to do when this runtime cannot work here."""
        if shutil.which(self.binary) is None:
            raise RuntimeUnavailable(f"{self.name} is not installed (apt-get install {self.name})")
        if os.geteuid() != 0:
            raise RuntimeUnavailable(f"the {self.name} runtime needs root (or use --runtime process / sim)")
        for tool in ("skopeo", "umoci"):
            if shutil.which(tool) is None:
                raise RuntimeUnavailable(f"{tool} is not installed (apt-get install {tool})")
        if self.name == "crun" and not cgroups.is_v2_only() and cgroups.hybrid_v2_controllers():
            controllers = " ".join(cgroups.hybrid_v2_controllers())
            raise RuntimeUnavailable(
                f"crun refuses hybrid cgroups while the v2 hierarchy holds controllers ({controllers}): "
                f"mount them as v1 first, e.g. 'mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb "
                f"cgroup /sys/fs/cgroup/hugetlb', or use --runtime runc")

    async def start(self, pod_cidr: str) -> None:
        self.check()
        os.makedirs(self.pods_dir, exist_ok=True)
        os.makedirs(self.runc_root, exist_ok=True)
        self.images_store.open()
        self.network = PodNetwork(self.node_name, pod_cidr, self.state_dir)
        self.network.check()
        _write_json(os.path.join(self.state_dir, "node.json"), {"name": self.node_name, "pod_cidr": pod_cidr,
                                                                "runtime": self.name})

    async def remove_everything(self) -> int:
        """Kills every container this state directory holds and removes every sandbox, the
        bridge and the node's cgroups (`shoal agent --clean-up`, `shoal down`). Returns the
        number of pods removed."""
        doc = json.loads(_read(os.path.join(self.state_dir, "node.json")) or "{}")
        if not doc:
            return 0
        await self.start(doc.get("pod_cidr", ""))
        pods = await self.recover()
        for pod in pods:
            for c in pod.containers:
                if c.running:
                    await self.stop_container(pod.uid, c.name, 0)
                    await self.wait_container(pod.uid, c.name)
            await self.remove_sandbox(pod.uid)
        if self.network is not None:
            await self.network.remove_bridge()
        cgroups.remove_tree(f"/shoal/{self.node_name}")
        for top in cgroups.existing_dirs("/shoal"):
            try:
                os.rmdir(top)  # only when no other node of this machine uses it
            except OSError:
                pass
        return len(pods)

    async def close(self) -> None:
        for live in self._live.values():
            live.close()

    def images(self) -> list[ImageRecord]:
        return self.images_store.records()

    async def pull_image(self, image: str, policy: str) -> str:
        return (await self.images_store.ensure(image, policy)).image_id

    # -- paths -----------------------------------------------------------------------------

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.pods_dir, uid)

    def container_dir(self, uid: str, name: str) -> str:
        return os.path.join(self.pods_dir, uid, "containers", name)

    def log_path(self, pod_uid: str, name: str, attempt: int) -> str:
        return os.path.join(self.pods_dir, pod_uid, "logs", name, f"{attempt}.log")

    @staticmethod
    def container_id(namespace: str, pod: str, name: str, uid: str) -> str:
        return f"{namespace}_{pod}_{name}_{uid[:8]}"

    # -- sandbox ---------------------------------------------------------------------------

    async def create_sandbox(self, pod) -> str:
        uid = pod.metadata.uid
        pdir = self.pod_dir(uid)
        for sub in ("etc", "logs", "containers", "volumes"):
            os.makedirs(os.path.join(pdir, sub), exist_ok=True)
        host_network = self.uses_host_network(pod)
        doc = {"uid": uid, "namespace": pod.metadata.namespace, "name": pod.metadata.name,
               "host_network": host_network, "ip": "",
               "port_mappings": [] if host_network else port_mappings(pod)}
        _write_json(os.path.join(pdir, "pod.json"), doc)
        if host_network:
            ip = self.host_ip or "127.0.0.1"
        else:
            try:
                ip = await self.network.add(uid, doc["port_mappings"])
            except NetworkError as exc:
                raise RuntimeError_(str(exc)) from None
        doc["ip"] = ip
        self._write_etc(pod, pdir, ip)
        self._make_volumes(pod, pdir)
        _write_json(os.path.join(pdir, "pod.json"), doc)
        return ip

    def uses_host_network(self, pod) -> bool:
        return pod.spec.host_network

    def _write_etc(self, pod, pdir: str, ip: str) -> None:
        hostname = pod.spec.hostname or pod.metadata.name
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{ip}\t{hostname}"]
        for alias in pod.spec.host_aliases:
            hosts.append(f"{alias.ip}\t{' '.join(alias.hostnames)}")
        with open(os.path.join(pdir, "etc", "hosts"), "w") as f:
            f.write("\n".join(hosts) + "\n")
        with open(os.path.join(pdir, "etc", "hostname"), "w") as f:
            f.write(hostname + "\n")
        cluster_dns = (self.cluster_services.nameserver(self.network.pod_cidr)
                       if self.cluster_services and self.network else "")
        resolv = pod_resolv_conf(pod, cluster_dns=cluster_dns, host_resolv=_read("/etc/resolv.conf"))
        with open(os.path.join(pdir, "etc", "resolv.conf"), "w") as f:
            f.write(resolv)

    def _make_volumes(self, pod, pdir: str) -> None:
        for vol in pod.spec.volumes:
            kind = vol.WhichOneof("source")
            if kind == "empty_dir":
                os.makedirs(os.path.join(pdir, "volumes", vol.name), exist_ok=True)
            elif kind == "host_path" and vol.host_path.type in ("DirectoryOrCreate",):
                os.makedirs(vol.host_path.path, exist_ok=True)

    def project_volumes(self, pod, plan: VolumePlan) -> list[str]:
        """Writes the pod's configMap and secret volumes (secrets on a tmpfs) and records where
        its claims live (volumes.json, read again after an agent restart). Returns the names of
        the projected volumes whose content changed."""
        pdir = self.pod_dir(pod.metadata.uid)
        os.makedirs(os.path.join(pdir, "volumes"), exist_ok=True)
        if plan.secrets:
            # Private to root on the host; containers reach their volumes through bind mounts.
            os.chmod(os.path.join(pdir, "volumes"), 0o750)
        changed = []
        for name, files in plan.projected.items():
            target = os.path.join(pdir, "volumes", name)
            if name in plan.secrets:
                mount_tmpfs(target)
            if write_projection(target, files):
                changed.append(name)
        if plan.claims:
            for claim in plan.claims.values():
                if claim.create and not os.path.isdir(claim.path):
                    os.makedirs(claim.path, exist_ok=True)
                    os.chmod(claim.path, claim.create_mode)
            _write_json(os.path.join(pdir, "volumes.json"),
                        {n: {"path": c.path, "read_only": c.read_only} for n, c in plan.claims.items()})
        return changed

    def _sandbox_paths(self, pod) -> SandboxPaths:
        pdir = self.pod_dir(pod.metadata.uid)
        volumes = {}
        read_only = set()
        claims = json.loads(_read(os.path.join(pdir, "volumes.json")) or "{}")
        for vol in pod.spec.volumes:
            kind = vol.WhichOneof("source")
            if kind in ("empty_dir", "config_map", "secret"):
                volumes[vol.name] = os.path.join(pdir, "volumes", vol.name)
                if kind != "empty_dir":
                    read_only.add(vol.name)  # the kubelet mounts projected volumes read-only
            elif kind == "host_path":
                volumes[vol.name] = vol.host_path.path
            elif kind == "persistent_volume_claim" and vol.name in claims:
                volumes[vol.name] = claims[vol.name]["path"]
                if claims[vol.name].get("read_only"):
                    read_only.add(vol.name)
        netns = "" if self.uses_host_network(pod) else self.network.netns_path(pod.metadata.uid)
        return SandboxPaths(netns=netns, hosts=os.path.join(pdir, "etc", "hosts"),
                            hostname_file=os.path.join(pdir, "etc", "hostname"),
                            resolv_conf=os.path.join(pdir, "etc", "resolv.conf"), volumes=volumes,
                            read_only_volumes=frozenset(read_only))

    async def remove_sandbox(self, pod_uid: str) -> None:
        pdir = self.pod_dir(pod_uid)
        doc = json.loads(_read(os.path.join(pdir, "pod.json")) or "{}")
        cdirs = os.path.join(pdir, "containers")
        for name in os.listdir(cdirs) if os.path.isdir(cdirs) else ():
            await self._remove_container(pod_uid, name)
        if not doc.get("host_network"):
            try:
                await self.network.delete(pod_uid, doc.get("port_mappings", []))
            except NetworkError as exc:
                raise RuntimeError_(str(exc)) from None
        left = cgroups.remove_tree(cgroups.pod_cgroup(self.node_name, pod_uid))
        if left:
            log.warning("pod %s: cgroups still busy: %s", pod_uid, left)
        for point in sorted(mounts_under(os.path.join(pdir, "volumes")), reverse=True):
            unmount(point)  # secret volumes' tmpfs
        shutil.rmtree(pdir, ignore_errors=True)

    # -- containers ------------------------------------------------------------------------

    async def start_container(self, pod, container, *, attempt: int, init: bool) -> str:
        uid = pod.metadata.uid
        image = self.images_store.lookup(container.image)
        if image is None:
            raise RuntimeError_(f'image "{container.image}" is not on the node')
        cdir = self.container_dir(uid, container.name)
        cid = self.container_id(pod.metadata.namespace, pod.metadata.name, container.name, uid)
        await self._reset_bundle(cid, cdir)
        rootfs = self._prepare_rootfs(cdir, image.rootfs)
        pod_ip = json.loads(_read(os.path.join(self.pod_dir(uid), "pod.json")) or "{}").get("ip", "")
        service_env = await self.cluster_services.environment(pod) if self.cluster_services else {}
        try:
            spec = oci_spec(pod, container, image.config, rootfs=rootfs, sandbox=self._sandbox_paths(pod),
                            cgroups_path=cgroups.container_cgroup(self.node_name, uid, container.name),
                            pod_ip=pod_ip, host_ip=self.host_ip, pids_limit=self.pids_limit,
                            service_env=service_env)
        except SpecError as exc:
            raise RuntimeError_(str(exc)) from None
        _write_json(os.path.join(cdir, "config.json"), spec)
        log_path = self.log_path(uid, container.name, attempt)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        live = self._launch(cid, cdir, log_path, spec)
        self._live[(uid, container.name)] = live
        state = {"id": cid, "name": container.name, "attempt": attempt, "image": container.image,
                 "image_id": image.image_id, "shim_pid": live.shim_pid, "started_at": time.time()}
        _write_json(os.path.join(cdir, "state.json"), state)
        pid = await self._wait_started(live, cdir, log_path)
        live.pid = pid
        state["pid"] = pid
        _write_json(os.path.join(cdir, "state.json"), state)
        return f"{self.name}://{cid}"

    async def _reset_bundle(self, cid: str, cdir: str) -> None:
        """A fresh bundle: the last run's container deleted, a new writable layer."""
        if os.path.exists(os.path.join(self.runc_root, cid)):
            await run(self.binary, "--root", self.runc_root, "delete", "-f", cid, timeout=30)
        unmount(os.path.join(cdir, "rootfs"))
        for sub in ("upper", "work"):
            shutil.rmtree(os.path.join(cdir, sub), ignore_errors=True)
        for name in ("pid", "exit", "exit.tmp"):
            try:
                os.unlink(os.path.join(cdir, name))
            except FileNotFoundError:
                pass

    def _prepare_rootfs(self, cdir: str, lower: str) -> str:
        rootfs = os.path.join(cdir, "rootfs")
        for sub in ("rootfs", "upper", "work"):
            os.makedirs(os.path.join(cdir, sub), exist_ok=True)
        try:
            mount_overlay(lower, os.path.join(cdir, "upper"), os.path.join(cdir, "work"), rootfs)
        except OSError as exc:
            # No overlayfs here: a private copy of the image's files.
            log.warning("overlay mount failed (%s); copying the image instead", exc)
            shutil.rmtree(rootfs, ignore_errors=True)
            shutil.copytree(lower, rootfs, symlinks=True)
        return rootfs

    def _launch(self, cid: str, cdir: str, log_path: str, spec: dict) -> LiveContainer:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", SHIM, f"shoal-shim {cid}", self.binary, self.runc_root, cdir, cdir, cid, log_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )
        live = LiveContainer(cid, popen.pid, asyncio.Event(), popen=popen)
        live.watch()
        return live

    async def _wait_started(self, live: LiveContainer, cdir: str, log_path: str) -> int:
        pid_file = os.path.join(cdir, "pid")
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.002
        while time.monotonic() < deadline:
            text = _read(pid_file).strip()
            if text.isdigit():
                return int(text)
            if live.exited.is_set():
                text = _read(pid_file).strip()
                if text.isdigit():
                    return int(text)
                message = _read(log_path).strip().splitlines()[-1:] or ["the runtime exited"]
                raise RuntimeError_(_runc_message(message[0]))
            await asyncio.sleep(delay)
            delay = min(0.02, delay * 1.5)
        raise RuntimeError_(f"container {live.cid} did not start within {START_TIMEOUT:g}s")

    async def wait_container(self, pod_uid: str, name: str) -> ExitInfo:
        live = self._live.get((pod_uid, name))
        cdir = self.container_dir(pod_uid, name)
        if live is not None:
            await live.exited.wait()
            live.close()
        exit_text = _read(os.path.join(cdir, "exit")).strip()
        try:
            finished = os.stat(os.path.join(cdir, "exit")).st_mtime
        except OSError:
            finished = time.time()
        code = int(exit_text) if exit_text.lstrip("-").isdigit() else 255
        oom = cgroups.oom_kills(cgroups.container_cgroup(self.node_name, pod_uid, name)) > 0
        await self._remove_container(pod_uid, name, keep_bundle=True)
        if self._live.get((pod_uid, name)) is live:
            self._live.pop((pod_uid, name), None)
        message = "" if exit_text else "the container's shim ended without an exit status"
        return ExitInfo(code, finished, oom_killed=oom, signal=code - 128 if code > 128 else 0, message=message)

    async def _remove_container(self, pod_uid: str, name: str, keep_bundle: bool = False) -> None:
        cdir = self.container_dir(pod_uid, name)
        state = json.loads(_read(os.path.join(cdir, "state.json")) or "{}")
        cid = state.get("id", "")
        live = self._live.get((pod_uid, name))
        if live is not None and not live.exited.is_set():
            await run(self.binary, "--root", self.runc_root, "kill", cid, "KILL", timeout=30)
            await live.exited.wait()
        if cid and os.path.exists(os.path.join(self.runc_root, cid)):
            await run(self.binary, "--root", self.runc_root, "delete", "-f", cid, timeout=30)
        unmount(os.path.join(cdir, "rootfs"))
        if not keep_bundle:
            if live is not None:
                live.close()
                self._live.pop((pod_uid, name), None)
            shutil.rmtree(cdir, ignore_errors=True)

    async def stop_container(self, pod_uid: str, name: str, grace_seconds: int) -> None:
        live = self._live.get((pod_uid, name))
        if live is None or live.exited.is_set():
            return
        if grace_seconds > 0:
            await self._signal(live, "TERM")
            try:
                await asyncio.wait_for(live.exited.wait(), grace_seconds)
                return
            except asyncio.TimeoutError:
                pass
        await self._signal(live, "KILL")

    async def _signal(self, live: LiveContainer, sig: str) -> None:
        await run(self.binary, "--root", self.runc_root, "kill", live.cid, sig, timeout=30)

    async def exec_streams(self, pod_uid: str, name: str, command: list[str], timeout: float,
                           stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        live = self._live.get((pod_uid, name))
        if live is None:
            raise RuntimeError_(f"container {name} is not running")
        result = await run(self.binary, "--root", self.runc_root, "exec", live.cid, *command, timeout=timeout,
                           input=stdin if stdin else None)
        return result.returncode, result.stdout, result.stderr

    # -- after an agent restart ------------------------------------------------------------

    async def recover(self) -> list[RecoveredPod]:
        pods = []
        for uid in sorted(os.listdir(self.pods_dir)) if os.path.isdir(self.pods_dir) else ():
            doc = json.loads(_read(os.path.join(self.pod_dir(uid), "pod.json")) or "{}")
            if not doc:
                shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
                continue
            rec = RecoveredPod(uid, doc.get("namespace", "default"), doc.get("name", uid), doc.get("ip", ""))
            cdirs = os.path.join(self.pod_dir(uid), "containers")
            for name in sorted(os.listdir(cdirs)) if os.path.isdir(cdirs) else ():
                found = await self._recover_container(uid, name)
                if found is not None:
                    rec.containers.append(found)
            pods.append(rec)
        if pods:
            log.info("found %d pod(s) from an earlier run: %d container(s) still running", len(pods),
                     sum(c.running for p in pods for c in p.containers))
        return pods

    async def _recover_container(self, uid: str, name: str) -> RecoveredContainer | None:
        cdir = self.container_dir(uid, name)
        state = json.loads(_read(os.path.join(cdir, "state.json")) or "{}")
        if not state:
            return None
        cid, shim = state["id"], state.get("shim_pid", 0)
        started = state.get("started_at", time.time())
        container_id = f"{self.name}://{cid}"
        if shim and _process_alive_with(shim, cid):
            live = LiveContainer(cid, shim, asyncio.Event(), pid=state.get("pid", 0))
            live.watch()
            self._live[(uid, name)] = live
            return RecoveredContainer(name, container_id, started, running=True, image_id=state.get("image_id", ""))
        info = await self.wait_container(uid, name)
        reason = termination_reason(info.exit_code, info.oom_killed)
        term = Termination(info.exit_code, reason, started, info.finished_at, info.message, info.signal, container_id)
        return RecoveredContainer(name, container_id, started, running=False, exit=term,
                                  image_id=state.get("image_id", ""))

    # -- usage -----------------------------------------------------------------------------

    def usage(self) -> list[ContainerUsage]:
        out = []
        now = time.monotonic()
        for (uid, name), live in self._live.items():
            cpu, memory = self._usage_counters(uid, name, live)
            last_t, last_cpu = live.cpu_sample
            live.cpu_sample = (now, cpu)
            rate = int((cpu - last_cpu) / (now - last_t)) if last_t and now > last_t else 0
            out.append(ContainerUsage(uid, name, max(0, rate), memory))
        return out

    def _usage_counters(self, uid: str, name: str, live: LiveContainer) -> tuple[int, int]:
        """(cpu time used so far in ns, working set bytes) of one container, from its cgroup."""
        path = cgroups.container_cgroup(self.node_name, uid, name)
        return cgroups.cpu_usage_ns(path), cgroups.memory_working_set(path)


def _runc_message(line: str) -> str:
    """runc's logrus error line, reduced to its message."""
    m = re.search(r'msg="(.*)"', line)
    text = m.group(1) if m else line
    return text.replace('\\"', '"')
