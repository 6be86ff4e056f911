"""Where a pod may run: node selectors and affinity, pod (anti-)affinity, tolerations, taints,
topology spread constraints. The scheduler trusts what passes here (an integer for Gt/Lt, one
value for a field selector, a positive maxSkew)."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    required,
    unsupported,
)
from shoal.control.api.validation.meta import validate_label_selector
from shoal.control.api.validation.names import (
    dns1123_label_problem,
    label_value_problem,
    parse_decimal_integer,
    qualified_name_problem,
)

NODE_SELECTOR_OPERATORS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoExecute", "NoSchedule", "PreferNoSchedule")
WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
INCLUSION_POLICIES = ("Honor", "Ignore")


def _check_key(key: str, path: str, errs: list[str]) -> None:
    problem = qualified_name_problem(key)
    if problem:
        errs.append(invalid(path, key, problem))


def validate_node_selector(selector, p: str, errs: list[str]) -> None:
    """A required NodeSelector: at least one term, each term's requirements well formed."""
    terms = selector.node_selector_terms
    if not terms:
        errs.append(required(p + ".nodeSelectorTerms", "must have at least one node selector term"))
    for i, term in enumerate(terms):
        validate_node_selector_term(term, f"{p}.nodeSelectorTerms[{i}]", errs)


