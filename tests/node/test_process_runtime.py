"""The process runtime: containers as chrooted host processes (no isolation), same lifecycle."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from node_helpers import container_state, force_clean, make_pod, needs_containers, wait_for

pytestmark = needs_containers


@pytest.fixture
def process_node(api, agent_factory, registry):
    name = f"proc-{uuid.uuid4().hex[:6]}"
    state_dir = f"/var/lib/shoal-test/{name}"
    try:
        agent = agent_factory(api.address, "--runtime", "process", "--name", name, "--state-dir", state_dir,
                              "--registry-mirror", f"docker.io={registry.address}", "--backoff-initial", "1")
        yield api, agent, name, state_dir
        agent.stop()
    finally:
        force_clean(state_dir, name, runtime="process")


def test_a_process_pod_runs_restarts_and_goes(process_node):
    api, agent, name, state_dir = process_node
    assert "NO isolation" in agent.log()
    api.create(make_pod("p", command=["sh", "-c", "echo started; while true; do sleep 1; done"], grace=1))
    api.bind("p", name, "default")
    st = wait_for(lambda: (s := api.get("Pod", "p", "default").status).container_statuses
                  and s.container_statuses[0].ready and s, 20, what="process pod ready")
    assert st.pod_ip == st.host_ip
    assert st.container_statuses[0].container_id.startswith("process://")
    uid = api.get("Pod", "p", "default").metadata.uid
    os.kill(container_state(state_dir, uid, "main")["pid"], signal.SIGKILL)
    wait_for(lambda: api.get("Pod", "p", "default").status.container_statuses[0].restart_count == 1, 10,
             what="restart")
    api.delete("Pod", "p", "default")
    wait_for(lambda: not api.list_items("Pod", "default"), 15, what="the pod to go")
    assert not os.path.exists(os.path.join(state_dir, "pods", uid))


def test_without_root_a_command_runs_on_the_host_with_its_exit_code(tmp_path):
    """The non-root path of the process runtime, driven directly (no image, no chroot)."""
    import asyncio

    from shoal.node.images.store import ImageStore
    from shoal.node.runtime.process import ProcessRuntime

    pod = make_pod("hostproc", command=["sh", "-c", "echo $GREETING from $(pwd); exit 7"])
    pod.metadata.uid = "uid-hostproc"
    pod.spec.containers[0].env.add(name="GREETING", value="hello")
    pod.spec.containers[0].working_dir = str(tmp_path)

    async def scenario():
        rt = ProcessRuntime(state_dir=str(tmp_path / "state"), node_name="n", images=ImageStore(str(tmp_path / "i")),
                            host_ip="127.0.0.1")
        rt.chroot = False
        await rt.start("")
        ip = await rt.create_sandbox(pod)
        cid = await rt.start_container(pod, pod.spec.containers[0], attempt=0, init=False)
        info = await rt.wait_container("uid-hostproc", "main")
        with open(rt.log_path("uid-hostproc", "main", 0)) as f:
            log = f.read()
        await rt.remove_sandbox("uid-hostproc")
        return ip, cid, info, log

    ip, cid, info, log = asyncio.run(scenario())
    assert ip == "127.0.0.1" and cid.startswith("process://")
    assert info.exit_code == 7
    assert log == f"hello from {tmp_path}\n"
    assert not (tmp_path / "state" / "pods" / "uid-hostproc").exists()
