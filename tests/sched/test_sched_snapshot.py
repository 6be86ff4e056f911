"""The snapshot is updated in place, and an updated snapshot equals one built from scratch."""

from __future__ import annotations

import numpy as np
from sched_builders import msgs, node, pod, taint
from shoal.proto import manifests
from shoal.sched import labels as lbl
from shoal.sched.api import build_snapshot
from shoal.sched.indices import HolderKey, SpreadMatcher, TermsMatcher
from shoal.sched.podinfo import PodParser
from shoal.sched.snapshot import ClusterSnapshot

ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}]}}


def view(s: ClusterSnapshot) -> dict:
    """Everything observable, keyed by node name (row order may differ)."""
    out = {}
    web = s.pod_counts(SpreadMatcher("default", lbl.Selector.from_set({"app": "web"})))
    zone = s.label_column("zone")
    holders = {k: v for k, v in s.holder_terms().items()}
    for i, n in enumerate(s.nodes):
        cols = {name: (int(s.alloc[i, c]), int(s.requested[i, c])) for c, name in enumerate(s.columns.names)}
        out[n.name] = {
            "resources": {k: v for k, v in cols.items() if v != (0, 0)},
            "nonzero": s.nonzero[i].tolist(),
            "labels": n.labels,
            "taints": n.taints,
            "unschedulable": bool(s.unschedulable[i]),
            "web": int(web[i]),
            "zone": zone.values[zone.node_value[i]] if zone.node_value[i] >= 0 else None,
            "ports": dict(s.ports.get(i, {})),
            "pods": sorted(p.key for p in s.pods_on(i)),
            "holders": sorted(int(v[i]) for v in holders.values() if v[i]),
        }
    return out


def test_incremental_updates_equal_a_rebuild():
    parser = PodParser()
    nodes = [node(f"n{i}", labels={"zone": f"z{i % 2}"}, extra={"example.com/gpu": "2"} if i == 1 else None) for i in range(5)]
    s = build_snapshot(msgs(nodes), parser=parser)
    s.pod_counts(SpreadMatcher("default", lbl.Selector.from_set({"app": "web"})))  # counter registered before pods arrive
    s.label_column("zone")
    pods = [
        pod("a", "1", "1Gi", labels={"app": "web"}),
        pod("b", "500m", labels={"app": "web"}, host_ports=[80], affinity=ANTI),
        pod("c", extra={"example.com/gpu": "1"}),
        pod("d", "250m", "100Mi", labels={"app": "db"}),
    ]
    infos = [parser.parse(m) for m in msgs(pods)]
    for info, where in zip(infos, ["n0", "n1", "n1", "n4"]):
        s.add_pod(info, where)
    # Node changes: relabel n2, taint n3, remove n0 (and its pod); then unbind d.
    s.update_node(manifests.from_dict(node("n2", labels={"zone": "z9"}, taints=[taint("t")])))
    s.remove_node("n0")
    s.remove_pod(infos[3])
    s.add_node(manifests.from_dict(node("n5", labels={"zone": "z1"})))

    final_nodes = [node(f"n{i}", labels={"zone": f"z{i % 2}"}, extra={"example.com/gpu": "2"} if i == 1 else None) for i in (1, 3, 4)]
    final_nodes.append(node("n2", labels={"zone": "z9"}, taints=[taint("t")]))
    final_nodes.append(node("n5", labels={"zone": "z1"}))
    fresh_parser = PodParser()
    bound = [dict(pods[1], spec=dict(pods[1]["spec"], nodeName="n1")), dict(pods[2], spec=dict(pods[2]["spec"], nodeName="n1"))]
    rebuilt = build_snapshot(msgs(final_nodes), msgs(bound), parser=fresh_parser)
    assert view(s) == view(rebuilt)


def test_counters_follow_adds_and_removes():
    parser = PodParser()
    s = build_snapshot(msgs([node("a"), node("b")]), parser=parser)
    matcher = SpreadMatcher("default", lbl.Selector.from_set({"app": "web"}))
    web = [parser.parse(m) for m in msgs([pod(f"w{i}", labels={"app": "web"}) for i in range(3)])]
    s.add_pods(web, np.array([0, 0, 1]))
    assert s.pod_counts(matcher).tolist() == [2, 1]
    s.remove_pod(web[0])
    assert s.pod_counts(matcher).tolist() == [1, 1]
    term = parser.parse(manifests.from_dict(pod("x", affinity=ANTI))).cls.required_anti_affinity[0]
    assert s.pod_counts(TermsMatcher((term,))).tolist() == [1, 1]


def test_holder_terms_count_pods_carrying_terms():
    parser = PodParser()
    s = build_snapshot(msgs([node("a", labels={"zone": "z"}), node("b", labels={"zone": "z"})]), parser=parser)
    info = parser.parse(manifests.from_dict(pod("h", affinity=ANTI)))
    s.add_pod(info, "b")
    (key,) = s.holder_terms()
    assert isinstance(key, HolderKey) and s.holder_terms()[key].tolist() == [0, 1]
    assert s.domain_sum("zone", s.holder_terms()[key]).tolist() == [1, 1]
    s.remove_pod(info)
    assert s.holder_terms()[key].tolist() == [0, 0]


def test_requests_follow_kubernetes_pod_requests():
    parser = PodParser()
    s = build_snapshot(msgs([node("a")]), parser=parser)
    doc = pod("p", "1", "1Gi", init=[
        {"name": "big-init", "image": "x", "resources": {"requests": {"cpu": "3"}}},
        {"name": "sidecar", "image": "x", "restartPolicy": "Always", "resources": {"requests": {"memory": "1Gi"}}},
    ], overhead={"cpu": "250m", "memory": "100Mi"})
    info = parser.parse(manifests.from_dict(doc))
    s.add_pod(info, "a")
    # cpu: max(1 + 0 (sidecar), 3 (init)) + 250m; memory: 1Gi + 1Gi (sidecar) + 100Mi.
    assert s.requested[0, 0] == 3250
    assert s.requested[0, 1] == 2 * 2**30 + 100 * 2**20
    # Non-zero: the sidecar's missing cpu becomes 100m (sum 1100m, still below the init's 3) and
    # the init's missing memory 200Mi (below the 2Gi sum), so nothing changes here.
    assert s.nonzero[0].tolist() == [3250, 2 * 2**30 + 100 * 2**20]
