"""containerPort.hostPort on a real runc agent: the node's port answers for the pod (CNI
portmap), and the rules go with the pod."""

from __future__ import annotations

import socket
import subprocess
import urllib.request

from node_helpers import leftovers, make_pod, needs_containers, wait_for

pytestmark = needs_containers

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout


def test_host_port_answers_from_the_host_and_is_removed_with_the_pod(runc_node):
    from shoal.node.network import port_mappings

    api = runc_node.api
    host_port = free_port()
    pod = make_pod("published", command=HTTPD, grace=1)
    pod.spec.containers[0].ports.add(name="http", container_port=80, host_port=host_port, protocol="TCP")
    assert port_mappings(pod) == [{"hostPort": host_port, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]
    api.create(pod)
    api.bind("published", runc_node.name, "default")

    def ready():
        p = api.get("Pod", "published", "default")
        return p if p.status.container_statuses and p.status.container_statuses[0].ready else None

    pod = wait_for(ready, 30, what=f"the pod ready ({runc_node.agent.log()[-1500:]})")
    node = api.get("Node", runc_node.name)
    addresses = {a.address for a in node.status.addresses if a.type == "InternalIP"} | {"127.0.0.1"}
    for address in sorted(addresses):
        body = wait_for(lambda url=f"http://{address}:{host_port}/": _get(url), 10, interval=0.2,
                        what=f"{address}:{host_port} to answer")
        assert body == b"hello from shoal\n"
    assert f"--dport {host_port}" in nat_rules()

    api.delete("Pod", "published", "default")
    wait_for(lambda: "published" not in {p.metadata.name for p in api.list_items("Pod", "default")}, 20,
             what="the pod to be deleted")
    assert f"--dport {host_port}" not in nat_rules()
    assert leftovers(runc_node.state_dir, runc_node.name, pod.metadata.uid) == []


def _get(url: str) -> bytes | None:
    try:
        return urllib.request.urlopen(url, timeout=2).read()
    except OSError:
        return None
