"""Hollow nodes (--runtime sim): many nodes in one agent process, against a real server."""

from __future__ import annotations

import time

import pytest

from node_helpers import lease_ages, make_pod, pods_running, rss_kib, wait_for


def bind_all(api, pods_and_nodes) -> None:
    api.bulk_apply([pod for pod, _ in pods_and_nodes], create_only=True)
    for pod, node in pods_and_nodes:
        api.bind(pod.metadata.name, node, pod.metadata.namespace)


def test_a_hollow_node_registers_with_lease_and_node_info(api, agent_factory):
    agent_factory(api.address, "--runtime", "sim", "--name", "hollow-one", "--lease-interval", "1")
    node = api.get("Node", "hollow-one")
    assert node.status.node_info.container_runtime_version == "sim://0.1.0"
    assert node.status.node_info.operating_system == "linux"
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"
    assert node.status.capacity["cpu"] == "4" and node.spec.pod_cidr
    assert node.metadata.labels["shoal.io/hollow"] == "true"
    lease = api.get("Lease", "hollow-one", "shoal-node-lease")
    assert lease.spec.holder_identity == "hollow-one"
    assert lease.metadata.owner_references[0].uid == node.metadata.uid
    first = lease.spec.renew_time.ToNanoseconds()
    wait_for(lambda: api.get("Lease", "hollow-one", "shoal-node-lease").spec.renew_time.ToNanoseconds() > first,
             5, what="a lease renewal")


def test_pods_bound_to_hollow_nodes_run_and_delete(api, agent_factory):
    agent_factory(api.address, "--runtime", "sim", "--count", "20", "--name-prefix", "h-", "--lease-interval", "2",
                  "--sim-start-delay", "0.2")
    pods = [(make_pod(f"p{i}", requests={"cpu": "100m", "memory": "64Mi"}), f"h-{i % 20}") for i in range(40)]
    bind_all(api, pods)
    wait_for(lambda: pods_running(api, "default") == 40, 20, what="40 pods Running")
    pod = api.get("Pod", "p3", "default")
    assert pod.status.pod_ip.startswith("10.128.3.")
    assert [c.type for c in pod.status.conditions if c.status == "True"] == [
        "PodScheduled", "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]
    # The API marks a bound pod Terminating; the agent stops it and deletes the object.
    api.delete("Pod", "p3", "default")
    wait_for(lambda: "p3" not in {p.metadata.name for p in api.list_items("Pod", "default")}, 10,
             what="p3 deleted by its agent")


def test_a_scripted_hollow_pod_completes(api, agent_factory):
    agent_factory(api.address, "--runtime", "sim", "--name", "h-job", "--sim-start-delay", "0")
    pod = make_pod("job", restart_policy="Never")
    pod.metadata.annotations["sim.shoal.io/exit-after-seconds"] = "0.5"
    pod.metadata.annotations["sim.shoal.io/exit-code"] = "3"
    api.create(pod)
    api.bind("job", "h-job", "default")
    status = wait_for(lambda: (s := api.get("Pod", "job", "default").status).phase == "Failed" and s, 10,
                      what="the job to fail")
    term = status.container_statuses[0].state.terminated
    assert (term.exit_code, term.reason) == (3, "Error")


def test_a_failing_pull_is_reported(api, agent_factory):
    agent_factory(api.address, "--runtime", "sim", "--name", "h-pull", "--backoff-initial", "2")
    api.create(make_pod("bad", image="example.org/sim-pull-error:1"))
    api.bind("bad", "h-pull", "default")
    reasons = set()

    def seen_both():
        st = api.get("Pod", "bad", "default").status
        if st.container_statuses:
            reasons.add(st.container_statuses[0].state.waiting.reason)
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons

    wait_for(seen_both, 10, interval=0.05, what="ErrImagePull then ImagePullBackOff")


@pytest.mark.slow
def test_a_thousand_hollow_nodes_in_one_process(api, agent_factory):
    n = 1000
    interval = 10
    agent = agent_factory(api.address, "--runtime", "sim", "--count", str(n), "--name-prefix", "hollow-",
                          "--lease-interval", str(interval), "--sim-start-delay", "0.5", timeout=120)
    idle_rss = rss_kib(agent.pid)
    nodes = api.list_items("Node", label_selector="shoal.io/hollow=true")
    assert len(nodes) == n
    registered = time.time()
    # One pod per node, bound by hand (no scheduler yet).
    pods = [(make_pod(f"w{i}", requests={"cpu": "100m", "memory": "32Mi"}), f"hollow-{i}") for i in range(n)]
    bind_all(api, pods)
    wait_for(lambda: pods_running(api, "default") == n, 120, interval=1, what=f"{n} pods Running")
    # Leases stay fresh: after more than an interval, every renewTime is within one interval.
    time.sleep(max(0.0, registered + interval * 1.5 - time.time()))
    ages = lease_ages(api, "hollow-")
    assert len(ages) == n
    assert max(ages) < interval + 2, f"stale lease: {max(ages):.1f}s"
    busy_rss = rss_kib(agent.pid)
    print(f"\n{n} hollow nodes: RSS idle {idle_rss / 1024:.1f} MiB, with {n} pods {busy_rss / 1024:.1f} MiB, "
          f"oldest lease {max(ages):.1f}s")
    assert busy_rss < 1024 * 1024, "more than 1 GiB"


@pytest.mark.slow
def test_an_agent_rides_out_a_server_restart(server_factory, agent_factory):
    from shoal.proto.client import ClusterClient

    srv = server_factory("--sync", "NORMAL")
    agent_factory(srv.address, "--runtime", "sim", "--name", "h-survivor", "--lease-interval", "1",
                  "--sim-start-delay", "0")
    srv.stop()
    time.sleep(1.5)
    srv.start()
    with ClusterClient(srv.address, timeout=10) as api:
        before = api.get("Lease", "h-survivor", "shoal-node-lease").spec.renew_time.ToNanoseconds()
        wait_for(lambda: api.get("Lease", "h-survivor", "shoal-node-lease").spec.renew_time.ToNanoseconds() > before,
                 10, what="lease renewals to resume")
        api.create(make_pod("after-restart"))
        api.bind("after-restart", "h-survivor", "default")
        wait_for(lambda: api.get("Pod", "after-restart", "default").status.phase == "Running", 15,
                 what="a pod bound after the restart to run")
