"""Kubernetes label and field selectors: parsing and matching.

Label selector grammar (as kubectl's):
    selector    := requirement ("," requirement)*
    requirement := KEY ("=" | "==" | "!=") VALUE
                 | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"
                 | KEY | "!" KEY
Field selectors are ``path(=|==|!=)value`` terms joined by commas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_TOKENS = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


class SelectorError(ValueError):
    """A selector that does not parse; the message quotes it."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key too, as Kubernetes does.
        return self.key not in labels or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKENS.match(text, pos)
        if not m:
            raise SelectorError(f'unable to parse requirement: "{text}"')
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(text: str) -> LabelSelector:
    """Parses a label selector string; raises SelectorError naming the bad part."""
    if not text or not text.strip():
        return LabelSelector()
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise SelectorError(f'invalid label selector "{text}": {what}')

    while i < len(toks):
        negate = toks[i] == "!"
        if negate:
            i += 1
        need(i < len(toks), "expected a label key")
        key = toks[i]
        need(re.fullmatch(_KEY, key) is not None and len(key) <= 317, f'invalid label key "{key}"')
        i += 1
        if negate:
            reqs.append(Requirement(key, "!"))
        elif i >= len(toks) or toks[i] == ",":
            reqs.append(Requirement(key, "exists"))
        elif toks[i] in ("=", "==", "!="):
            op = "!=" if toks[i] == "!=" else "="
            i += 1
            value = ""
            if i < len(toks) and toks[i] != ",":
                value = toks[i]
                i += 1
            need(re.fullmatch(_VALUE, value) is not None and len(value) <= 63, f'invalid label value "{value}"')
            reqs.append(Requirement(key, op, (value,)))
        elif toks[i] in ("in", "notin"):
            op = toks[i]
            i += 1
            need(i < len(toks) and toks[i] == "(", f'expected "(" after {op}')
            i += 1
            values: list[str] = []
            while True:
                need(i < len(toks), 'expected ")"')
                if toks[i] == ")":
                    i += 1
                    break
                if toks[i] == ",":
                    i += 1
                    continue
                need(re.fullmatch(_VALUE, toks[i]) is not None, f'invalid label value "{toks[i]}"')
                values.append(toks[i])
                i += 1
            need(bool(values), f"{op} needs at least one value")
            reqs.append(Requirement(key, op, tuple(values)))
        else:
            need(False, f'unexpected "{toks[i]}"')
        if i < len(toks):
            need(toks[i] == ",", f'expected "," before "{toks[i]}"')
            i += 1
            need(i < len(toks), "trailing comma")
    return LabelSelector(tuple(reqs))


def selector_from_match(
    match_labels: Mapping[str, str], match_expressions: Sequence[tuple[str, str, Sequence[str]]] = ()
) -> LabelSelector:
    """A LabelSelector from a manifest's matchLabels / matchExpressions (operator In, NotIn,
    Exists, DoesNotExist)."""
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted(match_labels.items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for key, operator, values in match_expressions:
        if operator not in ops:
            raise SelectorError(f'unsupported operator "{operator}"')
        reqs.append(Requirement(key, ops[operator], tuple(values)))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, get_field: Callable[[str], str]) -> bool:
        return all((get_field(r.path) == r.value) != r.negate for r in self.requirements)


def parse_field_selector(text: str) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    reqs = []
    for term in text.split(","):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*(!=|==|=)\s*(.*?)\s*", term)
        if not m:
            raise SelectorError(f'invalid field selector "{text}": bad term "{term}"')
        reqs.append(FieldRequirement(m.group(1), m.group(2) == "!=", m.group(3)))
    return FieldSelector(tuple(reqs))
