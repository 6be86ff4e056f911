"""delete, scale, label, annotate, describe, events, version and config through the real CLI."""

from __future__ import annotations

import re

import yaml
from cli_helpers import assert_one_error_line
from shoal.proto import kinds


def _pods(names, labels="{app: web}") -> str:
    return "---\n".join(f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {n}, labels: {labels}}}\n"
                        f"spec: {{containers: [{{name: c, image: x}}]}}\n" for n in names)


def test_delete_by_name_selector_all_and_file(shoal, namespace, tmp_path):
    manifest = tmp_path / "pods.yaml"
    manifest.write_text(_pods(["a", "b"]) + "---\n" + _pods(["c"], "{app: db}") + "---\n" + _pods(["d", "e", "f"], "{}"))
    assert shoal("apply", "-f", str(manifest), "-n", namespace).rc == 0
    assert shoal("delete", "pod", "a", "-n", namespace).lines == ['pod "a" deleted']
    assert shoal("delete", "pods", "-l", "app=db", "-n", namespace).lines == ['pod "c" deleted']
    assert shoal("delete", "pod/d", "-n", namespace, "-o", "name").lines == ["pod/d"]
    missing = shoal("delete", "pod", "a", "-n", namespace)
    assert assert_one_error_line(missing) == 'Error from server (NotFound): pods "a" not found'
    assert shoal("delete", "pod", "a", "--ignore-not-found", "-n", namespace).rc == 0
    by_file = shoal("delete", "-f", str(manifest), "-n", namespace, "--ignore-not-found")
    assert by_file.rc == 0 and by_file.lines == ['pod "b" deleted', 'pod "e" deleted', 'pod "f" deleted']
    assert shoal("get", "pods", "-n", namespace, "-o", "name").lines == []
    assert shoal("delete", "pods", "--all", "-n", namespace).err.strip() == "No resources found"


def test_delete_waits_for_a_bound_pod_and_force_removes_it(shoal, client, namespace):
    assert shoal("apply", "-f", "-", "-n", namespace, input=_pods(["bound"])).rc == 0
    client.bind("bound", "some-node", namespace)
    pending = shoal("delete", "pod", "bound", "-n", namespace, "--wait=false")
    assert pending.lines == ['pod "bound" deleted']
    assert client.get("Pod", "bound", namespace).metadata.HasField("deletion_timestamp")
    timed_out = shoal("delete", "pod", "bound", "-n", namespace, "--timeout", "0.3s")
    assert 'timed out waiting for pods "bound" to be deleted' in assert_one_error_line(timed_out)
    forced = shoal("delete", "pod", "bound", "-n", namespace, "--grace-period=0", "--force")
    assert forced.rc == 0, forced
    assert shoal("get", "pods", "-n", namespace, "-o", "name").lines == []


def test_scale(shoal, namespace):
    deploy = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n"
              "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
              "    spec: {containers: [{name: c, image: nginx}]}\n")
    assert shoal("apply", "-f", "-", "-n", namespace, input=deploy).rc == 0
    assert shoal("scale", "deployment/web", "--replicas=5", "-n", namespace).lines == ["deployment.apps/web scaled"]
    assert shoal("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}").out == "5"
    stale = shoal("scale", "deploy", "web", "--replicas", "1", "--current-replicas", "2", "-n", namespace)
    assert "expected 2 replicas" in assert_one_error_line(stale)
    assert shoal("apply", "-f", "-", "-n", namespace, input=deploy).lines == ["deployment.apps/web configured"]
    pod = shoal("scale", "pod", "x", "--replicas", "2", "-n", namespace)
    assert "cannot be scaled" in assert_one_error_line(pod)


def test_label_and_annotate(shoal, namespace):
    assert shoal("apply", "-f", "-", "-n", namespace, input=_pods(["web"])).rc == 0
    assert shoal("label", "pods", "web", "env=prod", "-n", namespace).lines == ["pod/web labeled"]
    conflict = shoal("label", "pod/web", "env=dev", "-n", namespace)
    assert assert_one_error_line(conflict) == "error: 'env' already has a value (prod), and --overwrite is false"
    assert shoal("label", "pod/web", "env=dev", "--overwrite", "-n", namespace).lines == ["pod/web labeled"]
    assert shoal("label", "pod/web", "env=dev", "--overwrite", "-n", namespace).lines == ["pod/web not labeled"]
    assert shoal("label", "pods", "-l", "app=web", "app-", "-n", namespace).lines == ["pod/web labeled"]
    assert shoal("label", "pod", "web", "--list", "-n", namespace).lines == ["env=dev"]
    assert shoal("annotate", "pod", "web", "owner=team a", "-n", namespace).lines == ["pod/web annotated"]
    doc = yaml.safe_load(shoal("get", "pod", "web", "-n", namespace, "-o", "yaml").out)
    assert doc["metadata"]["labels"] == {"env": "dev"}
    assert doc["metadata"]["annotations"] == {"owner": "team a"}


