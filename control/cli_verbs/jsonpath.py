"""kubectl's JSONPath templates over manifests (plain dicts and lists).

    render("{.metadata.name}", pod)                                   -> "web"
    render('{range .items[*]}{.metadata.name}{"\\n"}{end}', lst)        -> "a\\nb\\n"
    render('{.status.conditions[?(@.type=="Ready")].status}', pod)    -> "True"

Supported: ``$``/``@`` roots, ``.field`` (``\\.`` escapes a dot inside a name, as in
``.metadata.labels.app\\.kubernetes\\.io/name``), ``['field']``, ``..field`` (recursive descent),
``*``, ``[n]`` (negative from the end), ``[a:b]`` slices, ``[?(@.path OP literal)]`` filters with
== != < <= > >= (or ``[?(@.path)]`` for presence), ``{range EXPR}...{end}`` and string literals
``{"\\n"}``. As with ``kubectl get -o jsonpath``, missing keys print nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class JSONPathError(ValueError):
    pass


# -- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Expr:
    steps: tuple


@dataclass(frozen=True)
class _Range:
    steps: tuple
    body: tuple


def parse(template: str) -> tuple:
    """The template's nodes; raises JSONPathError on a malformed template."""
    nodes, rest = _parse_nodes(template, 0, top=True)
    return tuple(nodes)


def _parse_nodes(template: str, pos: int, top: bool) -> tuple[list, int]:
    nodes: list = []
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            nodes.append(_Text(template[pos:]))
            return nodes, len(template)
        if start > pos:
            nodes.append(_Text(template[pos:start]))
        end = _action_end(template, start)
        action = template[start + 1 : end].strip()
        pos = end + 1
        if action == "end":
            if top:
                raise JSONPathError("unexpected {end}")
            return nodes, pos
        if action.startswith("range ") or action.startswith("range\t"):
            steps = _parse_path(action[6:].strip())
            body, pos = _parse_nodes(template, pos, top=False)
            nodes.append(_Range(steps, tuple(body)))
        elif action[:1] in ("'", '"'):
            nodes.append(_Text(_string_literal(action)))
        elif action:
            nodes.append(_Expr(_parse_path(action)))
    if not top:
        raise JSONPathError("{range} without {end}")
    return nodes, pos


