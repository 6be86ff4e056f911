"""Service address allocation and Endpoints, with no server."""

from __future__ import annotations

import pytest

from ctrl_helpers import pod, service
from shoal.control.controllers.actions import Create, Delete, Update
from shoal.control.controllers.endpoints import build_subsets, plan_endpoints
from shoal.control.controllers.meta import clone, object_key
from shoal.control.controllers.service_ip import AddressBook, plan_service_addresses


def _book(cidr="10.43.0.0/16"):
    return AddressBook(cidr, 30000, 30002, clock=lambda: 0.0)


def test_allocates_the_lowest_free_address_skipping_the_reserved_ones():
    book = _book()
    ips = [book.next_ip(f"ns/s{i}") for i in range(10)]
    assert ips[:3] == ["10.43.0.2", "10.43.0.3", "10.43.0.4"]
    assert "10.43.0.1" not in ips and "10.43.0.10" not in ips
    assert len(set(ips)) == 10, "pending allocations are never handed out twice"


def test_addresses_held_by_services_are_taken_and_freed_with_them():
    book = _book()
    held = service("a", cluster_ip="10.43.0.2")
    book.observe("default/a", held)
    assert book.next_ip("default/b") == "10.43.0.3"
    book.forget("default/a")
    assert book.next_ip("default/c") == "10.43.0.2"


def test_a_small_range_runs_out():
    book = _book("10.43.0.0/29")  # .1-.6 usable, .1 reserved
    got = [book.next_ip(f"k{i}") for i in range(6)]
    assert got[-1] is None and None not in got[:5]


@pytest.mark.parametrize(
    "type_,cluster_ip,wants_ip,wants_ports",
    [
        pytest.param("ClusterIP", "", True, False, id="clusterip"),
        pytest.param("NodePort", "", True, True, id="nodeport"),
        pytest.param("LoadBalancer", "", True, True, id="loadbalancer"),
        pytest.param("ClusterIP", "None", False, False, id="headless"),
        pytest.param("ExternalName", "", False, False, id="externalname"),
        pytest.param("ClusterIP", "10.43.9.9", False, False, id="already-set"),
    ],
)
def test_plan_service_addresses(type_, cluster_ip, wants_ip, wants_ports):
    svc = service("web", type_=type_, cluster_ip=cluster_ip, ports=((80, 8080, "http"), (443, 8443, "https")))
    plan = plan_service_addresses(svc, _book())
    if not wants_ip and not wants_ports:
        assert plan.update is None
        return
    new = plan.update.obj
    assert new.metadata.resource_version == svc.metadata.resource_version, "written with a precondition"
    assert new.spec.cluster_ip == "10.43.0.2" and list(new.spec.cluster_ips) == ["10.43.0.2"]
    ports = [p.node_port for p in new.spec.ports]
    assert ports == ([30000, 30001] if wants_ports else [0, 0])


def test_duplicate_addresses_are_reported():
    book = _book()
    a, b = service("a", cluster_ip="10.43.0.5"), service("b", cluster_ip="10.43.0.5")
    book.observe(object_key(a), a)
    book.observe(object_key(b), b)
    plan = plan_service_addresses(b, book)
    assert [e.reason for e in plan.events] == ["ClusterIPAlreadyAllocated"]


# -- endpoints ----------------------------------------------------------------------------------


def _ready(name, ip, **kw):
    return pod(name, phase="Running", node="n1", ip=ip, ready_since=1.0, **kw)


def test_ready_and_not_ready_addresses():
    svc = service("web", ports=((80, 8080, ""),))
    pods = [
        _ready("b", "10.42.0.3", labels={"app": "web"}),
        _ready("a", "10.42.0.2", labels={"app": "web"}),
        pod("c", phase="Running", node="n1", ip="10.42.0.4", labels={"app": "web"}),
        pod("no-ip", phase="Pending", labels={"app": "web"}),
        _ready("going", "10.42.0.5", labels={"app": "web"}, terminating=True),
        pod("done", phase="Succeeded", ip="10.42.0.6", labels={"app": "web"}),
    ]
    (subset,) = build_subsets(svc, pods)
    assert [a.ip for a in subset.addresses] == ["10.42.0.2", "10.42.0.3"]
    assert [a.ip for a in subset.not_ready_addresses] == ["10.42.0.4"]
    assert [(p.port, p.protocol) for p in subset.ports] == [(8080, "TCP")]
    assert subset.addresses[0].target_ref.name == "a" and subset.addresses[0].node_name == "n1"


def test_publish_not_ready_addresses_lists_everyone_as_ready():
    svc = service("web")
    svc.spec.publish_not_ready_addresses = True
    (subset,) = build_subsets(svc, [pod("c", phase="Running", ip="10.42.0.4", labels={"app": "web"})])
    assert [a.ip for a in subset.addresses] == ["10.42.0.4"] and not subset.not_ready_addresses


def test_named_target_ports_resolve_per_pod():
    svc = service("web", ports=((80, "http", "web"),))
    with_port = _ready("a", "10.42.0.2", labels={"app": "web"}, ports=(("http", 8080),))
    other_number = _ready("b", "10.42.0.3", labels={"app": "web"}, ports=(("http", 9090),))
    without = _ready("c", "10.42.0.4", labels={"app": "web"}, ports=(("metrics", 9100),))
    subsets = build_subsets(svc, [with_port, other_number, without])
    assert [([a.ip for a in s.addresses], [(p.name, p.port) for p in s.ports]) for s in subsets] == [
        (["10.42.0.2"], [("web", 8080)]),
        (["10.42.0.3"], [("web", 9090)]),
    ]


def test_plan_endpoints_creates_updates_and_deletes():
    svc = service("web")
    pods = [_ready("a", "10.42.0.2", labels={"app": "web"})]
    create = plan_endpoints(svc, pods, None)
    assert isinstance(create, Create) and create.obj.metadata.name == "web"
    current = clone(create.obj)
    current.metadata.resource_version = "7"
    assert plan_endpoints(svc, pods, current) is None, "no write when nothing changed"
    update = plan_endpoints(svc, [], current)
    assert isinstance(update, Update) and list(update.obj.subsets) == []
    assert isinstance(plan_endpoints(None, [], current), Delete)
    assert plan_endpoints(service("manual", selector={}), pods, None) is None, "selectorless: the user's"
