"""node/volumes.py without a server: projecting keys, claims to node directories, node
affinity, the atomic ..data swap, and resolution against a fake API."""

from __future__ import annotations

import asyncio
import os

import grpc
import pytest
from shoal.node.volumes import (
    ClaimMount,
    ProjectedFile,
    VolumeError,
    VolumeNotReady,
    claim_mount,
    node_selector_matches,
    project_keys,
    resolve_volumes,
    write_projection,
)
from shoal.proto.client import APIStatusError
from shoal.v1 import core_pb2


def items(*specs):
    out = []
    for key, path, *mode in specs:
        item = core_pb2.KeyToPath(key=key, path=path)
        if mode:
            item.mode = mode[0]
        out.append(item)
    return out


DATA = {"b": b"2", "a": b"1"}


def test_every_key_with_the_default_mode_when_no_items():
    files = project_keys("configmap", "cfg", "vol", DATA, [], 0o644, False)
    assert files == [ProjectedFile("a", b"1", 0o644), ProjectedFile("b", b"2", 0o644)]


def test_items_pick_keys_paths_and_modes():
    files = project_keys("secret", "s", "vol", DATA, items(("a", "dir/one"), ("b", "two", 0o400)), 0o644, False)
    assert files == [ProjectedFile("dir/one", b"1", 0o644), ProjectedFile("two", b"2", 0o400)]


def test_a_missing_key_fails_unless_optional():
    with pytest.raises(VolumeNotReady, match='configmap "cfg" has no key "zz"'):
        project_keys("configmap", "cfg", "vol", DATA, items(("zz", "z")), 0o644, False)
    assert project_keys("configmap", "cfg", "vol", DATA, items(("zz", "z")), 0o644, True) == []


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../../b", ""])
def test_item_paths_must_stay_inside_the_volume(path):
    with pytest.raises(VolumeError, match="invalid item path"):
        project_keys("configmap", "cfg", "vol", DATA, items(("a", path)), 0o644, False)


# -- claims ------------------------------------------------------------------------------------------


def claim(bound_to: str = "pv1", phase: str = "Bound") -> core_pb2.PersistentVolumeClaim:
    c = core_pb2.PersistentVolumeClaim()
    c.metadata.name, c.metadata.namespace, c.metadata.uid = "data", "default", "claim-uid"
    c.spec.volume_name = bound_to
    c.status.phase = phase
    return c


def volume(*, ref_uid: str = "claim-uid", local: bool = False, node: str = "") -> core_pb2.PersistentVolume:
    v = core_pb2.PersistentVolume()
    v.metadata.name = "pv1"
    v.spec.claim_ref.name, v.spec.claim_ref.namespace, v.spec.claim_ref.uid = "data", "default", ref_uid
    if local:
        v.spec.local.path = "/mnt/disk"
    else:
        v.spec.host_path.path = "/srv/data"
        v.spec.host_path.type = "DirectoryOrCreate"
    if node:
        term = v.spec.node_affinity.required.node_selector_terms.add()
        term.match_expressions.add(key="kubernetes.io/hostname", operator="In", values=[node])
    return v


SOURCE = core_pb2.PersistentVolumeClaimVolumeSource(claim_name="data")


@pytest.mark.parametrize("pvc,pv,message", [
    pytest.param(None, None, 'persistentvolumeclaim "data" not found', id="no-claim"),
    pytest.param(claim("", "Pending"), None, 'persistentvolumeclaim "data" is not bound', id="unbound"),
    pytest.param(claim(), None, 'persistentvolume "pv1" of claim "data" not found', id="no-volume"),
    pytest.param(claim(), volume(ref_uid="other"), "is bound to another claim", id="volume-of-another-claim"),
])
def test_a_claim_not_ready_says_why(pvc, pv, message):
    with pytest.raises(VolumeNotReady, match=message):
        claim_mount("vol", SOURCE, pvc, pv)


def test_host_path_and_local_volumes():
    assert claim_mount("vol", SOURCE, claim(), volume()) == ClaimMount("/srv/data", False, create=True)
    ro = core_pb2.PersistentVolumeClaimVolumeSource(claim_name="data", read_only=True)
    assert claim_mount("vol", ro, claim(), volume(local=True)) == ClaimMount("/mnt/disk", True, create=False)


def test_provisioned_volumes_get_a_directory_any_container_user_may_write():
    from shoal.control.controllers.local_path import ANN_PROVISIONED_BY, PROVISIONER

    pv = volume()
    assert claim_mount("vol", SOURCE, claim(), pv).create_mode == 0o755, "hostPath as the kubelet makes it"
    pv.metadata.annotations[ANN_PROVISIONED_BY] = PROVISIONER
    assert claim_mount("vol", SOURCE, claim(), pv).create_mode == 0o777


def test_a_volume_pinned_to_another_node_is_refused():
    pv = volume(node="node-a")
    assert claim_mount("vol", SOURCE, claim(), pv, "node-a", {"kubernetes.io/hostname": "node-a"}).path == "/srv/data"
    with pytest.raises(VolumeNotReady, match="volume node affinity conflict"):
        claim_mount("vol", SOURCE, claim(), pv, "node-b", {"kubernetes.io/hostname": "node-b"})


