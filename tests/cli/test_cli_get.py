"""`shoal get` against a real server: kubectl's tables, -o formats, selectors, sorting, and
the -w stream."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time

import pytest
import yaml
from cli_helpers import ALL_KINDS_NAMES, assert_one_error_line
from shoal.control.cli_verbs.printers import kind_ref
from shoal.proto import kinds


def header(result) -> list[str]:
    return re.split(r"\s{2,}", result.lines[0].strip())


@pytest.mark.parametrize(
    "kind, wide, expected",
    [
        ("pods", False, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]),
        ("po", True, ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
        ("deploy", False, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]),
        ("rs", False, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]),
        ("svc", False, ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]),
        ("ep", False, ["NAME", "ENDPOINTS", "AGE"]),
        ("cm", False, ["NAME", "DATA", "AGE"]),
        ("secret", False, ["NAME", "TYPE", "DATA", "AGE"]),
        ("pvc", False, ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]),
        ("job", False, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]),
        ("hpa", False, ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]),
        ("lease", False, ["NAME", "HOLDER", "AGE"]),
        ("ev", False, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]),
        ("pg", False, ["NAME", "PHASE", "MINMEMBER", "RUNNING", "SUCCEEDED", "FAILED", "AGE"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_tables_have_kubectl_columns(shoal, populated, kind, wide, expected):
    result = shoal("get", kind, "-n", populated, *(["-o", "wide"] if wide else []))
    assert result.rc == 0, result
    assert header(result) == expected
    assert len(result.lines) == 2


def test_rows_show_state_and_human_ages(shoal, populated):
    pods = shoal("get", "pods", "-n", populated)
    assert re.fullmatch(r"web +0/1 +Pending +0 +\d+s", pods.lines[1]), pods.out
    deploy = shoal("get", "deployments", "-n", populated)
    assert re.fullmatch(r"web +0/3 +0 +0 +\d+s", deploy.lines[1]), deploy.out
    svc = shoal("get", "svc", "web", "-n", populated)
    assert svc.lines[1].split()[:2] == ["web", "ClusterIP"] and "80/TCP" in svc.lines[1]
    node = shoal("get", "node", f"{populated}-node")
    assert node.lines[1].split()[:3] == [f"{populated}-node", "Unknown", "worker"]
    events = shoal("get", "events", "-n", populated)
    assert events.lines[1].split()[1:4] == ["Warning", "FailedScheduling", "pod/web"]


def test_every_short_name_resolves(shoal, populated):
    short = ["ns", "no", "po", "rs", "deploy", "svc", "ep", "cm", "secret", "pv", "pvc", "job", "pc", "pg", "hpa",
             "lease", "ev"]
    refs = [f"{name}/{ALL_KINDS_NAMES[kinds.by_kind(name).kind].format(ns=populated)}" for name in short]
    result = shoal("get", *refs, "-n", populated, "-o", "name")
    assert result.rc == 0, result
    assert result.lines == [f"{kind_ref(kinds.by_kind(r.split('/')[0]))}/{r.split('/', 1)[1]}" for r in refs]


def test_output_formats(shoal, populated):
    as_yaml = yaml.safe_load(shoal("get", "pod", "web", "-n", populated, "-o", "yaml").out)
    assert as_yaml["kind"] == "Pod" and as_yaml["metadata"]["name"] == "web"
    assert as_yaml["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "128Mi"}
    as_json = json.loads(shoal("get", "deploy,svc", "-n", populated, "-o", "json").out)
    assert as_json["kind"] == "List" and [i["kind"] for i in as_json["items"]] == ["Deployment", "Service"]
    assert as_json["items"][0]["metadata"]["generation"] == 1  # int64 printed as a number
    template = '{range .items[*]}{.metadata.name}:{.spec.replicas}{"\\n"}{end}'
    assert shoal("get", "deploy", "-n", populated, "-o", f"jsonpath={template}").out == "web:3\n"
    ready = shoal("get", "pod", "web", "-n", populated, "-o", "jsonpath={.spec.containers[?(@.name==\"c\")].image}")
    assert ready.out == "busybox"
    custom = shoal("get", "deploy", "-n", populated, "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[*].image")
    assert [line.split() for line in custom.lines] == [["NAME", "IMAGE"], ["web", "nginx"]]
    line = assert_one_error_line(shoal("get", "pods", "-n", populated, "-o", "toml"))
    assert 'unable to match a printer suitable for the output format "toml"' in line


def test_selectors_sorting_and_label_columns(shoal, namespace):
    pods = "---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {app}, rank: '{rank}'}}}}\n"
        f"spec: {{containers: [{{name: c, image: {image}}}]}}\n"
        for name, app, rank, image in [("b", "web", 2, "zeta"), ("a", "web", 3, "alpha"), ("c", "db", 1, "mid")]
    )
    assert shoal("apply", "-f", "-", "-n", namespace, input=pods).rc == 0
    by_label = shoal("get", "pods", "-l", "app=web", "-n", namespace, "-o", "name")
    assert by_label.lines == ["pod/a", "pod/b"]
    by_field = shoal("get", "pods", "--field-selector", "metadata.name=c", "-n", namespace, "-o", "name")
    assert by_field.lines == ["pod/c"]
    sorted_pods = shoal("get", "pods", "--sort-by", ".spec.containers[0].image", "-n", namespace, "--no-headers")
    assert [line.split()[0] for line in sorted_pods.lines] == ["a", "c", "b"]
    labels = shoal("get", "pods", "-n", namespace, "--show-labels", "-L", "rank")
    assert header(labels)[-2:] == ["RANK", "LABELS"]
    assert labels.lines[1].split()[-2:] == ["3", "app=web,rank=3"]
    everywhere = shoal("get", "pods", "-A", "-l", "app=db")
    assert header(everywhere)[0] == "NAMESPACE"
    assert [line.split()[:2] for line in everywhere.lines[1:]] == [[namespace, "c"]]


def test_missing_and_empty(shoal, namespace):
    missing = shoal("get", "pods", "nope", "-n", namespace)
    assert assert_one_error_line(missing) == 'Error from server (NotFound): pods "nope" not found'
    assert shoal("get", "pods", "nope", "-n", namespace, "--ignore-not-found").rc == 0
    empty = shoal("get", "pods", "-n", namespace)
    assert empty.rc == 0 and empty.out == ""
    assert empty.err.strip() == f"No resources found in {namespace} namespace."
    line = assert_one_error_line(shoal("get", "widgets"))
    assert line == 'error: the server doesn\'t have a resource type "widgets"'


def test_global_flags_work_before_and_after_the_verb(shoal, populated):
    after = shoal("get", "pods", "-n", populated, "-o", "name")
    before = shoal("-n", populated, "get", "pods", "-o", "name")
    via_env = shoal("get", "pods", "-o", "name", env={"SHOAL_NAMESPACE": populated})
    assert after.rc == before.rc == via_env.rc == 0
    assert after.lines == before.lines == via_env.lines == ["pod/web"]
    flag_wins = shoal("--namespace", "default", "get", "pods", "-o", "name", "-n", populated)
    assert flag_wins.lines == ["pod/web"]


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        lines.put((time.monotonic(), line.rstrip("\n")))


def test_watch_prints_a_row_within_a_second_of_a_change(shoal, shoal_env, client, namespace):
    pod = kinds.by_kind("Pod").message()
    pod.metadata.name = "watched"
    pod.metadata.namespace = namespace
    pod.spec.containers.add(name="c", image="busybox")
    client.create(pod)
    proc = subprocess.Popen([shoal.exe, "get", "pods", "-w", "-n", namespace], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=shoal_env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        _, first = lines.get(timeout=15)
        assert first.split()[:2] == ["NAME", "READY"]
        _, row = lines.get(timeout=5)
        assert row.split()[:3] == ["watched", "0/1", "Pending"]
        for change in range(2):
            current = client.get("Pod", "watched", namespace)
            current.metadata.labels["change"] = str(change)
            changed_at = time.monotonic()
            client.update(current)
            seen_at, row = lines.get(timeout=5)
            assert row.split()[0] == "watched"
            assert seen_at - changed_at < 1.0, f"the row came {seen_at - changed_at:.2f}s after the change"
        client.delete("Pod", "watched", namespace)
        _, row = lines.get(timeout=5)
        assert row.split()[0] == "watched"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "Traceback" not in proc.stderr.read()
