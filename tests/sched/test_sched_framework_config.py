"""Profiles from KubeSchedulerConfiguration: defaults, merging, weights, args and errors."""

from __future__ import annotations

import pytest
from sched_builders import msgs, node, pod
from shoal.sched import place
from shoal.sched.framework.config import (
    ConfigError,
    default_profile,
    load_config,
    parse_config,
)


def names(profile, point):
    return [p.NAME for p in profile.at(point)]


def test_default_profile_matches_kube_scheduler():
    p = default_profile()
    assert names(p, "filter") == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding", "VolumeZone", "PodTopologySpread", "InterPodAffinity",
    ]
    assert names(p, "score") == [
        "TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity",
        "NodeResourcesBalancedAllocation", "ImageLocality",
    ]
    assert p.weights == {
        "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "VolumeBinding": 1, "PodTopologySpread": 2,
        "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1,
    }
    assert names(p, "queueSort") == ["PrioritySort"]
    assert names(p, "postFilter") == ["DefaultPreemption"]


def profile_of(doc):
    return next(iter(parse_config({"profiles": [doc]}).values()))


def test_disable_one_score_plugin():
    p = profile_of({"plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}}})
    assert "NodeResourcesBalancedAllocation" not in names(p, "score")
    assert "NodeResourcesBalancedAllocation" in names(p, "preScore")


def test_weights_from_score_then_multipoint():
    p = profile_of({"plugins": {"score": {"enabled": [{"name": "ImageLocality", "weight": 5}]},
                                "multiPoint": {"enabled": [{"name": "TaintToleration", "weight": 7}]}}})
    assert p.weights["ImageLocality"] == 5
    assert p.weights["TaintToleration"] == 7
    # An explicitly enabled score plugin comes first at its point (an override keeps its place).
    assert names(p, "score")[0] == "ImageLocality"


def test_disable_everything_then_enable_a_few():
    p = profile_of({"plugins": {"multiPoint": {"disabled": [{"name": "*"}], "enabled": [
        {"name": "PrioritySort"}, {"name": "NodeResourcesFit", "weight": 2}, {"name": "DefaultBinder"}]}}})
    assert names(p, "filter") == ["NodeResourcesFit"]
    assert names(p, "score") == ["NodeResourcesFit"]
    assert p.weights == {"NodeResourcesFit": 2}


def test_weight_zero_means_one():
    p = profile_of({"plugins": {"multiPoint": {"enabled": [{"name": "ImageLocality", "weight": 0}]}}})
    assert p.weights["ImageLocality"] == 1


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"profiles": [{"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}]}, "unknown plugin 'Nope'"),
        ({"profiles": [{"plugins": {"filter": {"enabled": [{"name": "ImageLocality"}]}}}]}, "does not extend filter"),
        ({"profiles": [{"plugins": {"scores": {}}}]}, "unknown extension point 'scores'"),
        ({"profiles": [{"schedulerName": "a"}, {"schedulerName": "a"}]}, "duplicate 'a'"),
        ({"profiles": [{"pluginConfig": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 500}}]}]}, "hardPodAffinityWeight"),
        ({"profiles": [{"pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": "RequestedToCapacityRatio"}}}]}]},
         "requestedToCapacityRatio"),
        ({"profiles": [{"pluginConfig": [{"name": "PodTopologySpread", "args": {"defaultingType": "Other"}}]}]}, "defaultingType"),
        ({"kind": "Pod"}, "kind"),
        ({"profilez": []}, "unknown field 'profilez'"),
        ({"profiles": [{"plugins": {"multiPoint": {"disabled": [{"name": "*"}]}}}]}, "queueSort"),
    ],
)
def test_errors_name_the_field(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)


def test_load_from_file_and_pick_profile_by_scheduler_name(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "profiles:\n"
        "- schedulerName: default-scheduler\n"
        "- schedulerName: packer\n"
        "  pluginConfig:\n"
        "  - name: NodeResourcesFit\n"
        "    args:\n"
        "      scoringStrategy: {type: MostAllocated}\n"
    )
    profiles = load_config(str(path))
    assert set(profiles) == {"default-scheduler", "packer"}
    nodes = msgs([node("a", "4", "8Gi"), node("b", "4", "8Gi")])
    existing = msgs([pod("e", "2", "1Gi", node_name="a")])
    spread_doc, pack_doc = pod("spread", "1", "1Gi"), pod("pack", "1", "1Gi")
    pack_doc["spec"]["schedulerName"] = "packer"
    result = place(nodes, msgs([spread_doc]), existing, str(path))
    assert [a.node for a in result.assignments] == ["b"]
    result = place(nodes, msgs([pack_doc]), existing, str(path))
    assert [a.node for a in result.assignments] == ["a"]


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("profiles: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(str(path))
