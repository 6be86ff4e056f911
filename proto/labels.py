"""Matching a LabelSelector message (matchLabels + matchExpressions) against an object's labels,
as Kubernetes' metav1.LabelSelectorAsSelector does; shared by admission and the controllers."""

from __future__ import annotations

from typing import Mapping

from shoal.v1 import meta_pb2


def selector_matches(selector: meta_pb2.LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether ``selector`` selects an object with ``labels``. An empty selector matches
    everything (callers that must treat it as "nothing", as workload controllers do, check
    first); an unknown operator matches nothing."""
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions:
        present = req.key in labels
        op = req.operator
        if op == "In":
            if not present or labels[req.key] not in req.values:
                return False
        elif op == "NotIn":
            if present and labels[req.key] in req.values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif op == "DoesNotExist":
            if present:
                return False
        else:
            return False
    return True