@pytest.mark.parametrize("op,values,label,expected", [
    ("In", ["a", "b"], "b", True), ("In", ["a"], None, False), ("NotIn", ["a"], "b", True),
    ("NotIn", ["a"], None, True), ("Exists", [], "x", True), ("DoesNotExist", [], "x", False),
    ("Gt", ["3"], "4", True), ("Lt", ["3"], "4", False), ("Gt", ["3"], "x", False),
])
def test_node_selector_operators(op, values, label, expected):
    sel = core_pb2.NodeSelector()
    sel.node_selector_terms.add().match_expressions.add(key="k", operator=op, values=values)
    labels = {} if label is None else {"k": label}
    assert node_selector_matches(sel, "n", labels) is expected


def test_node_selector_terms_are_ored_and_match_fields_name_the_node():
    sel = core_pb2.NodeSelector()
    sel.node_selector_terms.add().match_expressions.add(key="zone", operator="In", values=["z9"])
    sel.node_selector_terms.add().match_fields.add(key="metadata.name", operator="In", values=["n1"])
    assert node_selector_matches(sel, "n1", {}) and not node_selector_matches(sel, "n2", {"zone": "z1"})


# -- the atomic writer -------------------------------------------------------------------------------


def test_projection_swaps_the_whole_set_at_once(tmp_path):
    target = str(tmp_path / "vol")
    assert write_projection(target, [ProjectedFile("a", b"1", 0o644), ProjectedFile("d/b", b"2", 0o400)])
    first = os.readlink(os.path.join(target, "..data"))
    assert (tmp_path / "vol" / "a").read_text() == "1"
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    assert os.stat(os.path.join(target, "d", "b")).st_mode & 0o777 == 0o400
    assert not write_projection(target, [ProjectedFile("a", b"1", 0o644), ProjectedFile("d/b", b"2", 0o400)])
    assert os.readlink(os.path.join(target, "..data")) == first, "unchanged content is left alone"

    assert write_projection(target, [ProjectedFile("a", b"changed", 0o644)])
    second = os.readlink(os.path.join(target, "..data"))
    assert second != first and not os.path.exists(os.path.join(target, first)), "the old payload is removed"
    assert (tmp_path / "vol" / "a").read_text() == "changed"
    assert not os.path.lexists(os.path.join(target, "d")), "a key no longer projected disappears"
    assert sorted(os.listdir(target)) == sorted(["..data", second, "a"])


# -- resolution against a fake API -------------------------------------------------------------------


class FakeAPI:
    def __init__(self, *objects) -> None:
        self.objects = {(type(o).__name__, o.metadata.namespace, o.metadata.name): o for o in objects}

    async def get(self, kind, name, namespace=""):
        try:
            return self.objects[(kind, namespace, name)]
        except KeyError:
            raise APIStatusError(grpc.StatusCode.NOT_FOUND, f"{kind} {name} not found") from None


def pod_with(*volumes) -> core_pb2.Pod:
    pod = core_pb2.Pod()
    pod.metadata.name, pod.metadata.namespace = "p", "default"
    for v in volumes:
        pod.spec.volumes.append(v)
    return pod


def test_resolution_reads_config_maps_secrets_and_claims():
    cm = core_pb2.ConfigMap()
    cm.metadata.name, cm.metadata.namespace = "cfg", "default"
    cm.data["text"] = "hello"
    cm.binary_data["blob"] = b"\x00\x01"
    secret = core_pb2.Secret()
    secret.metadata.name, secret.metadata.namespace = "s", "default"
    secret.data["token"] = b"t0k"
    v1 = core_pb2.Volume(name="c")
    v1.config_map.name, v1.config_map.default_mode = "cfg", 0o644
    v2 = core_pb2.Volume(name="s")
    v2.secret.secret_name, v2.secret.default_mode = "s", 0o400
    v3 = core_pb2.Volume(name="d")
    v3.persistent_volume_claim.claim_name = "data"
    pv = volume()
    pv.metadata.namespace = ""
    plan = asyncio.run(resolve_volumes(FakeAPI(cm, secret, claim(), pv), pod_with(v1, v2, v3)))
    assert plan.projected == {"c": [ProjectedFile("blob", b"\x00\x01", 0o644), ProjectedFile("text", b"hello", 0o644)],
                              "s": [ProjectedFile("token", b"t0k", 0o400)]}
    assert plan.secrets == {"s"}
    assert plan.claims == {"d": ClaimMount("/srv/data", False, True)}


def test_resolution_waits_for_a_missing_config_map_unless_optional():
    v = core_pb2.Volume(name="c")
    v.config_map.name = "absent"
    with pytest.raises(VolumeNotReady, match='MountVolume.SetUp failed for volume "c" : configmap "absent" not found'):
        asyncio.run(resolve_volumes(FakeAPI(), pod_with(v)))
    v.config_map.optional = True
    assert asyncio.run(resolve_volumes(FakeAPI(), pod_with(v))).projected == {"c": []}