def _action_end(template: str, start: int) -> int:
    quote = None
    i = start + 1
    while i < len(template):
        ch = template[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "}":
            return i
        i += 1
    raise JSONPathError(f"unclosed action in {template!r}")


def _string_literal(text: str) -> str:
    if len(text) < 2 or text[-1] != text[0]:
        raise JSONPathError(f"unterminated string {text}")
    body = text[1:-1]
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape")


_NAME = re.compile(r"(?:\\.|[^.\[\\])+")


def _parse_path(text: str) -> tuple:
    """Steps: ("key", name), ("descend", name), ("all",), ("index", i), ("slice", a, b),
    ("filter", path, op, literal)."""
    steps: list = []
    pos = 0
    if text.startswith(("$", "@")):
        pos = 1
    while pos < len(text):
        if text.startswith("..", pos):
            match = _NAME.match(text, pos + 2)
            if not match:
                raise JSONPathError(f"expected a name after '..' in {text!r}")
            steps.append(("descend", _unescape(match.group())))
            pos = match.end()
        elif text[pos] == ".":
            match = _NAME.match(text, pos + 1)
            if not match:
                if pos + 1 == len(text):  # "{.}": the current object
                    pos += 1
                    continue
                raise JSONPathError(f"expected a name after '.' in {text!r}")
            name = _unescape(match.group())
            steps.append(("all",) if name == "*" else ("key", name))
            pos = match.end()
        elif text[pos] == "[":
            end = _bracket_end(text, pos)
            steps.append(_bracket_step(text[pos + 1 : end].strip(), text))
            pos = end + 1
        else:
            match = _NAME.match(text, pos)
            if not match or steps:
                raise JSONPathError(f"unexpected {text[pos]!r} in {text!r}")
            steps.append(("key", _unescape(match.group())))
            pos = match.end()
    return tuple(steps)


def _unescape(name: str) -> str:
    return re.sub(r"\\(.)", r"\1", name)


def _bracket_end(text: str, start: int) -> int:
    depth, quote = 0, None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
    raise JSONPathError(f"unclosed '[' in {text!r}")


_FILTER = re.compile(r"^\?\((?P<path>@[^=!<>\s]*)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+?))?\s*\)$")


def _bracket_step(inner: str, text: str) -> tuple:
    if inner == "*":
        return ("all",)
    if inner[:1] in ("'", '"'):
        return ("key", _string_literal(inner))
    if inner.startswith("?"):
        match = _FILTER.match(inner)
        if not match:
            raise JSONPathError(f"unsupported filter [{inner}] in {text!r}")
        literal = _literal(match.group("value")) if match.group("op") else None
        return ("filter", _parse_path(match.group("path").strip()), match.group("op"), literal)
    if ":" in inner:
        parts = inner.split(":")
        try:
            bounds = [int(p) if p.strip() else None for p in parts[:2]]
        except ValueError:
            raise JSONPathError(f"invalid slice [{inner}] in {text!r}") from None
        return ("slice", bounds[0], bounds[1])
    try:
        return ("index", int(inner))
    except ValueError:
        raise JSONPathError(f"invalid array index [{inner}] in {text!r}") from None


def _literal(text: str) -> Any:
    text = text.strip()
    if text[:1] in ("'", '"'):
        return _string_literal(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- evaluation --------------------------------------------------------------------------------------


def evaluate(steps: tuple, root: Any) -> list[Any]:
    """The values the path selects in ``root`` (missing keys select nothing)."""
    values = [root]
    for step in steps:
        values = [out for value in values for out in _apply(step, value)]
    return values


def _apply(step: tuple, value: Any) -> list[Any]:
    kind = step[0]
    if kind == "key":
        return [value[step[1]]] if isinstance(value, dict) and step[1] in value else []
    if kind == "all":
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if kind == "index":
        if isinstance(value, list) and -len(value) <= step[1] < len(value):
            return [value[step[1]]]
        return []
    if kind == "slice":
        return list(value[step[1] : step[2]]) if isinstance(value, list) else []
    if kind == "descend":
        return list(_descend(value, step[1]))
    if kind == "filter":
        items = value if isinstance(value, list) else [value]
        return [item for item in items if _holds(item, step[1], step[2], step[3])]
    raise JSONPathError(f"unknown step {kind}")  # pragma: no cover


def _descend(value: Any, name: str):
    if isinstance(value, dict):
        if name in value:
            yield value[name]
        for child in value.values():
            yield from _descend(child, name)
    elif isinstance(value, list):
        for child in value:
            yield from _descend(child, name)


def _holds(item: Any, path: tuple, op: str | None, literal: Any) -> bool:
    found = evaluate(path, item)
    if op is None:
        return bool(found)
    for value in found:
        try:
            if op == "==" and value == literal or op == "!=" and value != literal:
                return True
            if op == "<" and value < literal or op == "<=" and value <= literal:
                return True
            if op == ">" and value > literal or op == ">=" and value >= literal:
                return True
        except TypeError:
            continue
    return False


def render(template: str | tuple, root: Any) -> str:
    """The template's text for ``root``; several values of one expression are joined by spaces."""
    nodes = parse(template) if isinstance(template, str) else template
    return "".join(_render_nodes(nodes, root))


def _render_nodes(nodes: tuple, root: Any):
    for node in nodes:
        if isinstance(node, _Text):
            yield node.text
        elif isinstance(node, _Expr):
            yield " ".join(format_value(v) for v in evaluate(node.steps, root))
        else:
            for value in evaluate(node.steps, root):
                yield from _render_nodes(node.body, value)


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def sort_key_path(expression: str) -> tuple:
    """The path of a --sort-by expression, given as ``.a.b``, ``{.a.b}`` or ``a.b``."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text.startswith(("$", "@", ".", "[")):
        text = "." + text
    return _parse_path(text)
