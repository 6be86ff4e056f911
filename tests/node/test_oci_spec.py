"""config.json from a pod, its image and the node: Kubernetes' rules, without runc."""

from __future__ import annotations

import pytest

from shoal.node.runtime.spec import (
    DEFAULT_CAPABILITIES,
    ImageConfig,
    SandboxPaths,
    SpecError,
    command_line,
    expand,
    oci_spec,
)
from shoal.v1.core_pb2 import Pod

IMAGE = ImageConfig(entrypoint=["/entry"], cmd=["serve", "--port=80"], env=["PATH=/bin", "FROM_IMAGE=1"],
                    working_dir="/srv")


def pod_with(**container) -> tuple[Pod, object]:
    pod = Pod()
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = "web", "prod", "uid-1"
    pod.spec.node_name = "n1"
    c = pod.spec.containers.add(name="main", image="busybox")
    for key, value in container.items():
        if key in ("command", "args"):
            getattr(c, key).extend(value)
        elif key == "limits":
            c.resources.limits.update(value)
        elif key == "requests":
            c.resources.requests.update(value)
        elif key == "env":
            for name, val in value.items():
                c.env.add(name=name, value=val)
    return pod, c


def spec(pod, c, **kw):
    return oci_spec(pod, c, kw.pop("image", IMAGE), rootfs="/b/rootfs", sandbox=SandboxPaths(netns="/run/netns/x"),
                    cgroups_path="/shoal/n1/poduid-1/main", pod_ip="10.244.0.7", nofile=1024, **kw)


@pytest.mark.parametrize(
    "command, args, expected",
    [
        ([], [], ["/entry", "serve", "--port=80"]),
        (["/bin/sh"], [], ["/bin/sh"]),
        (["/bin/sh"], ["-c", "x"], ["/bin/sh", "-c", "x"]),
        ([], ["other"], ["/entry", "other"]),
    ],
    ids=["image", "command-replaces-both", "command-and-args", "args-replace-cmd"],
)
def test_command_follows_kubernetes_rules(command, args, expected):
    _, c = pod_with(command=command, args=args)
    assert command_line(c, IMAGE, {}) == expected


def test_no_command_anywhere_is_an_error():
    _, c = pod_with()
    with pytest.raises(SpecError, match="no command"):
        command_line(c, ImageConfig(), {})


@pytest.mark.parametrize(
    "text, expected",
    [("$(A)-$(B)", "1-$(B)"), ("$$(A)", "$(A)"), ("plain", "plain"), ("$(A)$(A)", "11")],
)
def test_var_expansion(text, expected):
    assert expand(text, {"A": "1"}) == expected


def test_environment_merges_image_container_and_downward_api():
    pod, c = pod_with(env={"GREETING": "hi $(FROM_IMAGE)"})
    v = c.env.add(name="MY_IP")
    v.value_from.field_ref.field_path = "status.podIP"
    v = c.env.add(name="MY_NS")
    v.value_from.field_ref.field_path = "metadata.namespace"
    env = dict(e.split("=", 1) for e in spec(pod, c)["process"]["env"])
    assert env["FROM_IMAGE"] == "1" and env["PATH"] == "/bin"
    assert env["GREETING"] == "hi 1"
    assert (env["MY_IP"], env["MY_NS"], env["HOSTNAME"]) == ("10.244.0.7", "prod", "web")


def test_limits_and_requests_become_cgroup_settings():
    pod, c = pod_with(limits={"memory": "64Mi", "cpu": "1500m"}, requests={"cpu": "250m"})
    res = spec(pod, c)["linux"]["resources"]
    assert res["memory"] == {"limit": 64 * 1024 * 1024, "swap": 64 * 1024 * 1024}
    assert res["cpu"] == {"quota": 150_000, "period": 100_000, "shares": 256}
    assert res["pids"] == {"limit": 1024}


def test_without_requests_cpu_shares_are_the_minimum():
    pod, c = pod_with()
    assert spec(pod, c)["linux"]["resources"]["cpu"] == {"shares": 2}


def test_defaults_are_docker_capabilities_masked_proc_and_no_new_privileges():
    pod, c = pod_with()
    s = spec(pod, c)
    assert s["process"]["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert s["process"]["noNewPrivileges"] is True
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert {"type": "network", "path": "/run/netns/x"} in s["linux"]["namespaces"]
    assert s["process"]["cwd"] == "/srv" and s["root"] == {"path": "/b/rootfs", "readonly": False}
    assert s["linux"]["cgroupsPath"] == "/shoal/n1/poduid-1/main"


def test_security_context_is_honoured():
    pod, c = pod_with()
    sc = c.security_context
    sc.run_as_user, sc.run_as_group = 1000, 2000
    sc.read_only_root_filesystem = True
    sc.allow_privilege_escalation = True
    sc.capabilities.add.append("NET_ADMIN")
    sc.capabilities.drop.append("KILL")
    pod.spec.security_context.sysctls.add(name="net.ipv4.ip_unprivileged_port_start", value="0")
    s = spec(pod, c)
    assert s["process"]["user"] == {"uid": 1000, "gid": 2000}
    assert s["root"]["readonly"] is True
    assert s["process"]["noNewPrivileges"] is False
    caps = s["process"]["capabilities"]["effective"]
    assert "CAP_NET_ADMIN" in caps and "CAP_KILL" not in caps
    assert s["linux"]["sysctl"] == {"net.ipv4.ip_unprivileged_port_start": "0"}


def test_privileged_gets_every_capability_and_no_masking():
    pod, c = pod_with()
    c.security_context.privileged = True
    s = spec(pod, c)
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]
    assert "maskedPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_run_as_non_root_refuses_a_root_image():
    pod, c = pod_with()
    c.security_context.run_as_non_root = True
    with pytest.raises(SpecError, match="runAsNonRoot"):
        spec(pod, c)


def test_volume_mounts_bind_the_sandbox_volumes():
    pod, c = pod_with()
    c.volume_mounts.add(name="data", mount_path="/data", read_only=True)
    s = oci_spec(pod, c, IMAGE, rootfs="/r", sandbox=SandboxPaths(volumes={"data": "/var/x"}), cgroups_path="/c",
                 nofile=1024)
    assert {"destination": "/data", "type": "bind", "source": "/var/x", "options": ["rbind", "rprivate", "ro"]} \
        in s["mounts"]
    assert not any(ns["type"] == "network" for ns in s["linux"]["namespaces"]), "host network without a netns"
