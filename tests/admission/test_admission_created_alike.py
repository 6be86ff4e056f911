"""Admission.admit_create: pods equal but for name, uid and creationTimestamp are admitted alike,
byte for byte as if each were defaulted and validated afresh."""

from __future__ import annotations

import random

import pytest

from shoal.control.api.admission import Admission
from shoal.control.api.errors import Invalid
from shoal.proto import kinds
from shoal.v1.core_pb2 import Pod
from shoal.v1.batch_pb2 import Job

POD = kinds.by_kind("Pod")


def pod(name: str, uid: str, created: int, seed: int = 0) -> Pod:
    rng = random.Random(seed)
    p = Pod()
    p.metadata.name = name
    p.metadata.namespace = "default"
    p.metadata.uid = uid
    p.metadata.creation_timestamp.seconds = created
    p.metadata.labels["app"] = f"a{rng.randrange(3)}"
    for i in range(rng.randrange(1, 3)):
        c = p.spec.containers.add(name=f"c{i}", image="busybox")
        c.resources.limits["cpu"] = f"{rng.randrange(1, 5) * 100}m"
    if rng.random() < 0.5:
        p.spec.restart_policy = "Never"
    return p


def fresh(msg) -> bytes:
    """The admitted bytes by default + validate, no memo."""
    a = Admission()
    a.default(POD, msg)
    a.validate(POD, msg, None)
    return msg.SerializeToString(deterministic=True)


def test_pods_alike_but_for_identity_are_admitted_as_if_afresh():
    admission = Admission()
    for i in range(60):
        seed = i % 4  # four shapes, each seen 15 times with other names, uids, times
        got = pod(f"web-{i}", f"uid-{i}", 1000 + i, seed)
        admission.admit_create(POD, got)
        assert got.SerializeToString(deterministic=True) == fresh(pod(f"web-{i}", f"uid-{i}", 1000 + i, seed))
    assert len(admission._admitted) == 4


def test_a_bad_name_is_refused_even_when_the_rest_was_admitted_before():
    admission = Admission()
    admission.admit_create(POD, pod("web-0", "u0", 1))
    with pytest.raises(Invalid) as memo_error:
        admission.admit_create(POD, pod("Web_1", "u1", 2))
    with pytest.raises(Invalid) as plain_error:
        fresh(pod("Web_1", "u1", 2))
    assert memo_error.value.message == plain_error.value.message
    assert "metadata.name" in memo_error.value.message


def test_an_invalid_pod_is_refused_and_not_remembered():
    admission = Admission()
    bad = pod("web-0", "u0", 1)
    bad.spec.containers[0].resources.limits["cpu"] = "1.5.0"
    with pytest.raises(Invalid):
        admission.admit_create(POD, bad)
    assert len(admission._admitted) == 0


def test_kinds_whose_defaults_read_the_name_are_not_remembered():
    admission = Admission()
    job = Job()
    job.metadata.name = "j"
    job.metadata.namespace = "default"
    job.metadata.uid = "u"
    job.spec.template.spec.containers.add(name="c", image="busybox")
    job.spec.template.spec.restart_policy = "Never"
    admission.admit_create(kinds.by_kind("Job"), job)
    assert len(admission._admitted) == 0
    assert job.spec.template.metadata.labels["job-name"] == "j"
