"""Failures of the `shoal` CLI: one clear line on stderr, exit status 1, no traceback, and
nothing stored changes when the input is bad."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_error_line
from shoal.proto import kinds

VERBS = ["apply", "create", "replace", "delete", "get", "describe", "scale", "label", "annotate", "events",
         "version", "config"]

GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh}\ndata: {a: b}\n---\n"
EXISTING = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing}\ndata: {a: changed}\n---\n"

MALFORMED = {
    "bad-yaml": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", r"document 3: invalid YAML: "),
    "wrong-type": ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: three}\n",
                   'document 3 (Deployment "d"): spec.replicas: expected an integer, got string "three"'),
    "unknown-field": ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
                      "    image: x\n    imagePullPolcy: Always\n",
                      'document 3 (Pod "p"): spec.containers[0].imagePullPolcy: unknown field'),
    "unknown-kind": ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\n",
                     'document 3: no kind "StatefulSet" is registered for version "apps/v1"'),
    "not-an-object": ("just a string\n", "document 3: expected an object with apiVersion and kind, got string"),
}


@pytest.fixture
def stored(client, namespace):
    """A ConfigMap "existing" in the namespace; returns a function giving what is stored now."""
    cm = kinds.by_kind("ConfigMap").message()
    cm.metadata.name = "existing"
    cm.metadata.namespace = namespace
    cm.data["a"] = "original"
    client.create(cm)

    def snapshot():
        return sorted((m.metadata.name, m.metadata.resource_version, dict(m.data))
                      for m in client.list_items("ConfigMap", namespace))

    return snapshot


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_change_nothing(shoal, tmp_path, namespace, stored, case):
    body, expected = MALFORMED[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(GOOD + EXISTING + body)
    before = stored()
    line = assert_one_error_line(shoal("apply", "-f", str(path), "-n", namespace))
    assert line.startswith(f"error: {path}: ")
    assert expected in line
    assert stored() == before


def test_a_ten_megabyte_file_is_refused(shoal, tmp_path, namespace, stored):
    path = tmp_path / "huge.yaml"
    padding = "# " + "x" * 1022 + "\n"
    path.write_text(GOOD + "".join(padding for _ in range(10 * 1024)))
    before = stored()
    line = assert_one_error_line(shoal("apply", "-f", str(path), "-n", namespace))
    assert line == f"error: {path}: file is too large (10.0 MiB; manifests are limited to 8 MiB)"
    stdin = shoal("apply", "-f", "-", "-n", namespace, input=path.read_text())
    assert assert_one_error_line(stdin) == "error: STDIN: file is too large (more than 8 MiB; manifests are limited to 8 MiB)"
    assert stored() == before


def test_a_bad_file_among_good_ones_stops_everything(shoal, tmp_path, namespace, stored):
    good = tmp_path / "a-good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "b-bad.json"
    bad.write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 7}}')
    before = stored()
    line = assert_one_error_line(shoal("apply", "-f", str(tmp_path), "-n", namespace))
    assert line == f'error: {bad}: document 1 (ConfigMap): metadata.name: expected a string, got number 7 ' \
                   f'(quote the value to make it a string)'
    assert stored() == before


def test_server_rejections_are_one_line_per_object(shoal, namespace):
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec: {containers: [{name: c}]}\n"
    line = assert_one_error_line(shoal("apply", "-f", "-", "-n", namespace, input=pod))
    assert line.startswith('Error from server (Invalid): error when applying STDIN: document 1 (Pod "noimage"): ')
    assert "spec.containers[0].image" in line


@pytest.mark.parametrize(
    "args, expected",
    [
        (["get", "pods", "--bogus"], "error: unknown arguments: --bogus (see 'shoal get --help')"),
        (["scale", "deploy/x"], "error: the following arguments are required: --replicas (see 'shoal scale --help')"),
        (["delete", "pods"], 'error: resource(s) were provided, but no name was given: use "shoal delete pods NAME", '
                             "-l SELECTOR or --all"),
        (["apply"], "error: must specify -f FILE (a file, a directory or '-' for stdin) to apply"),
        (["apply", "-f", "/nonexistent/app.yaml"], 'error: the path "/nonexistent/app.yaml" does not exist'),
        (["get", "pods", "-o", "jsonpath={.items[}"], "error: error parsing jsonpath template: unclosed '[' in '.items['"),
        (["delete", "pod", "x", "--grace-period=0"], "error: --grace-period=0 removes pods without waiting for them "
                                                     "to stop: add --force to confirm"),
    ],
    ids=["unknown-flag", "missing-flag", "delete-without-names", "apply-without-file", "missing-file",
         "bad-jsonpath", "grace-0-without-force"],
)
def test_usage_errors(shoal, args, expected):
    assert assert_one_error_line(shoal(*args)) == expected


def test_unreachable_server(shoal):
    line = assert_one_error_line(shoal("get", "pods", "-s", "127.0.0.1:1"))
    assert line.startswith("error: cannot reach the Shoal server at 127.0.0.1:1: connection refused")


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_example(shoal, verb):
    result = shoal(verb, "--help")
    assert result.rc == 0, result
    examples = result.out.partition("\nexamples:\n")[2]
    assert f"  shoal {verb} " in examples, result.out
    assert "--namespace" in result.out
