"""Label selectors and node selector terms with Kubernetes' matching rules, on plain dicts.

    Requirement  one key, an operator and values (k8s.io/apimachinery/pkg/labels)
    Selector     requirements ANDed; `nothing` matches no object (a nil LabelSelector),
                 no requirements matches every object (an empty one) and is `empty`
    NodeSelectorTerm / RequiredNodeAffinity / PreferredTerm
                 component-helpers/scheduling/corev1/nodeaffinity: terms ORed, a term's
                 matchExpressions and matchFields ANDed; a term that does not parse never matches

Everything here is immutable and hashable, so pods with equal constraints share cached work.
The snapshot matches the same objects against all nodes at once (snapshot.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

IN = "In"
NOT_IN = "NotIn"
EXISTS = "Exists"
DOES_NOT_EXIST = "DoesNotExist"
GT = "Gt"
LT = "Lt"
NODE_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT)
LABEL_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)
OBJECT_NAME_FIELD = "metadata.name"

_INT64 = re.compile(r"[+-]?[0-9]+")


class SelectorError(ValueError):
    """A selector that Kubernetes would refuse to build (wrong operator or number of values)."""


def parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go would return an error."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    @staticmethod
    def build(key: str, operator: str, values: tuple[str, ...] | list[str]) -> Requirement:
        """labels.NewRequirement's checks on the number and form of values."""
        values = tuple(values)
        if operator in (IN, NOT_IN) and not values:
            raise SelectorError(f"{key}: for 'in', 'notin' operators, values set can't be empty")
        if operator in (EXISTS, DOES_NOT_EXIST) and values:
            raise SelectorError(f"{key}: values set must be empty for exists and does not exist")
        if operator in (GT, LT):
            if len(values) != 1:
                raise SelectorError(f"{key}: for 'Gt', 'Lt' operators, exactly one value is required")
            if parse_int64(values[0]) is None:
                raise SelectorError(f"{key}: for 'Gt', 'Lt' operators, the value must be an integer")
        if operator not in NODE_OPERATORS:
            raise SelectorError(f"{operator!r} is not a valid selector operator")
        return Requirement(key, operator, tuple(sorted(set(values))) if operator in (IN, NOT_IN) else values)

    @property
    def number(self) -> int:
        """The integer of a Gt / Lt requirement."""
        value = parse_int64(self.values[0])
        assert value is not None
        return value

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == IN:
            return self.key in labels and labels[self.key] in self.values
        if op == NOT_IN:
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if self.key not in labels:
            return False
        value = parse_int64(labels[self.key])
        if value is None:
            return False
        return value > self.number if op == GT else value < self.number


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """labels.Selector.Empty(): no requirements (the nothing-selector is not empty)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def add(self, requirements: tuple[Requirement, ...]) -> Selector:
        if self.nothing:
            return self
        return Selector(tuple(sorted(set(self.requirements + requirements), key=_requirement_order)))

    @staticmethod
    def from_set(labels: Mapping[str, str]) -> Selector:
        return Selector(tuple(sorted((Requirement(k, IN, (v,)) for k, v in labels.items()), key=_requirement_order)))


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


def _requirement_order(r: Requirement) -> tuple:
    return (r.key, r.operator, r.values)


def label_selector(msg, present: bool = True) -> Selector:
    """metav1.LabelSelectorAsSelector of a meta_pb2.LabelSelector; `present=False` is nil."""
    if not present:
        return NOTHING
    requirements = [Requirement(k, IN, (v,)) for k, v in msg.match_labels.items()]
    for expr in msg.match_expressions:
        if expr.operator not in LABEL_OPERATORS:
            raise SelectorError(f"{expr.operator!r} is not a valid label selector operator")
        requirements.append(Requirement.build(expr.key, expr.operator, list(expr.values)))
    return Selector(tuple(sorted(set(requirements), key=_requirement_order)))


# ---------------------------------------------------------------------------------------------
# Node selector terms


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One term: label requirements (None when the term has no matchExpressions), field
    requirements on metadata.name (None when none), or the parse error that makes it fail."""

    labels: tuple[Requirement, ...] | None
    fields: tuple[Requirement, ...] | None
    error: str | None = None

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if self.error is not None:
            return False
        if self.labels is not None and not all(r.matches(labels) for r in self.labels):
            return False
        if self.fields is not None and name:
            fields = {OBJECT_NAME_FIELD: name}
            for r in self.fields:
                value = fields.get(r.key, "")
                if (value == r.values[0]) != (r.operator == IN):
                    return False
        return True