def validate_node_selector_term(term, p: str, errs: list[str]) -> None:
    for i, req in enumerate(term.match_expressions):
        rp = f"{p}.matchExpressions[{i}]"
        op, count = req.operator, len(req.values)
        if op in ("In", "NotIn"):
            if not count:
                errs.append(required(rp + ".values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if count:
                errs.append(forbidden(rp + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op in ("Gt", "Lt"):
            if count != 1:
                errs.append(required(rp + ".values", "must be specified single value when `operator` is 'Lt' or 'Gt'"))
            elif parse_decimal_integer(req.values[0]) is None:
                errs.append(invalid(rp + ".values[0]", req.values[0], "must be an integer"))
        else:
            errs.append(unsupported(rp + ".operator", op, NODE_SELECTOR_OPERATORS))
        _check_key(req.key, rp + ".key", errs)
    for i, req in enumerate(term.match_fields):
        rp = f"{p}.matchFields[{i}]"
        if req.key != "metadata.name":
            errs.append(unsupported(rp + ".key", req.key, ("metadata.name",)))
        if req.operator not in ("In", "NotIn"):
            errs.append(unsupported(rp + ".operator", req.operator, ("In", "NotIn")))
        elif len(req.values) != 1:
            errs.append(required(rp + ".values", "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))


def _check_weight(weight: int, path: str, errs: list[str]) -> None:
    if not 1 <= weight <= 100:
        errs.append(invalid(path, weight, "must be in the range 1-100"))


def validate_affinity(affinity, p: str, errs: list[str]) -> None:
    if affinity.HasField("node_affinity"):
        na = affinity.node_affinity
        np = p + ".nodeAffinity"
        if na.HasField("required_during_scheduling_ignored_during_execution"):
            validate_node_selector(na.required_during_scheduling_ignored_during_execution,
                                   np + ".requiredDuringSchedulingIgnoredDuringExecution", errs)
        for i, term in enumerate(na.preferred_during_scheduling_ignored_during_execution):
            tp = f"{np}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            _check_weight(term.weight, tp + ".weight", errs)
            validate_node_selector_term(term.preference, tp + ".preference", errs)
    for field, json_name in (("pod_affinity", "podAffinity"), ("pod_anti_affinity", "podAntiAffinity")):
        if not affinity.HasField(field):
            continue
        rules = getattr(affinity, field)
        rp = f"{p}.{json_name}"
        for i, term in enumerate(rules.required_during_scheduling_ignored_during_execution):
            _validate_pod_affinity_term(term, f"{rp}.requiredDuringSchedulingIgnoredDuringExecution[{i}]", errs)
        for i, weighted in enumerate(rules.preferred_during_scheduling_ignored_during_execution):
            wp = f"{rp}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            _check_weight(weighted.weight, wp + ".weight", errs)
            _validate_pod_affinity_term(weighted.pod_affinity_term, wp + ".podAffinityTerm", errs)


def _validate_pod_affinity_term(term, p: str, errs: list[str]) -> None:
    if term.HasField("label_selector"):
        validate_label_selector(term.label_selector, p + ".labelSelector", errs)
    if term.HasField("namespace_selector"):
        validate_label_selector(term.namespace_selector, p + ".namespaceSelector", errs)
    for i, namespace in enumerate(term.namespaces):
        problem = dns1123_label_problem(namespace)
        if problem:
            errs.append(invalid(f"{p}.namespaces[{i}]", namespace, problem))
    if not term.topology_key:
        errs.append(required(p + ".topologyKey", "can not be empty"))
    else:
        _check_key(term.topology_key, p + ".topologyKey", errs)
    for field, json_name in (("match_label_keys", "matchLabelKeys"), ("mismatch_label_keys", "mismatchLabelKeys")):
        keys = getattr(term, field)
        if keys and not term.HasField("label_selector"):
            errs.append(forbidden(f"{p}.{json_name}", "must not be specified when labelSelector is not set"))
        for i, key in enumerate(keys):
            _check_key(key, f"{p}.{json_name}[{i}]", errs)
    overlap = set(term.match_label_keys) & set(term.mismatch_label_keys)
    for key in sorted(overlap):
        errs.append(invalid(p + ".matchLabelKeys", key, "exists in both matchLabelKeys and mismatchLabelKeys"))


_valid_tolerations: set[bytes] = set()


def validate_tolerations(tolerations, p: str, errs: list[str]) -> None:
    for i in range(len(tolerations)):
        t = tolerations[i]
        # Nearly every pod carries the same few tolerations (the default not-ready and
        # unreachable ones at least): remember the ones seen valid by their bytes.
        seen = t.SerializeToString()
        if seen in _valid_tolerations:
            continue
        before = len(errs)
        _validate_toleration(t, f"{p}[{i}]", errs)
        if len(errs) == before and len(seen) <= 1024:
            if len(_valid_tolerations) >= 4096:
                _valid_tolerations.clear()
            _valid_tolerations.add(seen)


def _validate_toleration(t, p: str, errs: list[str]) -> None:
    key, op = t.key, t.operator
    if key:
        problem = qualified_name_problem(key)
        if problem:
            errs.append(invalid(f"{p}.key", key, problem))
    elif op != "Exists":
        errs.append(invalid(f"{p}.operator", op,
                            'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
    effect = t.effect
    if t.HasField("toleration_seconds") and effect != "NoExecute":
        errs.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    if op in ("", "Equal"):
        problem = label_value_problem(t.value)
        if problem:
            errs.append(invalid(f"{p}.value", t.value, problem))
    elif op == "Exists":
        if t.value:
            errs.append(invalid(f"{p}.operator", t.value, "value must be empty when `operator` is 'Exists'"))
    else:
        errs.append(unsupported(f"{p}.operator", op, TOLERATION_OPERATORS))
    if effect and effect not in TAINT_EFFECTS:
        errs.append(unsupported(f"{p}.effect", effect, TAINT_EFFECTS))


def validate_taints(taints, p: str, errs: list[str]) -> None:
    seen = set()
    for i, taint in enumerate(taints):
        if not taint.key:
            errs.append(required(f"{p}[{i}].key"))
        else:
            _check_key(taint.key, f"{p}[{i}].key", errs)
        if taint.value:
            problem = label_value_problem(taint.value)
            if problem:
                errs.append(invalid(f"{p}[{i}].value", taint.value, problem))
        if not taint.effect:
            errs.append(required(f"{p}[{i}].effect"))
        elif taint.effect not in TAINT_EFFECTS:
            errs.append(unsupported(f"{p}[{i}].effect", taint.effect, TAINT_EFFECTS))
        pair = (taint.key, taint.effect)
        if pair in seen:
            errs.append(duplicate(f"{p}[{i}]", f"{taint.key}:{taint.effect}"))
        seen.add(pair)


def validate_topology_spread(constraints, p: str, errs: list[str]) -> None:
    seen = set()
    for i, c in enumerate(constraints):
        cp = f"{p}[{i}]"
        if c.max_skew <= 0:
            errs.append(invalid(cp + ".maxSkew", c.max_skew, "must be greater than zero"))
        key = c.topology_key
        if not key:
            errs.append(required(cp + ".topologyKey", "can not be empty"))
        else:
            _check_key(key, cp + ".topologyKey", errs)
        when = c.when_unsatisfiable
        if when not in WHEN_UNSATISFIABLE:
            errs.append(required(cp + ".whenUnsatisfiable") if not when
                        else unsupported(cp + ".whenUnsatisfiable", when, WHEN_UNSATISFIABLE))
        if c.HasField("min_domains"):
            if c.min_domains <= 0:
                errs.append(invalid(cp + ".minDomains", c.min_domains, "must be greater than zero"))
            elif when != "DoNotSchedule":
                errs.append(invalid(cp + ".minDomains", c.min_domains,
                                    f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"))
        if (key, when) in seen:
            errs.append(duplicate(cp + ".{topologyKey, whenUnsatisfiable}", f"{key}, {when}"))
        seen.add((key, when))
        if c.HasField("label_selector"):
            validate_label_selector(c.label_selector, cp + ".labelSelector", errs)
        for field, json_name in (("node_affinity_policy", "nodeAffinityPolicy"), ("node_taints_policy", "nodeTaintsPolicy")):
            if c.HasField(field) and getattr(c, field) not in INCLUSION_POLICIES:
                errs.append(unsupported(f"{cp}.{json_name}", getattr(c, field), INCLUSION_POLICIES))
        selector_keys = set(c.label_selector.match_labels) | {r.key for r in c.label_selector.match_expressions}
        for j, label_key in enumerate(c.match_label_keys):
            _check_key(label_key, f"{cp}.matchLabelKeys[{j}]", errs)
            if label_key in selector_keys:
                errs.append(invalid(f"{cp}.matchLabelKeys[{j}]", label_key, "exists in both matchLabelKeys and labelSelector"))


def validate_scheduling_gates(gates, p: str, errs: list[str]) -> None:
    seen = set()
    for i, gate in enumerate(gates):
        _check_key(gate.name, f"{p}[{i}].name", errs)
        if gate.name in seen:
            errs.append(duplicate(f"{p}[{i}].name", gate.name))
        seen.add(gate.name)
