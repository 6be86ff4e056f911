"""Label and field selectors, as kubectl users write them."""

from __future__ import annotations

import pytest

from shoal.control.api.selectors import SelectorError, parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "example.com/team": "a"}


@pytest.mark.parametrize(
    "selector, matches",
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("env in (prod,staging)", True),
        ("env in (dev)", False),
        ("env notin (dev,test)", True),
        ("missing notin (a)", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("example.com/team=a", True),
        ("app = web , env in ( prod )", True),
        ("missing=", False),
    ],
)
def test_label_selector_matching(selector, matches):
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    ["app=web,", "app in prod", "app in ()", "=web", "app=we b", "app=web)", "in (a)x", "a,,b", "app=-bad"],
)
def test_bad_label_selectors_are_refused(selector):
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_field_selector_terms():
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Running")
    values = {"spec.nodeName": "n1", "status.phase": "Pending"}
    assert sel.matches(values.__getitem__)
    values["status.phase"] = "Running"
    assert not sel.matches(values.__getitem__)


def test_bad_field_selector_is_refused():
    with pytest.raises(SelectorError):
        parse_field_selector("spec.nodeName")
