"""Services on real agents, end to end (issue 6, the first acceptance point): a real server with
its controllers and scheduler, a real `shoal agent --runtime runc`, busybox from a real registry.

A Deployment of 3 busybox httpd replicas, each serving a page naming its pod, behind a Service:
ClusterIP:port from the host reaches all three; a pod reaches `http://web:80/` (cluster DNS +
forwarding from pods); the containers carry the Service's variables; `shoal set image` rolls to
a new tag with never fewer than replicas - maxUnavailable ready pods; `shoal rollout undo` goes
back, and the Service follows the new pods each time.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from node_helpers import force_clean, needs_containers, wait_for

pytestmark = [needs_containers, pytest.mark.slow]

REPLICAS, MAX_UNAVAILABLE = 3, 1
PORT, TARGET_PORT, NEW_TAG = 80, 8080, "routing-v2"

MANIFESTS = f"""\
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{name: http, port: {PORT}, targetPort: http, protocol: TCP}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: web}}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: {MAX_UNAVAILABLE}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox:latest
        command: [sh, -c, 'mkdir -p /tmp/www && echo "pod $(hostname)" > /tmp/www/index.html
                  && env > /tmp/www/env.txt && exec httpd -f -p {TARGET_PORT} -h /tmp/www']
        ports: [{{name: http, containerPort: {TARGET_PORT}}}]
        readinessProbe:
          httpGet: {{path: /, port: {TARGET_PORT}}}
          periodSeconds: 1
"""


NO_LINKS_POD = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: nolinks, labels: {{app: other}}}}
spec:
  enableServiceLinks: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:latest
    command: [sh, -c, 'mkdir -p /tmp/www && env > /tmp/www/env.txt && exec httpd -f -p {TARGET_PORT} -h /tmp/www']
    readinessProbe:
      httpGet: {{path: /env.txt, port: {TARGET_PORT}}}
      periodSeconds: 1
"""


def shoal_cli(server: str, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = shutil.which("shoal")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env["SHOAL_SERVER"] = server
    return subprocess.run([exe, *args], input=input, capture_output=True, text=True, timeout=timeout, env=env)


def http_get(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None


_cidrs = iter(random.sample(range(150, 250), 100))


def agent_args(name: str, registry) -> list[str]:
    # A pod CIDR far from the lowest free /24 other agents on this machine take (tests run in
    # parallel by hand would otherwise make two bridges with one subnet).
    return ["--runtime", "runc", "--name", name, "--state-dir", f"/var/lib/shoal-test/{name}",
            "--pod-cidr", f"10.244.{next(_cidrs)}.0/24",
            "--registry-mirror", f"docker.io={registry.address}", "--lease-interval", "2",
            "--backoff-initial", "1", "--backoff-max", "4"]


@pytest.fixture
def cluster(server_factory, agent_factory, registry, tmp_path):
    """A server with controllers and the scheduler, one runc agent, and busybox pushed again
    under a second tag (the image to roll to)."""
    from shoal.node.images.build import busybox_rootfs, import_image
    from shoal.proto.client import ClusterClient

    rootfs = str(tmp_path / "rootfs")
    busybox_rootfs(rootfs, shutil.which("busybox"))
    import_image(rootfs, [f"busybox:{NEW_TAG}"], registry=registry.address, cmd=["sh"])
    srv = server_factory("--sync", "NORMAL", scheduler=True)
    name = f"route-{uuid.uuid4().hex[:6]}"
    try:
        agent = agent_factory(srv.address, *agent_args(name, registry))
        with ClusterClient(srv.address, timeout=30) as client:
            yield client, srv.address, agent, name
        agent.stop()
        assert not _table_exists(name), "the agent's service rules outlive it"
    finally:
        force_clean(f"/var/lib/shoal-test/{name}", name)


def _table_exists(node: str) -> bool:
    from shoal.node.service_proxy import table_name

    return subprocess.run(["nft", "list", "table", "ip", table_name(node)], capture_output=True).returncode == 0


def local_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    addresses = [line.split()[3].split("/")[0] for line in out.splitlines() if not line.split()[1].startswith("shoal-")]
    return addresses[0] if addresses else ""


def ready_pods(client) -> list:
    return [p for p in client.list_items("Pod", "default")
            if p.metadata.labels.get("app") == "web" and not p.metadata.HasField("deletion_timestamp")
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)]


def rolled_out(client, image: str):
    """The ready pods once every web pod runs ``image`` and there are exactly REPLICAS of them."""
    pods = [p for p in client.list_items("Pod", "default") if p.metadata.labels.get("app") == "web"]
    ready = ready_pods(client)
    if len(pods) == REPLICAS and len(ready) == REPLICAS and all(p.spec.containers[0].image == image for p in pods):
        return ready
    return None


def endpoint_ips(client) -> set[str]:
    from shoal.proto.client import APIStatusError

    try:
        eps = client.get("Endpoints", "web", "default")
    except APIStatusError:
        return set()
    return {a.ip for s in eps.subsets for a in s.addresses}


def pages_through(url: str, expected: set[str], attempts: int = 200) -> set[str]:
    """The pod names answering at ``url`` over repeated requests (stops once all are seen)."""
    seen: set[str] = set()
    for _ in range(attempts):
        body = http_get(url)
        if body and body.startswith("pod "):
            seen.add(body.split()[1])
        if seen >= expected:
            break
    return seen


def wait_routed(client, url: str, timeout: float = 60.0) -> set[str]:
    """Waits for the Endpoints to list exactly the ready pods and for ``url`` to reach each."""
    deadline = time.monotonic() + timeout
    names: set[str] = set()
    while time.monotonic() < deadline:
        ready = ready_pods(client)
        names = {p.metadata.name for p in ready}
        if len(ready) == REPLICAS and endpoint_ips(client) == {p.status.pod_ip for p in ready}:
            seen = pages_through(url, names)
            if seen == names:
                return seen
        time.sleep(0.5)
    raise AssertionError(f"{url} did not reach all of {sorted(names)} within {timeout}s")


class ReadySampler(threading.Thread):
    """Counts the ready web pods every 0.1 s until stopped; ``low`` is the least seen."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.low = REPLICAS
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        from shoal.proto.client import ClusterClient

        with ClusterClient(self.address, timeout=30) as client:
            while not self.done.is_set():
                self.low = min(self.low, len(ready_pods(client)))
                self.samples += 1
                time.sleep(0.1)


def roll(client, address: str, command: list[str], image: str, expected_line: str) -> ReadySampler:
    sampler = ReadySampler(address)
    sampler.start()
    try:
        out = shoal_cli(address, *command)
        assert out.returncode == 0 and out.stdout.strip() == expected_line, out
        wait_for(lambda: rolled_out(client, image), 120, interval=0.5, what=f"the rollout to {image}")
    finally:
        sampler.done.set()
        sampler.join()
    return sampler


def test_a_deployment_behind_a_service_routes_resolves_and_rolls(cluster):
    client, address, agent, _node = cluster
    applied = shoal_cli(address, "apply", "-f", "-", input=MANIFESTS)
    assert applied.returncode == 0, applied
    svc = wait_for(lambda: (s := client.get("Service", "web", "default")).spec.cluster_ip and s, 30,
                   what="the Service's clusterIP")
    cluster_ip, node_port = svc.spec.cluster_ip, svc.spec.ports[0].node_port
    wait_for(lambda: rolled_out(client, "busybox:latest"), 120, interval=0.5,
             what=f"3 ready replicas ({agent.log()[-1500:]})")

    # ClusterIP:port from the host reaches every replica; so does the NodePort on the node's address.
    url = f"http://{cluster_ip}:{PORT}/"
    names = wait_routed(client, url)
    assert len(names) == REPLICAS
    # NodePorts answer on the node's addresses but loopback (as kube-proxy's nftables mode).
    node_ip = local_address()
    if node_ip:  # else the machine has no address to try it on
        assert pages_through(f"http://{node_ip}:{node_port}/", names) == names

    # The containers carry the Service's variables (it existed before they started).
    pod = ready_pods(client)[0]
    env = dict(line.split("=", 1) for line in http_get(f"http://{pod.status.pod_ip}:{TARGET_PORT}/env.txt").split("\n")
               if "=" in line)
    assert env["WEB_SERVICE_HOST"] == cluster_ip and env["WEB_SERVICE_PORT"] == str(PORT)
    assert env["WEB_SERVICE_PORT_HTTP"] == str(PORT)
    assert env[f"WEB_PORT_{PORT}_TCP"] == f"tcp://{cluster_ip}:{PORT}"

    # ... unless the pod turns service links off.
    nolinks = shoal_cli(address, "apply", "-f", "-", input=NO_LINKS_POD)
    assert nolinks.returncode == 0, nolinks
    ip = wait_for(lambda: (p := client.get("Pod", "nolinks", "default")).status.pod_ip
                  and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions) and p.status.pod_ip,
                  60, interval=0.5, what="pod nolinks ready")
    env = http_get(f"http://{ip}:{TARGET_PORT}/env.txt")
    assert "HOSTNAME=nolinks" in env and "WEB_SERVICE_HOST" not in env, env

    # From inside a pod: the short name, the namespaced name and the full name resolve, and the
    # Service answers (DNS on the node's bridge, DNAT of pod traffic).
    for name in ("web", "web.default", "web.default.svc.cluster.local"):
        # (no -T: busybox 1.35's wget crashes with a timeout set)
        out = shoal_cli(address, "exec", pod.metadata.name, "--", "wget", "-q", "-O", "-", f"http://{name}:{PORT}/")
        assert out.returncode == 0 and out.stdout.startswith("pod "), (name, out)
    looked_up = shoal_cli(address, "exec", pod.metadata.name, "--", "nslookup", "web.default.svc.cluster.local")
    assert cluster_ip in looked_up.stdout, looked_up

    # set image rolls with never fewer than replicas - maxUnavailable ready, and the Service follows.
    sampler = roll(client, address, ["set", "image", "deployment/web", f"app=busybox:{NEW_TAG}"],
                   f"busybox:{NEW_TAG}", "deployment.apps/web image updated")
    assert sampler.samples > 10 and sampler.low >= REPLICAS - MAX_UNAVAILABLE, vars(sampler)
    rolled = wait_routed(client, url)
    assert rolled.isdisjoint(names), "the Service reaches the new pods only"

    # rollout undo goes back to the first template.
    sampler = roll(client, address, ["rollout", "undo", "deployment/web"], "busybox:latest",
                   "deployment.apps/web rolled back")
    assert sampler.low >= REPLICAS - MAX_UNAVAILABLE, vars(sampler)
    assert wait_routed(client, url).isdisjoint(names | rolled)


TWO_NODE_PODS = """\
apiVersion: v1
kind: Service
metadata: {name: two}
spec:
  selector: {app: two}
  ports: [{port: 80, targetPort: 8080}]
---
""" + "---\n".join(f"""\
apiVersion: v1
kind: Pod
metadata: {{name: two-{i}, labels: {{app: two}}}}
spec:
  nodeName: {{node{i % 2}}}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:latest
    command: [sh, -c, 'mkdir -p /tmp/www && echo "pod $(hostname)" > /tmp/www/index.html
              && exec httpd -f -p 8080 -h /tmp/www']
    readinessProbe:
      httpGet: {{path: /, port: 8080}}
      periodSeconds: 1
""" for i in range(4))


def rules_exist(node: str, mode: str) -> bool:
    """Whether the forwarding state of ``node``'s agent (in ``mode``) is on the machine."""
    from shoal.node.service_proxy import iptables_chain_prefix
    from shoal.node.userspace_proxy import route_metric

    if mode == "nft":
        return _table_exists(node)
    if mode == "iptables":
        listed = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        return iptables_chain_prefix(node) in listed
    listed = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True).stdout
    return any(line.split()[-2:] == ["metric", str(route_metric(node))] for line in listed.splitlines())


@pytest.mark.parametrize("mode", ["nft", "iptables", "userspace"])
def test_two_agents_on_one_machine_each_keep_their_own_rules(server_factory, agent_factory, registry, mode):
    """Both agents forward the cluster's Services (each with its own rules); a pod on one node
    reaches endpoints on the other; stopping one agent removes its rules only. In every proxy
    mode an agent can be given."""
    from shoal.proto.client import ClusterClient

    if mode == "iptables" and shutil.which("iptables-restore") is None:
        pytest.skip("iptables is not installed")
    srv = server_factory("--sync", "NORMAL")
    names = [f"two-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    agents = []
    try:
        agents.extend(agent_factory(srv.address, *agent_args(n, registry), "--proxy-mode", mode) for n in names)
        manifest = TWO_NODE_PODS.replace("{node0}", names[0]).replace("{node1}", names[1])
        assert shoal_cli(srv.address, "apply", "-f", "-", input=manifest).returncode == 0
        with ClusterClient(srv.address, timeout=30) as client:
            pods = wait_for(lambda: (ps := [p for p in client.list_items("Pod", "default")
                                            if any(c.type == "Ready" and c.status == "True"
                                                   for c in p.status.conditions)]) and len(ps) == 4 and ps,
                            90, interval=0.5, what=f"4 ready pods ({agents[0].log()[-800:]})")
            assert {p.spec.node_name for p in pods} == set(names)
            svc = wait_for(lambda: (s := client.get("Service", "two", "default")).spec.cluster_ip and s, 30,
                           what="the Service's clusterIP")
            wait_for(lambda: len({a.ip for s in client.get("Endpoints", "two", "default").subsets
                                  for a in s.addresses}) == 4, 30, what="4 endpoints")
        expected = {p.metadata.name for p in pods}
        url = f"http://{svc.spec.cluster_ip}/"
        wait_for(lambda: pages_through(url, expected) == expected, 30, what="the host reaching all 4 pods")
        assert all(rules_exist(n, mode) for n in names)

        # From a pod of the first node, over its own node's rules, to pods on both nodes.
        loop = "for i in $(seq 40); do wget -q -O - http://two/; done"
        out = shoal_cli(srv.address, "exec", "two-0", "--", "sh", "-c", loop)
        assert {line.split()[1] for line in out.stdout.splitlines() if line.startswith("pod ")} == expected, out

        agents[1].stop()
        assert rules_exist(names[0], mode) and not rules_exist(names[1], mode)
        assert pages_through(url, {"two-0", "two-2"}) >= {"two-0", "two-2"}
    finally:
        for agent in agents:
            agent.stop()
        for name in names:
            force_clean(f"/var/lib/shoal-test/{name}", name)
