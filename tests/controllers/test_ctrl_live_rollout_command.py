"""`shoal rollout` against a real server (the verb is run in-process: its parser is built from
the module's register(), as the `shoal` root command does from its entry point)."""

from __future__ import annotations

import argparse

import pytest

from ctrl_helpers import template, wait_for
from shoal.control.controllers import deployment_util as du
from shoal.control.controllers.rollout_command import register
from shoal.v1 import apps_pb2


@pytest.fixture
def rollout(ctrl_server, ns, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOAL_CONFIG", str(tmp_path / "config"))
    root = argparse.ArgumentParser(prog="shoal")
    register(root.add_subparsers(dest="command"))

    def run(*words: str) -> tuple[int, str, str]:
        args = root.parse_args(["rollout", *words, "--server", ctrl_server.address, "-n", ns])
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_rollout_status_history_undo_pause_restart(ctrl_server, ctrl_client, ns, kubelet_factory, rollout):
    client = ctrl_client
    kubelet_factory(ctrl_server.address, ns)
    d = apps_pb2.Deployment()
    d.metadata.name = "web"
    d.metadata.namespace = ns
    d.spec.replicas = 2
    d.spec.selector.match_labels["app"] = "web"
    d.spec.template.CopyFrom(template({"app": "web"}))
    client.create(d)
    code, out, _ = rollout("status", "deployment/web", "--timeout", "20")
    assert code == 0 and out.splitlines()[-1] == 'deployment "web" successfully rolled out'

    d = client.get("Deployment", "web", ns)
    d.spec.template.spec.containers[0].image = "busybox:1.37"
    client.update(d)
    assert rollout("status", "deployment", "web", "--timeout", "20")[0] == 0
    code, out, _ = rollout("history", "deployment/web")
    assert out.split() == ["deployment.apps/web", "REVISION", "CHANGE-CAUSE", "1", "<none>", "2", "<none>"]

    code, out, _ = rollout("undo", "deployment/web")
    assert (code, out.strip()) == (0, "deployment.apps/web rolled back")
    assert rollout("status", "deployment/web", "--timeout", "20")[0] == 0
    assert client.get("Deployment", "web", ns).spec.template.spec.containers[0].image == "busybox:1.36"
    assert rollout("history", "deployment/web")[1].split()[3::2] == ["2", "3"]

    code, _, err = rollout("undo", "deployment/web", "--to-revision", "9")
    assert code == 1 and "unable to find specified revision 9" in err

    assert rollout("pause", "deployment/web")[1].strip() == "deployment.apps/web paused"
    code, _, err = rollout("restart", "deployment/web")
    assert code == 1 and "paused" in err
    assert rollout("resume", "deployment/web")[1].strip() == "deployment.apps/web resumed"
    before = {rs.metadata.name for rs in client.list_items("ReplicaSet", ns)}
    assert rollout("restart", "deployment/web")[1].strip() == "deployment.apps/web restarted"
    assert rollout("status", "deployment/web", "--timeout", "20")[0] == 0
    after = client.list_items("ReplicaSet", ns)
    assert len(after) == len(before) + 1, "a restart is a rollout to a new ReplicaSet"
    assert wait_for(lambda: client.get("Deployment", "web", ns).metadata.annotations[du.REVISION] == "4", 5)
