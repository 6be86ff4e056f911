"""shoal.proto.manifests: Kubernetes manifests to and from the kinds' messages (no server)."""

from __future__ import annotations

import glob
import io
import json
import os

import pytest
from shoal.proto import kinds, manifests
from shoal.proto.manifests import ManifestError, from_dict, load, load_text, read_documents, to_dict

from shared_data import EXAMPLES as EXAMPLES_PATH

EXAMPLES = sorted(glob.glob(str(EXAMPLES_PATH / "*.yaml")))
SUPPORTED = {(info.api_version, info.kind) for info in kinds.all_kinds()}


def example_documents():
    for path in EXAMPLES:
        with open(path, encoding="utf-8") as f:
            for doc in read_documents(f.read(), os.path.basename(path)):
                if (doc.data.get("apiVersion"), doc.data.get("kind")) in SUPPORTED:
                    yield pytest.param(doc.data, id=f"{doc.source}#{doc.index}")


def same_modulo_quantity_numbers(expected, actual) -> bool:
    """Equal, except that a quantity the manifest wrote as a number (cpu: 2) comes back as the
    string Kubernetes would print ("2")."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same_modulo_quantity_numbers(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same_modulo_quantity_numbers, expected, actual))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) and isinstance(actual, str):
        return manifests._quantity_text(expected) == actual
    return expected == actual and type(expected) is type(actual)


@pytest.mark.parametrize("doc", list(example_documents()))
def test_every_supported_example_round_trips(doc):
    assert same_modulo_quantity_numbers(doc, to_dict(from_dict(doc)))


def test_round_trip_keeps_every_value_form():
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}, "generation": 7,
                     "creationTimestamp": "2024-05-01T12:00:00Z"},
        "spec": {
            "replicas": 0,  # optional: a zero that was given stays
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{
                "name": "c", "image": "nginx",
                "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
            }], "volumes": [{"name": "tmp", "emptyDir": {}}], "terminationGracePeriodSeconds": 0}},
        },
    }
    assert to_dict(from_dict(doc)) == doc


def test_int64_are_numbers_and_secret_data_is_base64():
    secret = from_dict({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "generation": 3},
                        "data": {"password": "aHVudGVyMg=="}})
    assert secret.data["password"] == b"hunter2"
    out = to_dict(secret)
    assert out["metadata"]["generation"] == 3
    assert out["data"] == {"password": "aHVudGVyMg=="}


@pytest.mark.parametrize(
    "value, expected",
    [(2, "2"), (1000, "1000"), (0.5, "0.5"), (1.0, "1"), ("100m", "100m")],
    ids=["int", "big-int", "fraction", "integral-float", "string"],
)
def test_quantities_accept_numbers(value, expected):
    pod = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": value}}}]}})
    assert pod.spec.containers[0].resources.requests["cpu"] == expected


def test_int_or_string_fields_become_the_message():
    d = from_dict({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                   "spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 2}}}})
    assert d.spec.strategy.rolling_update.max_surge.str_val == "25%"
    assert d.spec.strategy.rolling_update.max_unavailable.int_val == 2


def test_to_dict_fills_in_api_version_and_kind_and_omits_empty_fields():
    pod = kinds.by_kind("Pod").message()
    pod.metadata.name = "p"
    pod.spec.node_name = "n1"
    pod.spec.host_network = False
    pod.spec.restart_policy = ""
    assert to_dict(pod) == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1"}}


def _error(text: str, source: str = "app.yaml") -> str:
    with pytest.raises(ManifestError) as info:
        load_text(text, source)
    message = str(info.value)
    assert "\n" not in message
    return message


POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            POD + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
                  "    spec:\n      containers:\n      - name: c\n        imagePullPolcy: Always\n",
            'app.yaml: document 2 (Deployment "web"): spec.template.spec.containers[0].imagePullPolcy: '
            'unknown field (did you mean "imagePullPolicy"?)',
            id="unknown-field"),
        pytest.param(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\n",
            'app.yaml: document 1: no kind "DaemonSet" is registered for version "apps/v1" (supported kinds: '
            "Namespace, Node, Pod,",
            id="unknown-kind"),
        pytest.param(
            "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\n",
            'no kind "Deployment" is registered for version "extensions/v1beta1"; Deployment is served as '
            'apiVersion "apps/v1"',
            id="wrong-api-version"),
        pytest.param(POD + "spec: {containers: [{name: c, ports: [{containerPort: http}]}]}\n",
                     'app.yaml: document 1 (Pod "web"): spec.containers[0].ports[0].containerPort: expected an '
                     'integer, got string "http"', id="wrong-type"),
        pytest.param(POD + "  labels: {version: 1.5}\n",
                     "metadata.labels.version: expected a string, got number 1.5 (quote the value", id="label-number"),
        pytest.param(POD + "spec: {containers: {name: c}}\n", "spec.containers: expected an array, got object",
                     id="object-for-array"),
        pytest.param(POD + "spec: {replicas: 99999999999}\n", "spec.replicas: unknown field", id="field-of-other-kind"),
        pytest.param(POD + "spec: {node_name: n1}\n", 'spec.node_name: unknown field (did you mean "nodeName"?)',
                     id="proto-name"),
        pytest.param(POD + "spec: {volumes: [{name: v, hostPath: {path: /}, emptyDir: {}}]}\n",
                     "spec.volumes[0].emptyDir: may not be given together with hostPath", id="two-volume-sources"),
        pytest.param("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: not base64!}\n",
                     'app.yaml: document 1 (Secret "s"): data.a: illegal base64 data', id="bad-base64"),
        pytest.param(POD + "  creationTimestamp: yesterday\n", 'metadata.creationTimestamp: invalid time "yesterday"',
                     id="bad-time"),
        pytest.param(POD + "  labels: {a: b\n", "app.yaml: document 1: invalid YAML:", id="bad-yaml"),
        pytest.param(POD + "---\n" + POD + "metadata: {}\n", "app.yaml: document 2: invalid YAML: ", id="duplicate-key"),
        pytest.param("- a\n- b\n", "app.yaml: document 1: expected an object with apiVersion and kind, got array",
                     id="not-an-object"),
        pytest.param("metadata: {name: x}\n", "apiVersion and kind not set", id="no-kind"),
        pytest.param('{"apiVersion": "v1", "kind": "Pod",}', "app.yaml: document 1: invalid JSON:", id="bad-json"),
        pytest.param('{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", '
                     '"metadata": {"name": "a"}, "spec": {"x": 1}}]}',
                     'app.yaml: document 1, item 1 (Pod "a"): spec.x: unknown field', id="list-item"),
        pytest.param(POD + "spec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: true}}\n",
                     "spec.containers[0].resources.requests.cpu: expected a string, got boolean true",
                     id="boolean-quantity"),
    ],
)
def test_errors_name_file_document_kind_and_field(text, expected):
    assert expected in _error(text)


def test_reads_json_streams_lists_and_skips_empty_documents():
    text = (json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}]})
        + "\n" + json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    found = load_text(text, "x.json")
    assert [(m.info.kind, m.name, m.document, m.item) for m in found] == [
        ("Pod", "a", 1, 1), ("Service", "b", 1, 2), ("ConfigMap", "c", 2, None)]
    yaml_found = load_text("---\n# only a comment\n---\n" + POD + "---\n", "x.yaml")
    assert [(m.name, m.document) for m in yaml_found] == [("web", 2)]


def test_directories_recursion_and_stdin(tmp_path):
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}))
    assert [m.name for m in load([str(tmp_path)])] == ["web"]
    assert [m.name for m in load([str(tmp_path)], recursive=True)] == ["web", "b"]
    from_stdin = load(["-"], stdin=io.BytesIO(POD.encode()))
    assert from_stdin[0].where == 'STDIN: document 1 (Pod "web")'
    with pytest.raises(ManifestError, match='the path ".*missing.yaml" does not exist'):
        load([str(tmp_path / "missing.yaml")])


def test_files_over_the_size_cap_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (manifests.MAX_MANIFEST_BYTES // 10 + 1))
    with pytest.raises(ManifestError, match=r"big.yaml: file is too large \(8.0 MiB; manifests are limited to 8 MiB\)"):
        load([str(big)])
    with pytest.raises(ManifestError, match="STDIN: file is too large"):
        load(["-"], stdin=io.BytesIO(b"#" * (manifests.MAX_MANIFEST_BYTES + 1)))


def test_deep_nesting_is_an_error_not_a_crash():
    assert "nested too deeply" in _error('{"a":' * 50_000 + "1" + "}" * 50_000)
