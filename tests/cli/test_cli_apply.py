"""`shoal apply` of real manifests against a real server: the kubernetes examples, the guestbook,
and the round trip `get -o yaml` -> `apply` for every kind."""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml
from cli_helpers import ALL_KINDS_NAMES, EXAMPLES_DIR, assert_one_error_line
from shoal.control.cli_verbs.printers import kind_ref
from shoal.proto import kinds

SUPPORTED = {(info.api_version, info.kind) for info in kinds.all_kinds()}
EXAMPLES = sorted(glob.glob(os.path.join(EXAMPLES_DIR, "*.yaml")))
GUESTBOOK = os.path.join(EXAMPLES_DIR, "web_guestbook_all-in-one_guestbook-all-in-one.yaml")
APPLIED_LINE = re.compile(r"^[a-z]+(\.[a-z0-9.-]+)?/[a-z0-9.-]+ (created|configured|unchanged)$")


def _kinds_of(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as f:
        return [(d.get("apiVersion"), d.get("kind")) for d in yaml.safe_load_all(f) if d]


@pytest.mark.skipif(not EXAMPLES, reason="the shared kubernetes-examples are not present")
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_example_applies_if_its_kinds_are_supported(shoal, module_namespace, path):
    kinds_in_file = _kinds_of(path)
    result = shoal("apply", "-f", path, "-n", module_namespace)
    if all(k in SUPPORTED for k in kinds_in_file):
        assert result.rc == 0, result
        assert result.err == ""
        assert len(result.lines) == len(kinds_in_file)
        assert all(APPLIED_LINE.match(line) for line in result.lines), result.out
    else:
        line = assert_one_error_line(result)
        unsupported = next(kind for api, kind in kinds_in_file if (api, kind) not in SUPPORTED)
        assert line.startswith(f"error: {path}: document ")
        assert f'no kind "{unsupported}" is registered for version' in line
        assert result.out == ""


@pytest.mark.skipif(not os.path.exists(GUESTBOOK), reason="the guestbook example is not present")
def test_guestbook_applies_lists_and_reapplies(shoal, namespace):
    first = shoal("apply", "-f", GUESTBOOK, "-n", namespace)
    assert first.rc == 0, first
    assert first.lines == [
        "service/redis-master created", "deployment.apps/redis-master created",
        "service/redis-replica created", "deployment.apps/redis-replica created",
        "service/frontend created", "deployment.apps/frontend created",
    ]

    listing = shoal("get", "all", "-n", namespace)
    assert listing.rc == 0, listing
    rows = {line.split()[0] for line in listing.lines}
    for name in ("redis-master", "redis-replica", "frontend"):
        assert f"deployment.apps/{name}" in rows and f"service/{name}" in rows, listing.out
    assert any(re.fullmatch(r"NAME +READY +UP-TO-DATE +AVAILABLE +AGE", line) for line in listing.lines)
    assert any(re.fullmatch(r"NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE", line) for line in listing.lines)

    again = shoal("apply", "-f", GUESTBOOK, "-n", namespace)
    assert again.rc == 0 and all(line.endswith(" unchanged") for line in again.lines), again.out

    with open(GUESTBOOK, encoding="utf-8") as f:
        changed = f.read().replace("replicas: 3", "replicas: 5")
    third = shoal("apply", "-f", "-", "-n", namespace, input=changed)
    assert third.rc == 0, third
    assert "deployment.apps/frontend configured" in third.lines
    assert sum(line.endswith(" unchanged") for line in third.lines) == 5
    replicas = shoal("get", "deploy", "frontend", "-n", namespace, "-o", "jsonpath={.spec.replicas}")
    assert replicas.out == "5"


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_round_trip_every_kind_reports_unchanged(shoal, populated, output):
    refs = [f"{info.singular}/{ALL_KINDS_NAMES[info.kind].format(ns=populated)}" for info in kinds.all_kinds()]
    exported = shoal("get", *refs, "-n", populated, "-o", output)
    assert exported.rc == 0, exported
    reapplied = shoal("apply", "-f", "-", "-n", populated, input=exported.out)
    assert reapplied.rc == 0, reapplied
    not_unchanged = [line for line in reapplied.lines if not line.endswith(" unchanged")]
    assert not not_unchanged, f"re-applying `get -o {output}` changed: {not_unchanged}"
    assert sorted(line.split()[0] for line in reapplied.lines) == sorted(
        f"{kind_ref(kinds.by_kind(ref.split('/')[0]))}/{ref.split('/', 1)[1]}" for ref in refs)


def test_large_inputs_go_in_bulk_and_report_each_object(shoal, namespace):
    docs = [f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{i: '{i}'}}\n" for i in range(120)]
    docs.insert(0, f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}-bulk}}\n")
    docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: in-new-ns, namespace: {namespace}-bulk}}\n")
    text = "---\n".join(docs)
    first = shoal("apply", "-f", "-", input=text, env={"SHOAL_NAMESPACE": namespace})
    assert first.rc == 0, first.err
    assert first.lines[0] == "namespace/" + namespace + "-bulk created"
    assert first.lines[1:4] == ["configmap/cm-0 created", "configmap/cm-1 created", "configmap/cm-2 created"]
    assert len(first.lines) == 122
    second = shoal("apply", "-f", "-", input=text.replace("i: '7'", "i: 'seven'"), env={"SHOAL_NAMESPACE": namespace})
    assert [line for line in second.lines if not line.endswith("unchanged")] == ["configmap/cm-7 configured"]


def test_create_and_replace(shoal, namespace):
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: solo, labels: {v: '1'}}\nspec: {containers: [{name: c, image: x}]}\n"
    assert shoal("create", "-f", "-", "-n", namespace, input=pod).lines == ["pod/solo created"]
    again = shoal("create", "-f", "-", "-n", namespace, input=pod)
    line = assert_one_error_line(again)
    assert line.startswith("Error from server (AlreadyExists): ") and 'pods "solo" already exists' in line
    replaced = shoal("replace", "-f", "-", "-n", namespace, input=pod.replace("v: '1'", "v: '2'"))
    assert replaced.lines == ["pod/solo replaced"]
    assert shoal("get", "pod", "solo", "-n", namespace, "-o", "jsonpath={.metadata.labels.v}").out == "2"
    assert shoal("create", "namespace", f"{namespace}-made").lines == [f"namespace/{namespace}-made created"]


def test_a_manifest_namespace_must_match_an_explicit_flag(shoal, namespace):
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: elsewhere}\n"
    line = assert_one_error_line(shoal("apply", "-f", "-", "-n", namespace, input=doc))
    assert 'the namespace from the provided object "elsewhere" does not match the namespace' in line
