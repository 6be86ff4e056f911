"""`shoal top` end to end with hollow nodes: three sim nodes in one agent process report on one
utilization stream every second; the server keeps the newest sample of each node and pod."""

from __future__ import annotations

import pytest

from node_helpers import make_pod, wait_for


def table(result) -> list[list[str]]:
    assert result.returncode == 0, result.stderr.decode()
    return [line.split() for line in result.stdout.decode().splitlines()]


def rows_once_reported(cluster, *args: str, count: int, timeout: float = 10.0) -> list[list[str]]:
    """The table of `shoal top ARGS` once it has ``count`` rows besides the header."""
    def ready():
        result = cluster.shoal("top", *args)
        return result.returncode == 0 and len(lines := table(result)) == count + 1 and lines

    return wait_for(ready, timeout, interval=0.3, what=f"`shoal top {' '.join(args)}` to show {count} rows")


def create_pods_on(cluster, namespace: str, names: list[str], node_index: int, *, cpu: str, memory: str) -> None:
    with cluster.client() as api:
        if namespace not in {ns.metadata.name for ns in api.list_items("Namespace")}:
            from shoal.v1.core_pb2 import Namespace

            ns = Namespace()
            ns.metadata.name = namespace
            api.create(ns)
        for name in names:
            pod = make_pod(name, namespace=namespace, requests={"cpu": cpu, "memory": memory})
            pod.spec.node_name = f"{cluster.node}{node_index}"  # no scheduler involved
            api.create(pod)


def test_top_nodes_lists_every_hollow_node_with_kubectl_columns(sim_cluster):
    rows = rows_once_reported(sim_cluster, "nodes", count=3)
    assert rows[0] == ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
    assert [r[0] for r in rows[1:]] == [f"{sim_cluster.node}{i}" for i in range(3)]
    for _name, cpu, cpu_pct, memory, memory_pct in rows[1:]:
        assert cpu.endswith("m") and int(cpu[:-1]) >= 50  # the hollow system share at least
        assert memory.endswith("Mi") and int(memory[:-2]) >= 256
        assert cpu_pct.endswith("%") and memory_pct.endswith("%")


def test_top_pods_shows_the_pods_of_a_namespace(sim_cluster):
    create_pods_on(sim_cluster, "shop", ["cart", "checkout"], 1, cpu="500m", memory="128Mi")
    rows = rows_once_reported(sim_cluster, "pods", "-n", "shop", count=2)
    assert rows[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [r[0] for r in rows[1:]] == ["cart", "checkout"]
    for _name, cpu, memory in rows[1:]:
        assert 100 <= int(cpu.removesuffix("m")) <= 450  # 20-90% of the 500m request
        assert 38 <= int(memory.removesuffix("Mi")) <= 103  # 30-80% of 128Mi
    containers = table(sim_cluster.shoal("top", "pods", "-n", "shop", "--containers", "cart"))
    assert containers[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [r[:2] for r in containers[1:]] == [["cart", "main"]]


def test_top_pods_all_namespaces_and_sorting(sim_cluster):
    create_pods_on(sim_cluster, "batch", ["small", "big"], 2, cpu="100m", memory="64Mi")
    create_pods_on(sim_cluster, "batch", ["huge"], 2, cpu="2", memory="1Gi")
    wait_for(lambda: "huge" in sim_cluster.shoal("top", "pods", "-n", "batch").stdout.decode(), 10,
             what="huge reported")
    rows = table(sim_cluster.shoal("top", "pods", "-A", "--sort-by", "memory"))
    assert rows[0] == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows[1][:2] == ["batch", "huge"]


@pytest.mark.parametrize("args, message", [
    (("top", "services"), 'error: top shows "nodes" or "pods", not "services"'),
    (("logs", "floating"), 'Error from server (BadRequest): pod "floating" is not bound to a node yet (phase Pending)'),
], ids=["top-unknown-kind", "logs-unbound-pod"])
def test_usage_errors(sim_cluster, args, message):
    with sim_cluster.client() as api:
        if not any(p.metadata.name == "floating" for p in api.list_items("Pod", "default")):
            floating = make_pod("floating")
            floating.spec.node_selector["shoal.io/no-such-node"] = "true"  # a scheduler leaves it pending
            api.create(floating)
    result = sim_cluster.shoal(*args)
    assert (result.returncode, result.stderr.decode().strip()) == (1, message)


def test_logs_of_a_hollow_node_say_it_has_no_agent_endpoint(sim_cluster):
    create_pods_on(sim_cluster, "default", ["ghost"], 0, cpu="10m", memory="8Mi")
    result = sim_cluster.shoal("logs", "ghost")
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f'error: node "{sim_cluster.node}0" has no agent endpoint')
