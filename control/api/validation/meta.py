"""ObjectMeta, labels, annotations and label selectors (apimachinery's ValidateObjectMeta and
metav1validation), shared by every kind."""

from __future__ import annotations

from collections.abc import Callable

from shoal.control.api.validation.fielderrors import (
    forbidden,
    invalid,
    required,
    too_long,
    unsupported,
)
from shoal.control.api.validation.names import (
    dns1123_label_problem,
    dns1123_subdomain_problem,
    label_value_problem,
    mask_trailing_dash,
    qualified_name_problem,
)
from shoal.proto.labels import selector_matches  # noqa: F401 (used by the workload rules)

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
SELECTOR_OPERATORS = ("DoesNotExist", "Exists", "In", "NotIn")

NameCheck = Callable[[str], "str | None"]

_valid_namespaces: set[str] = set()


def validate_object_meta(meta, namespaced: bool, name_problem: NameCheck, errs: list[str], path: str = "metadata") -> None:
    # Plain attribute reads: a message's fields as a dict (ListFields) cost four times as much.
    generate_name = meta.generate_name
    validate_meta_name(meta.name, generate_name, name_problem, errs, path)
    if generate_name:
        problem = name_problem(mask_trailing_dash(generate_name))
        if problem:
            errs.append(invalid(f"{path}.generateName", generate_name, problem))
    namespace = meta.namespace
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        elif namespace not in _valid_namespaces:
            problem = dns1123_label_problem(namespace)
            if problem:
                errs.append(invalid(f"{path}.namespace", namespace, problem))
            else:
                if len(_valid_namespaces) >= 1024:
                    _valid_namespaces.clear()
                _valid_namespaces.add(namespace)
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    labels = meta.labels
    if labels:
        validate_labels(labels, f"{path}.labels", errs)
    annotations = meta.annotations
    if annotations:
        validate_annotations(annotations, f"{path}.annotations", errs)
    owner_references = meta.owner_references
    if owner_references:
        _validate_owner_references(owner_references, f"{path}.ownerReferences", errs)
    finalizers = meta.finalizers
    if finalizers:
        _validate_finalizers(finalizers, f"{path}.finalizers", errs)
    grace = meta.deletion_grace_period_seconds
    if grace < 0:
        errs.append(invalid(f"{path}.deletionGracePeriodSeconds", grace, "must be greater than or equal to 0"))


def validate_meta_name(name: str, generate_name: str, name_problem: NameCheck, errs: list[str], path: str = "metadata") -> None:
    """metadata.name: required unless generateName is set, and valid by the kind's name rule."""
    if not name:
        if not generate_name:
            errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        problem = name_problem(name)
        if problem:
            errs.append(invalid(f"{path}.name", name, problem))


def validate_labels(labels, path: str, errs: list[str]) -> None:
    """Keys are qualified names, values label values (also used for selectors' matchLabels)."""
    for key in labels:
        problem = qualified_name_problem(key)
        if problem:
            errs.append(invalid(path, key, problem))
        value = labels[key]
        problem = label_value_problem(value)
        if problem:
            errs.append(invalid(path, value, problem))


def validate_annotations(annotations, path: str, errs: list[str]) -> None:
    total = 0
    for key in annotations:
        problem = qualified_name_problem(key.lower())
        if problem:
            errs.append(invalid(path, key, problem))
        total += len(key) + len(annotations[key])
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))


def _validate_owner_references(refs, path: str, errs: list[str]) -> None:
    controllers = 0
    for i, ref in enumerate(refs):
        p = f"{path}[{i}]"
        if not ref.api_version:
            errs.append(required(f"{p}.apiVersion", "version must not be empty"))
        if not ref.kind:
            errs.append(required(f"{p}.kind", "kind must not be empty"))
        if not ref.name:
            errs.append(required(f"{p}.name", "name must not be empty"))
        if not ref.uid:
            errs.append(required(f"{p}.uid", "uid must not be empty"))
        if ref.HasField("controller") and ref.controller:
            controllers += 1
    if controllers > 1:
        errs.append(invalid(path, [r.name for r in refs], "Only one reference can have Controller set to true"))


def _validate_finalizers(finalizers, path: str, errs: list[str]) -> None:
    seen = set()
    for i, name in enumerate(finalizers):
        problem = qualified_name_problem(name)
        if problem:
            errs.append(invalid(f"{path}[{i}]", name, problem))
        seen.add(name)
    if "orphan" in seen and "foregroundDeletion" in seen:
        errs.append(invalid(path, list(finalizers), "finalizer orphan and foregroundDeletion cannot be both set"))


def validate_label_selector(selector, path: str, errs: list[str]) -> None:
    """A LabelSelector: valid matchLabels, and expressions whose operator fits its values."""
    if selector.match_labels:
        validate_labels(selector.match_labels, f"{path}.matchLabels", errs)
    for i, req in enumerate(selector.match_expressions):
        p = f"{path}.matchExpressions[{i}]"
        op = req.operator
        if op in ("In", "NotIn"):
            if not req.values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if req.values:
                errs.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(unsupported(f"{p}.operator", op, SELECTOR_OPERATORS))
        problem = qualified_name_problem(req.key)
        if problem:
            errs.append(invalid(f"{p}.key", req.key, problem))
        for j, value in enumerate(req.values):
            problem = label_value_problem(value)
            if problem:
                errs.append(invalid(f"{p}.values[{j}]", value, problem))


def selector_is_empty(selector) -> bool:
    return not selector.match_labels and not selector.match_expressions


def validate_dns_subdomain_field(value: str, path: str, errs: list[str]) -> None:
    """A reference by name to an object whose names are DNS subdomains (a priority class, a
    service account, a node)."""
    problem = dns1123_subdomain_problem(value)
    if problem:
        errs.append(invalid(path, value, problem))
