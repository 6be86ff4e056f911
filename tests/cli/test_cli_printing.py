"""The CLI's printing pieces on their own: ages, JSONPath, aligned tables, pod STATUS."""

from __future__ import annotations

import io

import pytest

from shoal.control.cli_verbs import jsonpath
from shoal.control.cli_verbs.printers import TableWriter
from shoal.control.cli_verbs.tables import human_duration, pod_status
from shoal.proto.manifests import from_dict


@pytest.mark.parametrize(
    "seconds, text",
    [(-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (330, "5m30s"),
     (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (5 * 3600 + 30 * 60, "5h30m"), (36 * 3600, "36h"),
     (2 * 86400, "2d"), (3 * 86400 + 5 * 3600, "3d5h"), (120 * 86400, "120d"), (800 * 86400, "2y70d"),
     (9 * 365 * 86400, "9y")],
)
def test_human_duration_matches_kubectl(seconds, text):
    assert human_duration(seconds) == text


POD = {
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]},
    "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]},
}


@pytest.mark.parametrize(
    "template, root, expected",
    [
        ("{.metadata.name}", POD, "web"),
        ("{.spec.containers[*].image}", POD, "i1 i2"),
        ("{.spec.containers[-1].name}", POD, "b"),
        ("{.spec.containers[0:1].name}", POD, "a"),
        ('{.status.conditions[?(@.type=="Ready")].status}', POD, "True"),
        ("{.metadata.labels.app\\.kubernetes\\.io/name}", POD, "web"),
        ("{.metadata.labels['app.kubernetes.io/name']}", POD, "web"),
        ("{..image}", POD, "i1 i2"),
        ("{.missing.field}", POD, ""),
        ('{range .items[*]}{.metadata.name}{"\\t"}{end}', {"items": [POD, POD]}, "web\tweb\t"),
        ("name={.metadata.name}", POD, "name=web"),
        ("{.metadata.labels}", POD, '{"app.kubernetes.io/name":"web"}'),
    ],
)
def test_jsonpath(template, root, expected):
    assert jsonpath.render(template, root) == expected


@pytest.mark.parametrize("template", ["{.items[}", "{range .items[*]}{.x}", "{end}", "{.a[?(@.x ~ 1)]}"])
def test_jsonpath_errors(template):
    with pytest.raises(jsonpath.JSONPathError):
        jsonpath.parse(template)


def test_table_columns_are_three_spaces_apart_and_keep_their_width_when_streaming():
    out = io.StringIO()
    writer = TableWriter(out, ["NAME", "STATUS"])
    writer.write([["a", "Pending"]])
    writer.write([["a-much-longer-name", "Running"]])
    assert out.getvalue().splitlines() == ["NAME   STATUS", "a      Pending", "a-much-longer-name   Running"]


def _pod(status: dict, **spec) -> object:
    return from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                      "spec": {"containers": [{"name": "c"}, {"name": "d"}], **spec}, "status": status})


@pytest.mark.parametrize(
    "status, expected",
    [
        ({}, (0, 2, "Pending", 0)),
        ({"phase": "Running", "containerStatuses": [
            {"name": "c", "ready": True, "restartCount": 2, "state": {"running": {}}},
            {"name": "d", "ready": False, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
         (1, 2, "CrashLoopBackOff", 3)),
        ({"phase": "Running", "containerStatuses": [
            {"name": "c", "ready": True, "state": {"running": {}}}, {"name": "d", "ready": True, "state": {"running": {}}}]},
         (2, 2, "Running", 0)),
        ({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137}}}]},
         (0, 2, "ExitCode:137", 0)),
        ({"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]},
         (0, 2, "Init:0/0", 0)),
    ],
    ids=["nothing-yet", "crash-loop", "running", "exit-code", "init"],
)
def test_pod_status_column(status, expected):
    assert pod_status(_pod(status)) == expected