def node_selector_term(msg) -> NodeSelectorTerm | None:
    """The parsed term, or None for an empty term (it selects nothing and is skipped)."""
    if not msg.match_expressions and not msg.match_fields:
        return None
    try:
        labels = None
        if msg.match_expressions:
            labels = tuple(Requirement.build(e.key, e.operator, list(e.values)) for e in msg.match_expressions)
        fields = None
        if msg.match_fields:
            fields = tuple(_field_requirement(e) for e in msg.match_fields)
    except SelectorError as exc:
        return NodeSelectorTerm(None, None, str(exc))
    return NodeSelectorTerm(labels, fields)


def _field_requirement(expr) -> Requirement:
    if expr.operator not in (IN, NOT_IN):
        raise SelectorError(f"{expr.operator!r} is not a valid operator for a field selector")
    if len(expr.values) != 1:
        raise SelectorError(f"{expr.key}: must have one element")
    return Requirement(expr.key, expr.operator, (expr.values[0],))


@dataclass(frozen=True)
class RequiredNodeAffinity:
    """nodeSelector (as a set selector, None when empty) AND the required terms (None when the
    pod has no required node affinity; an empty tuple matches no node)."""

    node_selector: Selector | None
    terms: tuple[NodeSelectorTerm, ...] | None

    @property
    def is_everything(self) -> bool:
        return self.node_selector is None and self.terms is None

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if self.node_selector is not None and not self.node_selector.matches(labels):
            return False
        if self.terms is not None:
            return any(t.matches(labels, name) for t in self.terms)
        return True


@dataclass(frozen=True)
class PreferredTerm:
    weight: int
    term: NodeSelectorTerm


def required_node_affinity(spec) -> RequiredNodeAffinity:
    """nodeaffinity.GetRequiredNodeAffinity of a core_pb2.PodSpec."""
    node_selector = Selector.from_set(spec.node_selector) if len(spec.node_selector) else None
    terms = None
    affinity = spec.affinity
    if spec.HasField("affinity") and affinity.HasField("node_affinity"):
        node_affinity = affinity.node_affinity
        if node_affinity.HasField("required_during_scheduling_ignored_during_execution"):
            required = node_affinity.required_during_scheduling_ignored_during_execution
            parsed = (node_selector_term(t) for t in required.node_selector_terms)
            terms = tuple(t for t in parsed if t is not None)
    return RequiredNodeAffinity(node_selector, terms)


def preferred_node_terms(spec) -> tuple[PreferredTerm, ...]:
    """The pod's preferred node affinity terms, without weight-0 and empty terms. A term that
    does not parse is kept with its error (it never matches)."""
    if not (spec.HasField("affinity") and spec.affinity.HasField("node_affinity")):
        return ()
    out = []
    for pref in spec.affinity.node_affinity.preferred_during_scheduling_ignored_during_execution:
        term = node_selector_term(pref.preference)
        if pref.weight == 0 or term is None:
            continue
        out.append(PreferredTerm(int(pref.weight), term))
    return tuple(out)


def prefilter_node_names(spec) -> tuple[str, ...] | None:
    """NodeAffinity's PreFilter narrowing, from the raw terms: the node names every term pins
    with matchFields metadata.name In (intersection within a term, union across terms); None
    when some term pins no names or the pod has no required terms (every node stays eligible).
    An empty tuple means the terms conflict. Sorted, so the pod class's repr is stable."""
    if not (spec.HasField("affinity") and spec.affinity.HasField("node_affinity")):
        return None
    node_affinity = spec.affinity.node_affinity
    if not node_affinity.HasField("required_during_scheduling_ignored_during_execution"):
        return None
    terms = node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for r in term.match_fields:
            if r.key == OBJECT_NAME_FIELD and r.operator == IN:
                term_names = set(r.values) if term_names is None else term_names & set(r.values)
        if term_names is None:
            return None
        names |= term_names
    return tuple(sorted(names))
