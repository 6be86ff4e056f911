"""The process runtime: containers as plain host processes, for machines without an OCI runtime.

NO ISOLATION: every pod shares the host's network (its IP is the node's), PID space and
users; no cgroup limits apply. As root, a container runs chrooted into its image's
filesystem (pulled and unpacked as for runc); otherwise its command runs on the host.
Logs, restarts, probes and exit codes work as with runc, through the same kind of shim:

    sh -c 'cd DIR; CMD... >>LOG 2>&1 & echo $! >pid; wait $!; echo $? >exit'
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import time

from shoal.node.procutil import run
from shoal.node.runtime.base import RuntimeError_, RuntimeUnavailable
from shoal.node.runtime.oci import LiveContainer, OCIRuntime, _read, mount_overlay, unmount

log = logging.getLogger("shoal.node")

SHIM = ('c="$1"; l="$2"; cd "$3" 2>/dev/null || cd /; shift 4; "$@" >>"$l" 2>&1 & echo $! >"$c/pid"; '
        'wait $!; echo $? >"$c/exit.tmp"; mv "$c/exit.tmp" "$c/exit"')
NO_ISOLATION_WARNING = ("the process runtime gives NO isolation: containers are plain host processes sharing "
                        "the host's network, PIDs and users, without resource limits")


class ProcessRuntime(OCIRuntime):
    isolated = False

    def __init__(self, *, state_dir: str, node_name: str, images, host_ip: str = "") -> None:
        super().__init__("process", state_dir=state_dir, node_name=node_name, images=images, host_ip=host_ip)
        self.name = "process"
        self.chroot = os.geteuid() == 0

    def version(self) -> str:
        return "process://0.1.0"

    def check(self) -> None:
        if self.chroot:
            for tool in ("skopeo", "umoci"):
                if shutil.which(tool) is None:
                    raise RuntimeUnavailable(f"{tool} is not installed (apt-get install {tool})")

    async def start(self, pod_cidr: str) -> None:
        self.check()
        log.warning(NO_ISOLATION_WARNING)
        os.makedirs(self.pods_dir, exist_ok=True)
        self.images_store.open()
        with open(os.path.join(self.state_dir, "node.json"), "w") as f:
            json.dump({"name": self.node_name, "pod_cidr": pod_cidr, "runtime": self.name}, f)

    async def pull_image(self, image: str, policy: str) -> str:
        if not self.chroot:
            return f"process://{image}"
        return await super().pull_image(image, policy)

    def uses_host_network(self, pod) -> bool:
        return True  # no network namespaces: every pod has the node's address

    async def start_container(self, pod, container, *, attempt: int, init: bool) -> str:
        if self.chroot:
            return await super().start_container(pod, container, attempt=attempt, init=init)
        return await self._start_on_host(pod, container, attempt)

    async def _start_on_host(self, pod, container, attempt: int) -> str:
        """Without root: the container's command runs as a host process, its image unused."""
        from shoal.node.runtime.spec import ImageConfig, SpecError, command_line, environment

        uid = pod.metadata.uid
        cdir = self.container_dir(uid, container.name)
        cid = self.container_id(pod.metadata.namespace, pod.metadata.name, container.name, uid)
        os.makedirs(cdir, exist_ok=True)
        await self._reset_bundle(cid, cdir)
        try:
            env = environment(pod, container, ImageConfig(), pod_ip=self.host_ip, host_ip=self.host_ip)
            argv = command_line(container, ImageConfig(), dict(e.split("=", 1) for e in env))
        except SpecError as exc:
            raise RuntimeError_(f"{exc} (the process runtime without root runs commands on the host)") from None
        spec = {"process": {"args": argv, "env": env, "cwd": container.working_dir or cdir, "user": None},
                "root": {"path": ""}}
        log_path = self.log_path(uid, container.name, attempt)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        live = self._launch(cid, cdir, log_path, spec)
        self._live[(uid, container.name)] = live
        state = {"id": cid, "name": container.name, "attempt": attempt, "image": container.image,
                 "image_id": f"process://{container.image}", "shim_pid": live.shim_pid, "started_at": time.time()}
        with open(os.path.join(cdir, "state.json"), "w") as f:
            json.dump(state, f)
        live.pid = state["pid"] = await self._wait_started(live, cdir, log_path)
        with open(os.path.join(cdir, "state.json"), "w") as f:
            json.dump(state, f)
        return f"process://{cid}"

    def _prepare_rootfs(self, cdir: str, lower: str) -> str:
        rootfs = os.path.join(cdir, "rootfs")
        for sub in ("rootfs", "upper", "work"):
            os.makedirs(os.path.join(cdir, sub), exist_ok=True)
        mount_overlay(lower, os.path.join(cdir, "upper"), os.path.join(cdir, "work"), rootfs)
        return rootfs

    def _launch(self, cid: str, cdir: str, log_path: str, spec: dict) -> LiveContainer:
        proc = spec["process"]
        user, root = proc["user"], spec["root"]["path"]
        if root:
            # chroot enters the image's filesystem at "/": the working directory is not kept.
            argv = ["chroot", f"--userspec={user['uid']}:{user['gid']}", root, *proc["args"]]
            cwd = root
        else:
            argv, cwd = list(proc["args"]), proc["cwd"]
        env = dict(e.split("=", 1) for e in proc["env"])
        popen = subprocess.Popen(
            ["/bin/sh", "-c", SHIM, f"shoal-shim {cid}", cdir, log_path, cwd, "--", *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, env=env,
        )
        live = LiveContainer(cid, popen.pid, asyncio.Event(), popen=popen)
        live.watch()
        return live

    async def _signal(self, live: LiveContainer, sig: str) -> None:
        pid = live.pid or int(_read(os.path.join(self._cdir_of(live), "pid")).strip() or 0)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _cdir_of(self, live: LiveContainer) -> str:
        for (uid, name), other in self._live.items():
            if other is live:
                return self.container_dir(uid, name)
        return ""

    async def _reset_bundle(self, cid: str, cdir: str) -> None:
        unmount(os.path.join(cdir, "rootfs"))
        for name in ("pid", "exit", "exit.tmp"):
            try:
                os.unlink(os.path.join(cdir, name))
            except FileNotFoundError:
                pass
        for sub in ("upper", "work"):
            shutil.rmtree(os.path.join(cdir, sub), ignore_errors=True)

    async def _remove_container(self, pod_uid: str, name: str, keep_bundle: bool = False) -> None:
        live = self._live.get((pod_uid, name))
        if live is not None and not live.exited.is_set():
            await self._signal(live, "KILL")
            await live.exited.wait()
        cdir = self.container_dir(pod_uid, name)
        unmount(os.path.join(cdir, "rootfs"))
        if not keep_bundle:
            if live is not None:
                live.close()
                self._live.pop((pod_uid, name), None)
                shutil.rmtree(cdir, ignore_errors=True)

    async def exec_streams(self, pod_uid: str, name: str, command: list[str], timeout: float,
                           stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        cdir = self.container_dir(pod_uid, name)
        argv = ["chroot", os.path.join(cdir, "rootfs"), *command] if self.chroot else command
        result = await run(*argv, timeout=timeout, input=stdin if stdin else None)
        return result.returncode, result.stdout, result.stderr

    def _usage_counters(self, uid: str, name: str, live: LiveContainer) -> tuple[int, int]:
        """No cgroup here: the cpu time and resident memory of the processes of the container's
        session (the shim starts one; the container's processes stay in it), from /proc."""
        return session_usage(live.shim_pid)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def session_usage(sid: int) -> tuple[int, int]:
    """(cpu ns, resident bytes) summed over the live processes of session ``sid`` (cpu including
    their reaped children's)."""
    cpu_ticks = rss_pages = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _read(f"/proc/{entry}/stat").rsplit(")", 1)[-1].split()
        # after "pid (comm)": state ppid pgrp session ... utime stime cutime cstime ... rss. The
        # children's times keep the count of processes that ended and were reaped in the session.
        if len(fields) > 22 and fields[3] == str(sid) and fields[0] != "Z":
            cpu_ticks += sum(int(v) for v in fields[11:15])
            rss_pages += int(fields[21])
    return cpu_ticks * 1_000_000_000 // _CLOCK_TICKS, rss_pages * _PAGE_BYTES

