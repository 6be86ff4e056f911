"""Service environment variables as the kubelet sets them (pure)."""

from __future__ import annotations

import pytest
from shoal.node.runtime.spec import ImageConfig, environment
from shoal.node.service_env import env_name, pod_service_environment, service_variables
from shoal.v1 import core_pb2


def service(name, ns="default", ip="10.43.0.5", ports=(("", 80, ""),)):
    s = core_pb2.Service()
    s.metadata.name, s.metadata.namespace, s.spec.cluster_ip = name, ns, ip
    for pname, port, proto in ports:
        s.spec.ports.add(name=pname, port=port, protocol=proto)
    return s


@pytest.mark.parametrize("name,expected", [("web", "WEB"), ("my-web-2", "MY_WEB_2")])
def test_names_are_upper_cased_with_underscores(name, expected):
    assert env_name(name) == expected


def test_the_variables_of_a_service_with_two_ports():
    svc = service("my-web", ports=(("http", 80, "TCP"), ("dns-udp", 53, "UDP")))
    assert service_variables(svc) == {
        "MY_WEB_SERVICE_HOST": "10.43.0.5",
        "MY_WEB_SERVICE_PORT": "80",
        "MY_WEB_SERVICE_PORT_HTTP": "80",
        "MY_WEB_SERVICE_PORT_DNS_UDP": "53",
        "MY_WEB_PORT": "tcp://10.43.0.5:80",
        "MY_WEB_PORT_80_TCP": "tcp://10.43.0.5:80",
        "MY_WEB_PORT_80_TCP_PROTO": "tcp",
        "MY_WEB_PORT_80_TCP_PORT": "80",
        "MY_WEB_PORT_80_TCP_ADDR": "10.43.0.5",
        "MY_WEB_PORT_53_UDP": "udp://10.43.0.5:53",
        "MY_WEB_PORT_53_UDP_PROTO": "udp",
        "MY_WEB_PORT_53_UDP_PORT": "53",
        "MY_WEB_PORT_53_UDP_ADDR": "10.43.0.5",
    }


@pytest.mark.parametrize("ip", ["None", ""], ids=["headless", "not-yet-allocated"])
def test_services_without_a_cluster_ip_give_nothing(ip):
    assert service_variables(service("web", ip=ip)) == {}


def test_only_the_pods_namespace_and_the_master_service():
    services = [service("web", "shop"), service("web2", "other"), service("kubernetes", "default", ip="10.43.0.1")]
    env = pod_service_environment(services, "shop")
    assert env["WEB_SERVICE_HOST"] == "10.43.0.5" and env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert not any(k.startswith("WEB2_") for k in env)


def test_enable_service_links_false_keeps_only_the_master_service():
    services = [service("web", "shop"), service("kubernetes", "default", ip="10.43.0.1")]
    env = pod_service_environment(services, "shop", enable_service_links=False)
    assert {k.split("_")[0] for k in env} == {"KUBERNETES"}


def test_container_env_wins_over_and_can_refer_to_service_variables():
    pod = core_pb2.Pod()
    pod.metadata.name = "p"
    c = pod.spec.containers.add(name="main")
    c.env.add(name="WEB_SERVICE_PORT", value="9999")
    c.env.add(name="URL", value="http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/")
    env = dict(e.split("=", 1) for e in environment(
        pod, c, ImageConfig(env=["WEB_SERVICE_HOST=image"]), pod_ip="10.244.0.2", host_ip="",
        service_env=service_variables(service("web"))))
    assert env["WEB_SERVICE_HOST"] == "10.43.0.5"
    assert env["WEB_SERVICE_PORT"] == "9999"
    assert env["URL"] == "http://10.43.0.5:9999/"
