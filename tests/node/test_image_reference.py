"""Image references, mirrors and pull policy defaults."""

from __future__ import annotations

import pytest

from shoal.node.images.reference import Mirrors, default_pull_policy, parse_reference


@pytest.mark.parametrize(
    "text, expected",
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.35", "docker.io/library/busybox:1.35"),
        ("me/app", "docker.io/me/app:latest"),
        ("127.0.0.1:5000/tools:v1", "127.0.0.1:5000/tools:v1"),
        ("docker://127.0.0.1:5000/x/y:z", "127.0.0.1:5000/x/y:z"),
        ("localhost/app", "localhost/app:latest"),
        ("quay.io/a/b@sha256:" + "0" * 64, "quay.io/a/b@sha256:" + "0" * 64),
    ],
)
def test_normalized_like_docker(text, expected):
    assert str(parse_reference(text)) == expected


def test_short_names_drop_the_docker_hub_prefixes():
    assert parse_reference("busybox:1.35").short == "busybox:1.35"
    assert parse_reference("me/app").short == "me/app:latest"


@pytest.mark.parametrize("text, policy", [("busybox", "Always"), ("busybox:latest", "Always"),
                                          ("busybox:1.35", "IfNotPresent")])
def test_default_pull_policy(text, policy):
    assert default_pull_policy(text) == policy


def test_a_mirror_serves_unqualified_names_over_plain_http_on_loopback():
    mirrors = Mirrors.parse(["docker.io=http://127.0.0.1:5000"])
    source, plain = mirrors.source(parse_reference("busybox"))
    assert (str(source), plain) == ("127.0.0.1:5000/library/busybox:latest", True)
    source, plain = mirrors.source(parse_reference("quay.io/a/b:1"))
    assert (str(source), plain) == ("quay.io/a/b:1", False)


def test_upper_case_repositories_are_refused():
    from shoal.node.images.reference import ReferenceError_

    with pytest.raises(ReferenceError_):
        parse_reference("BusyBox")