def _event(namespace, name, reason, type_, stamp, message, kind="Pod", target="web"):
    ev = kinds.by_kind("Event").message()
    ev.metadata.name = name
    ev.metadata.namespace = namespace
    ev.involved_object.kind = kind
    ev.involved_object.name = target
    ev.involved_object.namespace = namespace
    ev.reason, ev.type, ev.message = reason, type_, message
    ev.last_timestamp.FromJsonString(stamp)
    ev.source.component = "shoal-scheduler"
    return ev


def test_describe_shows_conditions_and_events_newest_last(shoal, client, namespace):
    assert shoal("apply", "-f", "-", "-n", namespace, input=_pods(["web"])).rc == 0
    pod = client.get("Pod", "web", namespace)
    cond = pod.status.conditions.add(type="PodScheduled", status="False", reason="Unschedulable",
                                     message="0/3 nodes are available")
    cond.last_transition_time.GetCurrentTime()
    client.update_status(pod)
    client.create(_event(namespace, "web.2", "FailedScheduling", "Warning", "2024-05-01T12:05:00Z", "second"))
    client.create(_event(namespace, "web.1", "Scheduled", "Normal", "2024-05-01T12:00:00Z", "first"))
    client.create(_event(namespace, "other.1", "Pulled", "Normal", "2024-05-01T12:00:00Z", "not me", target="other"))
    out = shoal("describe", "pod", "web", "-n", namespace)
    assert out.rc == 0, out
    text = out.out
    assert re.search(r"^Name: +web$", text, re.M) and re.search(rf"^Namespace: +{namespace}$", text, re.M)
    assert re.search(r"^Conditions:\n +Type +Status +Reason +Message\n +-+ +-+ +-+ +-+\n +PodScheduled +False +"
                     r"Unschedulable +0/3 nodes are available$", text, re.M), text
    events = text.split("\nEvents:\n", 1)[1].splitlines()
    assert events[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert [line.split()[1] for line in events[2:]] == ["Scheduled", "FailedScheduling"]
    assert "not me" not in text
    deploy = shoal("describe", "deploy/nope", "-n", namespace)
    assert assert_one_error_line(deploy) == 'Error from server (NotFound): deployments "nope" not found'


def test_events_filters(shoal, client, namespace):
    client.create(_event(namespace, "a.1", "Started", "Normal", "2024-05-01T12:00:00Z", "started"))
    client.create(_event(namespace, "a.2", "BackOff", "Warning", "2024-05-01T12:01:00Z", "back-off"))
    client.create(_event(namespace, "b.1", "Killing", "Normal", "2024-05-01T11:00:00Z", "killing", target="b"))
    listing = shoal("events", "-n", namespace)
    assert listing.lines[0].split()[:2] == ["LAST", "SEEN"]
    assert [line.split()[2] for line in listing.lines[1:]] == ["Killing", "Started", "BackOff"]
    warnings = shoal("events", "-n", namespace, "--types=Warning")
    assert [line.split()[2] for line in warnings.lines[1:]] == ["BackOff"]
    for_b = shoal("events", "-n", namespace, "--for", "pod/b")
    assert [line.split()[3] for line in for_b.lines[1:]] == ["pod/b"]


def test_version(shoal, shared_server):
    result = shoal("version")
    assert result.rc == 0, result
    assert re.fullmatch(r"Client Version: v\S+", result.lines[0])
    assert result.lines[1] == f"Server: {shared_server.address} (SERVING)"
    assert shoal("version", "--client", "-s", "127.0.0.1:1").rc == 0
    assert "cannot reach the Shoal server" in assert_one_error_line(shoal("version", "-s", "127.0.0.1:1"))


def test_config_contexts_choose_server_and_namespace(shoal, shared_server, populated, tmp_path):
    env = {"SHOAL_CONFIG": str(tmp_path / "config"), "SHOAL_SERVER": ""}
    assert shoal("config", "set-context", "t", "--server", shared_server.address, "--namespace", populated,
                 "--token", "secret-token", env=env).lines == ['Context "t" created.']
    assert shoal("config", "use-context", "t", env=env).lines == ['Switched to context "t".']
    assert shoal("get", "pods", "-o", "name", env=env).lines == ["pod/web"]
    view = yaml.safe_load(shoal("config", "view", env=env).out)
    assert view["current-context"] == "t"
    assert view["contexts"][0]["context"] == {"server": shared_server.address, "namespace": populated,
                                              "token": "REDACTED"}
    assert "secret-token" in shoal("config", "view", "--raw", env=env).out
    assert shoal("config", "set-context", "--current", "--namespace", "default", env=env).lines == [
        'Context "t" modified.']
    assert shoal("get", "pods", "-o", "name", "-n", populated, env=env).lines == ["pod/web"]
    assert shoal("config", "current-context", env=env).lines == ["t"]
    missing = shoal("config", "use-context", "nope", env=env)
    assert assert_one_error_line(missing) == 'error: no context exists with the name: "nope"'
    assert (tmp_path / "config").stat().st_mode & 0o077 == 0
