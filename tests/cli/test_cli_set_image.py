"""`shoal set image` through the real CLI against the session's server (no controllers: only
what the command writes is checked here; the rolling it causes is in
tests/node/test_service_routing.py)."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_error_line
from shoal.control.cli_verbs.set_image import UnknownContainer, set_images, split_words
from shoal.v1 import core_pb2

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{tier: {tier}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      initContainers: [{{name: init, image: busybox:1}}]
      containers: [{{name: app, image: busybox:1}}, {{name: sidecar, image: envoy:1}}]
"""


def images(shoal, ref, namespace, path="{.spec.template.spec.containers[*].image}"):
    return shoal("get", ref, "-n", namespace, "-o", f"jsonpath={path}").out.split()


def test_one_container_of_a_deployment(shoal, namespace):
    assert shoal("apply", "-f", "-", "-n", namespace, input=DEPLOY.format(name="web", tier="front")).rc == 0
    out = shoal("set", "image", "deployment/web", "app=busybox:2", "-n", namespace)
    assert (out.rc, out.lines) == (0, ["deployment.apps/web image updated"])
    assert images(shoal, "deploy/web", namespace) == ["busybox:2", "envoy:1"]
    generation = shoal("get", "deploy/web", "-n", namespace, "-o", "jsonpath={.metadata.generation}").out
    assert generation == "2", "the template changed, so a rollout starts"


def test_star_sets_every_container_including_init_ones(shoal, namespace):
    assert shoal("apply", "-f", "-", "-n", namespace, input=DEPLOY.format(name="web", tier="front")).rc == 0
    assert shoal("set", "image", "deploy", "web", "*=busybox:3", "-n", namespace).rc == 0
    assert images(shoal, "deploy/web", namespace) == ["busybox:3", "busybox:3"]
    assert images(shoal, "deploy/web", namespace, "{.spec.template.spec.initContainers[*].image}") == ["busybox:3"]


def test_selector_and_all_and_the_namespace_flag_after_the_pairs(shoal, namespace):
    for name, tier in (("a", "front"), ("b", "front"), ("c", "back")):
        assert shoal("apply", "-f", "-", "-n", namespace, input=DEPLOY.format(name=name, tier=tier)).rc == 0
    out = shoal("set", "image", "deployments", "-l", "tier=front", "app=web:2", "-n", namespace)
    assert sorted(out.lines) == ["deployment.apps/a image updated", "deployment.apps/b image updated"]
    assert images(shoal, "deploy/c", namespace)[0] == "busybox:1"
    out = shoal("set", "image", "deployments", "--all", "sidecar=envoy:2", "-n", namespace)
    assert len(out.lines) == 3


def test_a_pod_named_by_file_and_nothing_printed_when_nothing_changes(shoal, namespace):
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: app, image: busybox:1}]}\n"
    assert shoal("apply", "-f", "-", "-n", namespace, input=pod).rc == 0
    out = shoal("set", "image", "-f", "-", "app=busybox:2", "-n", namespace, input=pod)
    assert out.lines == ["pod/p image updated"], out
    assert images(shoal, "pod/p", namespace, "{.spec.containers[*].image}") == ["busybox:2"]
    same = shoal("set", "image", "pod/p", "app=busybox:2", "-n", namespace)
    assert (same.rc, same.lines) == (0, [])


@pytest.mark.parametrize("args,message", [
    (["deployment/web", "nope=busybox:2"], 'deployment.apps/web: unable to find container named "nope"'),
    (["deployment/web"], "at least one CONTAINER=IMAGE is required"),
    (["deployment/web", "app="], 'invalid image assignment "app=": give CONTAINER=IMAGE'),
    (["deployment/missing", "app=x"], 'deployments "missing" not found'),
    (["service/web", "app=x"], 'services "web" has no containers'),
    (["deployments", "app=x"], "give the deployments whose images to set by name, -l SELECTOR or --all"),
], ids=["unknown-container", "no-pairs", "empty-image", "missing-object", "kind-without-containers",
        "no-names"])
def test_errors_are_one_line_and_change_nothing(shoal, namespace, args, message):
    assert shoal("apply", "-f", "-", "-n", namespace, input=DEPLOY.format(name="web", tier="front")).rc == 0
    line = assert_one_error_line(shoal("set", "image", *args, "-n", namespace))
    assert message in line
    assert images(shoal, "deploy/web", namespace) == ["busybox:1", "envoy:1"]


def test_split_words_keeps_resources_before_pairs():
    assert split_words(["deploy", "web", "api", "app=x:1", "*=y"]) == (["deploy", "web", "api"],
                                                                      {"app": "x:1", "*": "y"})


def test_an_unknown_name_changes_no_container():
    spec = core_pb2.PodSpec()
    spec.containers.add(name="app", image="a")
    with pytest.raises(UnknownContainer):
        set_images(spec, {"app": "b", "other": "c"}, "pod/p")
    assert spec.containers[0].image == "a"
