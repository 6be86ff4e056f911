"""Reading and removing the cgroups the OCI runtime makes for containers, v1, v2 or hybrid.

Containers live at ``/shoal/<node>/pod<uid>/<container>`` in every hierarchy; runc creates
and removes the container level, the agent removes the levels above when the pod goes.
"""

from __future__ import annotations

import glob
import os

ROOT = "/sys/fs/cgroup"


def is_v2_only() -> bool:
    return os.path.exists(os.path.join(ROOT, "cgroup.controllers"))


def hybrid_v2_controllers() -> list[str]:
    """Controllers bound to the v2 hierarchy of a hybrid setup (crun refuses to run when any are)."""
    path = os.path.join(ROOT, "unified", "cgroup.controllers")
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def pod_cgroup(node: str, uid: str) -> str:
    return f"/shoal/{node}/pod{uid}"


def container_cgroup(node: str, uid: str, name: str) -> str:
    return f"{pod_cgroup(node, uid)}/{name}"


def _controller_dir(controller: str, path: str) -> str:
    if is_v2_only():
        return ROOT + path
    return os.path.join(ROOT, controller) + path


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def oom_kills(path: str) -> int:
    """How many processes the kernel's OOM killer took in this cgroup (memory.oom_control's
    oom_kill in v1, memory.events' oom_kill in v2)."""
    base = _controller_dir("memory", path)
    text = _read(os.path.join(base, "memory.events" if is_v2_only() else "memory.oom_control"))
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def cpu_usage_ns(path: str) -> int:
    if is_v2_only():
        for line in _read(os.path.join(ROOT + path, "cpu.stat")).splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) * 1000
        return 0
    text = _read(os.path.join(_controller_dir("cpuacct", path), "cpuacct.usage")).strip()
    return int(text) if text.isdigit() else 0


def memory_working_set(path: str) -> int:
    """usage minus inactive file pages, as the kubelet counts a container's memory."""
    base = _controller_dir("memory", path)
    if is_v2_only():
        usage_text, stat_key = _read(os.path.join(base, "memory.current")), "inactive_file"
    else:
        usage_text, stat_key = _read(os.path.join(base, "memory.usage_in_bytes")), "total_inactive_file"
    usage = int(usage_text.strip() or 0)
    for line in _read(os.path.join(base, "memory.stat")).splitlines():
        key, _, value = line.partition(" ")
        if key == stat_key:
            return max(0, usage - int(value))
    return usage


def existing_dirs(path: str) -> list[str]:
    """Every hierarchy's directory for ``path`` that exists (leftovers, after a pod is gone)."""
    return sorted(glob.glob(ROOT + path) + glob.glob(os.path.join(ROOT, "*") + path))


def remove_tree(path: str) -> list[str]:
    """rmdir ``path`` and everything below it in every hierarchy, deepest first; returns what
    could not be removed (a cgroup with processes left in it)."""
    failed = []
    for top in existing_dirs(path):
        for dirpath, _dirnames, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except FileNotFoundError:
                pass
            except OSError:
                failed.append(dirpath)
    return failed
