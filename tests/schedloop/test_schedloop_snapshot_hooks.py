"""The snapshot hooks the loop needs: a bounded touch log (a scheduler binds without end) and the
cluster context (namespaces, Services, ReplicaSets) replaced in place."""

from __future__ import annotations

import numpy as np
from loop_helpers import node_msg
from shoal.proto import manifests
from shoal.sched import snapshot as snapshot_module
from shoal.sched.snapshot import ClusterSnapshot


def test_the_touch_log_keeps_its_tail_and_old_positions_read_as_everything(monkeypatch):
    monkeypatch.setattr(snapshot_module, "TOUCH_LOG_KEEP", 100)
    s = ClusterSnapshot([node_msg(f"n{i}") for i in range(5)])
    old = s.touched_count
    for i in range(5000):
        s._touch(np.array([i % 5], dtype=np.int64))
    assert sum(len(c) for c in s.touched) < 5000
    everything, now = s.touched_since(old)
    assert sorted(everything.tolist()) == [0, 1, 2, 3, 4] and now == s.touched_count
    s._touch(np.array([3], dtype=np.int64))
    recent, _ = s.touched_since(now)
    assert recent.tolist() == [3]


def test_a_namespace_label_change_reaches_the_counters():
    s = ClusterSnapshot([node_msg("n1")])
    ns = manifests.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"team": "x"}}})
    versions = (s.node_version, s.holders_version)
    s.set_context(namespaces=[ns])
    assert s.namespace_labels("a") == {"team": "x", "kubernetes.io/metadata.name": "a"}
    assert s.node_version > versions[0] and s.holders_version > versions[1]
